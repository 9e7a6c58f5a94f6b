import { RECORD_STATE } from '@sluice/coordinator';
import {
  AlterShareGroupOffsetsApi,
  type AlterShareGroupOffsetsRequest,
  type AlterShareGroupOffsetsResponse,
  DeleteShareGroupOffsetsApi,
  type DeleteShareGroupOffsetsRequest,
  type DeleteShareGroupOffsetsResponse,
  DescribeShareGroupOffsetsApi,
  type DescribeShareGroupOffsetsRequest,
  type DescribeShareGroupOffsetsResponse,
  ERROR_CODES,
  ZERO_UUID,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import type { TopicState } from '../../state/topic-manager.js';
import { leadsPartition } from '../cluster-view.js';
import { coordinates } from '../groups/common.js';
import type { ShareServices } from './share-services.js';

/** A bound on partitions one request may name. */
const MAX_PARTITIONS = 100_000;

function exists(shares: ShareServices, groupId: string): boolean {
  return shares.coordinator.has(groupId) || shares.coordinator.sharePartitionsOf(groupId).length > 0;
}

/** Share-partitions of a group with state: as its metadata records them, and any this broker holds. */
function partitionsWithState(shares: ShareServices, groupId: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const add = (topicId: string, p: number) => {
    const set = out.get(topicId) ?? new Set<number>();
    set.add(p);
    out.set(topicId, set);
  };
  for (const [topicId, ps] of shares.coordinator.initializedPartitions(groupId)) for (const p of ps) add(topicId, p);
  for (const [topicId, p] of shares.coordinator.sharePartitionsOf(groupId)) add(topicId, p);
  return out;
}

interface DescribedPartition {
  startOffset: bigint;
  leaderEpoch: number;
  lag: bigint;
  errorCode: number;
  errorMessage: string | null;
}

/**
 * A share-partition's start offset and lag: from the state this broker holds when it leads the partition
 * (the newest), otherwise from the share coordinator's summary (ReadShareGroupStateSummary, wherever it
 * is), with the lag against the high watermark its leader answers (-1 when it cannot be had).
 */
async function describePartition(
  broker: BrokerContext,
  shares: ShareServices,
  groupId: string,
  topic: TopicState,
  p: number,
): Promise<DescribedPartition> {
  const none = { startOffset: -1n, leaderEpoch: -1, lag: -1n, errorCode: 0, errorMessage: null };
  const partition = topic.partitions[p];
  const sp = shares.coordinator.existingSharePartition(groupId, topic.topicId, p);
  if (sp !== undefined && leadsPartition(broker, topic.topicId, p)) {
    const now = Date.now();
    const hw = partition?.log.highWatermark ?? sp.startOffset;
    let done = 0n;
    for (let o = sp.startOffset; o < sp.endOffset; o++) {
      const st = sp.stateOf(o, now)?.state;
      if (st === RECORD_STATE.ACKNOWLEDGED || st === RECORD_STATE.ARCHIVED) done++;
    }
    const lag = hw - sp.startOffset - done;
    return { ...none, startOffset: sp.startOffset, leaderEpoch: 0, lag: lag < 0n ? 0n : lag };
  }
  const r = await shares.state.persister.summary({ groupId, topicId: topic.topicId, partition: p }, -1);
  // Never initialized: no start offset yet, as Kafka answers.
  if (r.errorCode === ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION) return none;
  if (r.errorCode !== 0) return { ...none, errorCode: r.errorCode, errorMessage: r.errorMessage };
  const hw = r.startOffset < 0n ? null : await shares.state.highWatermark(topic.name, topic.topicId, p);
  if (hw === null) return { ...none, startOffset: r.startOffset, leaderEpoch: 0 };
  const complete = BigInt(Math.max(0, r.deliveryCompleteCount ?? 0));
  const lag = hw - r.startOffset - complete;
  return { ...none, startOffset: r.startOffset, leaderEpoch: 0, lag: lag < 0n ? 0n : lag };
}

/**
 * DescribeShareGroupOffsets: each share-partition's start offset and (v1) lag, the records from the start
 * offset to the high watermark not yet acknowledged or archived; -1 for partitions the group never used.
 * Read from the share coordinator of each share-partition, which may be another broker.
 */
export function describeShareGroupOffsetsHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse> {
  return {
    api: DescribeShareGroupOffsetsApi,
    minVersion: 0,
    maxVersion: 1,
    async handle(req) {
      const groups = await Promise.all(
        req.groups.map(async (g) => {
          const base = { groupId: g.groupId, topics: [], errorCode: 0, errorMessage: null };
          if (!coordinates(broker, g.groupId)) return { ...base, errorCode: ERROR_CODES.NOT_COORDINATOR };
          if (!exists(shares, g.groupId)) {
            return {
              ...base,
              errorCode: ERROR_CODES.GROUP_ID_NOT_FOUND,
              errorMessage: `Group ${g.groupId} not found.`,
            };
          }
          // Topics null: every topic the group has share state for.
          const wanted: { topicName: string; partitions: number[] }[] =
            g.topics ??
            [...partitionsWithState(shares, g.groupId)].flatMap(([topicId, ps]) => {
              const name = broker.topics.getById(topicId)?.name;
              return name === undefined ? [] : [{ topicName: name, partitions: [...ps].sort((a, b) => a - b) }];
            });
          const topics = await Promise.all(
            wanted.slice(0, MAX_PARTITIONS).map(async (t) => {
              const topic = broker.topics.get(t.topicName);
              return {
                topicName: t.topicName,
                topicId: topic?.topicId ?? ZERO_UUID,
                partitions: await Promise.all(
                  t.partitions.slice(0, MAX_PARTITIONS).map(async (p) => {
                    if (topic === undefined) {
                      const d = { startOffset: -1n, leaderEpoch: -1, lag: -1n, errorMessage: null };
                      return { partitionIndex: p, ...d, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
                    }
                    return { partitionIndex: p, ...(await describePartition(broker, shares, g.groupId, topic, p)) };
                  }),
                ),
              };
            }),
          );
          return { ...base, topics };
        }),
      );
      return { throttleTimeMs: 0, groups };
    },
  };
}

/**
 * AlterShareGroupOffsets: sets the start offset of share-partitions of a group without members, through
 * the share coordinator (InitializeShareGroupState with a newer state epoch, so that a partition leader's
 * older copy is fenced and read again).
 */
export function alterShareGroupOffsetsHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse> {
  return {
    api: AlterShareGroupOffsetsApi,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const fail = (errorCode: number, errorMessage: string | null): AlterShareGroupOffsetsResponse => ({
        throttleTimeMs: 0,
        errorCode,
        errorMessage,
        responses: [],
      });
      if (!coordinates(broker, req.groupId)) return fail(ERROR_CODES.NOT_COORDINATOR, null);
      if (broker.groups.consumerGroups.has(req.groupId)) {
        return fail(ERROR_CODES.GROUP_ID_NOT_FOUND, `Group ${req.groupId} is not a share group.`);
      }
      if (shares.coordinator.memberCount(req.groupId) > 0) {
        return fail(ERROR_CODES.NON_EMPTY_GROUP, 'The group has active members.');
      }
      shares.coordinator.ensureGroup(req.groupId);
      // Changes of the share-partitions held here go out first: they must not land after the reset.
      await shares.flush();
      const responses = await Promise.all(
        req.topics.slice(0, MAX_PARTITIONS).map(async (t) => {
          const topic = broker.topics.get(t.topicName);
          const partitions = await Promise.all(
            t.partitions.slice(0, MAX_PARTITIONS).map(async (p) => {
              const ok = { partitionIndex: p.partitionIndex, errorCode: 0, errorMessage: null as string | null };
              if (topic === undefined || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions.length) {
                return { ...ok, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
              }
              // Checked against this broker's replica, when it has one (the leader may be another broker).
              const log = topic.partitions[p.partitionIndex]?.log;
              if (log !== undefined && (p.startOffset < log.logStartOffset || p.startOffset > log.logEndOffset)) {
                return {
                  ...ok,
                  errorCode: ERROR_CODES.INVALID_REQUEST,
                  errorMessage: `start offset ${p.startOffset} out of range`,
                };
              }
              const key = { groupId: req.groupId, topicId: topic.topicId, partition: p.partitionIndex };
              const now = await shares.state.persister.summary(key, -1);
              const stateEpoch = now.errorCode === 0 ? now.stateEpoch + 1 : 0;
              const r = await shares.state.persister.initialize(key, stateEpoch, p.startOffset);
              if (r.errorCode !== 0) return { ...ok, errorCode: r.errorCode, errorMessage: r.errorMessage };
              shares.coordinator.unloadSharePartition(req.groupId, topic.topicId, p.partitionIndex);
              return ok;
            }),
          );
          if (topic !== undefined) {
            const done = partitions.filter((p) => p.errorCode === 0).map((p) => p.partitionIndex);
            if (done.length > 0) shares.coordinator.markInitialized(req.groupId, topic.topicId, done);
          }
          return { topicName: t.topicName, topicId: topic?.topicId ?? ZERO_UUID, partitions };
        }),
      );
      return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, responses };
    },
  };
}

/** DeleteShareGroupOffsets: deletes the share state of topics of a group without members, at the share coordinator. */
export function deleteShareGroupOffsetsHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse> {
  return {
    api: DeleteShareGroupOffsetsApi,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const fail = (errorCode: number, errorMessage: string | null): DeleteShareGroupOffsetsResponse => ({
        throttleTimeMs: 0,
        errorCode,
        errorMessage,
        responses: [],
      });
      if (!coordinates(broker, req.groupId)) return fail(ERROR_CODES.NOT_COORDINATOR, null);
      if (!exists(shares, req.groupId)) return fail(ERROR_CODES.GROUP_ID_NOT_FOUND, `Group ${req.groupId} not found.`);
      if (shares.coordinator.memberCount(req.groupId) > 0) {
        return fail(ERROR_CODES.NON_EMPTY_GROUP, 'The group has active members.');
      }
      await shares.flush();
      const held = partitionsWithState(shares, req.groupId);
      const responses = await Promise.all(
        req.topics.slice(0, MAX_PARTITIONS).map(async (t) => {
          const topic = broker.topics.get(t.topicName);
          if (topic === undefined) {
            return {
              topicName: t.topicName,
              topicId: ZERO_UUID,
              errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
              errorMessage: null,
            };
          }
          const results = await Promise.all(
            [...(held.get(topic.topicId) ?? [])].map((p) =>
              shares.state.persister.delete({ groupId: req.groupId, topicId: topic.topicId, partition: p }),
            ),
          );
          const failed = results.find((r) => r.errorCode !== 0);
          if (failed !== undefined) {
            return { topicName: t.topicName, topicId: topic.topicId, ...failed };
          }
          for (const p of held.get(topic.topicId) ?? []) {
            shares.coordinator.unloadSharePartition(req.groupId, topic.topicId, p);
          }
          shares.coordinator.markInitialized(req.groupId, topic.topicId, null);
          return { topicName: t.topicName, topicId: topic.topicId, errorCode: 0, errorMessage: null };
        }),
      );
      return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, responses };
    },
  };
}
