import { ACK_TYPE, type FetchedBatch } from '@sluice/coordinator';
import {
  ERROR_CODES,
  iterateBatches,
  KafkaError,
  ShareAcknowledgeApi,
  type ShareAcknowledgeRequest,
  type ShareAcknowledgeResponse,
  ShareFetchApi,
  type ShareFetchRequest,
  type ShareFetchResponse,
  type ShareFetchResponsePartitionData,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler, RequestContext } from '../../server/dispatcher.js';
import type { Partition } from '../../state/partition.js';
import { clusterBrokers, leaderEndpoint, leaderEpochOf, leadsPartition } from '../cluster-view.js';
import { type ShareServices, type ShareSession, sessionKey } from './share-services.js';

/** ShareSessionEpoch values with a meaning of their own. */
const INITIAL_EPOCH = 0;
const FINAL_EPOCH = -1;
/** Bytes one share-partition reads per fetch at most, whatever the request allows. */
const MAX_READ_BYTES = 8 << 20;
/** A bound on acknowledgement batches per partition in one request. */
const MAX_ACK_BATCHES = 10_000;
const MAX_WAIT_MS = 30_000;
/** Kafka 4.4's error code for a full share session cache (not in the codec's error list yet). */
const SHARE_SESSION_LIMIT_REACHED = 134;

type AckBatch = { firstOffset: bigint; lastOffset: bigint; acknowledgeTypes: number[] };

interface Target {
  topicId: string;
  partition: number;
}

function partitionKey(topicId: string, partition: number): string {
  return `${topicId}:${partition}`;
}

function parseKey(key: string): Target {
  const colon = key.lastIndexOf(':');
  return { topicId: key.slice(0, colon), partition: Number(key.slice(colon + 1)) };
}

/** The next epoch of a share session: it wraps to 1, never to 0 or -1. */
function nextEpoch(epoch: number): number {
  return epoch >= 2147483647 ? 1 : epoch + 1;
}

/** Where a share-partition lives here, or the error the client gets for it. */
function resolve(broker: BrokerContext, t: Target): { partition: Partition } | { errorCode: number } {
  const topic = broker.topics.getById(t.topicId);
  if (topic === undefined) return { errorCode: ERROR_CODES.UNKNOWN_TOPIC_ID };
  const partition = topic.partitions[t.partition];
  if (t.partition < 0 || t.partition >= topic.partitions.length)
    return { errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
  if (partition === undefined || !leadsPartition(broker, t.topicId, t.partition)) {
    return { errorCode: ERROR_CODES.NOT_LEADER_OR_FOLLOWER };
  }
  return { partition };
}

/**
 * Loads the share-partition on this leader if it is not held yet (from the share coordinator, or at
 * share.auto.offset.reset the first time); 0 or the error the partition answers.
 */
function loadSharePartition(shares: ShareServices, groupId: string, t: Target, partition: Partition): Promise<number> {
  return shares.load(groupId, t.topicId, t.partition, () =>
    shares.autoOffsetReset(groupId) === 'earliest' ? partition.log.logStartOffset : partition.log.highWatermark,
  );
}

function sharePartitionOf(shares: ShareServices, groupId: string, t: Target, partition: Partition) {
  const sp = shares.coordinator.existingSharePartition(groupId, t.topicId, t.partition);
  sp?.onLogStartOffset(partition.log.logStartOffset);
  return sp;
}

/** Applies the acknowledgement batches of one partition; the first error is the partition's answer. */
function acknowledge(
  broker: BrokerContext,
  shares: ShareServices,
  groupId: string,
  memberId: string,
  t: Target,
  batches: readonly AckBatch[],
  allowRenew: boolean,
): number {
  const r = resolve(broker, t);
  if ('errorCode' in r) return r.errorCode;
  if (batches.length > MAX_ACK_BATCHES) return ERROR_CODES.INVALID_REQUEST;
  const sp = shares.coordinator.existingSharePartition(groupId, t.topicId, t.partition);
  if (sp === undefined) return ERROR_CODES.INVALID_RECORD_STATE;
  const now = Date.now();
  let errorCode = 0;
  let released = false;
  for (const b of batches) {
    if (!allowRenew && b.acknowledgeTypes.includes(ACK_TYPE.RENEW)) {
      errorCode ||= ERROR_CODES.INVALID_REQUEST;
      continue;
    }
    try {
      sp.acknowledge(memberId, b.firstOffset, b.lastOffset, b.acknowledgeTypes, now);
      if (b.acknowledgeTypes.some((x) => x !== ACK_TYPE.ACCEPT)) released = true;
    } catch (err) {
      errorCode ||= err instanceof KafkaError ? err.code : ERROR_CODES.UNKNOWN_SERVER_ERROR;
    }
  }
  shares.coordinator.persist(groupId, t.topicId, t.partition, sp);
  // Records that came back wake share fetches waiting on this partition.
  if (released) broker.notifier.notify(r.partition);
  return errorCode;
}

/** Closes a member's share session: what it holds in those partitions is released. */
function closeSession(broker: BrokerContext, shares: ShareServices, session: ShareSession): void {
  shares.sessions.delete(sessionKey(session.groupId, session.memberId));
  const now = Date.now();
  for (const key of session.partitions) {
    const t = parseKey(key);
    const sp = shares.coordinator.existingSharePartition(session.groupId, t.topicId, t.partition);
    if (sp !== undefined && sp.releaseMember(session.memberId, now) > 0) {
      shares.coordinator.persist(session.groupId, t.topicId, t.partition, sp);
      const p = broker.topics.getById(t.topicId)?.partitions[t.partition];
      if (p) broker.notifier.notify(p);
    }
  }
}

/**
 * The session of a request, as Kafka's ShareSessionCache answers: epoch 0 opens one (replacing an older
 * one of the member), -1 closes it after this request, any other must be the session's next epoch.
 */
function sessionFor(
  shares: ShareServices,
  groupId: string,
  memberId: string,
  epoch: number,
  ctx: RequestContext,
  broker: BrokerContext,
): ShareSession | { errorCode: number; errorMessage: string } {
  sweepClosedConnections(broker, shares);
  const key = sessionKey(groupId, memberId);
  const existing = shares.sessions.get(key);
  if (epoch === INITIAL_EPOCH) {
    if (existing !== undefined) closeSession(broker, shares, existing);
    else if (shares.sessions.size >= shares.maxSessions) {
      return { errorCode: SHARE_SESSION_LIMIT_REACHED, errorMessage: 'The share session cache is full.' };
    }
    const s: ShareSession = {
      groupId,
      memberId,
      epoch: 1,
      partitions: new Set(),
      connection: ctx.connection,
    };
    shares.sessions.set(key, s);
    return s;
  }
  if (existing === undefined) {
    return { errorCode: ERROR_CODES.SHARE_SESSION_NOT_FOUND, errorMessage: `Share session for ${memberId} not found.` };
  }
  if (epoch !== FINAL_EPOCH && epoch !== existing.epoch) {
    return {
      errorCode: ERROR_CODES.INVALID_SHARE_SESSION_EPOCH,
      errorMessage: `The share session epoch ${epoch} is not the expected ${existing.epoch}.`,
    };
  }
  if (epoch !== FINAL_EPOCH) existing.epoch = nextEpoch(existing.epoch);
  return existing;
}

/**
 * Sessions of connections that have closed are closed too (their records released, as Kafka does when a
 * member's connection drops); swept at most once a second, from the requests that use the cache.
 */
let lastSweepMs = 0;
function sweepClosedConnections(broker: BrokerContext, shares: ShareServices): void {
  const now = Date.now();
  if (now - lastSweepMs < 1_000) return;
  lastSweepMs = now;
  for (const s of [...shares.sessions.values()]) if (s.connection.closed) closeSession(broker, shares, s);
}

function currentLeader(broker: BrokerContext, t: Target, errorCode: number, ctx: RequestContext, leaders: Set<number>) {
  if (errorCode !== ERROR_CODES.NOT_LEADER_OR_FOLLOWER) return { leaderId: -1, leaderEpoch: -1 };
  const leader = leaderEndpoint(broker, t.topicId, t.partition, ctx.connection.listener);
  if (leader === null) return { leaderId: -1, leaderEpoch: -1 };
  leaders.add(leader.nodeId);
  return { leaderId: leader.nodeId, leaderEpoch: leaderEpochOf(broker, t.topicId, t.partition) };
}

/** Reads a share-partition's next records and acquires what the member may take of them. */
function fetchOne(
  shares: ShareServices,
  groupId: string,
  memberId: string,
  t: Target,
  partition: Partition,
  maxBytes: number,
  maxRecords: number,
): { records: Buffer; acquired: { firstOffset: bigint; lastOffset: bigint; deliveryCount: number }[] } {
  const sp = sharePartitionOf(shares, groupId, t, partition);
  // Not held here (its leadership moved away meanwhile): nothing to hand out.
  if (sp === undefined) return { records: Buffer.alloc(0), acquired: [] };
  const now = Date.now();
  const from = sp.nextFetchOffset(now);
  const log = partition.log;
  // share.isolation.level=read_committed: nothing at or past the last stable offset, and the records of
  // aborted transactions are archived as control records are (never delivered).
  const readCommitted = shares.isolationLevel(groupId) === 'read_committed';
  const readUpTo = readCommitted ? partition.lastStableOffset : log.highWatermark;
  if (from >= readUpTo || maxRecords <= 0) return { records: Buffer.alloc(0), acquired: [] };
  const { records } = log.read(from, Math.max(1, Math.min(maxBytes, MAX_READ_BYTES)), readUpTo);
  const aborted = readCommitted ? partition.abortedTransactions(from, readUpTo) : [];
  const batches: (FetchedBatch & { end: number })[] = [];
  let at = 0;
  for (const b of iterateBatches(records)) {
    at += b.sizeInBytes;
    const abortedBatch =
      aborted.length > 0 &&
      b.isTransactional &&
      aborted.some(
        (a) => a.producerId === b.producerId && b.baseOffset >= a.firstOffset && b.baseOffset <= a.lastOffset,
      );
    batches.push({
      baseOffset: b.baseOffset,
      lastOffset: b.lastOffset,
      isControl: b.isControl || abortedBatch,
      end: at,
    });
  }
  const acquired = sp.acquire(memberId, batches, maxRecords, now);
  if (acquired.length === 0) return { records: Buffer.alloc(0), acquired };
  shares.coordinator.persist(groupId, t.topicId, t.partition, sp);
  // Only the batches up to the last acquired record go back; the bytes are copied (the view is not leased).
  const last = (acquired[acquired.length - 1] as { lastOffset: bigint }).lastOffset;
  const upTo = batches.find((b) => b.lastOffset >= last)?.end ?? records.length;
  return { records: Buffer.from(records.subarray(0, upTo)), acquired };
}

/** Milliseconds to the next moment a waiting fetch could get records without an append: a lock running out. */
function groupBusy(shares: ShareServices, groupId: string, session: ShareSession): boolean {
  const now = Date.now();
  for (const key of session.partitions) {
    const t = parseKey(key);
    if ((shares.coordinator.existingSharePartition(groupId, t.topicId, t.partition)?.acquiredCount(now) ?? 0) > 0) {
      return true;
    }
  }
  return false;
}

export function shareFetchHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<ShareFetchRequest, ShareFetchResponse> {
  const empty = (errorCode: number, errorMessage: string | null, groupId = ''): ShareFetchResponse => ({
    throttleTimeMs: 0,
    errorCode,
    errorMessage,
    acquisitionLockTimeoutMs: shares.coordinator.partitionConfig(groupId).lockDurationMs,
    responses: [],
    nodeEndpoints: [],
  });
  return {
    api: ShareFetchApi,
    minVersion: 1,
    maxVersion: 2,
    async handle(req, ctx) {
      if (shares.shareVersion < 1) return empty(ERROR_CODES.UNSUPPORTED_VERSION, null);
      const groupId = req.groupId ?? '';
      const memberId = req.memberId ?? '';
      if (groupId === '' || memberId === '')
        return empty(ERROR_CODES.INVALID_REQUEST, 'GroupId and MemberId are required.', groupId);
      const epoch = req.shareSessionEpoch;
      const hasAcks = req.topics.some((t) => t.partitions.some((p) => p.acknowledgementBatches.length > 0));
      if (epoch === INITIAL_EPOCH && hasAcks) {
        return empty(ERROR_CODES.INVALID_REQUEST, 'Acknowledge data present in initial fetch request.', groupId);
      }
      const s = sessionFor(shares, groupId, memberId, epoch, ctx, broker);
      if ('errorCode' in s) return empty(s.errorCode, s.errorMessage, groupId);
      for (const f of req.forgottenTopicsData)
        for (const p of f.partitions) s.partitions.delete(partitionKey(f.topicId, p));
      for (const t of req.topics)
        for (const p of t.partitions) s.partitions.add(partitionKey(t.topicId, p.partitionIndex));
      // Acknowledgements first: what this member releases may come back to it in the same fetch.
      const ackErrors = new Map<string, number>();
      const renew = ctx.apiVersion >= 2 && req.isRenewAck;
      for (const t of req.topics) {
        for (const p of t.partitions) {
          if (p.acknowledgementBatches.length === 0) continue;
          const target = { topicId: t.topicId, partition: p.partitionIndex };
          const code = acknowledge(broker, shares, groupId, memberId, target, p.acknowledgementBatches, renew);
          ackErrors.set(partitionKey(t.topicId, p.partitionIndex), code);
        }
      }
      if (epoch === FINAL_EPOCH) {
        closeSession(broker, shares, s);
        // Acknowledged records are answered once the share coordinator has them (as Kafka's persister write).
        await shares.flush();
        return { ...empty(0, null, groupId), responses: ackResponses(broker, ackErrors, ctx) };
      }
      // A renewing request fetches nothing (KIP-1222).
      const fetching = !renew;
      const deadline = Date.now() + Math.min(Math.max(0, req.maxWaitMs), MAX_WAIT_MS);
      let maxBytes = req.maxBytes > 0 ? req.maxBytes : 0x7fffffff;
      const maxRecords = req.maxRecords > 0 ? req.maxRecords : 500;
      const leaders = new Set<number>();
      // A share-partition this broker has just become the leader of is read from the share coordinator first.
      const loadErrors = new Map<string, number>();
      if (fetching) {
        // The group's first session here: its share state may have been altered or deleted at the share
        // coordinator while the group was empty (Alter/DeleteShareGroupOffsets), so what is held is read again.
        const first =
          epoch === INITIAL_EPOCH && ![...shares.sessions.values()].some((o) => o !== s && o.groupId === groupId);
        if (first) await shares.flush();
        for (const key of s.partitions) {
          const t = parseKey(key);
          const r = resolve(broker, t);
          if ('errorCode' in r) continue;
          const held = first ? shares.coordinator.existingSharePartition(groupId, t.topicId, t.partition) : undefined;
          if (held !== undefined && held.acquiredCount(Date.now()) === 0) {
            shares.coordinator.unloadSharePartition(groupId, t.topicId, t.partition);
          }
          const code = await loadSharePartition(shares, groupId, t, r.partition);
          if (code !== 0) loadErrors.set(key, code);
        }
      }
      if (hasAcks) await shares.flush();
      for (let round = 0; ; round++) {
        const byTopic = new Map<string, ShareFetchResponsePartitionData[]>();
        const waitOn: Partition[] = [];
        let left = maxRecords;
        let got = false;
        for (const key of s.partitions) {
          const t = parseKey(key);
          const ackCode = ackErrors.get(key);
          const loadError = loadErrors.get(key);
          const r = loadError === undefined ? resolve(broker, t) : { errorCode: loadError };
          let data: ShareFetchResponsePartitionData | null = null;
          if ('errorCode' in r) {
            data = partitionData(
              t.partition,
              r.errorCode,
              ackCode ?? 0,
              currentLeader(broker, t, r.errorCode, ctx, leaders),
            );
          } else if (fetching) {
            waitOn.push(r.partition);
            const { records, acquired } = fetchOne(shares, groupId, memberId, t, r.partition, maxBytes, left);
            if (acquired.length > 0 || ackCode !== undefined) {
              data = {
                ...partitionData(t.partition, 0, ackCode ?? 0, { leaderId: -1, leaderEpoch: -1 }),
                records,
                acquiredRecords: acquired,
              };
              maxBytes = Math.max(1, maxBytes - records.length);
              for (const a of acquired) left -= Number(a.lastOffset - a.firstOffset + 1n);
              if (acquired.length > 0) got = true;
            }
          } else if (ackCode !== undefined) {
            data = partitionData(t.partition, 0, ackCode, { leaderId: -1, leaderEpoch: -1 });
          }
          if (data !== null) {
            const list = byTopic.get(t.topicId) ?? [];
            list.push(data);
            byTopic.set(t.topicId, list);
          }
        }
        const remaining = deadline - Date.now();
        if (got || !fetching || remaining <= 0 || waitOn.length === 0 || round >= 1000) {
          void shares.flush();
          const nodeEndpoints = leaders.size === 0 ? [] : clusterBrokers(broker).filter((b) => leaders.has(b.nodeId));
          return {
            ...empty(0, null, groupId),
            responses: [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions })),
            nodeEndpoints,
          };
        }
        // Long poll: an append, a release or the end of a lock (records held by others) brings records back.
        const lockWait = groupBusy(shares, groupId, s) ? Math.min(remaining, 1_000) : remaining;
        await broker.notifier.waitForAppend(waitOn, lockWait);
        if (!shares.sessions.has(sessionKey(groupId, memberId)))
          return empty(ERROR_CODES.SHARE_SESSION_NOT_FOUND, null, groupId);
      }
    },
  };
}

function partitionData(
  partitionIndex: number,
  errorCode: number,
  acknowledgeErrorCode: number,
  leader: { leaderId: number; leaderEpoch: number },
): ShareFetchResponsePartitionData {
  return {
    partitionIndex,
    errorCode,
    errorMessage: null,
    acknowledgeErrorCode,
    acknowledgeErrorMessage: null,
    currentLeader: leader,
    records: Buffer.alloc(0),
    acquiredRecords: [],
  };
}

function ackResponses(broker: BrokerContext, ackErrors: Map<string, number>, ctx: RequestContext) {
  const byTopic = new Map<string, ShareFetchResponsePartitionData[]>();
  const leaders = new Set<number>();
  for (const [key, code] of ackErrors) {
    const t = parseKey(key);
    const list = byTopic.get(t.topicId) ?? [];
    list.push(partitionData(t.partition, 0, code, currentLeader(broker, t, code, ctx, leaders)));
    byTopic.set(t.topicId, list);
  }
  return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }));
}

export function shareAcknowledgeHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<ShareAcknowledgeRequest, ShareAcknowledgeResponse> {
  return {
    api: ShareAcknowledgeApi,
    minVersion: 1,
    maxVersion: 2,
    async handle(req, ctx) {
      const empty = (errorCode: number, errorMessage: string | null): ShareAcknowledgeResponse => ({
        throttleTimeMs: 0,
        errorCode,
        errorMessage,
        acquisitionLockTimeoutMs: shares.coordinator.partitionConfig(req.groupId ?? '').lockDurationMs,
        responses: [],
        nodeEndpoints: [],
      });
      if (shares.shareVersion < 1) return empty(ERROR_CODES.UNSUPPORTED_VERSION, null);
      const groupId = req.groupId ?? '';
      const memberId = req.memberId ?? '';
      if (groupId === '' || memberId === '')
        return empty(ERROR_CODES.INVALID_REQUEST, 'GroupId and MemberId are required.');
      // Acknowledging needs an open session: epoch 0 cannot carry acknowledgements.
      if (req.shareSessionEpoch === INITIAL_EPOCH) {
        return empty(ERROR_CODES.INVALID_SHARE_SESSION_EPOCH, 'Acknowledge request with the initial epoch.');
      }
      const s = sessionFor(shares, groupId, memberId, req.shareSessionEpoch, ctx, broker);
      if ('errorCode' in s) return empty(s.errorCode, s.errorMessage);
      const renew = ctx.apiVersion >= 2 && req.isRenewAck;
      const leaders = new Set<number>();
      const responses = req.topics.map((t) => ({
        topicId: t.topicId,
        partitions: t.partitions.map((p) => {
          const target = { topicId: t.topicId, partition: p.partitionIndex };
          const code = acknowledge(broker, shares, groupId, memberId, target, p.acknowledgementBatches, renew);
          return {
            partitionIndex: p.partitionIndex,
            errorCode: code,
            errorMessage: null,
            currentLeader: currentLeader(broker, target, code, ctx, leaders),
          };
        }),
      }));
      if (req.shareSessionEpoch === FINAL_EPOCH) closeSession(broker, shares, s);
      // Answered once the share coordinator has the acknowledgements (as Kafka's persister write).
      await shares.flush();
      const nodeEndpoints = leaders.size === 0 ? [] : clusterBrokers(broker).filter((b) => leaders.has(b.nodeId));
      return { ...empty(0, null), responses, nodeEndpoints };
    },
  };
}
