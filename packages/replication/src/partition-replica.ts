import type { PartitionRecord, PartitionUpdate } from '@sluice/cluster/core';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';

/** What a replica needs of its log: the offsets, and a high watermark it may move. */
export interface ReplicaLog {
  readonly logStartOffset: bigint;
  readonly logEndOffset: bigint;
  highWatermark: bigint;
}

/** Milliseconds since the epoch; injected so that lag and timeouts are testable. */
export type Clock = () => number;

/** A log end offset not known yet (a follower that has not fetched since this leadership began). */
export const UNKNOWN_OFFSET = -1n;

/** The leader's view of one follower (Kafka's Replica state). */
export interface FollowerState {
  readonly nodeId: number;
  /** The offset of its last fetch: everything below it is in its log. */
  logEndOffset: bigint;
  logStartOffset: bigint;
  lastFetchTimeMs: number;
  /** The leader's log end offset when that fetch arrived. */
  lastFetchLeaderLogEndOffset: bigint;
  /** The last time it had everything the leader had (Kafka's lastCaughtUpTimeMs). */
  lastCaughtUpTimeMs: number;
}

export type ReplicaRole = 'leader' | 'follower' | 'none';

/** An ISR change this leader proposed and the store has not answered yet (Kafka's PendingExpandIsr/PendingShrinkIsr). */
interface PendingIsr {
  isr: readonly number[];
  partitionEpoch: number;
}

/** What applying a partition record changed for this replica. */
export type RecordOutcome = 'became-leader' | 'became-follower' | 'updated' | 'unchanged';

/**
 * One partition replica on this broker, with Kafka's Partition semantics, as pure state over its
 * log and a clock: the role and leader epoch from the metadata record, and as leader the
 * followers' fetch positions, the high watermark (the smallest log end offset in the ISR, never
 * backwards) and the ISR changes to propose (shrink after `replica.lag.time.max.ms`, expand once
 * caught up). Proposals go to the store as `PartitionUpdate`s compared on the partition epoch, so
 * a leader that lost its leadership (the epoch moved on) cannot change the ISR.
 */
export class PartitionReplica {
  private _role: ReplicaRole = 'none';
  private _record: PartitionRecord | null = null;
  /** The log end offset when this leadership began: a follower is in sync only from there on. */
  private leaderEpochStartOffset = UNKNOWN_OFFSET;
  private readonly followers = new Map<number, FollowerState>();
  private pending: PendingIsr | null = null;

  constructor(
    readonly nodeId: number,
    readonly log: ReplicaLog,
    private readonly clock: Clock = Date.now,
  ) {}

  get role(): ReplicaRole {
    return this._role;
  }
  get record(): PartitionRecord | null {
    return this._record;
  }
  get leaderEpoch(): number {
    return this._record?.leaderEpoch ?? -1;
  }
  get leaderId(): number {
    return this._record?.leader ?? -1;
  }
  get isr(): readonly number[] {
    return this._record?.isr ?? [];
  }
  /** The ISR plus members a pending expansion adds: what the high watermark must wait for (Kafka's maximalIsr). */
  get maximalIsr(): readonly number[] {
    const isr = this.isr;
    if (!this.pending) return isr;
    return [...isr, ...this.pending.isr.filter((id) => !isr.includes(id))];
  }
  get isrChangePending(): boolean {
    return this.pending !== null;
  }
  follower(nodeId: number): Readonly<FollowerState> | undefined {
    return this.followers.get(nodeId);
  }

  /**
   * Follows the metadata record of this partition: leader when it names this node (a new leader
   * epoch resets what is known of the followers, as Kafka's makeLeader), follower otherwise.
   */
  applyRecord(record: PartitionRecord): RecordOutcome {
    const before = this._record;
    if (before && record.partitionEpoch < before.partitionEpoch) return 'unchanged';
    this._record = record;
    if (this.pending && record.partitionEpoch >= this.pending.partitionEpoch) this.pending = null;
    const newEpoch = before === null || before.leaderEpoch !== record.leaderEpoch;
    if (record.leader === this.nodeId) {
      if (this._role !== 'leader' || newEpoch) {
        this.makeLeader(record);
        return 'became-leader';
      }
      this.syncFollowers(record);
      this.maybeIncrementHighWatermark();
      return before?.partitionEpoch === record.partitionEpoch ? 'unchanged' : 'updated';
    }
    const wasFollowing = this._role === 'follower' && !newEpoch;
    this._role = 'follower';
    this.followers.clear();
    this.pending = null;
    return wasFollowing ? 'updated' : 'became-follower';
  }

  /** This broker no longer holds the partition (deleted, or reassigned away). */
  stop(): void {
    this._role = 'none';
    this.followers.clear();
    this.pending = null;
  }

  private makeLeader(record: PartitionRecord): void {
    this._role = 'leader';
    this.pending = null;
    this.leaderEpochStartOffset = this.log.logEndOffset;
    this.followers.clear();
    const now = this.clock();
    for (const id of record.replicas) {
      if (id === this.nodeId) continue;
      // ISR members get the benefit of the doubt for one lag period, as Kafka's resetReplicaState.
      this.followers.set(id, unknownFollower(id, record.isr.includes(id) ? now : 0));
    }
    this.maybeIncrementHighWatermark();
  }

  /** A reassignment changed the replica set within one leader epoch: add or drop follower states. */
  private syncFollowers(record: PartitionRecord): void {
    for (const id of [...this.followers.keys()]) if (!record.replicas.includes(id)) this.followers.delete(id);
    for (const id of record.replicas) {
      if (id === this.nodeId || this.followers.has(id)) continue;
      this.followers.set(id, unknownFollower(id, 0));
    }
  }

  /**
   * Kafka's current-leader-epoch check on a request (-1: the client does not know): an epoch
   * above ours means our metadata is behind (UNKNOWN_LEADER_EPOCH), one below means the client's
   * is (FENCED_LEADER_EPOCH).
   */
  checkLeaderEpoch(currentLeaderEpoch: number): void {
    if (currentLeaderEpoch < 0 || currentLeaderEpoch === this.leaderEpoch) return;
    if (currentLeaderEpoch > this.leaderEpoch) {
      throw new KafkaError(
        ERROR_CODES.UNKNOWN_LEADER_EPOCH,
        `The leader epoch ${currentLeaderEpoch} in the request is newer than this broker's ${this.leaderEpoch}.`,
      );
    }
    throw new KafkaError(
      ERROR_CODES.FENCED_LEADER_EPOCH,
      `The leader epoch ${currentLeaderEpoch} in the request is older than the current ${this.leaderEpoch}.`,
    );
  }

  /** Throws NOT_LEADER_OR_FOLLOWER unless this replica leads. */
  checkLeader(): void {
    if (this._role !== 'leader') {
      throw new KafkaError(ERROR_CODES.NOT_LEADER_OR_FOLLOWER, `Broker ${this.nodeId} is not the leader.`);
    }
  }

  /** acks=all before the append: the ISR must hold `min.insync.replicas` members (Kafka's appendRecordsToLeader). */
  checkMinIsr(minInsyncReplicas: number, partitionName: string): void {
    const isr = this.isr;
    const minIsr = this.effectiveMinIsr(minInsyncReplicas);
    if (isr.length < minIsr) {
      throw new KafkaError(
        ERROR_CODES.NOT_ENOUGH_REPLICAS,
        `The size of the current ISR Set(${isr.join(', ')}) is insufficient to satisfy the min.isr requirement of ${minIsr} for partition ${partitionName}`,
      );
    }
  }

  /**
   * min.insync.replicas capped at the replication factor (Kafka's Partition.effectiveMinIsr): a topic
   * may set it above its replica count, and then every replica in sync is enough.
   */
  private effectiveMinIsr(minInsyncReplicas: number): number {
    return Math.min(minInsyncReplicas, Math.max(1, this._record?.replicas.length ?? 1));
  }

  /**
   * Whether an acks=all append ending before `requiredOffset` is done (Kafka's
   * checkEnoughReplicasReachOffset): null while the high watermark is below it; else 0, or
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below `min.insync.replicas` meanwhile;
   * NOT_LEADER_OR_FOLLOWER once this replica no longer leads.
   */
  appendCompletion(requiredOffset: bigint, minInsyncReplicas: number): number | null {
    if (this._role !== 'leader') return ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
    if (this.log.highWatermark < requiredOffset) return null;
    return this.maximalIsr.length >= this.effectiveMinIsr(minInsyncReplicas)
      ? 0
      : ERROR_CODES.NOT_ENOUGH_REPLICAS_AFTER_APPEND;
  }

  /**
   * A follower fetched from `fetchOffset` (Kafka's updateFollowerFetchState): its log ends
   * there. It is caught up when it asked for the leader's log end, or for at least what the
   * leader had at its previous fetch (then it was caught up at that time). Returns whether the
   * high watermark moved. Throws NOT_LEADER_OR_FOLLOWER when this replica does not lead or the
   * node is not a replica.
   */
  updateFollowerFetchState(followerId: number, fetchOffset: bigint, followerLogStartOffset: bigint): boolean {
    this.checkLeader();
    const f = this.followers.get(followerId);
    if (!f) {
      throw new KafkaError(
        ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
        `Broker ${followerId} is not a replica of this partition.`,
      );
    }
    const now = this.clock();
    const leaderEnd = this.log.logEndOffset;
    if (fetchOffset >= leaderEnd) f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, now);
    else if (f.lastFetchLeaderLogEndOffset >= 0n && fetchOffset >= f.lastFetchLeaderLogEndOffset) {
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs);
    }
    const moved = f.logEndOffset !== fetchOffset;
    f.logEndOffset = fetchOffset;
    f.logStartOffset = followerLogStartOffset;
    f.lastFetchTimeMs = now;
    f.lastFetchLeaderLogEndOffset = leaderEnd;
    return moved ? this.maybeIncrementHighWatermark() : false;
  }

  /**
   * Moves the high watermark to the smallest log end offset among the (maximal) ISR, this leader
   * included; never backwards. Returns whether it moved.
   */
  maybeIncrementHighWatermark(): boolean {
    if (this._role !== 'leader') return false;
    let hw = this.log.logEndOffset;
    for (const id of this.maximalIsr) {
      if (id === this.nodeId) continue;
      const leo = this.followers.get(id)?.logEndOffset ?? UNKNOWN_OFFSET;
      if (leo < hw) hw = leo;
    }
    if (hw <= this.log.highWatermark) return false;
    this.log.highWatermark = hw;
    return true;
  }

  /** Kafka's isFollowerInSync for an ISR expansion: at the high watermark and into this leader epoch. */
  private caughtUpForIsr(f: FollowerState): boolean {
    return f.logEndOffset >= this.log.highWatermark && f.logEndOffset >= this.leaderEpochStartOffset;
  }

  /**
   * The ISR change to propose now, if any: followers that fell behind longer than `lagMaxMs`
   * leave (never the leader itself), caught-up replicas outside the ISR join (`eligible` says
   * which brokers may join: registered and not shutting down). One change at a time; null when
   * none is due or one is pending.
   */
  isrChangeDue(lagMaxMs: number, eligible: (nodeId: number) => boolean = () => true): number[] | null {
    if (this._role !== 'leader' || this.pending !== null) return null;
    const isr = this.isr;
    const now = this.clock();
    const leaderEnd = this.log.logEndOffset;
    const outOfSync = isr.filter((id) => {
      if (id === this.nodeId) return false;
      const f = this.followers.get(id);
      if (!f) return true;
      return f.logEndOffset !== leaderEnd && now - f.lastCaughtUpTimeMs > lagMaxMs;
    });
    if (outOfSync.length > 0) return isr.filter((id) => !outOfSync.includes(id));
    const joining = [...this.followers.values()]
      .filter((f) => !isr.includes(f.nodeId) && this.caughtUpForIsr(f) && eligible(f.nodeId))
      .map((f) => f.nodeId);
    if (joining.length > 0) return [...isr, ...joining];
    return null;
  }

  /**
   * The store update for a new ISR (Kafka's AlterPartition): compared on the partition epoch this
   * leader last saw, so it fails once anyone else changed the partition. Marks it pending until
   * the store answers (`isrChangeFailed`) or the new record arrives.
   */
  proposeIsr(isr: readonly number[]): PartitionUpdate {
    this.checkLeader();
    const record = this._record!;
    const next: PartitionRecord = { ...record, isr: [...isr], partitionEpoch: record.partitionEpoch + 1 };
    this.pending = { isr: next.isr, partitionEpoch: next.partitionEpoch };
    return { expectedPartitionEpoch: record.partitionEpoch, next };
  }

  /** The store refused or could not take the proposal: a later check proposes again from the current state. */
  isrChangeFailed(): void {
    this.pending = null;
  }
}

/** A follower the leader has not heard from yet (no fetch, positions unknown). */
function unknownFollower(nodeId: number, lastCaughtUpTimeMs: number): FollowerState {
  return {
    nodeId,
    logEndOffset: UNKNOWN_OFFSET,
    logStartOffset: UNKNOWN_OFFSET,
    lastFetchTimeMs: 0,
    lastFetchLeaderLogEndOffset: UNKNOWN_OFFSET,
    lastCaughtUpTimeMs,
  };
}
