import { randomUUID } from 'node:crypto';
import {
  defaultFindCoordinatorRequest,
  FindCoordinatorApi,
  ShareAcknowledgeApi,
  ShareFetchApi,
  type ShareFetchRequest,
  ShareGroupHeartbeatApi,
} from '@sluice/protocol';
import type { BrokerAddress } from '../broker-pool.js';
import { type ClientContext, type ClientOptions, createContext } from '../client.js';
import type { Connection } from '../connection.js';
import { ERROR_CODES, KafkaError } from '../errors.js';
import { backoffMs, sleep } from '../retry.js';
import type { Topic } from '../serde.js';
import { type ConsumerRecord, DeserializationError, decodeChunk } from './decode.js';

/** Acknowledge types of ShareFetch/ShareAcknowledge: 0 gap, 1 accept, 2 release, 3 reject. */
const GAP = 0;
const ACCEPT = 1;
const RELEASE = 2;
const REJECT = 3;
const LEAVE_EPOCH = -1;
const FINAL_SESSION_EPOCH = -1;
/** A bound on acknowledgements waiting for the next request to one broker. */
const MAX_PENDING_ACKS = 100_000;
/** The errors of a group coordinator that is moving, loading or not there yet: found again and asked again. */
const COORDINATOR_ERRORS = new Set<number>([
  ERROR_CODES.COORDINATOR_NOT_AVAILABLE,
  ERROR_CODES.NOT_COORDINATOR,
  ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS,
]);

export interface ShareConsumerOptions {
  /** The share group. */
  groupId: string;
  /** Records per ShareFetch (Kafka's max.poll.records). Default 500. */
  maxRecords?: number;
  /** Long-poll wait of a ShareFetch (fetch.max.wait.ms). Default 500. */
  maxWaitMs?: number;
  /** Default 50 MiB (fetch.max.bytes). */
  maxBytes?: number;
  /**
   * How long a heartbeat keeps asking while the group coordinator is moving, loading or unreachable
   * (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, a lost connection), with
   * backoff, before it fails. Default 60 s (Kafka's default.api.timeout.ms).
   */
  coordinatorTimeoutMs?: number;
}

/** A record of a share group: acknowledge it once, or it is accepted when the loop moves on to the next one. */
export interface ShareRecord<K, V> extends ConsumerRecord<K, V> {
  /** How many times the record has been delivered (1 the first time). */
  readonly deliveryCount: number;
  /** Processed: never delivered again. */
  ack(): void;
  /** Not processed: delivered again (to any member) until the group's delivery count limit. */
  release(): void;
  /** Unprocessable: archived, never delivered again. */
  reject(): void;
}

interface PendingAck {
  topicId: string;
  partition: number;
  offset: bigint;
  type: number;
}

/** The share session with one broker (KIP-932): its epoch and the acknowledgements to send with the next request. */
interface BrokerSession {
  address: BrokerAddress;
  epoch: number;
  acks: PendingAck[];
}

/**
 * A share-group consumer (KIP-932 queues): members of one group share partitions, each record goes to one
 * member at a time, and every record is acknowledged by itself. `for await (const r of share.records(t))
 * { …; r.ack() | r.release() | r.reject() }`.
 */
export class ShareConsumer {
  private readonly ctx: ClientContext;
  readonly memberId = randomUUID();
  private memberEpoch = 0;
  private coordinator: BrokerAddress | null = null;
  /** topicId -> partitions assigned to this member. */
  private assignment = new Map<string, number[]>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatIntervalMs = 5_000;
  private readonly sessions = new Map<number, BrokerSession>();
  private subscribed: string[] = [];
  private closed = false;
  private fatal: unknown = null;
  private joined: Promise<void> | null = null;

  constructor(
    options: ClientOptions,
    private readonly o: ShareConsumerOptions,
  ) {
    if (o.groupId === '') throw new RangeError('a share group id cannot be empty');
    this.ctx = createContext(options, false);
  }

  /** Records of `topic` as this member acquires them, until close(). */
  async *records<K, V>(topic: Topic<K, V>): AsyncGenerator<ShareRecord<K, V>> {
    this.subscribed = [topic.name];
    this.joined ??= this.heartbeat();
    await this.joined;
    while (!this.closed) {
      if (this.fatal) throw this.fatal;
      const batch = await this.fetchOnce(topic);
      for (const r of batch) {
        yield r;
        // Passed over without a word: accepted (Kafka's implicit acknowledgement).
        (r as { settle?: () => void }).settle?.();
        if (this.closed) return;
      }
    }
  }

  /** Sends the pending acknowledgements, closes the share sessions and leaves the group. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    await Promise.all(
      [...this.sessions.values()].map(async (s) => {
        if (s.epoch === 0) return;
        try {
          const conn = await this.ctx.pool.get(s.address);
          await conn.request(ShareAcknowledgeApi, {
            groupId: this.o.groupId,
            memberId: this.memberId,
            shareSessionEpoch: FINAL_SESSION_EPOCH,
            isRenewAck: false,
            topics: ackTopics(s.acks.splice(0)),
          });
        } catch {
          // The broker releases the records when their locks run out.
        }
      }),
    );
    try {
      if (this.memberEpoch > 0) {
        const conn = await this.coordinatorConn();
        await conn.request(ShareGroupHeartbeatApi, {
          groupId: this.o.groupId,
          memberId: this.memberId,
          memberEpoch: LEAVE_EPOCH,
          rackId: null,
          subscribedTopicNames: null,
        });
      }
    } catch {
      // The coordinator drops the member after its session timeout.
    }
    await this.ctx.pool.close();
  }

  private async coordinatorConn(): Promise<Connection> {
    if (this.coordinator === null) {
      const conn = await this.ctx.pool.any();
      const req = defaultFindCoordinatorRequest();
      const v = conn.version(FindCoordinatorApi);
      if (v >= 4) req.coordinatorKeys = [this.o.groupId];
      else req.key = this.o.groupId;
      const res = await conn.request(FindCoordinatorApi, req);
      const c = v >= 4 ? res.coordinators[0] : res;
      if (c === undefined || c.errorCode !== 0) {
        throw new KafkaError(
          c?.errorCode ?? ERROR_CODES.COORDINATOR_NOT_AVAILABLE,
          `FindCoordinator ${this.o.groupId}`,
        );
      }
      this.coordinator = { host: c.host, port: c.port };
    }
    return this.ctx.pool.get(this.coordinator);
  }

  /** One ShareGroupHeartbeat; schedules the next. Resolves once the member has joined. */
  private async heartbeat(): Promise<void> {
    const deadline = Date.now() + (this.o.coordinatorTimeoutMs ?? 60_000);
    // Other retriable errors are tried `retries` times; coordinator errors until the deadline.
    let otherFailures = 0;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return;
      try {
        const conn = await this.coordinatorConn();
        const res = await conn.request(ShareGroupHeartbeatApi, {
          groupId: this.o.groupId,
          memberId: this.memberId,
          memberEpoch: this.memberEpoch,
          rackId: null,
          subscribedTopicNames: this.memberEpoch === 0 ? this.subscribed : null,
        });
        if (res.errorCode === ERROR_CODES.FENCED_MEMBER_EPOCH || res.errorCode === ERROR_CODES.UNKNOWN_MEMBER_ID) {
          // Fenced: join again from epoch 0 (the records this member held come back to the group).
          this.memberEpoch = 0;
          this.assignment = new Map();
          continue;
        }
        if (COORDINATOR_ERRORS.has(res.errorCode)) throw new KafkaError(res.errorCode, 'ShareGroupHeartbeat');
        if (res.errorCode !== 0) {
          const err = new KafkaError(res.errorCode, `ShareGroupHeartbeat: ${res.errorMessage ?? ''}`);
          if (!err.retriable) {
            this.fatal = err;
            throw err;
          }
          throw err;
        }
        this.memberEpoch = res.memberEpoch;
        this.heartbeatIntervalMs = res.heartbeatIntervalMs > 0 ? res.heartbeatIntervalMs : this.heartbeatIntervalMs;
        if (res.assignment !== null) {
          this.assignment = new Map(res.assignment.topicPartitions.map((t) => [t.topicId, [...t.partitions]]));
        }
        // Unassigned (no partition yet): ask again soon rather than after the whole interval.
        this.scheduleHeartbeat(
          this.assignment.size === 0 ? Math.min(500, this.heartbeatIntervalMs) : this.heartbeatIntervalMs,
        );
        return;
      } catch (err) {
        if (this.fatal) throw err;
        const code = err instanceof KafkaError ? err.code : ERROR_CODES.NETWORK_EXCEPTION;
        const coordinatorGone = COORDINATOR_ERRORS.has(code) || code === ERROR_CODES.NETWORK_EXCEPTION;
        // Still loading: the same broker is asked again; moved or gone: it is looked up again.
        if (coordinatorGone && code !== ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS) this.coordinator = null;
        if (!coordinatorGone && ++otherFailures > (this.ctx.options.retries ?? 5)) throw err;
        const left = deadline - Date.now();
        if (left <= 0) throw err;
        await sleep(Math.min(left, backoffMs(attempt, 100, 1_000)));
      }
    }
  }

  private scheduleHeartbeat(ms: number): void {
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeat().catch((err) => {
        if (this.fatal === null && !this.closed) this.scheduleHeartbeat(this.heartbeatIntervalMs);
        else this.fatal ??= err;
      });
    }, ms);
    this.heartbeatTimer.unref();
  }

  /** One ShareFetch to every leader of the assigned partitions; the records acquired, decoded. */
  private async fetchOnce<K, V>(topic: Topic<K, V>): Promise<ShareRecord<K, V>[]> {
    const info = await this.ctx.metadata.topic(topic.name);
    const assigned = this.assignment.get(info.topicId) ?? [];
    if (assigned.length === 0) {
      await new Promise((r) => setTimeout(r, 100));
      return [];
    }
    const byLeader = new Map<number, number[]>();
    for (const p of assigned) {
      const leader = info.partitions[p]?.leader ?? -1;
      if (leader < 0) continue;
      const list = byLeader.get(leader) ?? [];
      list.push(p);
      byLeader.set(leader, list);
    }
    // Sessions with brokers that no longer lead anything assigned still carry acknowledgements.
    for (const [nodeId, s] of this.sessions) if (!byLeader.has(nodeId) && s.acks.length > 0) byLeader.set(nodeId, []);
    const results = await Promise.all(
      [...byLeader].map(async ([nodeId, partitions]) => {
        try {
          return await this.fetchFrom(nodeId, info.topicId, partitions, topic);
        } catch (err) {
          if (err instanceof KafkaError && !err.retriable && err.code !== ERROR_CODES.NETWORK_EXCEPTION) throw err;
          this.ctx.metadata.invalidate(topic.name);
          return [];
        }
      }),
    );
    return results.flat();
  }

  private async fetchFrom<K, V>(
    nodeId: number,
    topicId: string,
    partitions: number[],
    topic: Topic<K, V>,
  ): Promise<ShareRecord<K, V>[]> {
    let s = this.sessions.get(nodeId);
    if (s === undefined) {
      const b = await this.ctx.metadata.broker(nodeId);
      s = { address: { host: b.host, port: b.port }, epoch: 0, acks: [] };
      this.sessions.set(nodeId, s);
    }
    const session = s;
    const conn = await this.ctx.pool.get(session.address);
    const acks = session.epoch === 0 ? [] : session.acks.splice(0);
    const topics = ackTopics(acks);
    // Every assigned partition is named (new ones join the session; acknowledged ones carry their batches).
    let entry = topics.find((t) => t.topicId === topicId);
    if (entry === undefined && partitions.length > 0) {
      entry = { topicId, partitions: [] };
      topics.push(entry);
    }
    for (const p of partitions) {
      if (!entry?.partitions.some((x) => x.partitionIndex === p)) {
        entry?.partitions.push({ partitionIndex: p, partitionMaxBytes: 0, acknowledgementBatches: [] });
      }
    }
    const maxWaitMs = this.o.maxWaitMs ?? 500;
    const req: ShareFetchRequest = {
      groupId: this.o.groupId,
      memberId: this.memberId,
      shareSessionEpoch: session.epoch,
      maxWaitMs,
      minBytes: 1,
      maxBytes: this.o.maxBytes ?? 50 << 20,
      maxRecords: this.o.maxRecords ?? 500,
      batchSize: this.o.maxRecords ?? 500,
      shareAcquireMode: 0,
      isRenewAck: false,
      topics,
      forgottenTopicsData: [],
    };
    const res = await conn.request(ShareFetchApi, req, { extraTimeoutMs: maxWaitMs });
    if (
      res.errorCode === ERROR_CODES.SHARE_SESSION_NOT_FOUND ||
      res.errorCode === ERROR_CODES.INVALID_SHARE_SESSION_EPOCH
    ) {
      // The broker lost the session: a new one; the records it held come back after their locks.
      session.epoch = 0;
      return [];
    }
    if (res.errorCode !== 0) throw new KafkaError(res.errorCode, `ShareFetch: ${res.errorMessage ?? ''}`);
    session.epoch = session.epoch >= 2147483647 ? 1 : session.epoch + 1;
    const out: ShareRecord<K, V>[] = [];
    for (const t of res.responses) {
      for (const p of t.partitions) {
        if (p.errorCode !== 0) {
          this.ctx.metadata.invalidate(topic.name);
          continue;
        }
        if (p.acquiredRecords.length === 0) continue;
        const { records: decoded } = await decodeChunk(
          {
            topic: topic.name,
            partition: p.partitionIndex,
            records: p.records ?? Buffer.alloc(0),
            generation: 0,
            highWatermark: 0n,
            aborted: null,
            // A share consumer has no position to advance past markers: the broker tracks acquisition.
            nextOffset: 0n,
          },
          p.acquiredRecords[0]?.firstOffset ?? 0n,
          topic,
        );
        const byOffset = new Map<bigint, ConsumerRecord<K, V> | DeserializationError>();
        for (const r of decoded) byOffset.set(r.offset, r);
        for (const a of p.acquiredRecords) {
          for (let o = a.firstOffset; o <= a.lastOffset; o++) {
            const r = byOffset.get(o);
            const ack = (type: number) => {
              if (session.acks.length < MAX_PENDING_ACKS) {
                session.acks.push({ topicId: t.topicId, partition: p.partitionIndex, offset: o, type });
              }
            };
            if (r === undefined) {
              ack(GAP);
              continue;
            }
            if (r instanceof DeserializationError) {
              // Bytes the topic's serde cannot read: rejected, so that no member gets them again.
              ack(REJECT);
              continue;
            }
            out.push(shareRecord(r, a.deliveryCount, ack));
          }
        }
      }
    }
    return out;
  }
}

function shareRecord<K, V>(
  r: ConsumerRecord<K, V>,
  deliveryCount: number,
  ack: (type: number) => void,
): ShareRecord<K, V> {
  let done = false;
  const once = (type: number) => {
    if (done) throw new Error(`record at offset ${r.offset} is already acknowledged`);
    done = true;
    ack(type);
  };
  return Object.assign(r, {
    deliveryCount,
    ack: () => once(ACCEPT),
    release: () => once(RELEASE),
    reject: () => once(REJECT),
    settle: () => {
      if (!done) once(ACCEPT);
    },
  });
}

/** Pending acknowledgements as ShareFetch/ShareAcknowledge topics: one batch per run of offsets. */
function ackTopics(acks: readonly PendingAck[]) {
  const byTopic = new Map<string, Map<number, PendingAck[]>>();
  for (const a of acks) {
    const parts = byTopic.get(a.topicId) ?? new Map<number, PendingAck[]>();
    const list = parts.get(a.partition) ?? [];
    list.push(a);
    parts.set(a.partition, list);
    byTopic.set(a.topicId, parts);
  }
  return [...byTopic].map(([topicId, parts]) => ({
    topicId,
    partitions: [...parts].map(([partitionIndex, list]) => {
      list.sort((x, y) => (x.offset < y.offset ? -1 : x.offset > y.offset ? 1 : 0));
      const batches: { firstOffset: bigint; lastOffset: bigint; acknowledgeTypes: number[] }[] = [];
      for (const a of list) {
        const last = batches[batches.length - 1];
        if (last !== undefined && last.lastOffset + 1n === a.offset) {
          last.lastOffset = a.offset;
          last.acknowledgeTypes.push(a.type);
        } else {
          batches.push({ firstOffset: a.offset, lastOffset: a.offset, acknowledgeTypes: [a.type] });
        }
      }
      // A run of one type is sent as that one type (Kafka's compact form).
      for (const b of batches) {
        if (b.acknowledgeTypes.every((t) => t === b.acknowledgeTypes[0]))
          b.acknowledgeTypes = [b.acknowledgeTypes[0] as number];
      }
      return { partitionIndex, partitionMaxBytes: 0, acknowledgementBatches: batches };
    }),
  }));
}
