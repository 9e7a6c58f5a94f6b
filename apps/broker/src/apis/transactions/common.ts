import { ERROR_CODES } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import { leadsPartition } from '../cluster-view.js';
import { TRANSACTION_STATE_TOPIC } from './transaction-state-topic.js';

/**
 * Whether this broker coordinates `transactionalId`: NONE, or NOT_COORDINATOR when another
 * broker leads its `__transaction_state` partition (the client looks the coordinator up again).
 */
export function coordinatorError(broker: BrokerContext, transactionalId: string): number {
  const topic = broker.topics.get(TRANSACTION_STATE_TOPIC);
  if (topic === undefined) return ERROR_CODES.NONE;
  const partition = broker.transactions.coordinator.partitionFor(transactionalId);
  return leadsPartition(broker, topic.topicId, partition) ? ERROR_CODES.NONE : ERROR_CODES.NOT_COORDINATOR;
}

/** Versions before `fencedFrom` do not know PRODUCER_FENCED: Kafka answers them INVALID_PRODUCER_EPOCH. */
export function forVersion(code: number, version: number, fencedFrom: number): number {
  return code === ERROR_CODES.PRODUCER_FENCED && version < fencedFrom ? ERROR_CODES.INVALID_PRODUCER_EPOCH : code;
}
