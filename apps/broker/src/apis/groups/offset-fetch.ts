import {
  OffsetFetchApi,
  type OffsetFetchRequest,
  type OffsetFetchResponse,
  type OffsetFetchResponseOffsetFetchResponseGroup,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';

/** A bound on groups answered in one request (v8+). */
const MAX_GROUPS = 10_000;

export function offsetFetchHandler(broker: BrokerContext): ApiHandler<OffsetFetchRequest, OffsetFetchResponse> {
  const coordinator = () => broker.groups.coordinator;
  return {
    api: OffsetFetchApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    maxVersion: 9,
    handle(req, ctx) {
      const v = ctx.apiVersion;
      if (v >= 8) {
        const groups = req.groups.slice(0, MAX_GROUPS).map((g): OffsetFetchResponseOffsetFetchResponseGroup => {
          const r = coordinator().fetchOffsets(g.groupId, g.topics, req.requireStable);
          return { groupId: g.groupId, errorCode: r.errorCode, topics: r.topics };
        });
        return { ...OffsetFetchApi.response.defaults(), throttleTimeMs: 0, groups };
      }
      // Before v2 a null topic list cannot be sent; from v2 it asks for all of the group's offsets.
      const r = coordinator().fetchOffsets(req.groupId, req.topics, v >= 7 && req.requireStable);
      const topics = r.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          committedOffset: p.committedOffset,
          committedLeaderEpoch: p.committedLeaderEpoch,
          metadata: p.metadata,
          // v0–v1 have no top-level error: a group error shows in every partition.
          errorCode: v < 2 && r.errorCode !== 0 ? r.errorCode : p.errorCode,
        })),
      }));
      return {
        ...OffsetFetchApi.response.defaults(),
        throttleTimeMs: 0,
        topics,
        errorCode: v >= 2 ? r.errorCode : 0,
      };
    },
  };
}
