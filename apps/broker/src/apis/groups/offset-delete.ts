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
      // A KIP-848 consumer group keeps the offsets of topics its members subscribe to; the rest are in the
      // offset store under its id (which may hold none yet: nothing to delete is no error then).
      const consumerGroups = broker.groups.consumerGroups;
      const isConsumerGroup = consumerGroups.has(req.groupId);
      const subscribed = isConsumerGroup ? consumerGroups.subscribedTopics(req.groupId) : new Set<string>();
      const errors = new Map<string, number>();
      for (const t of known) {
        if (!subscribed.has(t.name)) continue;
        for (const i of t.partitions) errors.set(`${i}:${t.name}`, ERROR_CODES.GROUP_SUBSCRIBED_TO_TOPIC);
      }
      const deletable = known.filter((t) => !subscribed.has(t.name));
      const r = await broker.groups.coordinator.deleteOffsets(req.groupId, deletable);
      const nothingStored = isConsumerGroup && r.errorCode === ERROR_CODES.GROUP_ID_NOT_FOUND;
      if (nothingStored) for (const t of deletable) for (const i of t.partitions) errors.set(`${i}:${t.name}`, 0);
      else if (r.errorCode !== ERROR_CODES.NONE) return { errorCode: r.errorCode, throttleTimeMs: 0, topics: [] };
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
