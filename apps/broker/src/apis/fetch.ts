import { readBytesInFlight, ViewLease } from '@sluice/log';
import {
  ERROR_CODES,
  errorByCode,
  FetchApi,
  type FetchRequest,
  type FetchResponse,
  type FetchResponseFetchableTopicResponse,
  type FetchResponsePartitionData,
  KafkaError,
  ZERO_UUID,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler, RequestContext } from '../server/dispatcher.js';
import { copiedBytes } from '../server/gather-writer.js';
import {
  type FetchSession,
  MAX_PARTITIONS_PER_SESSION,
  nextEpoch,
  type SessionAction,
  type SessionPartition,
  sessionKey,
} from '../state/fetch-sessions.js';
import type { Partition } from '../state/partition.js';
import { clusterBrokers, leaderEndpoint, leaderEpochOf, leadsPartition } from './cluster-view.js';
import { READ_COMMITTED } from './constants.js';
import { checkLeaderEpoch, epochErrorCode, errorCodeOf } from './partition-errors.js';

const EMPTY = Buffer.alloc(0);
/** Kafka's rack-aware replica selector, by the class name `replica.selector.class` takes. */
const RACK_AWARE_SELECTOR = 'org.apache.kafka.common.replica.RackAwareReplicaSelector';
/**
 * Records at least this long go out with sendfile where the connection can (ctx.connection.zeroCopy);
 * shorter ones are read and copied, which costs less than a system call of their own and a wait
 * for the bytes before them to leave.
 */
const SENDFILE_MIN_BYTES = 32 * 1024;
/** Waits longer than this are cut short: clients re-send, and a bounded wait bounds held state. */
const MAX_WAIT_CAP_MS = 5 * 60_000;

// The tagged fields' defaults (left out of the encoding), shared by every answer: nothing changes them.
const NO_DIVERGING_EPOCH = Object.freeze({ epoch: -1, endOffset: -1n });
const NO_CURRENT_LEADER = Object.freeze({ leaderId: -1, leaderEpoch: -1 });
const NO_SNAPSHOT_ID = Object.freeze({ endOffset: -1n, epoch: -1 });

/** One partition to read in this request. */
interface Target {
  key: string;
  topic: string;
  topicId: string;
  partition: number;
  fetchOffset: bigint;
  maxBytes: number;
  currentLeaderEpoch: number;
  /** A follower's: the epoch of the last batch it has (-1: unknown), and its log start. */
  lastFetchedEpoch: number;
  logStartOffset: bigint;
  state: Partition | undefined;
  /** The session's record of it, when the request uses a session. */
  cached?: SessionPartition;
}

interface ReadOutcome {
  target: Target;
  data: FetchResponsePartitionData;
}

/**
 * A partition's answer before reading. AbortedTransactions is null except on a read_committed read
 * and for partitions refused before any read (unknown topic, partition or id), where Kafka's
 * FetchResponse.partitionResponse leaves the schema's default, an empty array.
 */
function partitionData(partitionIndex: number, errorCode: number, readCommitted: boolean): FetchResponsePartitionData {
  return {
    partitionIndex,
    errorCode,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    divergingEpoch: NO_DIVERGING_EPOCH,
    currentLeader: NO_CURRENT_LEADER,
    snapshotId: NO_SNAPSHOT_ID,
    abortedTransactions: readCommitted ? [] : null,
    preferredReadReplica: -1,
    records: EMPTY,
  };
}

export function fetchHandler(broker: BrokerContext): ApiHandler<FetchRequest, FetchResponse> {
  const byIds = (version: number) => version >= 13;
  const readMaxBytes = Number(broker.config.get('log.io.read.max.bytes'));

  /** The partitions a request names, resolved to this broker's state. */
  const targetsOf = (req: FetchRequest, version: number): Target[] => {
    const out: Target[] = [];
    for (const t of req.topics) {
      const topic = byIds(version) ? broker.topics.getById(t.topicId) : broker.topics.get(t.topic);
      for (const p of t.partitions) {
        out.push({
          key: sessionKey(byIds(version) ? t.topicId : t.topic, p.partition),
          topic: topic?.name ?? t.topic,
          topicId: topic?.topicId ?? t.topicId,
          partition: p.partition,
          fetchOffset: p.fetchOffset,
          maxBytes: p.partitionMaxBytes,
          currentLeaderEpoch: p.currentLeaderEpoch,
          lastFetchedEpoch: p.lastFetchedEpoch,
          logStartOffset: p.logStartOffset,
          state: topic?.partitions[p.partition],
        });
      }
    }
    return out;
  };

  /** Folds a request into its session and returns what to read: every partition the session follows. */
  const sessionTargets = (session: FetchSession, req: FetchRequest, version: number, requested: Target[]): Target[] => {
    for (const f of req.forgottenTopicsData) {
      for (const p of f.partitions) session.partitions.delete(sessionKey(byIds(version) ? f.topicId : f.topic, p));
    }
    for (const t of requested) {
      const existing = session.partitions.get(t.key);
      if (existing) {
        existing.fetchOffset = t.fetchOffset;
        existing.maxBytes = t.maxBytes;
      } else {
        if (session.partitions.size >= MAX_PARTITIONS_PER_SESSION) {
          throw new KafkaError(
            ERROR_CODES.INVALID_REQUEST,
            `A fetch session holds at most ${MAX_PARTITIONS_PER_SESSION} partitions`,
          );
        }
        session.partitions.set(t.key, {
          topic: t.topic,
          topicId: t.topicId,
          partition: t.partition,
          fetchOffset: t.fetchOffset,
          maxBytes: t.maxBytes,
          sentHighWatermark: -1n,
          sentLogStartOffset: -1n,
        });
      }
    }
    const requestedByKey = new Map(requested.map((t) => [t.key, t]));
    const out: Target[] = [];
    for (const [key, c] of session.partitions) {
      const state = (broker.topics.get(c.topic) ?? broker.topics.getById(c.topicId))?.partitions[c.partition];
      out.push({
        key,
        topic: c.topic,
        topicId: c.topicId,
        partition: c.partition,
        fetchOffset: c.fetchOffset,
        maxBytes: c.maxBytes,
        currentLeaderEpoch: requestedByKey.get(key)?.currentLeaderEpoch ?? -1,
        lastFetchedEpoch: requestedByKey.get(key)?.lastFetchedEpoch ?? -1,
        logStartOffset: requestedByKey.get(key)?.logStartOffset ?? -1n,
        state,
        cached: c,
      });
    }
    return out;
  };

  /** Reads every target once, within the response's byte budget. */
  const readAll = (
    targets: Target[],
    maxBytes: number,
    readCommitted: boolean,
    version: number,
    ctx: RequestContext,
    followerId = -1,
    clientRack = '',
  ): ReadOutcome[] => {
    // The records stay views of the log until the response is written: the lease says so.
    const lease = new ViewLease();
    ctx.holdViews(lease);
    // Bytes read (log.io=fd) that responses not yet written hold are bounded broker-wide: past the
    // bound a response gets its first batch only (KIP-74), so every fetcher still moves on.
    let budget = Math.min(maxBytes, Math.max(0, readMaxBytes - readBytesInFlight()));
    let gotData = false;
    const regionMinBytes = ctx.connection.zeroCopy === true ? SENDFILE_MIN_BYTES : 0;
    return targets.map((target) => {
      // KIP-392: from v11 a consumer may read from a follower (up to the follower's high watermark).
      const fromFollower = followerId < 0 && version >= 11 && target.state?.replica?.role === 'follower';
      // KIP-951: the current leader, whose endpoint the response lists.
      const withCurrentLeader = (data: ReturnType<typeof partitionData>) => {
        const leader = leaderEndpoint(broker, target.topicId, target.partition, ctx.connection.listener);
        if (leader && version >= 12) {
          data.currentLeader = {
            leaderId: leader.nodeId,
            leaderEpoch: leaderEpochOf(broker, target.topicId, target.partition),
          };
        }
        return data;
      };
      // As Kafka's Partition.getLocalLog: the client's leader epoch is checked before leadership.
      const staleEpoch =
        target.state !== undefined && target.currentLeaderEpoch >= 0
          ? epochErrorCode(target.currentLeaderEpoch, target.state.leaderEpoch)
          : 0;
      // Partitions led elsewhere are not held here (or not served): tell the client where to go.
      if (staleEpoch === 0 && !fromFollower && !leadsPartition(broker, target.topicId, target.partition)) {
        const data = partitionData(target.partition, ERROR_CODES.NOT_LEADER_OR_FOLLOWER, readCommitted);
        return { target, data: { ...withCurrentLeader(data), abortedTransactions: [] } };
      }
      if (target.state === undefined) {
        const code =
          byIds(version) && broker.topics.getById(target.topicId) === undefined
            ? ERROR_CODES.UNKNOWN_TOPIC_ID
            : ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION;
        return { target, data: { ...partitionData(target.partition, code, readCommitted), abortedTransactions: [] } };
      }
      const log = target.state.log;
      const data = partitionData(target.partition, 0, readCommitted);
      try {
        checkLeaderEpoch(target.currentLeaderEpoch, target.state.leaderEpoch);
        if (target.lastFetchedEpoch >= 0) {
          // KIP-320: the fetcher's last epoch (a follower's, or a consumer's since Fetch v12) ends
          // earlier here than its fetch offset, or is not ours: it must truncate to where our logs
          // agree before fetching on.
          const end = log.endOffsetFor(target.lastFetchedEpoch);
          // No epoch at or below it here: Kafka answers OFFSET_OUT_OF_RANGE (the follower then
          // compares offsets instead).
          if (end.epoch < 0 || end.endOffset < 0n) {
            throw new KafkaError(
              ERROR_CODES.OFFSET_OUT_OF_RANGE,
              `Could not determine the end offset of the last fetched epoch ${target.lastFetchedEpoch}`,
            );
          }
          if (end.epoch < target.lastFetchedEpoch || end.endOffset < target.fetchOffset) {
            data.divergingEpoch = { epoch: end.epoch, endOffset: end.endOffset };
            data.highWatermark = log.highWatermark;
            data.lastStableOffset = log.lastStableOffset;
            data.logStartOffset = log.logStartOffset;
            return { target, data };
          }
        }
        // KIP-392: a consumer in another rack is sent to an in-sync replica in its own rack.
        const preferred =
          followerId < 0 && version >= 11 ? preferredReadReplica(target.state, target.fetchOffset, clientRack) : -1;
        if (preferred >= 0) {
          data.preferredReadReplica = preferred;
          data.highWatermark = log.highWatermark;
          data.lastStableOffset = log.lastStableOffset;
          data.logStartOffset = log.logStartOffset;
          return { target, data };
        }
        const limit = Math.max(0, Math.min(target.maxBytes, budget));
        // A follower replicates everything; clients read only what the ISR has (the high watermark).
        const lastStable = target.state.lastStableOffset;
        const upTo = followerId >= 0 ? log.logEndOffset : readCommitted ? lastStable : log.highWatermark;
        // KIP-74: once a partition has data, a first batch over the limit would be left out: not read at all.
        const r = gotData
          ? log.read(target.fetchOffset, limit, upTo, lease, false, regionMinBytes)
          : log.read(target.fetchOffset, Math.max(1, limit), upTo, lease, true, regionMinBytes);
        if (followerId >= 0) {
          broker.replication.onFollowerFetch(target.state, followerId, target.fetchOffset, target.logStartOffset);
        }
        data.highWatermark = followerId >= 0 ? log.highWatermark : r.highWatermark;
        data.lastStableOffset = lastStable;
        // read_committed: the aborted transactions among what is returned, for the consumer to skip.
        if (readCommitted && followerId < 0) {
          data.abortedTransactions = target.state.abortedTransactions(target.fetchOffset, upTo);
        }
        data.logStartOffset = r.logStartOffset;
        // KIP-74: only the first partition with data may exceed the limits, by one batch.
        if (r.records.length > 0 && (r.records.length <= limit || !gotData)) {
          data.records = r.records;
          budget -= r.records.length;
          gotData = true;
        }
      } catch (err) {
        // Kafka's failed read (OFFSET_OUT_OF_RANGE, a fenced or unknown leader epoch) carries no
        // offsets: HighWatermark, LastStableOffset and LogStartOffset -1, AbortedTransactions null.
        data.errorCode = errorCodeOf(err);
        data.highWatermark = -1n;
        data.lastStableOffset = -1n;
        data.logStartOffset = -1n;
        data.abortedTransactions = null;
        data.records = EMPTY;
        // KIP-951: a fenced epoch is answered with the current leader too.
        if (data.errorCode === ERROR_CODES.FENCED_LEADER_EPOCH) withCurrentLeader(data);
      }
      return { target, data };
    });
  };

  const respond = (
    outcomes: ReadOutcome[],
    version: number,
    sessionId: number,
    incremental: boolean,
  ): FetchResponse => {
    const topics: FetchResponseFetchableTopicResponse[] = [];
    let current: FetchResponseFetchableTopicResponse | undefined;
    let currentKey = '';
    for (const { target, data } of outcomes) {
      const c = target.cached;
      if (c) {
        const changed =
          data.records!.length > 0 ||
          data.errorCode !== 0 ||
          data.highWatermark !== c.sentHighWatermark ||
          data.logStartOffset !== c.sentLogStartOffset;
        c.sentHighWatermark = data.highWatermark;
        c.sentLogStartOffset = data.logStartOffset;
        if (incremental && !changed) continue;
      }
      if (data.records!.length > 0) broker.metrics?.bytesOut(target.topic, data.records!.length);
      if (data.errorCode !== 0)
        broker.metrics?.requestError('Fetch', errorByCode(data.errorCode)?.name ?? String(data.errorCode));
      const key = byIds(version) ? target.topicId : target.topic;
      if (current === undefined || key !== currentKey) {
        current = {
          topic: byIds(version) ? '' : target.topic,
          topicId: byIds(version) ? target.topicId : ZERO_UUID,
          partitions: [],
        };
        currentKey = key;
        topics.push(current);
      }
      current.partitions.push(data);
    }
    const leaders = new Set<number>();
    for (const { data } of outcomes) {
      const redirects =
        data.errorCode === ERROR_CODES.NOT_LEADER_OR_FOLLOWER || data.errorCode === ERROR_CODES.FENCED_LEADER_EPOCH;
      if (redirects && data.currentLeader.leaderId >= 0) {
        leaders.add(data.currentLeader.leaderId);
      }
    }
    // NodeEndpoints exists from v16 (the current leader fields from v12).
    const nodeEndpoints =
      leaders.size === 0 || version < 16 ? [] : clusterBrokers(broker).filter((b) => leaders.has(b.nodeId));
    return { throttleTimeMs: 0, errorCode: 0, sessionId, responses: topics, nodeEndpoints };
  };

  /**
   * Kafka's RackAwareReplicaSelector (when `replica.selector.class` names it): the leader keeps a
   * consumer in its own rack; else a replica in the consumer's rack that has the offset asked
   * for. -1: read here.
   */
  const preferredReadReplica = (partition: Partition, fetchOffset: bigint, clientRack: string): number => {
    const replica = partition.replica;
    if (clientRack === '' || replica?.role !== 'leader') return -1;
    if (broker.configs.brokerValueString('replica.selector.class') !== RACK_AWARE_SELECTOR) return -1;
    const brokers = broker.store.image.brokers;
    if (brokers.get(broker.nodeId)?.rack === clientRack) return -1;
    for (const id of replica.isr) {
      const f = replica.follower(id);
      if (!f || brokers.get(id)?.rack !== clientRack) continue;
      if (f.logEndOffset >= fetchOffset && f.logStartOffset <= fetchOffset) return id;
    }
    return -1;
  };

  const bytesOf = (outcomes: ReadOutcome[]) => outcomes.reduce((n, o) => n + o.data.records!.length, 0);
  // A diverging epoch (KIP-320) is answered at once, as an error is.
  const hasError = (outcomes: ReadOutcome[]) =>
    outcomes.some((o) => o.data.errorCode !== 0 || o.data.divergingEpoch.epoch >= 0);

  return {
    api: FetchApi,
    // Record batches go to the socket as the log returned them: views of mapped segments, which
    // never change once handed out (a truncated segment moves to a new file; a deleted one lives
    // on while the response holds it), or slices of recycled read buffers (fd), taken back when
    // the response has been written (the lease's release).
    gather: true,
    sizeHint: (response) => {
      let n = 256;
      for (const t of response.responses) {
        n += 64 + t.topic.length * 3;
        for (const p of t.partitions) n += 96 + copiedBytes(p.records);
      }
      return n;
    },
    // v0-v3 may need down-conversion to old message formats, which Kafka 4 dropped too (KIP-896).
    minVersion: 4,
    // v18 adds a follower's high watermark (KIP-1166), a tagged field consumers leave at its default.
    maxVersion: 18,
    handle(req: FetchRequest, ctx: RequestContext) {
      const version = ctx.apiVersion;
      let action: SessionAction;
      try {
        action = version >= 7 ? broker.fetchSessions.resolve(req.sessionId, req.sessionEpoch) : { kind: 'sessionless' };
      } catch (err) {
        return { throttleTimeMs: 0, errorCode: errorCodeOf(err), sessionId: 0, responses: [], nodeEndpoints: [] };
      }
      const readCommitted = req.isolationLevel === READ_COMMITTED;
      // A broker's replica fetcher names itself (ReplicaState from v15, ReplicaId before).
      const followerId = version >= 15 ? req.replicaState.replicaId : req.replicaId;
      const requested = targetsOf(req, version);
      let targets = requested;
      let sessionId = 0;
      if (action.kind !== 'sessionless') {
        try {
          targets = sessionTargets(action.session, req, version, requested);
        } catch (err) {
          broker.fetchSessions.remove(action.session.id);
          return { throttleTimeMs: 0, errorCode: errorCodeOf(err), sessionId: 0, responses: [], nodeEndpoints: [] };
        }
        sessionId = action.session.id;
        if (action.kind === 'incremental') action.session.epoch = nextEpoch(action.session.epoch);
      }
      const incremental = action.kind === 'incremental';
      const maxBytes = version >= 3 ? req.maxBytes : 0x7fffffff;
      const clientRack = version >= 11 ? req.rackId : '';
      let outcomes = readAll(targets, maxBytes, readCommitted, version, ctx, followerId, clientRack);
      const enough = () =>
        req.maxWaitMs <= 0 || bytesOf(outcomes) >= req.minBytes || hasError(outcomes) || targets.length === 0;
      if (enough()) return respond(outcomes, version, sessionId, incremental);

      const deadline = Date.now() + Math.min(req.maxWaitMs, MAX_WAIT_CAP_MS);
      const partitions = targets.map((t) => t.state).filter((p): p is Partition => p !== undefined);
      return (async () => {
        // Bounded by the deadline: each round waits for an append or the remaining time.
        for (;;) {
          const remaining = deadline - Date.now();
          if (remaining <= 0 || ctx.connection.closed) break;
          await broker.notifier.waitForAppend(partitions, remaining);
          outcomes = readAll(targets, maxBytes, readCommitted, version, ctx, followerId, clientRack);
          if (enough()) break;
        }
        return respond(outcomes, version, sessionId, incremental);
      })();
    },
  };
}
