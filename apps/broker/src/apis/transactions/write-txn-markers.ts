import { WriteTxnMarkersApi, type WriteTxnMarkersRequest, type WriteTxnMarkersResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { writeMarkersLocally } from './markers.js';

/** A bound on markers in one request. */
const MAX_MARKERS = 10_000;

/** WriteTxnMarkers: a transaction coordinator (on this or another broker) asks this leader to write markers. */
export function writeTxnMarkersHandler(
  broker: BrokerContext,
): ApiHandler<WriteTxnMarkersRequest, WriteTxnMarkersResponse> {
  return {
    api: WriteTxnMarkersApi,
    minVersion: 1,
    maxVersion: 2,
    async handle(req) {
      const markers = await Promise.all(
        req.markers.slice(0, MAX_MARKERS).map(async (m) => {
          const partitions = m.topics.flatMap((t) =>
            t.partitionIndexes.map((partition) => ({ topic: t.name, partition })),
          );
          const codes = await writeMarkersLocally(broker, {
            producerId: m.producerId,
            producerEpoch: m.producerEpoch,
            coordinatorEpoch: m.coordinatorEpoch,
            commit: m.transactionResult,
            partitions,
          });
          let i = 0;
          return {
            producerId: m.producerId,
            topics: m.topics.map((t) => ({
              name: t.name,
              partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: codes[i++] })),
            })),
          };
        }),
      );
      return { markers };
    },
  };
}
