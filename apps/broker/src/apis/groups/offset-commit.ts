import type { CommitPartition } from '@sluice/coordinator';
import { ERROR_CODES, OffsetCommitApi, type OffsetCommitRequest, type OffsetCommitResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';

export function offsetCommitHandler(broker: BrokerContext): ApiHandler<OffsetCommitRequest, OffsetCommitResponse> {
  return {
    api: OffsetCommitApi,
    // v0 and v1 were removed in Kafka 4 (KIP-896).
    minVersion: 2,
    maxVersion: 9,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      // Partitions of unknown topics are answered here; the rest go to the coordinator.
      const unknown = new Map<string, number[]>();
      const known: { name: string; partitions: CommitPartition[] }[] = [];
      for (const t of req.topics) {
        const parts: CommitPartition[] = [];
        for (const p of t.partitions) {
          if (!broker.topics.hasPartition(t.name, p.partitionIndex)) {
            const list = unknown.get(t.name) ?? [];
            list.push(p.partitionIndex);
            unknown.set(t.name, list);
          } else {
            parts.push({
              partitionIndex: p.partitionIndex,
              committedOffset: p.committedOffset,
              committedLeaderEpoch: v >= 6 ? p.committedLeaderEpoch : -1,
              committedMetadata: p.committedMetadata,
            });
          }
        }
        if (parts.length > 0) known.push({ name: t.name, partitions: parts });
      }
      const results = await broker.groups.coordinator.commitOffsets({
        groupId: req.groupId,
        generationId: req.generationIdOrMemberEpoch,
        memberId: req.memberId,
        groupInstanceId: req.groupInstanceId,
        retentionTimeMs: v <= 4 ? Number(req.retentionTimeMs) : -1,
        topics: known,
      });
      const byTopic = new Map<string, Map<number, number>>();
      for (const t of results) {
        const m = byTopic.get(t.name) ?? new Map<number, number>();
        for (const p of t.partitions) m.set(p.partitionIndex, p.errorCode);
        byTopic.set(t.name, m);
      }
      // Answer in the request's order.
      const topics = req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode: byTopic.get(t.name)?.get(p.partitionIndex) ?? ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
        })),
      }));
      return { throttleTimeMs: 0, topics };
    },
  };
}
