import {
  defaultFindCoordinatorRequest,
  defaultHeartbeatRequest,
  defaultJoinGroupRequest,
  defaultLeaveGroupRequest,
  defaultOffsetCommitRequest,
  defaultOffsetFetchRequest,
  defaultSyncGroupRequest,
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  LeaveGroupApi,
  OffsetCommitApi,
  OffsetFetchApi,
  SyncGroupApi,
  ZERO_UUID,
} from '@sluice/protocol';
import type { BrokerAddress, Lane } from '../broker-pool.js';
import type { ClientContext } from '../client.js';
import type { Connection } from '../connection.js';
import { ERROR_CODES, isRetriable, KafkaError } from '../errors.js';
import { withRetry } from '../retry.js';
import {
  type Assignor,
  decodeAssignment,
  decodeAssignmentUserData,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
} from './assignors.js';
import { type TopicPartition, tpKey } from './offsets.js';

export interface GroupOptions {
  groupId: string;
  /** Static membership (KIP-345): a restart within the session timeout keeps the assignment. */
  groupInstanceId?: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  assignors: readonly Assignor[];
}

export interface GroupCallbacks {
  /** Partitions taken away (commit their offsets here); awaited before rejoining. */
  revoke(partitions: TopicPartition[]): Promise<void>;
  /** Partitions added by a rebalance. */
  assign(partitions: TopicPartition[]): Promise<void>;
  /** Partitions lost without a chance to commit (the member was fenced or expired). */
  lose(partitions: TopicPartition[]): Promise<void>;
  /** A heartbeat asks for a rejoin: the consumer should call `rejoinIfNeeded()` soon. */
  rejoinNeeded(): void;
}

const NO_GENERATION = -1;

/** Membership in a classic consumer group: coordinator, join/sync, heartbeats, commits, leave. */
export class GroupMember {
  memberId = '';
  generationId = NO_GENERATION;
  protocol: string | null = null;
  assignment: TopicPartition[] = [];
  private coordinator: BrokerAddress | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  needsRejoin = true;
  private joining: Promise<void> | null = null;
  protected closed = false;
  fatal: unknown = null;

  constructor(
    protected readonly ctx: ClientContext,
    protected readonly o: GroupOptions,
    protected readonly cb: GroupCallbacks,
  ) {}

  get groupId(): string {
    return this.o.groupId;
  }

  get groupInstanceId(): string | null {
    return this.o.groupInstanceId ?? null;
  }

  private get cooperative(): boolean {
    const a = this.o.assignors.find((x) => x.name === this.protocol) ?? this.o.assignors[0];
    return a.cooperative;
  }

  protected async conn(lane: Lane = 'default'): Promise<Connection> {
    if (this.coordinator === null) {
      const conn = await this.ctx.pool.any();
      const req = defaultFindCoordinatorRequest();
      const v = conn.version(FindCoordinatorApi);
      if (v >= 4) req.coordinatorKeys = [this.o.groupId];
      else req.key = this.o.groupId;
      const res = await conn.request(FindCoordinatorApi, req);
      const c = v >= 4 ? res.coordinators[0] : res;
      if (c === undefined) throw new KafkaError(ERROR_CODES.COORDINATOR_NOT_AVAILABLE, 'FindCoordinator: no answer');
      if (c.errorCode !== 0) throw new KafkaError(c.errorCode, `FindCoordinator ${this.o.groupId}`);
      this.coordinator = { host: c.host, port: c.port };
    }
    return this.ctx.pool.get(this.coordinator, lane);
  }

  /** Coordinator errors mean: look it up again. */
  protected check(code: number, what: string): void {
    if (code === 0) return;
    if (
      code === ERROR_CODES.NOT_COORDINATOR ||
      code === ERROR_CODES.COORDINATOR_NOT_AVAILABLE ||
      code === ERROR_CODES.NETWORK_EXCEPTION
    ) {
      this.coordinator = null;
    }
    throw new KafkaError(code, `${what} (group ${this.o.groupId})`);
  }

  /** Joins (or rejoins) when a rebalance is needed; concurrent callers share one attempt. */
  async rejoinIfNeeded(topics: readonly string[]): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (!this.needsRejoin || this.closed) return;
    this.joining ??= this.join(topics).finally(() => {
      this.joining = null;
    });
    return this.joining;
  }

  private async join(topics: readonly string[]): Promise<void> {
    this.stopHeartbeats();
    if (!this.cooperative && this.assignment.length > 0) {
      // Eager protocol: give everything up before joining.
      const all = this.assignment;
      this.assignment = [];
      await this.cb.revoke(all);
    }
    await withRetry(
      async () => {
        this.needsRejoin = false;
        await this.joinOnce(topics);
      },
      {
        retries: 20,
        initialBackoffMs: 100,
        maxBackoffMs: 1000,
        retriable: (err) =>
          err instanceof KafkaError &&
          (err.retriable ||
            err.code === ERROR_CODES.REBALANCE_IN_PROGRESS ||
            err.code === ERROR_CODES.MEMBER_ID_REQUIRED ||
            err.code === ERROR_CODES.UNKNOWN_MEMBER_ID ||
            err.code === ERROR_CODES.ILLEGAL_GENERATION),
      },
    );
    this.startHeartbeats();
  }

  private async joinOnce(topics: readonly string[]): Promise<void> {
    const conn = await this.conn('group');
    const req = defaultJoinGroupRequest();
    req.groupId = this.o.groupId;
    req.sessionTimeoutMs = this.o.sessionTimeoutMs;
    req.rebalanceTimeoutMs = this.o.rebalanceTimeoutMs;
    req.memberId = this.memberId;
    req.groupInstanceId = this.o.groupInstanceId ?? null;
    req.protocolType = 'consumer';
    const owned = this.assignment;
    req.protocols = this.o.assignors.map((a) => ({
      name: a.name,
      metadata: encodeSubscription(topics, a.cooperative ? owned : [], a.subscriptionUserData?.() ?? null),
    }));
    const res = await conn.request(JoinGroupApi, req, { extraTimeoutMs: this.o.rebalanceTimeoutMs });
    if (res.errorCode === ERROR_CODES.MEMBER_ID_REQUIRED) {
      this.memberId = res.memberId;
      throw new KafkaError(res.errorCode, 'JoinGroup: member id assigned, joining again');
    }
    if (res.errorCode === ERROR_CODES.UNKNOWN_MEMBER_ID) this.memberId = '';
    if (res.errorCode === ERROR_CODES.FENCED_INSTANCE_ID) {
      this.fatal = new KafkaError(
        res.errorCode,
        `group instance id ${this.o.groupInstanceId} is used by another member`,
      );
      throw this.fatal;
    }
    this.check(res.errorCode, 'JoinGroup');
    this.memberId = res.memberId;
    this.generationId = res.generationId;
    this.protocol = res.protocolName;
    let assignments: Array<{ memberId: string; assignment: Buffer }> = [];
    if (res.leader === res.memberId && !res.skipAssignment) {
      const assignor = this.o.assignors.find((a) => a.name === res.protocolName);
      if (assignor === undefined)
        throw new KafkaError(ERROR_CODES.INCONSISTENT_GROUP_PROTOCOL, `unknown assignor ${res.protocolName}`);
      const subs = res.members.map((m) => decodeSubscription(m.memberId, m.groupInstanceId, m.metadata));
      const counts = new Map<string, number>();
      for (const t of new Set(subs.flatMap((s) => s.topics))) {
        try {
          counts.set(t, (await this.ctx.metadata.topic(t)).partitions.length);
        } catch {
          // A topic that does not exist (yet) gets no partitions.
        }
      }
      const plan = assignor.assign(subs, counts);
      const userData = assignor.assignmentUserData?.(plan, subs, counts);
      assignments = [...plan].map(([memberId, tps]) => ({
        memberId,
        assignment: encodeAssignment(tps, userData?.get(memberId) ?? null),
      }));
    }
    const sreq = defaultSyncGroupRequest();
    sreq.groupId = this.o.groupId;
    sreq.generationId = this.generationId;
    sreq.memberId = this.memberId;
    sreq.groupInstanceId = this.o.groupInstanceId ?? null;
    sreq.protocolType = 'consumer';
    sreq.protocolName = this.protocol;
    sreq.assignments = assignments;
    const sres = await conn.request(SyncGroupApi, sreq, { extraTimeoutMs: this.o.rebalanceTimeoutMs });
    if (sres.errorCode === ERROR_CODES.UNKNOWN_MEMBER_ID) this.memberId = '';
    this.check(sres.errorCode, 'SyncGroup');
    const next = decodeAssignment(sres.assignment);
    const chosen = this.o.assignors.find((a) => a.name === this.protocol);
    await chosen?.onAssignment?.(next, decodeAssignmentUserData(sres.assignment));
    const nextKeys = new Set(next.map((tp) => tpKey(tp.topic, tp.partition)));
    const ownedKeys = new Set(owned.map((tp) => tpKey(tp.topic, tp.partition)));
    const revoked = owned.filter((tp) => !nextKeys.has(tpKey(tp.topic, tp.partition)));
    const added = next.filter((tp) => !ownedKeys.has(tpKey(tp.topic, tp.partition)));
    this.assignment = next;
    if (revoked.length > 0) {
      await this.cb.revoke(revoked);
      // Cooperative: the partitions given up go to their new owner in a follow-up rebalance.
      this.needsRejoin = true;
      this.cb.rejoinNeeded();
    }
    if (added.length > 0) await this.cb.assign(added);
  }

  private startHeartbeats(): void {
    this.stopHeartbeats();
    const beat = async () => {
      if (this.closed || this.needsRejoin) return;
      try {
        const conn = await this.conn('heartbeat');
        const req = defaultHeartbeatRequest();
        req.groupId = this.o.groupId;
        req.generationId = this.generationId;
        req.memberId = this.memberId;
        req.groupInstanceId = this.o.groupInstanceId ?? null;
        const res = await conn.request(HeartbeatApi, req);
        if (res.errorCode === ERROR_CODES.REBALANCE_IN_PROGRESS) {
          this.needsRejoin = true;
          this.cb.rejoinNeeded();
          return;
        }
        if (
          res.errorCode === ERROR_CODES.UNKNOWN_MEMBER_ID ||
          res.errorCode === ERROR_CODES.ILLEGAL_GENERATION ||
          res.errorCode === ERROR_CODES.FENCED_INSTANCE_ID
        ) {
          if (res.errorCode === ERROR_CODES.UNKNOWN_MEMBER_ID) this.memberId = '';
          const lost = this.assignment;
          this.assignment = [];
          this.generationId = NO_GENERATION;
          this.needsRejoin = true;
          await this.cb.lose(lost);
          this.cb.rejoinNeeded();
          return;
        }
        this.check(res.errorCode, 'Heartbeat');
      } catch {
        // Transient (coordinator moved, connection lost): the next beat tries again.
      }
      if (!this.closed && !this.needsRejoin) this.heartbeatTimer = setTimeout(beat, this.o.heartbeatIntervalMs);
    };
    this.heartbeatTimer = setTimeout(beat, this.o.heartbeatIntervalMs);
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** Commits offsets (the next offset to read per partition) for this generation. */
  async commit(
    offsets: ReadonlyMap<string, { topic: string; partition: number; offset: bigint }>,
    retriable: (err: unknown) => boolean = isRetriable,
  ): Promise<void> {
    if (offsets.size === 0) return;
    await withRetry(
      async () => {
        const conn = await this.conn();
        const req = defaultOffsetCommitRequest();
        req.groupId = this.o.groupId;
        req.generationIdOrMemberEpoch = this.generationId;
        req.memberId = this.memberId;
        req.groupInstanceId = this.o.groupInstanceId ?? null;
        const topics = new Map<string, (typeof req.topics)[number]>();
        for (const o of offsets.values()) {
          let t = topics.get(o.topic);
          if (t === undefined) {
            t = { name: o.topic, topicId: ZERO_UUID, partitions: [] };
            topics.set(o.topic, t);
            req.topics.push(t);
          }
          t.partitions.push({
            partitionIndex: o.partition,
            committedOffset: o.offset,
            committedLeaderEpoch: -1,
            committedMetadata: '',
          });
        }
        const res = await conn.request(OffsetCommitApi, req);
        for (const t of res.topics)
          for (const p of t.partitions) this.check(p.errorCode, `OffsetCommit ${t.name}-${p.partitionIndex}`);
      },
      { retries: 5, retriable },
    );
  }

  /** Committed offsets (-1n where none is). */
  async fetchOffsets(tps: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    if (tps.length === 0) return out;
    await withRetry(
      async () => {
        const conn = await this.conn();
        const v = conn.version(OffsetFetchApi);
        const req = defaultOffsetFetchRequest();
        const byTopic = new Map<string, number[]>();
        for (const tp of tps) {
          const l = byTopic.get(tp.topic) ?? [];
          l.push(tp.partition);
          byTopic.set(tp.topic, l);
        }
        const topics = [...byTopic].map(([name, partitionIndexes]) => ({ name, topicId: ZERO_UUID, partitionIndexes }));
        if (v >= 8) {
          req.groups = [{ groupId: this.o.groupId, memberId: null, memberEpoch: -1, topics }];
        } else {
          req.groupId = this.o.groupId;
          req.topics = topics;
        }
        const res = await conn.request(OffsetFetchApi, req);
        if (v >= 8) {
          const g = res.groups[0];
          if (g === undefined)
            throw new KafkaError(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'OffsetFetch: no group in the answer');
          this.check(g.errorCode, 'OffsetFetch');
          for (const t of g.topics) {
            for (const p of t.partitions) {
              this.check(p.errorCode, `OffsetFetch ${t.name}-${p.partitionIndex}`);
              out.set(tpKey(t.name, p.partitionIndex), p.committedOffset);
            }
          }
        } else {
          this.check(res.errorCode, 'OffsetFetch');
          for (const t of res.topics) {
            for (const p of t.partitions) {
              this.check(p.errorCode, `OffsetFetch ${t.name}-${p.partitionIndex}`);
              out.set(tpKey(t.name, p.partitionIndex), p.committedOffset);
            }
          }
        }
      },
      { retries: 5 },
    );
    return out;
  }

  /** Leaves the group (static members stay, as Kafka's clients do on close). */
  async leave(): Promise<void> {
    this.closed = true;
    this.stopHeartbeats();
    if (this.memberId === '' || this.o.groupInstanceId !== undefined) return;
    try {
      const conn = await this.conn();
      const req = defaultLeaveGroupRequest();
      req.groupId = this.o.groupId;
      if (conn.version(LeaveGroupApi) >= 3) {
        req.members = [{ memberId: this.memberId, groupInstanceId: null, reason: 'the consumer is closing' }];
      } else req.memberId = this.memberId;
      await conn.request(LeaveGroupApi, req);
    } catch {
      // The session timeout removes the member anyway.
    }
    this.memberId = '';
    this.generationId = NO_GENERATION;
  }
}
