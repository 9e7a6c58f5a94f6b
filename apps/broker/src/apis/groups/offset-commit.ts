import type { CommitPartition } from '@sluice/coordinator';
import { ERROR_CODES, OffsetCommitApi, type OffsetCommitRequest, type OffsetCommitResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

export function offsetCommitHandler(broker: BrokerContext): ApiHandler<OffsetCommitRequest, OffsetCommitResponse> {
  return {
    api: OffsetCommitApi,
    // v0 and v1 were removed in Kafka 4 (KIP-896).
    minVersion: 2,
    // v10 names topics by id (KIP-848): an id the broker does not know answers UNKNOWN_TOPIC_ID.
    maxVersion: 10,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const byId = v >= 10;
      const nameOf = (t: OffsetCommitRequest['topics'][number]) =>
        byId ? (broker.topics.getById(t.topicId)?.name ?? null) : t.name;
      // Partitions of unknown topics are answered here; the rest go to the coordinator.
      const known: { name: string; partitions: CommitPartition[] }[] = [];
      for (const t of req.topics) {
        const name = nameOf(t);
        if (name === null) continue;
        const parts: CommitPartition[] = [];
        for (const p of t.partitions) {
          if (broker.topics.hasPartition(name, p.partitionIndex)) {
            parts.push({
              partitionIndex: p.partitionIndex,
              committedOffset: p.committedOffset,
              committedLeaderEpoch: v >= 6 ? p.committedLeaderEpoch : -1,
              committedMetadata: p.committedMetadata,
            });
          }
        }
        if (parts.length > 0) known.push({ name, partitions: parts });
      }
      // A KIP-848 consumer group checks the member epoch; its offsets then go to the offset store
      // as a commit outside any generation (the classic side of that id holds only offsets).
      const consumerGroups = broker.groups.consumerGroups;
      const ours = coordinates(broker, req.groupId);
      const isConsumerGroup = ours && consumerGroups.has(req.groupId);
      const check = isConsumerGroup
        ? consumerGroups.validateOffsetCommit(
            req.groupId,
            req.memberId,
            req.generationIdOrMemberEpoch,
            v,
            known.flatMap((t) => {
              const topicId = broker.topics.get(t.name)?.topicId ?? '';
              return t.partitions.map((p) => ({ topicId, partition: p.partitionIndex }));
            }),
          )
        : null;
      // Not the coordinator: the partitions the coordinator would see get NOT_COORDINATOR.
      const refusal = !ours
        ? ERROR_CODES.NOT_COORDINATOR
        : check !== null && check.errorCode !== ERROR_CODES.NONE
          ? check.errorCode
          : null;
      const results =
        refusal !== null
          ? known.map((t) => ({
              name: t.name,
              partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: refusal })),
            }))
          : await broker.groups.coordinator.commitOffsets({
              groupId: req.groupId,
              generationId: isConsumerGroup ? -1 : req.generationIdOrMemberEpoch,
              memberId: isConsumerGroup ? '' : req.memberId,
              groupInstanceId: isConsumerGroup ? null : req.groupInstanceId,
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
      const topics = req.topics.map((t) => {
        const name = nameOf(t);
        const unknown = name === null ? ERROR_CODES.UNKNOWN_TOPIC_ID : ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION;
        return {
          name: name ?? '',
          topicId: t.topicId,
          partitions: t.partitions.map((p) => ({
            partitionIndex: p.partitionIndex,
            errorCode: (name === null ? undefined : byTopic.get(name)?.get(p.partitionIndex)) ?? unknown,
          })),
        };
      });
      return { throttleTimeMs: 0, topics };
    },
  };
}
