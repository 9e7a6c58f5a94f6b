import {
  ERROR_CODES,
  InitProducerIdApi,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { coordinatorError, forVersion } from './transactions/common.js';

/**
 * Idempotent (non-transactional) producers get a fresh producer id with epoch 0, as Kafka's
 * transaction coordinator answers whenever the transactional id is null, even to a producer that
 * sends its current id and epoch (v3+, KIP-360): such a producer bumps its epoch itself.
 * With a transactional id, the transaction coordinator answers (a new id, or the epoch bumped to
 * fence the previous producer).
 */
export function initProducerIdHandler(
  broker: BrokerContext,
): ApiHandler<InitProducerIdRequest, InitProducerIdResponse> {
  return {
    api: InitProducerIdApi,
    minVersion: 0,
    // v6 (two-phase commit, KIP-939) is still unstable in Kafka 4.4, which does not list it either.
    maxVersion: 5,
    handle(req, ctx) {
      const response = {
        throttleTimeMs: 0,
        errorCode: 0,
        producerId: -1n,
        producerEpoch: -1,
        ongoingTxnProducerId: -1n,
        ongoingTxnProducerEpoch: -1,
      };
      if (req.transactionalId !== null) return initTransactional(broker, req, ctx.apiVersion);
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

async function initTransactional(
  broker: BrokerContext,
  req: InitProducerIdRequest,
  version: number,
): Promise<InitProducerIdResponse> {
  const transactionalId = req.transactionalId as string;
  const response = { throttleTimeMs: 0, ongoingTxnProducerId: -1n, ongoingTxnProducerEpoch: -1 };
  const notCoordinator = transactionalId === '' ? ERROR_CODES.NONE : coordinatorError(broker, transactionalId);
  if (notCoordinator !== ERROR_CODES.NONE) {
    return { ...response, errorCode: notCoordinator, producerId: -1n, producerEpoch: -1 };
  }
  const r = await broker.transactions.coordinator.initProducerId({
    transactionalId,
    transactionTimeoutMs: req.transactionTimeoutMs,
    producerId: version >= 3 ? req.producerId : -1n,
    producerEpoch: version >= 3 ? req.producerEpoch : -1,
  });
  // PRODUCER_FENCED is known from v4; older clients get INVALID_PRODUCER_EPOCH, as Kafka answers them.
  return { ...response, ...r, errorCode: forVersion(r.errorCode, version, 4) };
}
