import {
  ERROR_CODES,
  InitProducerIdApi,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';

/**
 * Idempotent (non-transactional) producers get a fresh producer id with epoch 0, as Kafka's
 * transaction coordinator answers whenever the transactional id is null, even to a producer that
 * sends its current id and epoch (v3+, KIP-360): such a producer bumps its epoch itself.
 * Transactions are not served yet.
 */
export function initProducerIdHandler(
  broker: BrokerContext,
): ApiHandler<InitProducerIdRequest, InitProducerIdResponse> {
  return {
    api: InitProducerIdApi,
    minVersion: 0,
    // v6 (two-phase commit, KIP-939) is still unstable in Kafka 4.4, which does not list it either.
    maxVersion: 5,
    handle(req) {
      const response = {
        throttleTimeMs: 0,
        errorCode: 0,
        producerId: -1n,
        producerEpoch: -1,
        ongoingTxnProducerId: -1n,
        ongoingTxnProducerEpoch: -1,
      };
      if (req.transactionalId !== null) {
        return { ...response, errorCode: ERROR_CODES.COORDINATOR_NOT_AVAILABLE };
      }
      let producerId: bigint | null;
      try {
        producerId = broker.producerIds.nextId();
      } catch (err) {
        // A new block of ids could not be stored (a full disk): retriable for the client, as
        // Kafka's coordinator answers while it cannot allocate ids.
        if (!broker.logDir.noteError(err, 'allocating producer ids')) throw err;
        return { ...response, errorCode: ERROR_CODES.COORDINATOR_NOT_AVAILABLE };
      }
      // No block of ids at hand yet (the next one is being reserved): Kafka's answer, the client retries.
      if (producerId === null) return { ...response, errorCode: ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS };
      return { ...response, producerId, producerEpoch: 0 };
    },
  };
}
