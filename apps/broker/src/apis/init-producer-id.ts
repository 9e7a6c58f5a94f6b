import {
  ERROR_CODES,
  InitProducerIdApi,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';

const MAX_EPOCH = 32767;

/**
 * Idempotent (non-transactional) producers get a fresh producer id. A producer that sends its
 * current id and epoch (KIP-360, v3+) gets the epoch bumped instead, so it can reset its
 * sequences without a new id. Transactions are not served yet.
 */
export function initProducerIdHandler(
  broker: BrokerContext,
): ApiHandler<InitProducerIdRequest, InitProducerIdResponse> {
  return {
    api: InitProducerIdApi,
    minVersion: 0,
    maxVersion: 5,
    handle(req) {
      const response = { throttleTimeMs: 0, errorCode: 0, producerId: -1n, producerEpoch: -1 };
      if (req.transactionalId !== null) {
        return { ...response, errorCode: ERROR_CODES.COORDINATOR_NOT_AVAILABLE };
      }
      if (req.producerId >= 0n && req.producerEpoch >= 0 && req.producerEpoch < MAX_EPOCH - 1) {
        return { ...response, producerId: req.producerId, producerEpoch: req.producerEpoch + 1 };
      }
      return { ...response, producerId: broker.producerIds.nextId(), producerEpoch: 0 };
    },
  };
}
