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
import { coordinates } from '../groups/common.js';
import type { ShareServices } from './share-services.js';

/** A bound on partitions one request may name. */
const MAX_PARTITIONS = 100_000;

function exists(shares: ShareServices, groupId: string): boolean {
  return shares.coordinator.has(groupId) || shares.coordinator.sharePartitionsOf(groupId).length > 0;
}

/**
 * DescribeShareGroupOffsets: each share-partition's start offset and (v1) lag, the records from the start
 * offset to the high watermark not yet acknowledged or archived; -1 for partitions the group never fetched.
 */
export function describeShareGroupOffsetsHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse> {
  return {
    api: DescribeShareGroupOffsetsApi,
    minVersion: 0,
    maxVersion: 1,
    handle(req) {
      const now = Date.now();
      const groups = req.groups.map((g) => {
        const base = { groupId: g.groupId, topics: [], errorCode: 0, errorMessage: null };
        if (!coordinates(broker, g.groupId)) return { ...base, errorCode: ERROR_CODES.NOT_COORDINATOR };
        if (!exists(shares, g.groupId)) {
          return { ...base, errorCode: ERROR_CODES.GROUP_ID_NOT_FOUND, errorMessage: `Group ${g.groupId} not found.` };
        }
        // Topics null: every topic the group has share state for.
        const wanted: { topicName: string; partitions: number[] }[] =
          g.topics ??
          [
            ...shares.coordinator.sharePartitionsOf(g.groupId).reduce((m, [topicId, p]) => {
              const name = broker.topics.getById(topicId)?.name;
              if (name !== undefined)
                m.set(
                  name,
                  [...(m.get(name) ?? []), p].sort((a, b) => a - b),
                );
              return m;
            }, new Map<string, number[]>()),
          ].map(([topicName, partitions]) => ({ topicName, partitions }));
        const topics = wanted.slice(0, MAX_PARTITIONS).map((t) => {
          const topic = broker.topics.get(t.topicName);
          return {
            topicName: t.topicName,
            topicId: topic?.topicId ?? ZERO_UUID,
            partitions: t.partitions.slice(0, MAX_PARTITIONS).map((p) => {
              const none = {
                partitionIndex: p,
                startOffset: -1n,
                leaderEpoch: -1,
                lag: -1n,
                errorCode: 0,
                errorMessage: null,
              };
              if (topic === undefined) return { ...none, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
              const sp = shares.coordinator.existingSharePartition(g.groupId, topic.topicId, p);
              if (sp === undefined) return none;
              const hw = topic.partitions[p]?.log.highWatermark ?? sp.startOffset;
              let done = 0n;
              for (let o = sp.startOffset; o < sp.endOffset; o++) {
                const st = sp.stateOf(o, now)?.state;
                if (st === RECORD_STATE.ACKNOWLEDGED || st === RECORD_STATE.ARCHIVED) done++;
              }
              const lag = hw - sp.startOffset - done;
              return { ...none, startOffset: sp.startOffset, leaderEpoch: 0, lag: lag < 0n ? 0n : lag };
            }),
          };
        });
        return { ...base, topics };
      });
      return { throttleTimeMs: 0, groups };
    },
  };
}

/** AlterShareGroupOffsets: sets the start offset of share-partitions of a group without members. */
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
      const responses = req.topics.slice(0, MAX_PARTITIONS).map((t) => {
        const topic = broker.topics.get(t.topicName);
        return {
          topicName: t.topicName,
          topicId: topic?.topicId ?? ZERO_UUID,
          partitions: t.partitions.slice(0, MAX_PARTITIONS).map((p) => {
            const ok = { partitionIndex: p.partitionIndex, errorCode: 0, errorMessage: null };
            const partition = topic?.partitions[p.partitionIndex];
            if (topic === undefined || partition === undefined) {
              return { ...ok, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
            }
            if (p.startOffset < partition.log.logStartOffset || p.startOffset > partition.log.logEndOffset) {
              return {
                ...ok,
                errorCode: ERROR_CODES.INVALID_REQUEST,
                errorMessage: `start offset ${p.startOffset} out of range`,
              };
            }
            shares.coordinator.resetSharePartition(req.groupId, topic.topicId, p.partitionIndex, p.startOffset);
            return ok;
          }),
        };
      });
      await shares.flush();
      return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, responses };
    },
  };
}

/** DeleteShareGroupOffsets: forgets the share state of topics of a group without members. */
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
      const held = shares.coordinator.sharePartitionsOf(req.groupId);
      const responses = req.topics.slice(0, MAX_PARTITIONS).map((t) => {
        const topic = broker.topics.get(t.topicName);
        if (topic === undefined) {
          return {
            topicName: t.topicName,
            topicId: ZERO_UUID,
            errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
            errorMessage: null,
          };
        }
        for (const [topicId, p] of held) {
          if (topicId === topic.topicId) shares.coordinator.resetSharePartition(req.groupId, topicId, p, null);
        }
        return { topicName: t.topicName, topicId: topic.topicId, errorCode: 0, errorMessage: null };
      });
      await shares.flush();
      return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, responses };
    },
  };
}
