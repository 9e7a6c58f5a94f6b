import { EndTxnApi, type EndTxnRequest, type EndTxnResponse, ERROR_CODES } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinatorError, forVersion } from './common.js';

/** EndTxn: the producer commits or aborts its transaction; markers follow. */
export function endTxnHandler(broker: BrokerContext): ApiHandler<EndTxnRequest, EndTxnResponse> {
  return {
    api: EndTxnApi,
    minVersion: 0,
    // v5 bumps the epoch on every transaction (KIP-890 part 2, transaction version 2), not served yet.
    maxVersion: 4,
    async handle(req, ctx) {
      const answer = (errorCode: number) => ({
        throttleTimeMs: 0,
        errorCode: forVersion(errorCode, ctx.apiVersion, 2),
        producerId: -1n,
        producerEpoch: -1,
      });
      const notCoordinator = coordinatorError(broker, req.transactionalId);
      if (notCoordinator !== ERROR_CODES.NONE) return answer(notCoordinator);
      return answer(
        await broker.transactions.coordinator.endTransaction(
          { transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch },
          req.committed,
        ),
      );
    },
  };
}
