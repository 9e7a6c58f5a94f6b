import { DeleteRecordsApi, type DeleteRecordsRequest, type DeleteRecordsResponse, ERROR_CODES } from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { errorCodeOf } from './partition-errors.js';

/** DeleteRecords' "up to the high watermark" offset. */
const HIGH_WATERMARK = -1n;

export function deleteRecordsHandler(broker: BrokerContext): ApiHandler<DeleteRecordsRequest, DeleteRecordsResponse> {
  return {
    api: DeleteRecordsApi,
    minVersion: 0,
    maxVersion: 2,
    handle(req) {
      return {
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => {
            const partition = broker.topics.partition(t.name, p.partitionIndex);
            if (partition === undefined) {
              return {
                partitionIndex: p.partitionIndex,
                lowWatermark: -1n,
                errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
              };
            }
            try {
              const log = partition.log;
              const offset = p.offset === HIGH_WATERMARK ? log.highWatermark : p.offset;
              const low = log.deleteRecords(offset);
              return { partitionIndex: p.partitionIndex, lowWatermark: low, errorCode: 0 };
            } catch (err) {
              return { partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: errorCodeOf(err) };
            }
          }),
        })),
      };
    },
  };
}
