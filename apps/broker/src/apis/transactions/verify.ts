import type { TxnIdentity } from '@sluice/coordinator';
import { ATTRIBUTES_OFFSET, ERROR_CODES, KafkaError, TRANSACTIONAL_FLAG_MASK } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { Partition } from '../../state/partition.js';
import { producerInfoOf } from '../../state/partition.js';
import { coordinatorError } from './common.js';
import { TRANSACTION_STATE_TOPIC } from './transaction-state-topic.js';

/**
 * KIP-890 part 1 (Kafka's transaction.partition.verification.enable, on by default): the first
 * transactional batch of a producer on a partition is taken only if the coordinator has the
 * partition in the producer's ongoing transaction — so a late batch of a transaction that already
 * ended (or was never begun) cannot start a "hanging" transaction that holds the LSO back forever.
 * The coordinator is asked directly when it is this broker, else with AddPartitionsToTxn
 * (verifyOnly) on the broker that leads the transactional id's `__transaction_state` partition.
 * Synchronous when nothing is to be asked of another broker.
 */
export function verifyTransactionalBatch(
  broker: Pick<BrokerContext, 'transactions' | 'topics' | 'store' | 'nodeId'>,
  transactionalId: string | null,
  topic: string,
  partition: Partition,
  batch: Buffer,
): void | Promise<void> {
  if ((batch.readInt16BE(ATTRIBUTES_OFFSET) & TRANSACTIONAL_FLAG_MASK) === 0) return;
  const info = producerInfoOf(batch, 0);
  if (transactionalId === null || info.producerId < 0n) {
    throw new KafkaError(
      ERROR_CODES.INVALID_RECORD,
      'A transactional batch needs a transactional id and a producer id',
    );
  }
  // Already part of an ongoing transaction here: the coordinator said yes to its first batch.
  if (partition.txns.firstOffsetOf(info.producerId) >= 0n) return;
  const who = { transactionalId, producerId: info.producerId, producerEpoch: info.producerEpoch };
  const coordinator = broker.transactions.coordinator;
  if (coordinatorError(broker as BrokerContext, transactionalId) === ERROR_CODES.NONE) {
    const [code] = coordinator.verifyPartitions(who, [{ topic, partition: partition.index }]);
    return answer(code, who, topic, partition.index);
  }
  const remote = broker.transactions.interBroker;
  const stateTopic = broker.store.image.topics.get(TRANSACTION_STATE_TOPIC);
  if (remote === null || stateTopic === undefined) return;
  const leader = broker.store.image.partition(stateTopic.topicId, coordinator.partitionFor(transactionalId))?.leader;
  // Asked again by the producer's retry once the coordinator has a leader.
  if (leader === undefined || leader < 0) return answer(ERROR_CODES.NOT_COORDINATOR, who, topic, partition.index);
  return remote.verify(leader, who, topic, partition.index).then((code) => answer(code, who, topic, partition.index));
}

/** Throws what the produce answers for a coordinator's verdict (nothing for NONE). */
function answer(code: number, who: TxnIdentity, topic: string, partition: number): void {
  if (code === ERROR_CODES.NONE) return;
  // An older epoch is the producer's fencing, as the partition itself would answer it.
  if (code === ERROR_CODES.PRODUCER_FENCED || code === ERROR_CODES.INVALID_PRODUCER_EPOCH) {
    throw new KafkaError(
      ERROR_CODES.INVALID_PRODUCER_EPOCH,
      `Producer ${who.producerId} with epoch ${who.producerEpoch} is fenced`,
    );
  }
  // The coordinator could not be asked: a produce error every client retries (Kafka's mapping).
  if (
    code === ERROR_CODES.NOT_COORDINATOR ||
    code === ERROR_CODES.COORDINATOR_NOT_AVAILABLE ||
    code === ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS
  ) {
    throw new KafkaError(
      ERROR_CODES.NOT_ENOUGH_REPLICAS,
      `The transaction coordinator of ${who.transactionalId} could not verify ${topic}-${partition} (error ${code})`,
    );
  }
  throw new KafkaError(
    code === ERROR_CODES.CONCURRENT_TRANSACTIONS ? code : ERROR_CODES.INVALID_TXN_STATE,
    `The partition ${topic}-${partition} is not in the ongoing transaction of ${who.transactionalId}`,
  );
}
