import {
  DescribeTransactionsApi,
  type DescribeTransactionsRequest,
  type DescribeTransactionsResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinatorError } from './common.js';

/** A bound on ids described in one request. */
const MAX_IDS = 10_000;

export function describeTransactionsHandler(
  broker: BrokerContext,
): ApiHandler<DescribeTransactionsRequest, DescribeTransactionsResponse> {
  return {
    api: DescribeTransactionsApi,
    minVersion: 0,
    maxVersion: 0,
    handle(req) {
      return {
        throttleTimeMs: 0,
        transactionStates: req.transactionalIds.slice(0, MAX_IDS).map((id) => {
          const notCoordinator = coordinatorError(broker, id);
          const d = broker.transactions.coordinator.describe(id);
          const byTopic = new Map<string, number[]>();
          for (const tp of d.topics) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
          return {
            errorCode: notCoordinator !== ERROR_CODES.NONE ? notCoordinator : d.errorCode,
            transactionalId: id,
            transactionState: d.state,
            transactionTimeoutMs: d.timeoutMs,
            transactionStartTimeMs: BigInt(d.startTimestampMs),
            producerId: d.producerId,
            producerEpoch: d.producerEpoch,
            topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
          };
        }),
      };
    },
  };
}
