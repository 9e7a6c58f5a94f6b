import { noShareState, type ShareStateRead, type ShareStateResult } from '@sluice/coordinator';
import {
  DeleteShareGroupStateApi,
  type DeleteShareGroupStateRequest,
  type DeleteShareGroupStateResponse,
  ERROR_CODES,
  InitializeShareGroupStateApi,
  type InitializeShareGroupStateRequest,
  type InitializeShareGroupStateResponse,
  ReadShareGroupStateApi,
  type ReadShareGroupStateRequest,
  type ReadShareGroupStateResponse,
  ReadShareGroupStateSummaryApi,
  type ReadShareGroupStateSummaryRequest,
  type ReadShareGroupStateSummaryResponse,
  WriteShareGroupStateApi,
  type WriteShareGroupStateRequest,
  type WriteShareGroupStateResponse,
} from '@sluice/protocol';
import type { ApiHandler } from '../../server/dispatcher.js';
import type { ShareStateService } from './share-state.js';

/** A bound on share-partitions one request names (Kafka's persister sends one group's partitions at a time). */
const MAX_PARTITIONS = 10_000;

interface Keyed {
  groupId: string;
  topics: { topicId: string; partitions: { partition: number }[] }[];
}

/**
 * Runs `each` for every share-partition of a request, in order, and groups the answers by topic; past
 * the bound, or without a group id, every partition gets INVALID_REQUEST.
 */
async function perPartition<P extends { partition: number }, R>(
  req: Keyed & { topics: { topicId: string; partitions: P[] }[] },
  each: (topicId: string, p: P) => Promise<R>,
  refused: (p: P, code: number, message: string) => R,
): Promise<{ topicId: string; partitions: R[] }[]> {
  const count = req.topics.reduce((n, t) => n + t.partitions.length, 0);
  const invalid =
    req.groupId === ''
      ? 'GroupId is empty.'
      : count > MAX_PARTITIONS
        ? `${count} share-partitions in one request.`
        : null;
  const out: { topicId: string; partitions: R[] }[] = [];
  for (const t of req.topics) {
    const partitions: R[] = [];
    for (const p of t.partitions) {
      partitions.push(invalid !== null ? refused(p, ERROR_CODES.INVALID_REQUEST, invalid) : await each(t.topicId, p));
    }
    out.push({ topicId: t.topicId, partitions });
  }
  return out;
}

const result = (partition: number, r: ShareStateResult) => ({
  partition,
  errorCode: r.errorCode,
  errorMessage: r.errorMessage,
});

/**
 * The share coordinator's inter-broker APIs (KIP-932): partition leaders initialize, read, write and
 * delete share-partition state here, and group coordinators read its summary. Only brokers send them
 * (the `broker` listener type); the authorizer asks CLUSTER_ACTION (share-guards.ts).
 */
export function shareStateHandlers(state: ShareStateService): ApiHandler[] {
  const key = (groupId: string, topicId: string, partition: number) => ({ groupId, topicId, partition });
  const initialize: ApiHandler<InitializeShareGroupStateRequest, InitializeShareGroupStateResponse> = {
    api: InitializeShareGroupStateApi,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const results = await perPartition(
        req,
        async (topicId, p) =>
          result(
            p.partition,
            await state.local.initialize(key(req.groupId, topicId, p.partition), p.stateEpoch, p.startOffset),
          ),
        (p, errorCode, errorMessage) => result(p.partition, { errorCode, errorMessage }),
      );
      return { results };
    },
  };
  const readFields = (partition: number, r: ShareStateRead) => ({
    ...result(partition, r),
    stateEpoch: r.stateEpoch,
    startOffset: r.startOffset,
    stateBatches: r.stateBatches,
  });
  const read: ApiHandler<ReadShareGroupStateRequest, ReadShareGroupStateResponse> = {
    api: ReadShareGroupStateApi,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const results = await perPartition(
        req,
        async (topicId, p) =>
          readFields(p.partition, await state.local.read(key(req.groupId, topicId, p.partition), p.leaderEpoch)),
        (p, code, message) => readFields(p.partition, noShareState({ errorCode: code, errorMessage: message })),
      );
      return { results };
    },
  };
  const write: ApiHandler<WriteShareGroupStateRequest, WriteShareGroupStateResponse> = {
    api: WriteShareGroupStateApi,
    minVersion: 0,
    maxVersion: 1,
    async handle(req) {
      const results = await perPartition(
        req,
        async (topicId, p) =>
          result(
            p.partition,
            await state.local.write(key(req.groupId, topicId, p.partition), {
              stateEpoch: p.stateEpoch,
              leaderEpoch: p.leaderEpoch,
              startOffset: p.startOffset,
              stateBatches: p.stateBatches,
            }),
          ),
        (p, errorCode, errorMessage) => result(p.partition, { errorCode, errorMessage }),
      );
      return { results };
    },
  };
  const del: ApiHandler<DeleteShareGroupStateRequest, DeleteShareGroupStateResponse> = {
    api: DeleteShareGroupStateApi,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const results = await perPartition(
        req,
        async (topicId, p) => result(p.partition, await state.local.delete(key(req.groupId, topicId, p.partition))),
        (p, errorCode, errorMessage) => result(p.partition, { errorCode, errorMessage }),
      );
      return { results };
    },
  };
  const summaryFields = (partition: number, r: ShareStateRead) => ({
    ...result(partition, r),
    stateEpoch: r.stateEpoch,
    leaderEpoch: r.leaderEpoch,
    startOffset: r.startOffset,
    deliveryCompleteCount: r.deliveryCompleteCount ?? -1,
  });
  const summary: ApiHandler<ReadShareGroupStateSummaryRequest, ReadShareGroupStateSummaryResponse> = {
    api: ReadShareGroupStateSummaryApi,
    minVersion: 0,
    maxVersion: 1,
    async handle(req) {
      const results = await perPartition(
        req,
        async (topicId, p) =>
          summaryFields(p.partition, await state.local.summary(key(req.groupId, topicId, p.partition), p.leaderEpoch)),
        (p, code, message) => summaryFields(p.partition, noShareState({ errorCode: code, errorMessage: message })),
      );
      return { results };
    },
  };
  return [initialize, read, write, del, summary] as ApiHandler[];
}
