import { randomUUID } from 'node:crypto';
import { ConsumerProtocolSubscriptionCodec, ERROR_CODES, KafkaError, Reader } from '@sluice/protocol';
import type { ClassicMemberSnapshot } from './consumer/classic-protocol.js';
import type { ActiveClassicGroup } from './consumer/consumer-group-coordinator.js';
import {
  ClassicGroup,
  type GroupState,
  type JoinGroupResult,
  joinError,
  type Member,
  Member as MemberClass,
  type OffsetEntry,
  type Protocol,
  type SyncGroupResult,
  syncError,
} from './group.js';
import { groupPartition } from './partitioner.js';
import {
  decodeGroupMetadataValue,
  decodeKey,
  decodeOffsetCommitValue,
  encodeGroupMetadataKey,
  encodeGroupMetadataValue,
  encodeOffsetCommitKey,
  encodeOffsetCommitValue,
} from './records.js';
import { type Scheduler, systemScheduler, type TimerHandle } from './scheduler.js';
import { PendingTxnOffsets } from './txn-offsets.js';

const E = ERROR_CODES;

export interface CoordinatorConfig {
  /** offsets.topic.num.partitions */
  numPartitions: number;
  /** group.initial.rebalance.delay.ms */
  groupInitialRebalanceDelayMs: number;
  /** group.min.session.timeout.ms */
  groupMinSessionTimeoutMs: number;
  /** group.max.session.timeout.ms */
  groupMaxSessionTimeoutMs: number;
  /** group.max.size */
  groupMaxSize: number;
  /** offsets.retention.minutes, in ms */
  offsetsRetentionMs: number;
  /** offsets.retention.check.interval.ms */
  offsetsRetentionCheckIntervalMs: number;
  /** offset.metadata.max.bytes */
  offsetMetadataMaxBytes: number;
}

export const DEFAULT_COORDINATOR_CONFIG: CoordinatorConfig = {
  numPartitions: 50,
  groupInitialRebalanceDelayMs: 3000,
  groupMinSessionTimeoutMs: 6000,
  groupMaxSessionTimeoutMs: 1_800_000,
  groupMaxSize: 2147483647,
  offsetsRetentionMs: 7 * 24 * 3600 * 1000,
  offsetsRetentionCheckIntervalMs: 600_000,
  offsetMetadataMaxBytes: 4096,
};

/** How long a new member's JoinGroup may wait in a rebalance before it is dropped (Kafka's NewMemberJoinTimeoutMs). */
export const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000;
/** A bound on members listed in one LeaveGroup, groups in one Describe/Delete/OffsetFetch request. */
const MAX_BATCH = 10_000;

/** One record for `__consumer_offsets`; a null value is a tombstone. */
export interface CoordinatorRecord {
  key: Buffer;
  value: Buffer | null;
  /** When loading: the producer of a transactional record (a TxnOffsetCommit), else absent. */
  txnProducerId?: bigint;
  /** When loading: a transaction marker of `txnProducerId` (key and value are then empty). */
  marker?: 'commit' | 'abort';
}

/** The producer whose transaction an append belongs to (TxnOffsetCommit). */
export interface TxnProducer {
  producerId: bigint;
  producerEpoch: number;
}

/** Appends records to one `__consumer_offsets` partition; resolves once they are in the log. */
export type AppendFunction = (
  partition: number,
  records: CoordinatorRecord[],
  txn?: TxnProducer,
) => void | Promise<void>;

export interface CoordinatorLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const silentLogger: CoordinatorLogger = { info() {}, warn() {}, error() {} };

export interface CoordinatorOptions {
  config?: Partial<CoordinatorConfig>;
  append: AppendFunction;
  scheduler?: Scheduler;
  logger?: CoordinatorLogger;
  /** Makes new member ids (default: clientId-UUID, as Kafka does). */
  newMemberId?: (clientId: string) => string;
  /**
   * Topics whose offsets a KIP-848 consumer group of that id subscribes to now (null: no such group).
   * Offset expiry keeps them, as Kafka keeps the offsets of topics a consumer group is subscribed to.
   */
  offsetsInUse?: (groupId: string) => ReadonlySet<string> | null;
}

export interface JoinGroupParams {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  /** -1 (JoinGroup v0) means: the session timeout. */
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  /** JoinGroup v4+ (KIP-394): a new dynamic member first gets MEMBER_ID_REQUIRED and an id. */
  requireKnownMemberId: boolean;
  /** JoinGroup v9+ (KIP-814): a static leader rejoining a stable group may skip the assignment. */
  supportSkippingAssignment: boolean;
  reason?: string | null;
}

export interface SyncGroupParams {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface HeartbeatParams {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
}

export interface LeaveGroupResult {
  /** Group-level error; NONE when per-member errors say more. */
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

export interface DescribedMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  metadata: Buffer;
  assignment: Buffer;
}

export interface DescribedGroup {
  groupId: string;
  errorCode: number;
  state: GroupState;
  protocolType: string;
  protocolName: string;
  members: DescribedMember[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
  state: GroupState;
  groupType: 'classic';
}

export interface CommitPartition {
  partitionIndex: number;
  committedOffset: bigint;
  committedLeaderEpoch: number;
  committedMetadata: string | null;
}

export interface CommitOffsetsParams {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  /** -1: the group's retention; otherwise ms from now (OffsetCommit v2–v4). */
  retentionTimeMs: number;
  topics: { name: string; partitions: CommitPartition[] }[];
}

export interface TopicPartitionErrors {
  name: string;
  partitions: { partitionIndex: number; errorCode: number }[];
}

export interface FetchedPartition {
  partitionIndex: number;
  committedOffset: bigint;
  committedLeaderEpoch: number;
  metadata: string;
  errorCode: number;
}

export interface FetchOffsetsResult {
  errorCode: number;
  topics: { name: string; partitions: FetchedPartition[] }[];
}

export interface DeleteOffsetsResult {
  errorCode: number;
  topics: TopicPartitionErrors[];
}

/** What an append failure means to the client (Kafka maps storage errors like this). */
function storeErrorCode(err: unknown, forOffsets: boolean): number {
  const code = err instanceof KafkaError ? err.code : E.UNKNOWN_SERVER_ERROR;
  switch (code) {
    case E.UNKNOWN_TOPIC_OR_PARTITION:
    case E.NOT_ENOUGH_REPLICAS:
    case E.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case E.REQUEST_TIMED_OUT:
    case E.KAFKA_STORAGE_ERROR:
      return E.COORDINATOR_NOT_AVAILABLE;
    case E.NOT_LEADER_OR_FOLLOWER:
      return E.NOT_COORDINATOR;
    case E.MESSAGE_TOO_LARGE:
    case E.RECORD_LIST_TOO_LARGE:
    case E.INVALID_FETCH_SIZE:
      return forOffsets ? E.INVALID_COMMIT_OFFSET_SIZE : E.UNKNOWN_SERVER_ERROR;
    default:
      return forOffsets ? E.COORDINATOR_NOT_AVAILABLE : E.UNKNOWN_SERVER_ERROR;
  }
}

/**
 * Kafka's classic group coordinator (GroupCoordinator / ClassicGroup in Apache Kafka), without
 * networking: the broker translates requests into these calls. JoinGroup and SyncGroup resolve
 * when the rebalance lets them; everything time-driven (session and rebalance timeouts, the
 * initial rebalance delay, offset expiry) runs on the injected scheduler.
 */
export class GroupCoordinator {
  readonly config: CoordinatorConfig;
  private readonly groups = new Map<string, ClassicGroup>();
  private readonly append: AppendFunction;
  private readonly scheduler: Scheduler;
  private readonly log: CoordinatorLogger;
  private readonly newMemberId: (clientId: string) => string;
  private readonly offsetsInUse: (groupId: string) => ReadonlySet<string> | null;
  private active = true;
  private expiryTimer: TimerHandle | null = null;
  /** Offsets committed inside transactions not yet decided. */
  private readonly txnOffsets = new PendingTxnOffsets();

  constructor(options: CoordinatorOptions) {
    this.config = { ...DEFAULT_COORDINATOR_CONFIG, ...options.config };
    this.append = options.append;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.log = options.logger ?? silentLogger;
    this.newMemberId = options.newMemberId ?? ((clientId) => `${clientId}-${randomUUID()}`);
    this.offsetsInUse = options.offsetsInUse ?? (() => null);
    this.scheduleExpiry();
  }

  /** The `__consumer_offsets` partition of a group. */
  partitionFor(groupId: string): number {
    return groupPartition(groupId, this.config.numPartitions);
  }

  /** The group as it stands, for inspection (tests, metrics). */
  group(groupId: string): ClassicGroup | undefined {
    return this.groups.get(groupId);
  }

  /** Stops timers and answers every waiting JoinGroup/SyncGroup with NOT_COORDINATOR. */
  shutdown(): void {
    this.active = false;
    this.expiryTimer?.cancel();
    for (const group of this.groups.values()) this.abandon(group);
    this.groups.clear();
  }

  /**
   * Drops the groups of one `__consumer_offsets` partition whose leadership moved to another broker
   * (Kafka's unload of a coordinator shard): their timers stop, waiting JoinGroup/SyncGroup requests
   * are answered NOT_COORDINATOR, and the broker that leads the partition now loads them from it.
   * Returns how many groups were dropped.
   */
  unloadPartition(partition: number): number {
    let dropped = 0;
    for (const [groupId, group] of this.groups) {
      if (this.partitionFor(groupId) !== partition) continue;
      this.abandon(group);
      this.groups.delete(groupId);
      dropped++;
    }
    return dropped;
  }

  /** Stops a group's timers and answers its waiting members NOT_COORDINATOR (this broker no longer has it). */
  private abandon(group: ClassicGroup): void {
    group.joinTimer?.cancel();
    group.syncTimer?.cancel();
    for (const t of group.pendingMembers.values()) t.cancel();
    for (const m of group.members.values()) {
      m.heartbeatTimer?.cancel();
      group.invokeJoin(m, joinError(m.memberId, E.NOT_COORDINATOR));
      group.invokeSync(m, syncError(E.NOT_COORDINATOR));
    }
  }

  // ---------------------------------------------------------------- loading

  /**
   * Replays one `__consumer_offsets` partition (records in offset order): the last group record
   * and the last offset commit per key win, tombstones delete. Groups with members come back
   * Stable with fresh session timers, as in Kafka.
   */
  loadPartition(records: Iterable<CoordinatorRecord>): void {
    const now = this.scheduler.now();
    const offsets = new Map<string, Map<string, OffsetEntry | null>>();
    const groupValues = new Map<string, Buffer | null>();
    for (const r of records) {
      if (r.marker !== undefined && r.txnProducerId !== undefined) {
        // A transaction's end: its offsets take effect here, in log order, or are dropped.
        for (const o of this.txnOffsets.take(r.txnProducerId, () => true)) {
          if (r.marker !== 'commit') continue;
          let g = offsets.get(o.groupId);
          if (g === undefined) offsets.set(o.groupId, (g = new Map()));
          g.set(`${o.partition}:${o.topic}`, o.entry);
        }
        continue;
      }
      const key = decodeKey(r.key);
      if (key.type === 'offset' && r.txnProducerId !== undefined) {
        if (r.value !== null) {
          const entry = decodeOffsetCommitValue(r.value);
          this.txnOffsets.add(r.txnProducerId, {
            groupId: key.group,
            topic: key.topic,
            partition: key.partition,
            entry,
          });
        }
      } else if (key.type === 'offset') {
        let g = offsets.get(key.group);
        if (g === undefined) offsets.set(key.group, (g = new Map()));
        g.set(`${key.partition}:${key.topic}`, r.value === null ? null : decodeOffsetCommitValue(r.value));
      } else if (key.type === 'group') {
        groupValues.set(key.group, r.value === null ? null : Buffer.from(r.value));
      }
    }
    for (const [groupId, value] of groupValues) {
      if (value === null) {
        this.groups.delete(groupId);
        continue;
      }
      const v = decodeGroupMetadataValue(value);
      const group = new ClassicGroup(groupId, v.currentStateTimestamp >= 0 ? v.currentStateTimestamp : now);
      group.generationId = v.generation;
      group.protocolType = v.protocolType.length > 0 ? v.protocolType : null;
      group.protocolName = v.protocol;
      for (const m of v.members) {
        const protocols = v.protocol === null ? [] : [{ name: v.protocol, metadata: m.subscription }];
        const member = new MemberClass(
          m.memberId,
          m.groupInstanceId,
          m.clientId,
          m.clientHost,
          m.rebalanceTimeout,
          m.sessionTimeout,
          v.protocolType,
          protocols,
        );
        member.assignment = m.assignment;
        group.add(member, null);
      }
      group.leaderId = v.members.length > 0 ? v.leader : null;
      if (group.size > 0) {
        group.state = 'Stable';
        group.subscribedTopics = this.computeSubscribedTopics(group);
        for (const m of group.members.values()) this.scheduleHeartbeat(group, m, m.sessionTimeoutMs);
      }
      this.groups.set(groupId, group);
    }
    for (const [groupId, entries] of offsets) {
      let group = this.groups.get(groupId);
      for (const [tp, entry] of entries) {
        if (entry === null) continue;
        if (group === undefined) this.groups.set(groupId, (group = new ClassicGroup(groupId, now)));
        const colon = tp.indexOf(':');
        group.setOffset(tp.slice(colon + 1), Number(tp.slice(0, colon)), entry);
      }
    }
  }

  // ---------------------------------------------------------------- JoinGroup

  async joinGroup(p: JoinGroupParams): Promise<JoinGroupResult> {
    if (p.groupId.length === 0) return joinError(p.memberId, E.INVALID_GROUP_ID);
    if (!this.active) return joinError(p.memberId, E.COORDINATOR_NOT_AVAILABLE);
    if (p.sessionTimeoutMs < this.config.groupMinSessionTimeoutMs) {
      return joinError(p.memberId, E.INVALID_SESSION_TIMEOUT);
    }
    if (p.sessionTimeoutMs > this.config.groupMaxSessionTimeoutMs) {
      return joinError(p.memberId, E.INVALID_SESSION_TIMEOUT);
    }
    const params = { ...p, rebalanceTimeoutMs: p.rebalanceTimeoutMs < 0 ? p.sessionTimeoutMs : p.rebalanceTimeoutMs };
    const isUnknown = p.memberId === '';
    let group = this.groups.get(p.groupId);
    if (group === undefined) {
      if (!isUnknown) return joinError(p.memberId, E.UNKNOWN_MEMBER_ID);
      group = new ClassicGroup(p.groupId, this.scheduler.now());
      this.groups.set(p.groupId, group);
    }
    let result: JoinGroupResult | Promise<JoinGroupResult>;
    if (!this.acceptJoiningMember(group, p.memberId)) {
      // Kafka drops a known member the full group cannot keep (e.g. after group.max.size was lowered).
      group.remove(p.memberId);
      result = joinError('', E.GROUP_MAX_SIZE_REACHED);
    } else if (isUnknown) {
      result = this.newMemberJoin(group, params);
    } else {
      result = this.currentMemberJoin(group, params);
    }
    if (group.is('PreparingRebalance')) this.tryCompleteJoin(group);
    return result;
  }

  private acceptJoiningMember(group: ClassicGroup, memberId: string): boolean {
    const max = this.config.groupMaxSize;
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return true;
      case 'PreparingRebalance':
        return (group.has(memberId) && group.get(memberId).isAwaitingJoin) || group.numAwaitingJoin < max;
      default:
        return group.has(memberId) || group.size < max;
    }
  }

  private newMemberJoin(group: ClassicGroup, p: JoinGroupParams): JoinGroupResult | Promise<JoinGroupResult> {
    if (group.is('Dead')) return joinError('', E.COORDINATOR_NOT_AVAILABLE);
    if (!group.supportsProtocols(p.protocolType, p.protocols)) return joinError('', E.INCONSISTENT_GROUP_PROTOCOL);
    const memberId = this.newMemberId(p.clientId);
    if (p.groupInstanceId !== null) {
      const oldMemberId = group.staticMembers.get(p.groupInstanceId);
      if (oldMemberId !== undefined) return this.updateStaticMemberAndRebalance(group, oldMemberId, memberId, p);
      return this.addMemberAndRebalance(group, memberId, p);
    }
    if (p.requireKnownMemberId) {
      // KIP-394: the client must come back with this id; until then the rebalance waits for it.
      const timer = this.scheduler.schedule(p.sessionTimeoutMs, () => {
        if (group.pendingMembers.has(memberId)) this.removePendingMember(group, memberId);
      });
      group.pendingMembers.set(memberId, timer);
      return joinError(memberId, E.MEMBER_ID_REQUIRED);
    }
    return this.addMemberAndRebalance(group, memberId, p);
  }

  private currentMemberJoin(group: ClassicGroup, p: JoinGroupParams): JoinGroupResult | Promise<JoinGroupResult> {
    const memberId = p.memberId;
    if (group.is('Dead')) return joinError(memberId, E.COORDINATOR_NOT_AVAILABLE);
    if (!group.supportsProtocols(p.protocolType, p.protocols)) {
      return joinError(memberId, E.INCONSISTENT_GROUP_PROTOCOL);
    }
    if (group.pendingMembers.has(memberId)) {
      // A pending member is never static (static members skip MEMBER_ID_REQUIRED).
      return this.addMemberAndRebalance(group, memberId, { ...p, groupInstanceId: null });
    }
    if (group.isStaticMemberFenced(p.groupInstanceId, memberId)) return joinError(memberId, E.FENCED_INSTANCE_ID);
    const instanceUnknown = p.groupInstanceId !== null && !group.staticMembers.has(p.groupInstanceId);
    if (!group.has(memberId) || instanceUnknown) return joinError(memberId, E.UNKNOWN_MEMBER_ID);
    const member = group.get(memberId);
    switch (group.state) {
      case 'PreparingRebalance':
        return this.updateMemberAndRebalance(group, member, p, 'member joining during PreparingRebalance');
      case 'CompletingRebalance':
        if (member.matches(p.protocols)) {
          // The member lost the JoinGroup response: hand it the current generation again.
          return this.joinSuccess(group, member);
        }
        return this.updateMemberAndRebalance(group, member, p, 'member changed metadata during CompletingRebalance');
      case 'Stable':
        // The leader rejoining forces a rebalance (e.g. topic metadata changed); so do changed protocols.
        if (group.isLeader(memberId) || !member.matches(p.protocols)) {
          return this.updateMemberAndRebalance(group, member, p, 'leader or changed member rejoining a Stable group');
        }
        return { ...this.joinSuccess(group, member), members: [] };
      default:
        this.log.warn(`group ${group.groupId}: member ${memberId} joins in unexpected state ${group.state}`);
        return joinError(memberId, E.UNKNOWN_MEMBER_ID);
    }
  }

  private joinSuccess(group: ClassicGroup, member: Member): JoinGroupResult {
    return {
      errorCode: E.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leaderId ?? '',
      memberId: member.memberId,
      skipAssignment: false,
      members: group.isLeader(member.memberId) ? this.memberMetadata(group) : [],
    };
  }

  private memberMetadata(group: ClassicGroup): JoinGroupResult['members'] {
    const protocol = group.protocolName;
    if (protocol === null) return [];
    return [...group.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: m.metadataFor(protocol),
    }));
  }

  private addMemberAndRebalance(group: ClassicGroup, memberId: string, p: JoinGroupParams): Promise<JoinGroupResult> {
    const member = new MemberClass(
      memberId,
      p.groupInstanceId,
      p.clientId,
      p.clientHost,
      p.rebalanceTimeoutMs,
      p.sessionTimeoutMs,
      p.protocolType,
      p.protocols,
    );
    member.isNew = true;
    // A new member during the first rebalance extends the initial delay.
    if (group.is('PreparingRebalance') && group.generationId === 0) group.newMemberAdded = true;
    const done = new Promise<JoinGroupResult>((resolve) => group.add(member, resolve));
    // New members cannot heartbeat yet; a JoinGroup left waiting too long is dropped (the client retries).
    this.scheduleHeartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS);
    this.maybePrepareRebalance(group, `adding new member ${memberId}`);
    return done;
  }

  private updateMemberAndRebalance(
    group: ClassicGroup,
    member: Member,
    p: JoinGroupParams,
    reason: string,
  ): Promise<JoinGroupResult> {
    this.replaceJoinWaiter(group, member);
    const done = new Promise<JoinGroupResult>((resolve) =>
      group.updateMember(member, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, resolve),
    );
    this.maybePrepareRebalance(group, reason);
    return done;
  }

  /** A member that joins again while its earlier JoinGroup still waits: the earlier one is answered, never left hanging. */
  private replaceJoinWaiter(group: ClassicGroup, member: Member): void {
    if (member.isAwaitingJoin) group.invokeJoin(member, joinError(member.memberId, E.REBALANCE_IN_PROGRESS));
  }

  private updateStaticMemberAndRebalance(
    group: ClassicGroup,
    oldMemberId: string,
    newMemberId: string,
    p: JoinGroupParams,
  ): Promise<JoinGroupResult> {
    const instanceId = p.groupInstanceId!;
    const currentLeader = group.leaderId;
    const member = group.replaceStaticMember(instanceId, oldMemberId, newMemberId);
    // The old id's session timer would fire for a member that no longer exists: restart it for the new id.
    this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
    const old = {
      protocols: member.protocols,
      rebalanceTimeoutMs: member.rebalanceTimeoutMs,
      sessionTimeoutMs: member.sessionTimeoutMs,
    };
    const done = new Promise<JoinGroupResult>((resolve) =>
      group.updateMember(member, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, resolve),
    );
    switch (group.state) {
      case 'Stable': {
        // Same protocol for the next generation: no rebalance, the member gets its assignment back on SyncGroup.
        if (group.protocolName === group.selectProtocol()) {
          const generation = group.generationId;
          const assignment = new Map([...group.members.values()].map((m) => [m.memberId, m.assignment]));
          void this.storeGroup(group, assignment).then((error) => {
            if (group.members.get(newMemberId) !== member) return;
            if (error !== E.NONE) {
              group.replaceStaticMember(instanceId, newMemberId, oldMemberId);
              group.updateMember(
                member,
                old.protocols,
                old.rebalanceTimeoutMs,
                old.sessionTimeoutMs,
                member.joinWaiter,
              );
              group.invokeJoin(member, joinError('', error));
              return;
            }
            const isLeader = group.isLeader(newMemberId);
            const skip = isLeader && p.supportSkippingAssignment;
            group.invokeJoin(member, {
              errorCode: E.NONE,
              generationId: generation,
              protocolType: group.protocolType,
              protocolName: group.protocolName,
              // Before v9 the old leader id is returned, so the restarted leader acts as a follower and
              // does not compute an assignment that a Stable group would never hand out.
              leader: (p.supportSkippingAssignment ? group.leaderId : currentLeader) ?? '',
              memberId: newMemberId,
              skipAssignment: skip,
              members: skip ? this.memberMetadata(group) : [],
            });
          });
        } else {
          this.maybePrepareRebalance(group, `static member ${instanceId} rejoined with a different protocol`);
        }
        break;
      }
      case 'CompletingRebalance':
        // The leader may already assign to the old member id: start over.
        this.prepareRebalance(group, `static member ${instanceId} rejoined during CompletingRebalance`);
        break;
      default:
        // PreparingRebalance: the member simply waits for the rebalance under its new id.
        break;
    }
    return done;
  }

  private maybePrepareRebalance(group: ClassicGroup, reason: string): void {
    if (group.canRebalance()) this.prepareRebalance(group, reason);
  }

  private prepareRebalance(group: ClassicGroup, reason: string): void {
    if (group.is('CompletingRebalance')) this.resetAndPropagateAssignmentError(group, E.REBALANCE_IN_PROGRESS);
    group.syncTimer?.cancel();
    group.syncTimer = null;
    const fromEmpty = group.is('Empty');
    group.transitionTo('PreparingRebalance', this.scheduler.now());
    this.log.info(`group ${group.groupId}: preparing to rebalance (generation ${group.generationId}): ${reason}`);
    if (fromEmpty) {
      const delay = this.config.groupInitialRebalanceDelayMs;
      this.scheduleInitialJoin(group, delay, Math.max(group.rebalanceTimeoutMs() - delay, 0));
    } else {
      this.scheduleJoin(group, group.rebalanceTimeoutMs());
      this.tryCompleteJoin(group);
    }
  }

  /** Kafka's InitialDelayedJoin: while members keep arriving, wait again, up to the rebalance timeout. */
  private scheduleInitialJoin(group: ClassicGroup, delayMs: number, remainingMs: number): void {
    group.joinTimer?.cancel();
    group.initialDelay = true;
    group.joinTimer = this.scheduler.schedule(delayMs, () => {
      group.joinTimer = null;
      if (!group.is('PreparingRebalance')) return;
      if (group.newMemberAdded && remainingMs !== 0) {
        group.newMemberAdded = false;
        const next = Math.min(this.config.groupInitialRebalanceDelayMs, remainingMs);
        this.scheduleInitialJoin(group, next, Math.max(remainingMs - delayMs, 0));
      } else {
        this.completeJoin(group);
      }
    });
  }

  private scheduleJoin(group: ClassicGroup, timeoutMs: number): void {
    group.joinTimer?.cancel();
    group.initialDelay = false;
    group.joinTimer = this.scheduler.schedule(timeoutMs, () => {
      group.joinTimer = null;
      if (group.is('PreparingRebalance')) this.completeJoin(group);
    });
  }

  /** Completes the join phase early once every member (and every pending member) has joined. */
  private tryCompleteJoin(group: ClassicGroup): void {
    if (group.is('PreparingRebalance') && !group.initialDelay && group.hasAllMembersJoined()) this.completeJoin(group);
  }

  private completeJoin(group: ClassicGroup): void {
    group.joinTimer?.cancel();
    group.joinTimer = null;
    group.initialDelay = false;
    // Dynamic members that did not rejoin in time are out; static ones stay until their session expires.
    for (const m of group.notYetRejoined()) {
      if (!m.isStatic) {
        this.log.info(`group ${group.groupId}: member ${m.memberId} did not rejoin in time; removing it`);
        group.remove(m.memberId);
      }
    }
    if (group.is('Dead')) return;
    if (!group.maybeElectNewJoinedLeader() && group.size > 0) {
      // Nobody rejoined: wait another rebalance timeout for session expiry to clear the static members.
      this.log.warn(`group ${group.groupId}: no member rejoined; waiting another rebalance timeout`);
      this.scheduleJoin(group, group.rebalanceTimeoutMs());
      return;
    }
    this.initNextGeneration(group);
    if (group.is('Empty')) {
      void this.storeGroup(group, new Map()).then((error) => {
        if (error !== E.NONE) this.log.warn(`group ${group.groupId}: storing the empty group failed (${error})`);
      });
      return;
    }
    this.log.info(
      `group ${group.groupId}: generation ${group.generationId} (${group.protocolName}) with ${group.size} members`,
    );
    for (const m of [...group.members.values()]) {
      group.invokeJoin(m, this.joinSuccess(group, m));
      this.scheduleHeartbeat(group, m, m.sessionTimeoutMs);
      m.isNew = false;
    }
    this.schedulePendingSync(group);
  }

  private initNextGeneration(group: ClassicGroup): void {
    group.generationId++;
    const now = this.scheduler.now();
    if (group.size > 0) {
      group.protocolName = group.selectProtocol();
      group.transitionTo('CompletingRebalance', now);
    } else {
      group.protocolName = null;
      group.transitionTo('Empty', now);
    }
    group.subscribedTopics = this.computeSubscribedTopics(group);
    group.pendingSyncMembers.clear();
    for (const id of group.members.keys()) group.pendingSyncMembers.add(id);
  }

  /** Topics of the consumer protocol's subscriptions, or null when they cannot be read. */
  private computeSubscribedTopics(group: ClassicGroup): Set<string> | null {
    if (group.protocolType !== 'consumer' || group.protocolName === null || group.size === 0) return null;
    const topics = new Set<string>();
    try {
      for (const m of group.members.values()) {
        const metadata = m.metadataFor(group.protocolName);
        const r = new Reader(metadata);
        const version = Math.min(r.int16(), ConsumerProtocolSubscriptionCodec.maxVersion);
        const sub = ConsumerProtocolSubscriptionCodec.decode(r, version);
        for (const t of sub.topics) topics.add(t);
      }
    } catch {
      return null;
    }
    return topics;
  }

  /** Members that never send SyncGroup within the rebalance timeout are removed and the group rebalances. */
  private schedulePendingSync(group: ClassicGroup): void {
    group.syncTimer?.cancel();
    const generation = group.generationId;
    group.syncTimer = this.scheduler.schedule(group.rebalanceTimeoutMs(), () => {
      group.syncTimer = null;
      if (generation !== group.generationId) return;
      if (!group.is('CompletingRebalance') && !group.is('Stable')) return;
      if (group.pendingSyncMembers.size === 0) return;
      const missing = [...group.pendingSyncMembers];
      for (const id of missing) {
        const m = group.members.get(id);
        if (m) group.invokeJoin(m, joinError(id, E.UNKNOWN_MEMBER_ID));
        group.remove(id);
      }
      this.prepareRebalance(group, `members ${missing.join(', ')} did not send SyncGroup in time`);
    });
  }

  private removePendingSyncMember(group: ClassicGroup, memberId: string): void {
    group.pendingSyncMembers.delete(memberId);
    if (group.pendingSyncMembers.size === 0) {
      group.syncTimer?.cancel();
      group.syncTimer = null;
    }
  }

  // ---------------------------------------------------------------- SyncGroup

  async syncGroup(p: SyncGroupParams): Promise<SyncGroupResult> {
    if (p.groupId.length === 0) return syncError(E.INVALID_GROUP_ID);
    if (!this.active) return syncError(E.COORDINATOR_NOT_AVAILABLE);
    const group = this.groups.get(p.groupId);
    if (group === undefined) return syncError(E.UNKNOWN_MEMBER_ID);
    if (group.is('Dead')) return syncError(E.COORDINATOR_NOT_AVAILABLE);
    if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) return syncError(E.FENCED_INSTANCE_ID);
    if (!group.has(p.memberId)) return syncError(E.UNKNOWN_MEMBER_ID);
    if (p.generationId !== group.generationId) return syncError(E.ILLEGAL_GENERATION);
    if (p.protocolType !== null && p.protocolType !== group.protocolType) {
      return syncError(E.INCONSISTENT_GROUP_PROTOCOL);
    }
    if (p.protocolName !== null && p.protocolName !== group.protocolName) {
      return syncError(E.INCONSISTENT_GROUP_PROTOCOL);
    }
    const member = group.get(p.memberId);
    switch (group.state) {
      case 'Empty':
        return syncError(E.UNKNOWN_MEMBER_ID);
      case 'PreparingRebalance':
        return syncError(E.REBALANCE_IN_PROGRESS);
      case 'CompletingRebalance': {
        if (member.isAwaitingSync) group.invokeSync(member, syncError(E.REBALANCE_IN_PROGRESS));
        const done = new Promise<SyncGroupResult>((resolve) => {
          member.syncWaiter = resolve;
        });
        this.removePendingSyncMember(group, p.memberId);
        if (group.isLeader(p.memberId)) {
          // Members the leader left out get an empty assignment; ids the group does not know are ignored.
          const assignment = new Map<string, Buffer>();
          for (const a of p.assignments) if (group.has(a.memberId)) assignment.set(a.memberId, a.assignment);
          for (const id of group.members.keys()) if (!assignment.has(id)) assignment.set(id, Buffer.alloc(0));
          const generation = group.generationId;
          void this.storeGroup(group, assignment).then((error) => {
            // Another member may have joined while the write was under way.
            if (!group.is('CompletingRebalance') || generation !== group.generationId) return;
            if (error !== E.NONE) {
              this.resetAndPropagateAssignmentError(group, error);
              this.maybePrepareRebalance(group, 'storing the assignment failed');
            } else {
              for (const m of group.members.values()) m.assignment = assignment.get(m.memberId) ?? Buffer.alloc(0);
              this.propagateAssignment(group, E.NONE);
              group.transitionTo('Stable', this.scheduler.now());
            }
          });
        }
        return done;
      }
      case 'Stable':
        this.removePendingSyncMember(group, p.memberId);
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return {
          errorCode: E.NONE,
          protocolType: group.protocolType,
          protocolName: group.protocolName,
          assignment: member.assignment,
        };
      default:
        return syncError(E.COORDINATOR_NOT_AVAILABLE);
    }
  }

  private resetAndPropagateAssignmentError(group: ClassicGroup, error: number): void {
    for (const m of group.members.values()) m.assignment = Buffer.alloc(0);
    this.propagateAssignment(group, error);
  }

  private propagateAssignment(group: ClassicGroup, error: number): void {
    for (const m of group.members.values()) {
      if (!m.isAwaitingSync) continue;
      group.invokeSync(m, {
        errorCode: error,
        protocolType: group.protocolType,
        protocolName: group.protocolName,
        assignment: m.assignment,
      });
      // Session expiry is ignored while a member waits for its assignment: the clock starts again now.
      this.scheduleHeartbeat(group, m, m.sessionTimeoutMs);
    }
  }

  // ---------------------------------------------------------------- Heartbeat and session expiry

  heartbeat(p: HeartbeatParams): number {
    if (p.groupId.length === 0) return E.INVALID_GROUP_ID;
    if (!this.active) return E.COORDINATOR_NOT_AVAILABLE;
    const group = this.groups.get(p.groupId);
    if (group === undefined) return E.UNKNOWN_MEMBER_ID;
    if (group.is('Dead')) return E.COORDINATOR_NOT_AVAILABLE;
    if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) return E.FENCED_INSTANCE_ID;
    if (!group.has(p.memberId)) return E.UNKNOWN_MEMBER_ID;
    if (p.generationId !== group.generationId) return E.ILLEGAL_GENERATION;
    const member = group.get(p.memberId);
    switch (group.state) {
      case 'Empty':
        return E.UNKNOWN_MEMBER_ID;
      case 'PreparingRebalance':
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return E.REBALANCE_IN_PROGRESS;
      default:
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return E.NONE;
    }
  }

  private scheduleHeartbeat(group: ClassicGroup, member: Member, timeoutMs: number): void {
    member.heartbeatTimer?.cancel();
    member.heartbeatTimer = this.scheduler.schedule(timeoutMs, () => {
      member.heartbeatTimer = null;
      if (group.members.get(member.memberId) !== member) return;
      // Members waiting in a rebalance count as alive (new members excepted: they expire on the join timeout).
      if (!member.isNew && (member.isAwaitingJoin || member.isAwaitingSync)) return;
      this.log.info(`group ${group.groupId}: member ${member.memberId} session expired; removing it`);
      this.removeMemberAndUpdateGroup(group, member, 'session timeout');
    });
  }

  private removeMemberAndUpdateGroup(group: ClassicGroup, member: Member, reason: string): void {
    // A waiting JoinGroup learns it is out (the client then joins afresh if it is still alive).
    group.invokeJoin(member, joinError(member.memberId, E.UNKNOWN_MEMBER_ID));
    group.invokeSync(member, syncError(E.UNKNOWN_MEMBER_ID));
    group.remove(member.memberId);
    switch (group.state) {
      case 'Stable':
      case 'CompletingRebalance':
        this.maybePrepareRebalance(group, `removing member ${member.memberId}: ${reason}`);
        break;
      case 'PreparingRebalance':
        this.tryCompleteJoin(group);
        break;
      default:
        break;
    }
  }

  private removePendingMember(group: ClassicGroup, memberId: string): void {
    group.pendingMembers.get(memberId)?.cancel();
    group.pendingMembers.delete(memberId);
    this.tryCompleteJoin(group);
  }

  // ---------------------------------------------------------------- LeaveGroup

  leaveGroup(
    groupId: string,
    members: readonly { memberId: string; groupInstanceId: string | null }[],
  ): LeaveGroupResult {
    if (groupId.length === 0) return { errorCode: E.INVALID_GROUP_ID, members: [] };
    if (!this.active) return { errorCode: E.COORDINATOR_NOT_AVAILABLE, members: [] };
    if (members.length > MAX_BATCH) return { errorCode: E.INVALID_REQUEST, members: [] };
    const group = this.groups.get(groupId);
    const out = (m: { memberId: string; groupInstanceId: string | null }, errorCode: number) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      errorCode,
    });
    if (group === undefined) {
      return { errorCode: E.NONE, members: members.map((m) => out(m, E.UNKNOWN_MEMBER_ID)) };
    }
    if (group.is('Dead')) return { errorCode: E.COORDINATOR_NOT_AVAILABLE, members: [] };
    const results = members.map((m) => {
      if (m.memberId === '') {
        // Administrative removal of a static member by its instance id.
        const current = m.groupInstanceId === null ? undefined : group.staticMembers.get(m.groupInstanceId);
        if (current === undefined) return out(m, E.UNKNOWN_MEMBER_ID);
        this.removeMemberAndUpdateGroup(group, group.get(current), 'removed by instance id');
        return out(m, E.NONE);
      }
      if (group.pendingMembers.has(m.memberId)) {
        this.removePendingMember(group, m.memberId);
        return out(m, E.NONE);
      }
      if (group.isStaticMemberFenced(m.groupInstanceId, m.memberId)) return out(m, E.FENCED_INSTANCE_ID);
      if (group.has(m.memberId)) {
        this.removeMemberAndUpdateGroup(group, group.get(m.memberId), 'the member left');
        return out(m, E.NONE);
      }
      return out(m, E.UNKNOWN_MEMBER_ID);
    });
    return { errorCode: E.NONE, members: results };
  }

  // ---------------------------------------------------------------- Describe, List, Delete

  describeGroups(groupIds: readonly string[]): DescribedGroup[] {
    return groupIds.slice(0, MAX_BATCH).map((groupId): DescribedGroup => {
      const dead: DescribedGroup = {
        groupId,
        errorCode: E.NONE,
        state: 'Dead',
        protocolType: '',
        protocolName: '',
        members: [],
      };
      if (!this.active) return { ...dead, errorCode: E.COORDINATOR_NOT_AVAILABLE };
      const group = this.groups.get(groupId);
      if (group === undefined) return dead;
      const stable = group.is('Stable');
      const protocol = group.protocolName;
      return {
        groupId,
        errorCode: E.NONE,
        state: group.state,
        protocolType: group.protocolType ?? '',
        protocolName: stable ? (protocol ?? '') : '',
        members: [...group.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          // Kafka shows subscription metadata only for a Stable group; the assignment of the last
          // generation always (ClassicGroup's describeNoMetadata keeps it).
          metadata: stable && protocol !== null ? m.metadataFor(protocol) : Buffer.alloc(0),
          assignment: m.assignment,
        })),
      };
    });
  }

  /** States and types compare case-insensitively; only classic groups exist here. */
  listGroups(statesFilter: readonly string[] = [], typesFilter: readonly string[] = []): ListedGroup[] {
    const states = new Set(statesFilter.map((s) => s.toLowerCase()));
    const types = new Set(typesFilter.map((s) => s.toLowerCase()));
    if (types.size > 0 && !types.has('classic')) return [];
    const out: ListedGroup[] = [];
    for (const g of this.groups.values()) {
      if (g.is('Dead')) continue;
      if (states.size > 0 && !states.has(g.state.toLowerCase())) continue;
      out.push({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state, groupType: 'classic' });
    }
    return out;
  }

  async deleteGroups(groupIds: readonly string[]): Promise<{ groupId: string; errorCode: number }[]> {
    const results: { groupId: string; errorCode: number }[] = [];
    for (const groupId of groupIds.slice(0, MAX_BATCH)) {
      if (groupId.length === 0) {
        results.push({ groupId, errorCode: E.INVALID_GROUP_ID });
        continue;
      }
      if (!this.active) {
        results.push({ groupId, errorCode: E.COORDINATOR_NOT_AVAILABLE });
        continue;
      }
      const group = this.groups.get(groupId);
      if (group === undefined || group.is('Dead')) {
        results.push({ groupId, errorCode: E.GROUP_ID_NOT_FOUND });
      } else if (!group.is('Empty')) {
        results.push({ groupId, errorCode: E.NON_EMPTY_GROUP });
      } else {
        const records: CoordinatorRecord[] = [];
        for (const [topic, parts] of group.offsets) {
          for (const p of parts.keys()) records.push({ key: encodeOffsetCommitKey(groupId, topic, p), value: null });
        }
        records.push({ key: encodeGroupMetadataKey(groupId), value: null });
        group.transitionTo('Dead', this.scheduler.now());
        this.groups.delete(groupId);
        const error = await this.appendRecords(this.partitionFor(groupId), records, false);
        results.push({ groupId, errorCode: error });
      }
    }
    return results;
  }

  // ---------------------------------------------------------------- Offsets

  async commitOffsets(p: CommitOffsetsParams): Promise<TopicPartitionErrors[]> {
    const all = (errorCode: number): TopicPartitionErrors[] =>
      p.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((x) => ({ partitionIndex: x.partitionIndex, errorCode })),
      }));
    if (!this.active) return all(E.COORDINATOR_NOT_AVAILABLE);
    let group = this.groups.get(p.groupId);
    if (group === undefined) {
      // Without a generation the group only uses Kafka to store offsets (a "simple" consumer).
      if (p.generationId >= 0) return all(E.ILLEGAL_GENERATION);
      group = new ClassicGroup(p.groupId, this.scheduler.now());
      this.groups.set(p.groupId, group);
    }
    const error = this.validateCommit(group, p);
    if (error !== E.NONE) return all(error);
    const now = this.scheduler.now();
    const expire = p.retentionTimeMs >= 0 ? now + p.retentionTimeMs : -1;
    const records: CoordinatorRecord[] = [];
    const accepted: { topic: string; partition: number; entry: OffsetEntry }[] = [];
    const results: TopicPartitionErrors[] = p.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((x) => {
        const metadata = x.committedMetadata ?? '';
        if (Buffer.byteLength(metadata) > this.config.offsetMetadataMaxBytes) {
          return { partitionIndex: x.partitionIndex, errorCode: E.OFFSET_METADATA_TOO_LARGE };
        }
        const entry: OffsetEntry = {
          offset: x.committedOffset,
          leaderEpoch: x.committedLeaderEpoch,
          metadata,
          commitTimestamp: now,
          expireTimestamp: expire,
        };
        accepted.push({ topic: t.name, partition: x.partitionIndex, entry });
        records.push({
          key: encodeOffsetCommitKey(p.groupId, t.name, x.partitionIndex),
          value: encodeOffsetCommitValue(entry),
        });
        return { partitionIndex: x.partitionIndex, errorCode: E.NONE };
      }),
    }));
    if (records.length === 0) return results;
    const stored = await this.appendRecords(this.partitionFor(p.groupId), records, true);
    if (stored !== E.NONE) {
      for (const t of results) for (const x of t.partitions) if (x.errorCode === E.NONE) x.errorCode = stored;
      return results;
    }
    if (this.groups.get(p.groupId) === group && !group.is('Dead')) {
      for (const a of accepted) group.setOffset(a.topic, a.partition, a.entry);
    }
    return results;
  }

  private validateCommit(group: ClassicGroup, p: CommitOffsetsParams): number {
    if (group.is('Dead')) return E.COORDINATOR_NOT_AVAILABLE;
    if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) return E.FENCED_INSTANCE_ID;
    if (p.generationId < 0 && group.is('Empty')) return E.NONE;
    if (!group.has(p.memberId)) return E.UNKNOWN_MEMBER_ID;
    if (p.generationId !== group.generationId) return E.ILLEGAL_GENERATION;
    const member = group.get(p.memberId);
    switch (group.state) {
      case 'Stable':
      case 'PreparingRebalance':
        // A commit during PreparingRebalance is still allowed: the heartbeat tells the member to rejoin.
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return E.NONE;
      case 'CompletingRebalance':
        return E.REBALANCE_IN_PROGRESS;
      default:
        return E.UNKNOWN_MEMBER_ID;
    }
  }

  /**
   * Committed offsets; `topics` null means all of the group's. Nothing here is transactional,
   * so require_stable never finds an unstable offset.
   */
  fetchOffsets(
    groupId: string,
    topics: readonly { name: string; partitionIndexes: readonly number[] }[] | null,
    requireStable = false,
  ): FetchOffsetsResult {
    if (!this.active) return { errorCode: E.COORDINATOR_NOT_AVAILABLE, topics: [] };
    const group = this.groups.get(groupId);
    const usable = group !== undefined && !group.is('Dead') ? group : undefined;
    const entry = (index: number, e: OffsetEntry | undefined): FetchedPartition =>
      e === undefined
        ? { partitionIndex: index, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: E.NONE }
        : {
            partitionIndex: index,
            committedOffset: e.offset,
            committedLeaderEpoch: e.leaderEpoch,
            metadata: e.metadata,
            errorCode: E.NONE,
          };
    if (topics === null) {
      if (usable === undefined) return { errorCode: E.NONE, topics: [] };
      return {
        errorCode: E.NONE,
        topics: [...usable.offsets].map(([name, parts]) => ({
          name,
          partitions: [...parts].map(([index, e]) => entry(index, e)),
        })),
      };
    }
    return {
      errorCode: E.NONE,
      topics: topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((i) =>
          // An offset an undecided transaction is about to change is not stable yet.
          requireStable && this.txnOffsets.has(groupId, t.name, i)
            ? { ...entry(i, undefined), errorCode: E.UNSTABLE_OFFSET_COMMIT }
            : entry(i, usable?.offset(t.name, i)),
        ),
      })),
    };
  }

  async deleteOffsets(
    groupId: string,
    topics: readonly { name: string; partitions: readonly number[] }[],
  ): Promise<DeleteOffsetsResult> {
    if (groupId.length === 0) return { errorCode: E.INVALID_GROUP_ID, topics: [] };
    if (!this.active) return { errorCode: E.COORDINATOR_NOT_AVAILABLE, topics: [] };
    const group = this.groups.get(groupId);
    if (group === undefined || group.is('Dead')) return { errorCode: E.GROUP_ID_NOT_FOUND, topics: [] };
    const empty = group.is('Empty');
    if (!empty && group.protocolType !== 'consumer') return { errorCode: E.NON_EMPTY_GROUP, topics: [] };
    const records: CoordinatorRecord[] = [];
    const deleted: { topic: string; partition: number }[] = [];
    const results = topics.map((t) => {
      // An active consumer group keeps the offsets of topics it subscribes to (unknown subscriptions count as subscribed).
      const subscribed = !empty && (group.subscribedTopics === null || group.subscribedTopics.has(t.name));
      return {
        name: t.name,
        partitions: t.partitions.map((partitionIndex) => {
          if (subscribed) return { partitionIndex, errorCode: E.GROUP_SUBSCRIBED_TO_TOPIC };
          if (group.offset(t.name, partitionIndex) !== undefined) {
            deleted.push({ topic: t.name, partition: partitionIndex });
            records.push({ key: encodeOffsetCommitKey(groupId, t.name, partitionIndex), value: null });
          }
          return { partitionIndex, errorCode: E.NONE };
        }),
      };
    });
    for (const d of deleted) group.deleteOffset(d.topic, d.partition);
    if (records.length > 0) {
      const error = await this.appendRecords(this.partitionFor(groupId), records, true);
      if (error !== E.NONE) return { errorCode: error, topics: [] };
    }
    return { errorCode: E.NONE, topics: results };
  }

  /**
   * Drops expired offsets (offsets.retention.minutes) and then groups that are empty with no
   * offsets left, writing tombstones for both. Runs every offsets.retention.check.interval.ms.
   */
  async expireOffsets(): Promise<number> {
    const now = this.scheduler.now();
    const retention = this.config.offsetsRetentionMs;
    let removed = 0;
    for (const group of [...this.groups.values()]) {
      const records: CoordinatorRecord[] = [];
      const expired = (base: (e: OffsetEntry) => number, keep?: ReadonlySet<string>) => {
        for (const [topic, parts] of [...group.offsets]) {
          if (keep?.has(topic)) continue;
          for (const [p, e] of [...parts]) {
            const due = e.expireTimestamp >= 0 ? now >= e.expireTimestamp : now - base(e) >= retention;
            if (due) {
              group.deleteOffset(topic, p);
              records.push({ key: encodeOffsetCommitKey(group.groupId, topic, p), value: null });
            }
          }
        }
      };
      if (group.protocolType !== null && group.is('Empty')) {
        // A group that used group management: retention counts from the moment it became empty.
        expired(() => group.stateTimestamp);
      } else if (group.protocolType === 'consumer' && group.subscribedTopics !== null && group.is('Stable')) {
        // KIP-496: offsets of topics an active consumer group no longer subscribes to.
        expired((e) => e.commitTimestamp, group.subscribedTopics);
      } else if (group.protocolType === null) {
        expired((e) => e.commitTimestamp, this.offsetsInUse(group.groupId) ?? undefined);
      }
      removed += records.length;
      if (group.is('Empty') && !group.hasOffsets() && group.pendingMembers.size === 0) {
        group.transitionTo('Dead', now);
        this.groups.delete(group.groupId);
        records.push({ key: encodeGroupMetadataKey(group.groupId), value: null });
      }
      if (records.length > 0) {
        const error = await this.appendRecords(this.partitionFor(group.groupId), records, false);
        if (error !== E.NONE) this.log.warn(`group ${group.groupId}: writing expiry tombstones failed (${error})`);
      }
    }
    return removed;
  }

  private scheduleExpiry(): void {
    this.expiryTimer = this.scheduler.schedule(this.config.offsetsRetentionCheckIntervalMs, () => {
      if (!this.active) return;
      this.scheduleExpiry();
      void this.expireOffsets().catch((err) => this.log.error(`offset expiry failed: ${err}`));
    });
  }

  // ---------------------------------------------------------------- storage

  /** Writes the group record (with the given assignments); resolves to an error code, NONE on success. */
  private storeGroup(group: ClassicGroup, assignment: Map<string, Buffer>): Promise<number> {
    const protocol = group.protocolName;
    const value = encodeGroupMetadataValue({
      protocolType: group.protocolType ?? '',
      generation: group.generationId,
      protocol,
      leader: group.leaderId,
      currentStateTimestamp: group.stateTimestamp,
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeout: m.rebalanceTimeoutMs,
        sessionTimeout: m.sessionTimeoutMs,
        subscription: protocol === null ? Buffer.alloc(0) : m.metadataFor(protocol),
        assignment: assignment.get(m.memberId) ?? Buffer.alloc(0),
      })),
    });
    return this.appendRecords(
      this.partitionFor(group.groupId),
      [{ key: encodeGroupMetadataKey(group.groupId), value }],
      false,
    );
  }

  // ---------------------------------------------------------------- Online migration (KIP-848 mixed groups)

  /** The group's members as an upgrade to a consumer group takes them; null when it has none. */
  activeGroup(groupId: string): ActiveClassicGroup | null {
    const group = this.groups.get(groupId);
    if (group === undefined || group.size === 0 || group.is('Dead')) return null;
    return {
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        instanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        sessionTimeoutMs: m.sessionTimeoutMs,
        protocols: m.protocols,
        assignment: m.assignment,
      })),
    };
  }

  /**
   * Upgrade: the members move to the consumer-group coordinator. Waiting JoinGroup/SyncGroup
   * requests get REBALANCE_IN_PROGRESS (the members rejoin, now into the consumer group); the group
   * keeps its offsets, Empty. Returns the tombstone of its group record (Kafka deletes it too).
   */
  releaseMembers(groupId: string): CoordinatorRecord {
    const group = this.groups.get(groupId);
    if (group !== undefined) {
      group.joinTimer?.cancel();
      group.joinTimer = null;
      group.syncTimer?.cancel();
      group.syncTimer = null;
      for (const t of group.pendingMembers.values()) t.cancel();
      group.pendingMembers.clear();
      for (const m of [...group.members.values()]) {
        group.invokeJoin(m, joinError(m.memberId, E.REBALANCE_IN_PROGRESS));
        group.invokeSync(m, syncError(E.REBALANCE_IN_PROGRESS));
        group.remove(m.memberId);
      }
      group.protocolName = null;
      group.leaderId = null;
      group.subscribedTopics = null;
      group.state = 'Empty';
      group.stateTimestamp = this.scheduler.now();
    }
    return { key: encodeGroupMetadataKey(groupId), value: null };
  }

  /**
   * Downgrade: the classic members of a consumer group whose last new-protocol member left form a
   * classic group at generation `generationId`, Stable with their last assignments, and a rebalance
   * starts so that they rejoin and their leader assigns (Kafka's convertToClassicGroup).
   */
  adoptMembers(groupId: string, generationId: number, members: ClassicMemberSnapshot[]): void {
    if (members.length === 0) return;
    let group = this.groups.get(groupId);
    if (group === undefined) this.groups.set(groupId, (group = new ClassicGroup(groupId, this.scheduler.now())));
    this.abandon(group);
    for (const m of [...group.members.values()]) group.remove(m.memberId);
    group.generationId = generationId;
    for (const c of members) {
      const member = new MemberClass(
        c.memberId,
        c.instanceId,
        c.clientId,
        c.clientHost,
        c.rebalanceTimeoutMs,
        c.sessionTimeoutMs,
        'consumer',
        c.protocols,
      );
      member.assignment = c.assignment;
      group.add(member, null);
      this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
    }
    group.protocolName = group.selectProtocol();
    group.subscribedTopics = this.computeSubscribedTopics(group);
    group.state = 'Stable';
    group.stateTimestamp = this.scheduler.now();
    const assignment = new Map([...group.members.values()].map((m) => [m.memberId, m.assignment]));
    void this.storeGroup(group, assignment).then((error) => {
      if (error !== E.NONE) this.log.warn(`group ${groupId}: storing the downgraded group failed (${error})`);
    });
    this.prepareRebalance(group, `downgrade of group ${groupId} from consumer to classic`);
  }

  // ---------------------------------------------------------------- Transactional offsets

  /**
   * TxnOffsetCommit: the offsets are written now, as records of the producer's transaction, and
   * become the group's committed offsets only when the commit marker arrives (completeTxnOffsets).
   */
  async commitTxnOffsets(p: CommitOffsetsParams & TxnProducer): Promise<TopicPartitionErrors[]> {
    const all = (errorCode: number): TopicPartitionErrors[] =>
      p.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((x) => ({ partitionIndex: x.partitionIndex, errorCode })),
      }));
    if (!this.active) return all(E.COORDINATOR_NOT_AVAILABLE);
    let group = this.groups.get(p.groupId);
    if (group === undefined) {
      group = new ClassicGroup(p.groupId, this.scheduler.now());
      this.groups.set(p.groupId, group);
    }
    // Producers without the group's metadata (TxnOffsetCommit v0-v2) commit without member checks.
    const withoutMember = p.memberId === '' && p.generationId < 0;
    const error = group.is('Dead')
      ? E.COORDINATOR_NOT_AVAILABLE
      : withoutMember
        ? E.NONE
        : this.validateTxnCommit(group, p);
    if (error !== E.NONE) return all(error);
    const now = this.scheduler.now();
    const records: CoordinatorRecord[] = [];
    const accepted: { topic: string; partition: number; entry: OffsetEntry }[] = [];
    const results: TopicPartitionErrors[] = p.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((x) => {
        const metadata = x.committedMetadata ?? '';
        if (Buffer.byteLength(metadata) > this.config.offsetMetadataMaxBytes) {
          return { partitionIndex: x.partitionIndex, errorCode: E.OFFSET_METADATA_TOO_LARGE };
        }
        const entry: OffsetEntry = {
          offset: x.committedOffset,
          leaderEpoch: x.committedLeaderEpoch,
          metadata,
          commitTimestamp: now,
          expireTimestamp: -1,
        };
        accepted.push({ topic: t.name, partition: x.partitionIndex, entry });
        records.push({
          key: encodeOffsetCommitKey(p.groupId, t.name, x.partitionIndex),
          value: encodeOffsetCommitValue(entry),
        });
        return { partitionIndex: x.partitionIndex, errorCode: E.NONE };
      }),
    }));
    if (records.length === 0) return results;
    try {
      await this.append(this.partitionFor(p.groupId), records, {
        producerId: p.producerId,
        producerEpoch: p.producerEpoch,
      });
    } catch (err) {
      // A fenced producer is told so; storage failures are mapped as for any commit.
      const fenced = err instanceof KafkaError && err.code === E.INVALID_PRODUCER_EPOCH;
      const code = fenced ? E.INVALID_PRODUCER_EPOCH : storeErrorCode(err, true);
      for (const t of results) for (const x of t.partitions) if (x.errorCode === E.NONE) x.errorCode = code;
      return results;
    }
    for (const a of accepted) {
      this.txnOffsets.add(p.producerId, { groupId: p.groupId, topic: a.topic, partition: a.partition, entry: a.entry });
    }
    return results;
  }

  private validateTxnCommit(group: ClassicGroup, p: CommitOffsetsParams): number {
    if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) return E.FENCED_INSTANCE_ID;
    if (!group.has(p.memberId)) return E.UNKNOWN_MEMBER_ID;
    if (p.generationId !== group.generationId) return E.ILLEGAL_GENERATION;
    return E.NONE;
  }

  /**
   * A transaction marker reached `__consumer_offsets` partition `partition`: the producer's
   * pending offsets of groups there become committed offsets (commit) or are dropped (abort).
   */
  completeTxnOffsets(partition: number, producerId: bigint, commit: boolean): void {
    const done = this.txnOffsets.take(producerId, (groupId) => this.partitionFor(groupId) === partition);
    if (!commit) return;
    for (const o of done) {
      let group = this.groups.get(o.groupId);
      if (group === undefined || group.is('Dead')) {
        group = new ClassicGroup(o.groupId, this.scheduler.now());
        this.groups.set(o.groupId, group);
      }
      group.setOffset(o.topic, o.partition, o.entry);
    }
  }

  private async appendRecords(partition: number, records: CoordinatorRecord[], forOffsets: boolean): Promise<number> {
    try {
      await this.append(partition, records);
      return E.NONE;
    } catch (err) {
      // A storage failure is the log dir's, reported once by whoever owns it, not once per append.
      if (!(err instanceof KafkaError && err.code === E.KAFKA_STORAGE_ERROR)) {
        this.log.error(`append to __consumer_offsets-${partition} failed: ${err}`);
      }
      return storeErrorCode(err, forOffsets);
    }
  }
}
