import {
  AddOffsetsToTxnApi,
  type AddOffsetsToTxnRequest,
  type AddOffsetsToTxnResponse,
  ERROR_CODES,
  KafkaError,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { OFFSETS_TOPIC } from '../groups/offsets-topic.js';
import { coordinatorError, forVersion } from './common.js';

/** AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction, so its marker completes the offsets. */
export function addOffsetsToTxnHandler(
  broker: BrokerContext,
): ApiHandler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse> {
  return {
    api: AddOffsetsToTxnApi,
    minVersion: 0,
    maxVersion: 4,
    async handle(req, ctx) {
      const answer = (errorCode: number) => ({
        throttleTimeMs: 0,
        errorCode: forVersion(errorCode, ctx.apiVersion, 2),
      });
      const notCoordinator = coordinatorError(broker, req.transactionalId);
      if (notCoordinator !== ERROR_CODES.NONE) return answer(notCoordinator);
      try {
        broker.groups.ensureOffsetsTopic();
      } catch (err) {
        return answer(err instanceof KafkaError ? err.code : ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
      }
      const partition = broker.groups.coordinator.partitionFor(req.groupId);
      return answer(
        await broker.transactions.coordinator.addPartitions(
          { transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch },
          [{ topic: OFFSETS_TOPIC, partition }],
        ),
      );
    },
  };
}
