import { EndTxnApi, type EndTxnRequest, type EndTxnResponse, ERROR_CODES } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinatorError, forVersion } from './common.js';
import { TRANSACTIONS_V2 } from './verify.js';

/**
 * EndTxn: the producer commits or aborts its transaction; markers follow. v5 is transactions V2
 * (KIP-890 part 2): the epoch is bumped with every transaction and the answer carries the id and
 * epoch the producer goes on with.
 */
export function endTxnHandler(broker: BrokerContext): ApiHandler<EndTxnRequest, EndTxnResponse> {
  return {
    api: EndTxnApi,
    minVersion: 0,
    maxVersion: 5,
    async handle(req, ctx) {
      const answer = (errorCode: number, producerId = -1n, producerEpoch = -1) => ({
        throttleTimeMs: 0,
        errorCode: forVersion(errorCode, ctx.apiVersion, 2),
        producerId,
        producerEpoch,
      });
      const notCoordinator = coordinatorError(broker, req.transactionalId);
      if (notCoordinator !== ERROR_CODES.NONE) return answer(notCoordinator);
      const r = await broker.transactions.coordinator.endTxn(
        { transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch },
        req.committed,
        ctx.apiVersion >= 5 ? TRANSACTIONS_V2 : 0,
      );
      return answer(r.errorCode, r.producerId, r.producerEpoch);
    },
  };
}
