import { randomUUID } from 'node:crypto';
import {
  ConsumerGroupHeartbeatApi,
  type ConsumerGroupHeartbeatResponse,
  defaultConsumerGroupHeartbeatRequest,
} from '@sluice/protocol';
import type { ClientContext } from '../client.js';
import { ERROR_CODES, isRetriable, KafkaError } from '../errors.js';
import { backoffMs } from '../retry.js';
import { type GroupCallbacks, GroupMember, type GroupOptions } from './group.js';
import type { TopicPartition } from './offsets.js';

export interface ConsumerProtocolOptions {
  /** The broker-side assignor (`uniform`, `range`); null: the broker's default (`group.consumer.assignors`). */
  serverAssignor: string | null;
}

/** Leave the group (Kafka's LEAVE_GROUP_MEMBER_EPOCH). */
const LEAVE_EPOCH = -1;
/** A static member leaves but will come back within the session timeout: it keeps its assignment. */
const LEAVE_STATIC_EPOCH = -2;
/** Heartbeat interval until the broker names one (it does in every answer). */
const FIRST_INTERVAL_MS = 3000;
/** Back-off bounds between heartbeats that failed for a transient reason. */
const RETRY_BACKOFF_MS = 100;
const RETRY_BACKOFF_MAX_MS = 1000;

interface OwnedPartition extends TopicPartition {
  topicId: string;
}

const idKey = (topicId: string, partition: number) => `${topicId}:${partition}`;

/**
 * Membership in a KIP-848 consumer group (`groupProtocol: 'consumer'`): one heartbeat loop sends
 * ConsumerGroupHeartbeat at the interval the broker gives and reconciles the assignment each answer
 * carries (revoked partitions committed and dropped, then new ones fetched from their committed
 * offsets); the next heartbeat reports what the member owns, which acknowledges the revocation.
 * Fenced (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID): the partitions are lost, the member rejoins at
 * epoch 0 with its member id. Coordinator lookup, commits (with the member epoch) and offset fetches
 * are the classic member's.
 */
export class ConsumerGroupMember extends GroupMember {
  /** What the member owns now, by topic id and partition: the TopicPartitions of each heartbeat. */
  private readonly owned = new Map<string, OwnedPartition>();
  /** The last assignment the broker sent (null: none yet since joining). */
  private target: Array<{ topicId: string; partitions: number[] }> | null = null;
  private topics: string[] = [];
  private regex: string | null = null;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Resolved once the first heartbeat was answered (or the member failed for good). */
  private readonly started: Promise<void>;
  private markStarted!: () => void;
  private intervalMs = FIRST_INTERVAL_MS;
  /** The subscription changed since the last heartbeat was sent: the next one goes at once. */
  private subscriptionChanged = false;
  /** How often the member was fenced: a commit started before a fence is not retried after it. */
  private fences = 0;

  constructor(
    ctx: ClientContext,
    o: GroupOptions,
    cb: GroupCallbacks,
    private readonly p: ConsumerProtocolOptions,
  ) {
    super(ctx, o, cb);
    // KIP-1082: the consumer names itself and keeps the id for its lifetime (also across fencing).
    this.memberId = randomUUID();
    this.generationId = 0;
    this.started = new Promise((resolve) => {
      this.markStarted = resolve;
    });
  }

  /** Subscribes by a regular expression (RE2/J syntax, matched by the broker) instead of topic names. */
  subscribeRegex(regex: string): void {
    this.regex = regex;
    this.subscriptionChanged = true;
    this.wakeLoop();
  }

  /** Starts the heartbeat loop (first call) and sends a changed subscription at once; waits for the first answer. */
  override async rejoinIfNeeded(topics: readonly string[]): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (this.closed) return;
    if (this.regex === null && (topics.length !== this.topics.length || topics.some((t, i) => t !== this.topics[i]))) {
      this.topics = [...topics];
      this.subscriptionChanged = true;
      this.wakeLoop();
    }
    this.loop ??= this.run();
    await this.started;
    if (this.fatal) throw this.fatal;
  }

  private wakeLoop(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      let waitMs = this.intervalMs;
      try {
        const res = await this.heartbeat();
        if (this.closed) return;
        if (res.errorCode === ERROR_CODES.FENCED_MEMBER_EPOCH || res.errorCode === ERROR_CODES.UNKNOWN_MEMBER_ID) {
          await this.fence();
          // Rejoin at once, but not in a tight loop when the coordinator keeps refusing.
          waitMs = failures++ === 0 ? 0 : backoffMs(failures, RETRY_BACKOFF_MS, RETRY_BACKOFF_MAX_MS);
        } else {
          this.check(res.errorCode, `ConsumerGroupHeartbeat: ${res.errorMessage ?? ''}`);
          failures = 0;
          if (res.memberId !== null && res.memberId.length > 0) this.memberId = res.memberId;
          this.generationId = res.memberEpoch;
          if (res.heartbeatIntervalMs > 0) this.intervalMs = res.heartbeatIntervalMs;
          waitMs = this.intervalMs;
          if (res.assignment !== null) this.target = res.assignment.topicPartitions;
          this.markStarted();
          // A changed ownership is acknowledged by the next heartbeat, sent at once.
          if ((await this.reconcile()) || this.subscriptionChanged) waitMs = 0;
        }
      } catch (err) {
        if (this.closed) return;
        if (!isRetriable(err) && !(err instanceof KafkaError && err.code === ERROR_CODES.NETWORK_EXCEPTION)) {
          this.fatal = err;
          this.markStarted();
          this.cb.rejoinNeeded();
          return;
        }
        waitMs = backoffMs(failures++, RETRY_BACKOFF_MS, RETRY_BACKOFF_MAX_MS);
      }
      if (waitMs > 0 && !this.closed) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          timer = setTimeout(resolve, waitMs);
        });
        clearTimeout(timer);
        this.wake = null;
      }
    }
  }

  private async heartbeat(epoch = this.generationId): Promise<ConsumerGroupHeartbeatResponse> {
    const conn = await this.conn('heartbeat');
    if (epoch >= 0) this.subscriptionChanged = false;
    const req = defaultConsumerGroupHeartbeatRequest();
    req.groupId = this.o.groupId;
    req.memberId = this.memberId;
    req.memberEpoch = epoch;
    req.instanceId = this.o.groupInstanceId ?? null;
    if (epoch >= 0) {
      // Every heartbeat is a full one (subscription, assignor, owned partitions): an answer that was
      // lost never leaves the broker with a stale picture of this member.
      req.rebalanceTimeoutMs = this.o.rebalanceTimeoutMs;
      req.serverAssignor = this.p.serverAssignor;
      if (this.regex !== null) {
        if (conn.version(ConsumerGroupHeartbeatApi) < 1) {
          throw new KafkaError(ERROR_CODES.UNSUPPORTED_VERSION, 'the broker does not take regex subscriptions');
        }
        req.subscribedTopicRegex = this.regex;
      } else req.subscribedTopicNames = this.topics;
      req.topicPartitions = epoch === 0 ? [] : this.ownedByTopic();
    }
    return conn.request(ConsumerGroupHeartbeatApi, req);
  }

  private ownedByTopic(): Array<{ topicId: string; partitions: number[] }> {
    const byTopic = new Map<string, number[]>();
    for (const o of this.owned.values()) {
      const l = byTopic.get(o.topicId) ?? [];
      l.push(o.partition);
      byTopic.set(o.topicId, l);
    }
    return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }));
  }

  /**
   * Moves the owned partitions to the broker's assignment: revoked ones first (committed and no
   * longer fetched), then the new ones. Returns whether ownership changed. Partitions of a topic
   * whose name is not known yet wait for a later answer.
   */
  private async reconcile(): Promise<boolean> {
    const target = this.target;
    if (target === null) return false;
    const wanted = new Map<string, OwnedPartition | null>();
    for (const t of target) {
      const name = await this.topicName(t.topicId);
      for (const p of t.partitions) {
        wanted.set(idKey(t.topicId, p), name === undefined ? null : { topic: name, partition: p, topicId: t.topicId });
      }
    }
    const revoked = [...this.owned].filter(([k]) => !wanted.has(k));
    if (revoked.length > 0) {
      await this.cb.revoke(revoked.map(([, o]) => ({ topic: o.topic, partition: o.partition })));
      for (const [k] of revoked) this.owned.delete(k);
    }
    const added = [...wanted].filter(([k, o]) => o !== null && !this.owned.has(k)) as Array<[string, OwnedPartition]>;
    if (added.length > 0) {
      try {
        await this.cb.assign(added.map(([, o]) => ({ topic: o.topic, partition: o.partition })));
        for (const [k, o] of added) this.owned.set(k, o);
      } catch {
        // Committed offsets not readable now: the next answer (same assignment) tries again.
      }
    }
    return revoked.length > 0 || added.some(([k]) => this.owned.has(k));
  }

  /** A topic's name from its id, refreshing the metadata once when it is not cached. */
  private async topicName(topicId: string): Promise<string | undefined> {
    const hit = this.ctx.metadata.cachedById(topicId);
    if (hit !== undefined) return hit.name;
    try {
      await this.ctx.metadata.refresh(this.regex === null && this.topics.length > 0 ? this.topics : null);
    } catch {
      return undefined;
    }
    return this.ctx.metadata.cachedById(topicId)?.name;
  }

  /** Fenced or forgotten by the coordinator: everything owned is lost (no commit), rejoin at epoch 0. */
  private async fence(): Promise<void> {
    const lost = [...this.owned.values()].map((o) => ({ topic: o.topic, partition: o.partition }));
    this.owned.clear();
    this.target = null;
    this.generationId = 0;
    this.fences++;
    if (lost.length > 0) await this.cb.lose(lost);
  }

  /**
   * Commits with the member epoch. A stale epoch is retried with the one the next answer brings, but
   * not once the member was fenced meanwhile: its partitions may be someone else's by then.
   */
  override async commit(
    offsets: ReadonlyMap<string, { topic: string; partition: number; offset: bigint }>,
  ): Promise<void> {
    const fences = this.fences;
    await super.commit(
      offsets,
      (err) =>
        isRetriable(err) ||
        (err instanceof KafkaError && err.code === ERROR_CODES.STALE_MEMBER_EPOCH && this.fences === fences),
    );
  }

  /** Stops heartbeating and leaves: epoch -1, or -2 for a static member (its assignment waits for it). */
  override async leave(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeLoop();
    const loop = this.loop;
    if (loop === null) return;
    await loop.catch(() => {});
    if (this.fatal !== null) return;
    try {
      await this.heartbeat(this.o.groupInstanceId === undefined ? LEAVE_EPOCH : LEAVE_STATIC_EPOCH);
    } catch {
      // The session timeout removes the member anyway.
    }
    this.owned.clear();
    this.generationId = LEAVE_EPOCH;
  }
}
