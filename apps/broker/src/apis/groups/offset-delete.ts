import { ERROR_CODES, OffsetDeleteApi, type OffsetDeleteRequest, type OffsetDeleteResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

export function offsetDeleteHandler(broker: BrokerContext): ApiHandler<OffsetDeleteRequest, OffsetDeleteResponse> {
  return {
    api: OffsetDeleteApi,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      if (!coordinates(broker, req.groupId)) {
        return { errorCode: ERROR_CODES.NOT_COORDINATOR, throttleTimeMs: 0, topics: [] };
      }
      const known = req.topics
        .map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => p.partitionIndex).filter((i) => broker.topics.hasPartition(t.name, i)),
        }))
        .filter((t) => t.partitions.length > 0);
      const r = await broker.groups.coordinator.deleteOffsets(req.groupId, known);
      if (r.errorCode !== ERROR_CODES.NONE) return { errorCode: r.errorCode, throttleTimeMs: 0, topics: [] };
      const errors = new Map<string, number>();
      for (const t of r.topics) for (const p of t.partitions) errors.set(`${p.partitionIndex}:${t.name}`, p.errorCode);
      const topics = req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode: errors.get(`${p.partitionIndex}:${t.name}`) ?? ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
        })),
      }));
      return { errorCode: ERROR_CODES.NONE, throttleTimeMs: 0, topics };
    },
  };
}
