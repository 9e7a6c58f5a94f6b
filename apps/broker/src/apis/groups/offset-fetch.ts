import type { GroupCoordinator } from '@sluice/coordinator';
import {
  ERROR_CODES,
  OffsetFetchApi,
  type OffsetFetchRequest,
  type OffsetFetchResponse,
  type OffsetFetchResponseOffsetFetchResponseGroup,
  ZERO_UUID,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

type FetchOffsets = GroupCoordinator['fetchOffsets'];

/** The coordinator's answer, or NOT_COORDINATOR (no offsets) for a group another broker coordinates. */
function fetchOffsetsFor(broker: BrokerContext): FetchOffsets {
  return (groupId, topics, requireStable) =>
    coordinates(broker, groupId)
      ? broker.groups.coordinator.fetchOffsets(groupId, topics, requireStable)
      : { errorCode: ERROR_CODES.NOT_COORDINATOR, topics: [] };
}

/** A bound on groups answered in one request (v8+). */
const MAX_GROUPS = 10_000;

/**
 * One group of a v10+ request, whose topics are ids: known ids are looked up by their names, an
 * unknown id answers UNKNOWN_TOPIC_ID in each partition, as Kafka does. All of a group's offsets
 * (topics null) come back with their topics' ids; offsets of topics that no longer exist have no
 * id to be named by and are left out.
 */
function fetchByTopicIdFor(broker: BrokerContext) {
  return (
    g: OffsetFetchRequest['groups'][number],
    requireStable: boolean,
  ): OffsetFetchResponseOffsetFetchResponseGroup => {
    const fetchOffsets = fetchOffsetsFor(broker);
    if (g.topics === null) {
      const r = fetchOffsets(g.groupId, null, requireStable);
      const topics = [];
      for (const t of r.topics) {
        const topicId = broker.topics.get(t.name)?.topicId;
        if (topicId !== undefined) topics.push({ ...t, topicId });
      }
      return { groupId: g.groupId, errorCode: r.errorCode, topics };
    }
    const named: { name: string; partitionIndexes: number[] }[] = [];
    for (const t of g.topics) {
      const name = broker.topics.getById(t.topicId)?.name;
      if (name !== undefined) named.push({ name, partitionIndexes: t.partitionIndexes });
    }
    const r = fetchOffsets(g.groupId, named, requireStable);
    if (r.errorCode !== 0) return { groupId: g.groupId, errorCode: r.errorCode, topics: [] };
    const byName = new Map(r.topics.map((t) => [t.name, t]));
    const topics = g.topics.map((t) => {
      const name = broker.topics.getById(t.topicId)?.name;
      const found = name === undefined ? undefined : byName.get(name);
      if (found !== undefined) return { ...found, topicId: t.topicId };
      return {
        name: '',
        topicId: t.topicId,
        partitions: t.partitionIndexes.map((partitionIndex) => ({
          partitionIndex,
          committedOffset: -1n,
          committedLeaderEpoch: -1,
          metadata: '',
          errorCode: ERROR_CODES.UNKNOWN_TOPIC_ID,
        })),
      };
    });
    return { groupId: g.groupId, errorCode: 0, topics };
  };
}

export function offsetFetchHandler(broker: BrokerContext): ApiHandler<OffsetFetchRequest, OffsetFetchResponse> {
  const fetchOffsets = fetchOffsetsFor(broker);
  const fetchByTopicId = fetchByTopicIdFor(broker);
  return {
    api: OffsetFetchApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    // v10 names topics by id (KIP-848).
    maxVersion: 10,
    handle(req, ctx) {
      const v = ctx.apiVersion;
      // v9+: a member of a KIP-848 consumer group names itself and its epoch, which must be current.
      const memberError = (
        g: OffsetFetchRequest['groups'][number],
      ): OffsetFetchResponseOffsetFetchResponseGroup | null => {
        // Another broker's group: NOT_COORDINATOR comes from fetchOffsets.
        if (v < 9 || !coordinates(broker, g.groupId)) return null;
        const check = broker.groups.consumerGroups.validateOffsetFetch(g.groupId, g.memberId ?? '', g.memberEpoch);
        return check.errorCode === ERROR_CODES.NONE
          ? null
          : { groupId: g.groupId, errorCode: check.errorCode, topics: [] };
      };
      if (v >= 10) {
        const groups = req.groups
          .slice(0, MAX_GROUPS)
          .map((g) => memberError(g) ?? fetchByTopicId(g, req.requireStable));
        return { ...OffsetFetchApi.response.defaults(), throttleTimeMs: 0, groups };
      }
      if (v >= 8) {
        const groups = req.groups.slice(0, MAX_GROUPS).map((g): OffsetFetchResponseOffsetFetchResponseGroup => {
          const failed = memberError(g);
          if (failed !== null) return failed;
          const r = fetchOffsets(g.groupId, g.topics, req.requireStable);
          return {
            groupId: g.groupId,
            errorCode: r.errorCode,
            topics: r.topics.map((t) => ({ ...t, topicId: ZERO_UUID })),
          };
        });
        return { ...OffsetFetchApi.response.defaults(), throttleTimeMs: 0, groups };
      }
      // Before v2 a null topic list cannot be sent; from v2 it asks for all of the group's offsets.
      const r = fetchOffsets(req.groupId, req.topics, v >= 7 && req.requireStable);
      // v1 has no top-level error: a group error with no offsets shows in each partition asked for.
      const asked = v < 2 && r.errorCode !== 0 && r.topics.length === 0 ? (req.topics ?? []) : [];
      for (const t of asked) {
        r.topics.push({
          name: t.name,
          partitions: t.partitionIndexes.map((partitionIndex) => ({
            partitionIndex,
            committedOffset: -1n,
            committedLeaderEpoch: -1,
            metadata: '',
            errorCode: r.errorCode,
          })),
        });
      }
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
