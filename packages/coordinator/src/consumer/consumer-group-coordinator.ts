import { randomUUID } from 'node:crypto';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import type { AppendFunction, CoordinatorLogger, CoordinatorRecord, JoinGroupParams } from '../coordinator.js';
import { type JoinGroupResult, joinError, type SyncGroupResult, syncError } from '../group.js';
import { groupPartition } from '../partitioner.js';
import { type Scheduler, systemScheduler, type TimerHandle } from '../scheduler.js';
import {
  type AssignmentTopic,
  BUILTIN_ASSIGNORS,
  type ConsumerGroupAssignor,
  type TopicAssignment,
} from './assignors.js';
import {
  type ClassicMemberMetadata,
  type ClassicMemberSnapshot,
  CONSUMER_PROTOCOL_TYPE,
  type ConsumerGroupMigrationPolicy,
  decodeClassicAssignment,
  decodeClassicSubscription,
  downgradeEnabled,
  encodeClassicAssignment,
  subscriptionVersion,
  upgradeEnabled,
} from './classic-protocol.js';
import {
  decodeConsumerGroupKey,
  decodeConsumerGroupMemberMetadataValue,
  decodeConsumerGroupMetadataValue,
  decodeCurrentMemberAssignmentValue,
  decodeTargetAssignmentMemberValue,
  decodeTargetAssignmentMetadataValue,
  encodeConsumerGroupKey,
  encodeConsumerGroupMemberMetadataValue,
  encodeConsumerGroupMetadataValue,
  encodeCurrentMemberAssignmentValue,
  encodeTargetAssignmentMemberValue,
  encodeTargetAssignmentMetadataValue,
  CONSUMER_RECORD_TYPE as T,
} from './consumer-records.js';
import {
  copyAssignment,
  MEMBER_STATE,
  type MemberAssignmentState,
  type MemberStateCode,
  type OwnedPartitions,
  reconcile,
  sameAssignment,
} from './reconcile.js';
import { compileSubscriptionRegex } from './regex.js';

const E = ERROR_CODES;
/** ConsumerGroupHeartbeat's member epochs with a meaning of their own. */
export const LEAVE_GROUP_MEMBER_EPOCH = -1;
export const LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2;
/** A bound on groups in one describe request. */
const MAX_BATCH = 10_000;

export interface ConsumerGroupConfig {
  /** offsets.topic.num.partitions */
  numPartitions: number;
  /** group.consumer.session.timeout.ms */
  sessionTimeoutMs: number;
  /** group.consumer.heartbeat.interval.ms */
  heartbeatIntervalMs: number;
  /** group.consumer.max.size */
  maxSize: number;
  /** group.consumer.assignors: names of the built-in assignors, the first one the default. */
  assignors: string[];
  /** group.consumer.migration.policy */
  migrationPolicy: ConsumerGroupMigrationPolicy;
}

export const DEFAULT_CONSUMER_GROUP_CONFIG: ConsumerGroupConfig = {
  numPartitions: 50,
  sessionTimeoutMs: 45_000,
  heartbeatIntervalMs: 5_000,
  maxSize: 2147483647,
  assignors: ['uniform', 'range'],
  migrationPolicy: 'bidirectional',
};

/** What the coordinator needs to know of the cluster's topics. */
export interface TopicMetadataView {
  byName(name: string): { topicId: string; partitionCount: number } | undefined;
  nameOf(topicId: string): string | undefined;
  /** Every topic name (for regex subscriptions). */
  names(): Iterable<string>;
  /** Racks of the replicas of a partition, when the broker knows them (rack-aware assignment). */
  partitionRacks?(topicId: string, partition: number): readonly string[];
}

export interface ConsumerGroupCoordinatorOptions {
  config?: Partial<ConsumerGroupConfig>;
  append: AppendFunction;
  topics: TopicMetadataView;
  scheduler?: Scheduler;
  logger?: CoordinatorLogger;
  /** Whether a classic group with members owns this id (used when no `classic` bridge is given: no conversion). */
  classicGroupActive?: (groupId: string) => boolean;
  /** The classic coordinator, for online upgrades and downgrades (`group.consumer.migration.policy`). */
  classic?: ClassicGroupBridge;
}

/** A classic group with members, as an upgrade reads it. */
export interface ActiveClassicGroup {
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  members: ClassicMemberSnapshot[];
}

/** What the consumer-group coordinator needs of the classic one to convert groups between the two protocols. */
export interface ClassicGroupBridge {
  /** The classic group of this id if it has members, else null. */
  activeGroup(groupId: string): ActiveClassicGroup | null;
  /**
   * Upgrade: the classic group lets its members go (waiting JoinGroup/SyncGroup answered
   * REBALANCE_IN_PROGRESS so they rejoin, timers stopped) and keeps its offsets; returns the
   * tombstone of its group record.
   */
  releaseMembers(groupId: string): CoordinatorRecord;
  /** Downgrade: a classic group takes these members at generation `generationId` and rebalances. */
  adoptMembers(groupId: string, generationId: number, members: ClassicMemberSnapshot[]): void;
}

export interface ConsumerGroupHeartbeatParams {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  instanceId: string | null;
  rackId: string | null;
  rebalanceTimeoutMs: number;
  subscribedTopicNames: string[] | null;
  subscribedTopicRegex: string | null;
  serverAssignor: string | null;
  topicPartitions: { topicId: string; partitions: number[] }[] | null;
  clientId: string;
  clientHost: string;
  apiVersion: number;
}

export interface ConsumerGroupHeartbeatResult {
  errorCode: number;
  errorMessage: string | null;
  memberId: string | null;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: { topicPartitions: { topicId: string; partitions: number[] }[] } | null;
}

export type ConsumerGroupState = 'Empty' | 'Assigning' | 'Reconciling' | 'Stable';

export interface DescribedTopicPartitions {
  topicId: string;
  topicName: string;
  partitions: number[];
}

export interface DescribedConsumerGroupMember {
  memberId: string;
  instanceId: string | null;
  rackId: string | null;
  memberEpoch: number;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
  subscribedTopicRegex: string | null;
  assignment: DescribedTopicPartitions[];
  targetAssignment: DescribedTopicPartitions[];
}

export interface DescribedConsumerGroup {
  groupId: string;
  errorCode: number;
  errorMessage: string | null;
  groupState: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  members: DescribedConsumerGroupMember[];
}

/** A member of a consumer group: what it subscribes to and where it stands in reconciliation. */
export class ConsumerGroupMember implements MemberAssignmentState {
  state: MemberStateCode = MEMBER_STATE.STABLE;
  memberEpoch = 0;
  previousMemberEpoch = 0;
  assigned: TopicAssignment = new Map();
  pendingRevocation: TopicAssignment = new Map();
  instanceId: string | null = null;
  rackId: string | null = null;
  clientId = '';
  clientHost = '';
  subscribedTopicNames: string[] = [];
  subscribedTopicRegex: string | null = null;
  rebalanceTimeoutMs = -1;
  serverAssignor: string | null = null;
  /** The member epoch at which the member got each partition it holds (`topicId:partition`). */
  partitionEpochs = new Map<string, number>();
  sessionTimer: TimerHandle | null = null;
  rebalanceTimer: TimerHandle | null = null;
  /** Set when the member speaks the classic protocol (JoinGroup/SyncGroup/Heartbeat) in this group. */
  classic: ClassicMemberMetadata | null = null;
  /** A classic member must JoinGroup again within its rebalance timeout once told to. */
  joinTimer: TimerHandle | null = null;
  /** A classic member must SyncGroup within its rebalance timeout after its JoinGroup. */
  syncTimer: TimerHandle | null = null;

  constructor(readonly memberId: string) {}

  /** The member's metadata record; without the classic protocols it is what a subscription change is judged by. */
  metadataValue(withClassic = true): Buffer {
    return encodeConsumerGroupMemberMetadataValue({
      instanceId: this.instanceId,
      rackId: this.rackId,
      clientId: this.clientId,
      clientHost: this.clientHost,
      subscribedTopicNames: this.subscribedTopicNames,
      subscribedTopicRegex: this.subscribedTopicRegex,
      rebalanceTimeoutMs: this.rebalanceTimeoutMs,
      serverAssignor: this.serverAssignor,
      classic: withClassic ? this.classic : null,
    });
  }

  assignmentValue(): Buffer {
    return encodeCurrentMemberAssignmentValue(this);
  }
}

/** One KIP-848 consumer group. */
export class ConsumerGroup {
  groupEpoch = 0;
  metadataHash = 0n;
  assignmentEpoch = 0;
  readonly members = new Map<string, ConsumerGroupMember>();
  /** instance id → member id of static members. */
  readonly staticMembers = new Map<string, string>();
  /** member id → its target assignment. */
  readonly target = new Map<string, TopicAssignment>();
  /** `topicId:partition` → epoch of the member holding it (assigned or pending revocation). */
  readonly partitionEpochs = new Map<string, number>();

  constructor(readonly groupId: string) {}

  get state(): ConsumerGroupState {
    if (this.members.size === 0) return 'Empty';
    if (this.groupEpoch > this.assignmentEpoch) return 'Assigning';
    for (const m of this.members.values()) {
      if (m.memberEpoch !== this.assignmentEpoch || m.state !== MEMBER_STATE.STABLE) return 'Reconciling';
    }
    return 'Stable';
  }

  partitionEpoch(topicId: string, partition: number): number {
    return this.partitionEpochs.get(`${topicId}:${partition}`) ?? -1;
  }

  /** Moves the partition epochs from what `before` held to what `member` holds now. */
  updatePartitionEpochs(before: MemberAssignmentState | null, member: MemberAssignmentState | null): void {
    if (before !== null) {
      for (const a of [before.assigned, before.pendingRevocation]) {
        for (const [t, ps] of a) for (const p of ps) this.partitionEpochs.delete(`${t}:${p}`);
      }
    }
    if (member !== null) {
      for (const a of [member.assigned, member.pendingRevocation]) {
        for (const [t, ps] of a) for (const p of ps) this.partitionEpochs.set(`${t}:${p}`, member.memberEpoch);
      }
    }
  }
}

type Records = CoordinatorRecord[];

/** The member fields a ConsumerGroupHeartbeat or a classic JoinGroup sets (null / -1: unchanged). */
interface MemberUpdate {
  instanceId: string | null;
  rackId: string | null;
  rebalanceTimeoutMs: number;
  serverAssignor: string | null;
  subscribedTopicNames: string[] | null;
  subscribedTopicRegex: string | null;
  clientId: string;
  clientHost: string;
  /** Set by a classic JoinGroup only. */
  classic?: ClassicMemberMetadata;
}

class HeartbeatError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function assignmentList(a: TopicAssignment): { topicId: string; partitions: number[] }[] {
  return [...a]
    .filter(([, ps]) => ps.size > 0)
    .map(([topicId, ps]) => ({ topicId, partitions: [...ps].sort((x, y) => x - y) }));
}

/** 64-bit FNV-1a of a string: a stand-in for Kafka's metadata hash (only ever compared with itself). */
function hash64(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return BigInt.asIntN(64, h);
}

/**
 * Kafka's KIP-848 consumer-group coordinator (GroupMetadataManager's consumer-group half) as a
 * state machine: ConsumerGroupHeartbeat drives member and group epochs, the server-side assignor
 * computes the target assignment when the group epoch moves, and each member is reconciled towards
 * it one step per heartbeat (revocation before assignment). Every change is persisted as Kafka's
 * ConsumerGroup* records in `__consumer_offsets`; `loadPartition` rebuilds the groups from them.
 * Offsets stay with the classic coordinator's offset store; this class validates member epochs for them.
 */
export class ConsumerGroupCoordinator {
  readonly config: ConsumerGroupConfig;
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly append: AppendFunction;
  private readonly topics: TopicMetadataView;
  private readonly scheduler: Scheduler;
  private readonly log: CoordinatorLogger;
  private readonly assignors: ConsumerGroupAssignor[];
  private readonly classicGroupActive: (groupId: string) => boolean;
  private readonly classic: ClassicGroupBridge | undefined;
  private active = true;

  constructor(options: ConsumerGroupCoordinatorOptions) {
    this.config = { ...DEFAULT_CONSUMER_GROUP_CONFIG, ...options.config };
    this.append = options.append;
    this.topics = options.topics;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.log = options.logger ?? { info() {}, warn() {}, error() {} };
    this.classicGroupActive = options.classicGroupActive ?? (() => false);
    this.classic = options.classic;
    this.assignors = this.config.assignors.map((name) => {
      const a = BUILTIN_ASSIGNORS.find((x) => x.name === name);
      if (a === undefined) throw new Error(`group.consumer.assignors: unknown assignor ${name}`);
      return a;
    });
    if (this.assignors.length === 0) throw new Error('group.consumer.assignors: at least one assignor is needed');
  }

  partitionFor(groupId: string): number {
    return groupPartition(groupId, this.config.numPartitions);
  }

  group(groupId: string): ConsumerGroup | undefined {
    return this.groups.get(groupId);
  }

  has(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  /** Forgets the groups of one `__consumer_offsets` partition (another broker coordinates them now). */
  unloadPartition(partition: number): number {
    let n = 0;
    for (const [groupId, g] of [...this.groups]) {
      if (this.partitionFor(groupId) !== partition) continue;
      for (const m of g.members.values()) this.cancelTimers(m);
      this.groups.delete(groupId);
      n++;
    }
    return n;
  }

  shutdown(): void {
    this.active = false;
    for (const g of this.groups.values()) for (const m of g.members.values()) this.cancelTimers(m);
    this.groups.clear();
  }

  // ---------------------------------------------------------------- heartbeat

  async heartbeat(p: ConsumerGroupHeartbeatParams): Promise<ConsumerGroupHeartbeatResult> {
    const records: Records = [];
    let result: ConsumerGroupHeartbeatResult;
    // The classic group this heartbeat may convert, kept so that a conversion the log refuses can be undone.
    let classicBefore: ActiveClassicGroup | null = null;
    try {
      if (!this.active) throw new HeartbeatError(E.COORDINATOR_NOT_AVAILABLE, 'The coordinator is not active.');
      this.validate(p);
      if (p.memberEpoch === 0 && !this.groups.has(p.groupId))
        classicBefore = this.classic?.activeGroup(p.groupId) ?? null;
      result =
        p.memberEpoch === LEAVE_GROUP_MEMBER_EPOCH || p.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH
          ? this.leave(p, records)
          : this.join(p, records);
    } catch (err) {
      if (!(err instanceof HeartbeatError)) throw err;
      return {
        errorCode: err.code,
        errorMessage: err.message,
        memberId: null,
        memberEpoch: 0,
        heartbeatIntervalMs: 0,
        assignment: null,
      };
    }
    if (records.length > 0) {
      const error = await this.store(p.groupId, records);
      if (error !== E.NONE) {
        if (classicBefore !== null && this.groups.has(p.groupId)) this.undoUpgrade(p.groupId, classicBefore);
        return {
          errorCode: error,
          errorMessage: null,
          memberId: null,
          memberEpoch: 0,
          heartbeatIntervalMs: 0,
          assignment: null,
        };
      }
    }
    return result;
  }

  private validate(p: ConsumerGroupHeartbeatParams): void {
    const invalid = (msg: string) => new HeartbeatError(E.INVALID_REQUEST, msg);
    if (p.groupId.length === 0) throw new HeartbeatError(E.INVALID_GROUP_ID, "GroupId can't be empty.");
    if (p.instanceId !== null && p.instanceId.length === 0) throw invalid("InstanceId can't be empty.");
    if (p.rackId !== null && p.rackId.length === 0) throw invalid("RackId can't be empty.");
    const needMemberId = p.memberEpoch !== 0 || p.apiVersion >= 1;
    if (needMemberId && p.memberId.length === 0) throw invalid("MemberId can't be empty.");
    if (p.memberEpoch === 0) {
      if (p.rebalanceTimeoutMs === -1) throw invalid('RebalanceTimeoutMs must be provided in first request.');
      if (p.topicPartitions === null || p.topicPartitions.length > 0) {
        throw invalid('TopicPartitions must be empty when (re-)joining.');
      }
      const names = p.subscribedTopicNames !== null && p.subscribedTopicNames.length > 0;
      if (!names && (p.subscribedTopicRegex === null || p.subscribedTopicRegex.length === 0)) {
        throw invalid('SubscribedTopicNames or SubscribedTopicRegex must be set in first request.');
      }
    } else if (p.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
      if (p.instanceId === null) throw invalid("InstanceId can't be null.");
    } else if (p.memberEpoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
      throw invalid('MemberEpoch is invalid.');
    }
    if (p.serverAssignor !== null && !this.assignors.some((a) => a.name === p.serverAssignor)) {
      throw new HeartbeatError(
        E.UNSUPPORTED_ASSIGNOR,
        `ServerAssignor ${p.serverAssignor} is not supported. Supported assignors: ${this.assignors.map((a) => a.name).join(', ')}.`,
      );
    }
    // An empty regex is no regex (Kafka's subscribedTopicRegexOrNull): librdkafka sends "" with a topic list.
    if (p.subscribedTopicRegex !== null && p.subscribedTopicRegex.length > 0) {
      try {
        compileSubscriptionRegex(p.subscribedTopicRegex);
      } catch (err) {
        throw new HeartbeatError(
          E.INVALID_REGULAR_EXPRESSION,
          `SubscribedTopicRegex \`${p.subscribedTopicRegex}\` is not a valid regular expression: ${(err as Error).message}.`,
        );
      }
    }
  }

  private join(p: ConsumerGroupHeartbeatParams, records: Records): ConsumerGroupHeartbeatResult {
    const joining = p.memberEpoch === 0;
    let group = this.groups.get(p.groupId);
    if (group === undefined) {
      if (!joining) throw new HeartbeatError(E.GROUP_ID_NOT_FOUND, `Group ${p.groupId} not found.`);
      const classic = this.classic?.activeGroup(p.groupId) ?? null;
      if (classic !== null) {
        group = this.upgrade(p.groupId, classic, records);
      } else if (this.classic === undefined && this.classicGroupActive(p.groupId)) {
        throw new HeartbeatError(E.GROUP_ID_NOT_FOUND, `Group ${p.groupId} is not a consumer group.`);
      } else {
        group = new ConsumerGroup(p.groupId);
        this.groups.set(p.groupId, group);
      }
    }
    const memberId = p.memberId.length > 0 ? p.memberId : randomUUID();
    const knownMember = group.members.has(memberId) || (p.instanceId !== null && group.staticMembers.has(p.instanceId));
    if (!knownMember && group.members.size >= this.config.maxSize) {
      throw new HeartbeatError(
        E.GROUP_MAX_SIZE_REACHED,
        `The consumer group has reached its maximum capacity of ${this.config.maxSize} members.`,
      );
    }
    const member = this.memberFor(group, p, memberId, records);
    const before = this.updateAndReconcile(group, member, p, p.topicPartitions, records);
    this.scheduleSessionTimeout(group, member);
    const fullRequest =
      joining ||
      (p.rebalanceTimeoutMs !== -1 &&
        (p.subscribedTopicNames !== null || p.subscribedTopicRegex !== null) &&
        p.topicPartitions !== null);
    const changed = !sameAssignment(before.assigned, member.assigned);
    return {
      errorCode: E.NONE,
      errorMessage: null,
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      assignment: fullRequest || changed ? { topicPartitions: assignmentList(member.assigned) } : null,
    };
  }

  /**
   * Steps 1-3 of a heartbeat (Kafka's consumerGroupHeartbeat and classicGroupJoinToConsumerGroup):
   * the member's subscription (a change bumps the group epoch), a new target assignment when the
   * group epoch moved past it, one reconciliation step. Returns the member's state before.
   */
  private updateAndReconcile(
    group: ConsumerGroup,
    member: ConsumerGroupMember,
    p: MemberUpdate,
    owned: OwnedPartitions,
    records: Records,
  ): MemberAssignmentState {
    const before: MemberAssignmentState = {
      state: member.state,
      memberEpoch: member.memberEpoch,
      previousMemberEpoch: member.previousMemberEpoch,
      assigned: copyAssignment(member.assigned),
      pendingRevocation: copyAssignment(member.pendingRevocation),
    };
    // 1. The member's subscription; a change (or a new member) bumps the group epoch.
    const isNew = !group.members.has(member.memberId);
    const metadataBefore = isNew ? null : member.metadataValue();
    // A classic member's protocol metadata changes on every rejoin (owned partitions, generation):
    // that alone is stored but moves no epoch.
    const subscriptionBefore = isNew ? null : member.metadataValue(false);
    if (p.instanceId !== null) member.instanceId = p.instanceId;
    if (p.rackId !== null) member.rackId = p.rackId;
    if (p.rebalanceTimeoutMs !== -1) member.rebalanceTimeoutMs = p.rebalanceTimeoutMs;
    if (p.serverAssignor !== null) member.serverAssignor = p.serverAssignor;
    if (p.subscribedTopicNames !== null) member.subscribedTopicNames = [...p.subscribedTopicNames];
    if (p.subscribedTopicRegex !== null) member.subscribedTopicRegex = p.subscribedTopicRegex;
    member.clientId = p.clientId;
    member.clientHost = p.clientHost;
    if (p.classic !== undefined) member.classic = p.classic;
    const metadata = member.metadataValue();
    let bump = false;
    if (metadataBefore === null || !metadata.equals(metadataBefore)) {
      records.push({ key: encodeConsumerGroupKey(T.MEMBER_METADATA, group.groupId, member.memberId), value: metadata });
      bump = subscriptionBefore === null || !member.metadataValue(false).equals(subscriptionBefore);
    }
    if (isNew) {
      group.members.set(member.memberId, member);
      if (member.instanceId !== null) group.staticMembers.set(member.instanceId, member.memberId);
      this.log.info(`[GroupId ${group.groupId}] Member ${member.memberId} joins the consumer group.`);
    }
    // A change of the subscribed topics' metadata (created, deleted, more partitions) bumps it too.
    const hash = this.metadataHash(group);
    if (bump || hash !== group.metadataHash) {
      group.groupEpoch += 1;
      group.metadataHash = hash;
      records.push({
        key: encodeConsumerGroupKey(T.GROUP_METADATA, group.groupId),
        value: encodeConsumerGroupMetadataValue({ epoch: group.groupEpoch, metadataHash: hash }),
      });
    }
    // 2. A new target assignment when the group epoch moved past it.
    if (group.groupEpoch > group.assignmentEpoch) this.computeTargetAssignment(group, records);
    // 3. One reconciliation step towards the target.
    this.reconcileMember(group, member, before, owned, records);
    return before;
  }

  /** The member a heartbeat is for: found, created, or (a static member rejoining) taking over its instance id. */
  private memberFor(
    group: ConsumerGroup,
    p: ConsumerGroupHeartbeatParams,
    memberId: string,
    records: Records,
  ): ConsumerGroupMember {
    const joining = p.memberEpoch === 0;
    if (p.instanceId === null) {
      const m = group.members.get(memberId);
      if (m === undefined) {
        if (!joining)
          throw new HeartbeatError(
            E.UNKNOWN_MEMBER_ID,
            `Member ${memberId} is not a member of group ${group.groupId}.`,
          );
        return new ConsumerGroupMember(memberId);
      }
      this.checkEpoch(m, p.memberEpoch, p.topicPartitions);
      return m;
    }
    const existingId = group.staticMembers.get(p.instanceId);
    const existing = existingId === undefined ? undefined : group.members.get(existingId);
    if (joining) {
      if (existing === undefined) return new ConsumerGroupMember(memberId);
      if (existing.memberId === memberId) return existing;
      if (existing.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
        throw new HeartbeatError(
          E.UNRELEASED_INSTANCE_ID,
          `Static member ${memberId} with instance id ${p.instanceId} cannot join the group because the instance id is owned by ${existing.memberId} member.`,
        );
      }
      // The instance rejoins under a new member id and takes over the old member's assignment (no rebalance).
      const replacement = new ConsumerGroupMember(memberId);
      Object.assign(replacement, {
        ...existing,
        memberId,
        memberEpoch: 0,
        previousMemberEpoch: 0,
        sessionTimer: null,
        rebalanceTimer: null,
        joinTimer: null,
        syncTimer: null,
        assigned: copyAssignment(existing.assigned),
        pendingRevocation: copyAssignment(existing.pendingRevocation),
        partitionEpochs: new Map(existing.partitionEpochs),
      });
      const target = group.target.get(existing.memberId) ?? new Map();
      this.dropMember(group, existing, records);
      group.target.set(memberId, target);
      records.push({
        key: encodeConsumerGroupKey(T.TARGET_ASSIGNMENT_MEMBER, group.groupId, memberId),
        value: encodeTargetAssignmentMemberValue(target),
      });
      group.members.set(memberId, replacement);
      group.staticMembers.set(p.instanceId, memberId);
      group.updatePartitionEpochs(null, replacement);
      records.push({
        key: encodeConsumerGroupKey(T.MEMBER_METADATA, group.groupId, memberId),
        value: replacement.metadataValue(),
      });
      records.push({
        key: encodeConsumerGroupKey(T.CURRENT_MEMBER_ASSIGNMENT, group.groupId, memberId),
        value: replacement.assignmentValue(),
      });
      return replacement;
    }
    if (existing === undefined)
      throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Instance id ${p.instanceId} is unknown.`);
    if (existing.memberId !== memberId) {
      throw new HeartbeatError(
        E.FENCED_INSTANCE_ID,
        `Static member ${memberId} with instance id ${p.instanceId} was fenced by member ${existing.memberId}.`,
      );
    }
    this.checkEpoch(existing, p.memberEpoch, p.topicPartitions);
    return existing;
  }

  /** Kafka's throwIfConsumerGroupMemberEpochIsInvalid: 0 (rejoin) passes; a lost epoch bump is forgiven. */
  private checkEpoch(m: ConsumerGroupMember, epoch: number, owned: OwnedPartitions): void {
    if (epoch === 0) return;
    if (epoch > m.memberEpoch) {
      throw new HeartbeatError(
        E.FENCED_MEMBER_EPOCH,
        `The consumer group member has a greater member epoch (${epoch}) than the one known by the group coordinator (${m.memberEpoch}). The member must abandon all its partitions and rejoin.`,
      );
    }
    if (epoch < m.memberEpoch) {
      // Unknown owned partitions (null) are not a subset.
      const subset =
        owned?.every((tp) => {
          const s = m.assigned.get(tp.topicId);
          return s !== undefined && tp.partitions.every((x) => s.has(x));
        }) === true;
      if (epoch !== m.previousMemberEpoch || !subset) {
        throw new HeartbeatError(
          E.FENCED_MEMBER_EPOCH,
          `The consumer group member has a smaller member epoch (${epoch}) than the one known by the group coordinator (${m.memberEpoch}). The member must abandon all its partitions and rejoin.`,
        );
      }
    }
  }

  private reconcileMember(
    group: ConsumerGroup,
    member: ConsumerGroupMember,
    before: MemberAssignmentState,
    owned: OwnedPartitions,
    records: Records,
  ): void {
    const target = group.target.get(member.memberId) ?? new Map();
    let next: MemberAssignmentState;
    try {
      next = reconcile(member, group.assignmentEpoch, target, owned, (t, p) => group.partitionEpoch(t, p));
    } catch {
      throw new HeartbeatError(
        E.FENCED_MEMBER_EPOCH,
        'The consumer group member is in a unknown state. The member must abandon all its partitions and rejoin.',
      );
    }
    const unchanged =
      next.state === before.state &&
      next.memberEpoch === before.memberEpoch &&
      next.previousMemberEpoch === before.previousMemberEpoch &&
      sameAssignment(next.assigned, before.assigned) &&
      sameAssignment(next.pendingRevocation, before.pendingRevocation);
    if (unchanged) {
      this.maybeScheduleRebalanceTimeout(group, member, before);
      return;
    }
    group.updatePartitionEpochs(member, null);
    for (const [t, ps] of next.assigned) {
      for (const p of ps) {
        const key = `${t}:${p}`;
        if (!member.partitionEpochs.has(key) || !(member.assigned.get(t)?.has(p) ?? false)) {
          member.partitionEpochs.set(key, next.memberEpoch);
        }
      }
    }
    for (const key of [...member.partitionEpochs.keys()]) {
      const colon = key.lastIndexOf(':');
      const t = key.slice(0, colon);
      const p = Number(key.slice(colon + 1));
      if (!(next.assigned.get(t)?.has(p) ?? false) && !(next.pendingRevocation.get(t)?.has(p) ?? false)) {
        member.partitionEpochs.delete(key);
      }
    }
    member.state = next.state;
    member.memberEpoch = next.memberEpoch;
    member.previousMemberEpoch = next.previousMemberEpoch;
    member.assigned = next.assigned;
    member.pendingRevocation = next.pendingRevocation;
    group.updatePartitionEpochs(null, member);
    records.push({
      key: encodeConsumerGroupKey(T.CURRENT_MEMBER_ASSIGNMENT, group.groupId, member.memberId),
      value: member.assignmentValue(),
    });
    this.maybeScheduleRebalanceTimeout(group, member, before);
  }

  private computeTargetAssignment(group: ConsumerGroup, records: Records): void {
    const assignor = this.assignorFor(group);
    const topics = new Map<string, AssignmentTopic>();
    const members = [...group.members.values()].map((m) => {
      const ids = new Set<string>();
      for (const name of this.subscribedNames(m)) {
        const t = this.topics.byName(name);
        if (t === undefined) continue;
        ids.add(t.topicId);
        if (!topics.has(t.topicId)) {
          const racks = this.topics.partitionRacks;
          topics.set(t.topicId, {
            partitionCount: t.partitionCount,
            partitionRacks: racks === undefined ? undefined : (p) => racks.call(this.topics, t.topicId, p),
          });
        }
      }
      return {
        memberId: m.memberId,
        subscribedTopicIds: ids,
        rackId: m.rackId,
        assignment: group.target.get(m.memberId) ?? new Map(),
      };
    });
    const result = assignor.assign({ members, topics });
    for (const m of group.members.values()) {
      const next = result.get(m.memberId) ?? new Map();
      const prev = group.target.get(m.memberId);
      if (prev === undefined || !sameAssignment(prev, next)) {
        records.push({
          key: encodeConsumerGroupKey(T.TARGET_ASSIGNMENT_MEMBER, group.groupId, m.memberId),
          value: encodeTargetAssignmentMemberValue(next),
        });
      }
      group.target.set(m.memberId, next);
    }
    group.assignmentEpoch = group.groupEpoch;
    records.push({
      key: encodeConsumerGroupKey(T.TARGET_ASSIGNMENT_METADATA, group.groupId),
      value: encodeTargetAssignmentMetadataValue(group.assignmentEpoch, this.scheduler.now()),
    });
    this.log.info(
      `[GroupId ${group.groupId}] Computed a new target assignment for epoch ${group.assignmentEpoch} with '${assignor.name}' assignor.`,
    );
  }

  /** The assignor most members ask for; the first configured one when none asks. */
  assignorFor(group: ConsumerGroup): ConsumerGroupAssignor {
    const counts = new Map<string, number>();
    for (const m of group.members.values()) {
      if (m.serverAssignor !== null) counts.set(m.serverAssignor, (counts.get(m.serverAssignor) ?? 0) + 1);
    }
    let best = this.assignors[0];
    let bestCount = 0;
    for (const a of this.assignors) {
      const n = counts.get(a.name) ?? 0;
      if (n > bestCount) {
        best = a;
        bestCount = n;
      }
    }
    return best;
  }

  /** Topic names a member subscribes to: its list plus what its regex matches now. */
  private subscribedNames(m: ConsumerGroupMember): Set<string> {
    const names = new Set(m.subscribedTopicNames);
    if (m.subscribedTopicRegex !== null && m.subscribedTopicRegex.length > 0) {
      let re: RegExp;
      try {
        re = compileSubscriptionRegex(m.subscribedTopicRegex);
      } catch {
        return names;
      }
      for (const name of this.topics.names()) if (re.test(name)) names.add(name);
    }
    return names;
  }

  private metadataHash(group: ConsumerGroup): bigint {
    const names = new Set<string>();
    for (const m of group.members.values()) for (const n of this.subscribedNames(m)) names.add(n);
    const parts: string[] = [];
    for (const name of [...names].sort()) {
      const t = this.topics.byName(name);
      if (t !== undefined) parts.push(`${name}\u0000${t.topicId}\u0000${t.partitionCount}`);
    }
    return parts.length === 0 ? 0n : hash64(parts.join('\u0001'));
  }

  // ---------------------------------------------------------------- leaving and fencing

  private leave(p: ConsumerGroupHeartbeatParams, records: Records): ConsumerGroupHeartbeatResult {
    const group = this.groups.get(p.groupId);
    if (group === undefined) throw new HeartbeatError(E.GROUP_ID_NOT_FOUND, `Group ${p.groupId} not found.`);
    let member: ConsumerGroupMember | undefined;
    if (p.instanceId === null) {
      member = group.members.get(p.memberId);
      if (member === undefined) {
        throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Member ${p.memberId} is not a member of group ${p.groupId}.`);
      }
    } else {
      const id = group.staticMembers.get(p.instanceId);
      member = id === undefined ? undefined : group.members.get(id);
      if (member === undefined)
        throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Instance id ${p.instanceId} is unknown.`);
      if (member.memberId !== p.memberId) {
        throw new HeartbeatError(
          E.FENCED_INSTANCE_ID,
          `Static member ${p.memberId} with instance id ${p.instanceId} was fenced by member ${member.memberId}.`,
        );
      }
    }
    if (p.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
      // A static member that will come back keeps its assignment until its session times out.
      member.memberEpoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
      member.rebalanceTimer?.cancel();
      member.rebalanceTimer = null;
      records.push({
        key: encodeConsumerGroupKey(T.CURRENT_MEMBER_ASSIGNMENT, group.groupId, member.memberId),
        value: member.assignmentValue(),
      });
      this.scheduleSessionTimeout(group, member);
    } else {
      this.log.info(`[GroupId ${group.groupId}] Member ${member.memberId} left the consumer group.`);
      if (this.canDowngradeWithout(group, member.memberId)) this.downgrade(group, member.memberId, records);
      else this.removeMember(group, member, records);
    }
    return {
      errorCode: E.NONE,
      errorMessage: null,
      memberId: p.memberId,
      memberEpoch: p.memberEpoch,
      heartbeatIntervalMs: 0,
      assignment: null,
    };
  }

  /** Drops a member's state and records (tombstones) without bumping the group epoch. */
  private dropMember(group: ConsumerGroup, member: ConsumerGroupMember, records: Records): void {
    this.cancelTimers(member);
    group.updatePartitionEpochs(member, null);
    group.members.delete(member.memberId);
    group.target.delete(member.memberId);
    if (member.instanceId !== null && group.staticMembers.get(member.instanceId) === member.memberId) {
      group.staticMembers.delete(member.instanceId);
    }
    for (const type of [T.CURRENT_MEMBER_ASSIGNMENT, T.TARGET_ASSIGNMENT_MEMBER, T.MEMBER_METADATA]) {
      records.push({ key: encodeConsumerGroupKey(type, group.groupId, member.memberId), value: null });
    }
  }

  /** A member leaves or is fenced: its partitions are freed and the group epoch moves (a new target follows). */
  private removeMember(group: ConsumerGroup, member: ConsumerGroupMember, records: Records): void {
    this.dropMember(group, member, records);
    group.groupEpoch += 1;
    group.metadataHash = this.metadataHash(group);
    records.push({
      key: encodeConsumerGroupKey(T.GROUP_METADATA, group.groupId),
      value: encodeConsumerGroupMetadataValue({ epoch: group.groupEpoch, metadataHash: group.metadataHash }),
    });
  }

  private fence(group: ConsumerGroup, memberId: string, reason: string): void {
    if (!this.active || this.groups.get(group.groupId) !== group) return;
    const member = group.members.get(memberId);
    if (member === undefined) return;
    this.log.info(`[GroupId ${group.groupId}] Member ${memberId} fenced from the group because ${reason}.`);
    const records: Records = [];
    if (this.canDowngradeWithout(group, memberId)) this.downgrade(group, memberId, records);
    else this.removeMember(group, member, records);
    void this.store(group.groupId, records);
  }

  private cancelTimers(m: ConsumerGroupMember): void {
    m.sessionTimer?.cancel();
    m.sessionTimer = null;
    m.rebalanceTimer?.cancel();
    m.rebalanceTimer = null;
    m.joinTimer?.cancel();
    m.joinTimer = null;
    m.syncTimer?.cancel();
    m.syncTimer = null;
  }

  private scheduleSessionTimeout(group: ConsumerGroup, member: ConsumerGroupMember): void {
    member.sessionTimer?.cancel();
    const ms = member.classic?.sessionTimeoutMs ?? this.config.sessionTimeoutMs;
    member.sessionTimer = this.scheduler.schedule(ms, () =>
      this.fence(group, member.memberId, `its session expired (${ms}ms)`),
    );
  }

  /** A member asked to revoke must do so within its rebalance timeout, or it is fenced. */
  private maybeScheduleRebalanceTimeout(
    group: ConsumerGroup,
    member: ConsumerGroupMember,
    before: MemberAssignmentState,
  ): void {
    if (member.state !== MEMBER_STATE.UNREVOKED_PARTITIONS) {
      member.rebalanceTimer?.cancel();
      member.rebalanceTimer = null;
      return;
    }
    if (
      member.rebalanceTimer !== null &&
      before.state === MEMBER_STATE.UNREVOKED_PARTITIONS &&
      before.memberEpoch === member.memberEpoch
    ) {
      return;
    }
    member.rebalanceTimer?.cancel();
    const epoch = member.memberEpoch;
    const ms = Math.max(0, member.rebalanceTimeoutMs);
    member.rebalanceTimer = this.scheduler.schedule(ms, () => {
      member.rebalanceTimer = null;
      const m = group.members.get(member.memberId);
      if (m !== member || m.state !== MEMBER_STATE.UNREVOKED_PARTITIONS || m.memberEpoch !== epoch) return;
      this.fence(group, member.memberId, `it failed to transition from epoch ${epoch} within ${ms}ms`);
    });
  }

  // ---------------------------------------------------------------- mixed groups: conversion

  /**
   * Kafka's convertToConsumerGroup: a classic group whose members use the consumer's embedded
   * protocol becomes a consumer group when a ConsumerGroupHeartbeat member joins it. Group epoch,
   * target epoch and each member's epoch are the classic generation; each member keeps its last
   * assignment, Stable. The joining member then bumps the epoch, so the classic members are told to
   * rejoin (REBALANCE_IN_PROGRESS) and follow the new target through JoinGroup/SyncGroup.
   */
  private upgrade(groupId: string, classic: ActiveClassicGroup, records: Records): ConsumerGroup {
    const refuse = (why: string) => {
      this.log.info(`Cannot upgrade classic group ${groupId} to consumer group because ${why}.`);
      return new HeartbeatError(E.GROUP_ID_NOT_FOUND, `Group ${groupId} is not a consumer group.`);
    };
    if (this.classic === undefined || !upgradeEnabled(this.config.migrationPolicy)) {
      throw refuse('the online upgrade is disabled');
    }
    if (classic.protocolType !== CONSUMER_PROTOCOL_TYPE) {
      throw refuse('the group does not use the consumer embedded protocol');
    }
    if (classic.members.length + 1 > this.config.maxSize)
      throw refuse('the group would exceed group.consumer.max.size');
    const epoch = classic.generationId;
    const group = new ConsumerGroup(groupId);
    group.groupEpoch = epoch;
    group.assignmentEpoch = epoch;
    try {
      for (const c of classic.members) {
        // The selected protocol's metadata; a member still joining has only its own list.
        const metadata = (c.protocols.find((x) => x.name === classic.protocolName) ?? c.protocols[0])?.metadata;
        if (metadata === undefined) throw new Error(`member ${c.memberId} has no protocol metadata`);
        const sub = decodeClassicSubscription(metadata);
        const m = new ConsumerGroupMember(c.memberId);
        m.memberEpoch = epoch;
        m.previousMemberEpoch = epoch;
        m.instanceId = c.instanceId;
        m.rackId = sub.rackId;
        m.rebalanceTimeoutMs = c.rebalanceTimeoutMs;
        m.clientId = c.clientId;
        m.clientHost = c.clientHost;
        m.subscribedTopicNames = sub.topics;
        m.classic = { sessionTimeoutMs: c.sessionTimeoutMs, protocols: c.protocols };
        m.assigned = decodeClassicAssignment(c.assignment, (name) => this.topics.byName(name)?.topicId);
        for (const [t, ps] of m.assigned) for (const p of ps) m.partitionEpochs.set(`${t}:${p}`, epoch);
        group.members.set(m.memberId, m);
        if (m.instanceId !== null) group.staticMembers.set(m.instanceId, m.memberId);
        group.target.set(m.memberId, copyAssignment(m.assigned));
        group.updatePartitionEpochs(null, m);
      }
    } catch (err) {
      throw refuse(`the embedded consumer protocol is malformed (${(err as Error).message})`);
    }
    group.metadataHash = this.metadataHash(group);
    records.push(this.classic.releaseMembers(groupId));
    for (const m of group.members.values()) {
      records.push({ key: encodeConsumerGroupKey(T.MEMBER_METADATA, groupId, m.memberId), value: m.metadataValue() });
    }
    records.push({
      key: encodeConsumerGroupKey(T.GROUP_METADATA, groupId),
      value: encodeConsumerGroupMetadataValue({ epoch, metadataHash: group.metadataHash }),
    });
    for (const m of group.members.values()) {
      records.push({
        key: encodeConsumerGroupKey(T.TARGET_ASSIGNMENT_MEMBER, groupId, m.memberId),
        value: encodeTargetAssignmentMemberValue(m.assigned),
      });
    }
    records.push({
      key: encodeConsumerGroupKey(T.TARGET_ASSIGNMENT_METADATA, groupId),
      value: encodeTargetAssignmentMetadataValue(epoch, this.scheduler.now()),
    });
    for (const m of group.members.values()) {
      records.push({
        key: encodeConsumerGroupKey(T.CURRENT_MEMBER_ASSIGNMENT, groupId, m.memberId),
        value: m.assignmentValue(),
      });
    }
    this.groups.set(groupId, group);
    for (const m of group.members.values()) this.scheduleSessionTimeout(group, m);
    this.log.info(`[GroupId ${groupId}] Upgraded the classic group to a consumer group at epoch ${epoch}.`);
    return group;
  }

  /**
   * An upgrade whose records the log refused never happened (Kafka reverts it with its snapshot): the
   * consumer group is forgotten and the classic group takes its members back, each with its id, generation
   * and assignment. Their waiting JoinGroup/SyncGroup were already answered, so it rebalances once.
   */
  private undoUpgrade(groupId: string, before: ActiveClassicGroup): void {
    const group = this.groups.get(groupId);
    if (group !== undefined) for (const m of group.members.values()) this.cancelTimers(m);
    this.groups.delete(groupId);
    this.classic?.adoptMembers(groupId, before.generationId, before.members);
    this.log.warn(`[GroupId ${groupId}] The upgrade to a consumer group was not written; the group stays classic.`);
  }

  /** Kafka's validateOnlineDowngradeWithFencedMember: the member leaving is the last one on the new protocol. */
  private canDowngradeWithout(group: ConsumerGroup, leavingMemberId: string): boolean {
    if (this.classic === undefined || group.members.size <= 1) return false;
    for (const m of group.members.values()) if (m.memberId !== leavingMemberId && m.classic === null) return false;
    if (!downgradeEnabled(this.config.migrationPolicy)) {
      this.log.info(
        `Cannot downgrade consumer group ${group.groupId} to classic group because the online downgrade is disabled.`,
      );
      return false;
    }
    return true;
  }

  /**
   * Kafka's convertToClassicGroup: the consumer group's records become tombstones and a classic
   * group takes its classic members at generation = group epoch, each with its target assignment,
   * and starts a rebalance (the members rejoin and their leader assigns from then on).
   */
  private downgrade(group: ConsumerGroup, leavingMemberId: string, records: Records): void {
    const members: ClassicMemberSnapshot[] = [];
    for (const m of group.members.values()) {
      if (m.memberId === leavingMemberId || m.classic === null) continue;
      const version = subscriptionVersion(m.classic.protocols[0]?.metadata ?? Buffer.alloc(0));
      members.push({
        memberId: m.memberId,
        instanceId: m.instanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        sessionTimeoutMs: m.classic.sessionTimeoutMs,
        protocols: m.classic.protocols,
        assignment: encodeClassicAssignment(
          group.target.get(m.memberId) ?? new Map(),
          (id) => this.topics.nameOf(id),
          version,
        ),
      });
    }
    for (const m of [...group.members.values()]) this.dropMember(group, m, records);
    records.push({ key: encodeConsumerGroupKey(T.TARGET_ASSIGNMENT_METADATA, group.groupId), value: null });
    records.push({ key: encodeConsumerGroupKey(T.GROUP_METADATA, group.groupId), value: null });
    this.groups.delete(group.groupId);
    this.classic?.adoptMembers(group.groupId, group.groupEpoch, members);
    this.log.info(
      `[GroupId ${group.groupId}] Downgraded the consumer group to a classic group (${members.length} members).`,
    );
  }

  // ---------------------------------------------------------------- mixed groups: classic members

  /** The group for a classic request, if this coordinator has it with members. */
  hasMembers(groupId: string): boolean {
    return (this.groups.get(groupId)?.members.size ?? 0) > 0;
  }

  /**
   * Kafka's classicGroupJoinToConsumerGroup: a JoinGroup member of a consumer group. Its
   * subscription (and owned partitions) come from its embedded-protocol metadata; it is reconciled
   * like any member, and answered at once with its member epoch as the generation, as a follower.
   */
  async classicJoin(p: JoinGroupParams): Promise<JoinGroupResult> {
    const records: Records = [];
    const group = this.groups.get(p.groupId);
    let memberId = p.memberId.length > 0 ? p.memberId : randomUUID();
    let member: ConsumerGroupMember;
    try {
      if (!this.active) throw new HeartbeatError(E.COORDINATOR_NOT_AVAILABLE, 'The coordinator is not active.');
      if (group === undefined) throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Group ${p.groupId} not found.`);
      if (this.config.migrationPolicy === 'disabled') {
        throw new HeartbeatError(E.GROUP_ID_NOT_FOUND, `Group ${p.groupId} is not a classic group.`);
      }
      if (!group.members.has(memberId) && group.members.size >= this.config.maxSize) {
        throw new HeartbeatError(E.GROUP_MAX_SIZE_REACHED, 'The consumer group has reached its maximum capacity.');
      }
      if (!this.supportsClassicProtocols(group, p.protocolType, p.protocols)) {
        throw new HeartbeatError(E.INCONSISTENT_GROUP_PROTOCOL, `Member ${memberId}'s protocols are not supported.`);
      }
      if (p.memberId.length === 0 && p.groupInstanceId === null && p.requireKnownMemberId) {
        return joinError(memberId, E.MEMBER_ID_REQUIRED);
      }
      let sub: ReturnType<typeof decodeClassicSubscription>;
      try {
        sub = decodeClassicSubscription(p.protocols[0].metadata);
      } catch (err) {
        throw new HeartbeatError(E.INCONSISTENT_GROUP_PROTOCOL, `Malformed consumer protocol subscription: ${err}`);
      }
      member = this.classicMemberFor(group, p, memberId, records);
      memberId = member.memberId;
      const owned = sub.ownedPartitions.flatMap((tp) => {
        const t = this.topics.byName(tp.topic);
        return t === undefined ? [] : [{ topicId: t.topicId, partitions: tp.partitions }];
      });
      this.updateAndReconcile(
        group,
        member,
        {
          instanceId: p.groupInstanceId,
          rackId: sub.rackId,
          rebalanceTimeoutMs: p.rebalanceTimeoutMs,
          serverAssignor: null,
          subscribedTopicNames: sub.topics,
          subscribedTopicRegex: null,
          clientId: p.clientId,
          clientHost: p.clientHost,
          classic: {
            sessionTimeoutMs: p.sessionTimeoutMs,
            protocols: p.protocols.map((x) => ({ name: x.name, metadata: Buffer.from(x.metadata) })),
          },
        },
        owned,
        records,
      );
    } catch (err) {
      if (!(err instanceof HeartbeatError)) throw err;
      return joinError(memberId, err.code);
    }
    if (records.length > 0) {
      const error = await this.store(p.groupId, records);
      if (error !== E.NONE) return joinError(memberId, error);
    }
    member.joinTimer?.cancel();
    member.joinTimer = null;
    this.scheduleSessionTimeout(group, member);
    member.syncTimer?.cancel();
    const ms = Math.max(0, member.rebalanceTimeoutMs);
    member.syncTimer = this.scheduler.schedule(ms, () => {
      member.syncTimer = null;
      this.fence(group, member.memberId, 'the member failed to sync within timeout');
    });
    return {
      errorCode: E.NONE,
      generationId: member.memberEpoch,
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocolName: member.classic?.protocols[0]?.name ?? null,
      leader: '',
      memberId: member.memberId,
      skipAssignment: false,
      members: [],
    };
  }

  /** Kafka's supportsClassicProtocols: the consumer protocol type, and a protocol name every classic member has. */
  private supportsClassicProtocols(
    group: ConsumerGroup,
    protocolType: string,
    protocols: readonly { name: string }[],
  ): boolean {
    if (protocolType !== CONSUMER_PROTOCOL_TYPE || protocols.length === 0) return false;
    const classicMembers = [...group.members.values()].filter((m) => m.classic !== null);
    if (classicMembers.length === 0) return true;
    return protocols.some((p) => classicMembers.every((m) => m.classic?.protocols.some((x) => x.name === p.name)));
  }

  /** The member a classic JoinGroup is for: found, created, or a static member's restart taking over its place. */
  private classicMemberFor(
    group: ConsumerGroup,
    p: JoinGroupParams,
    memberId: string,
    records: Records,
  ): ConsumerGroupMember {
    if (p.groupInstanceId === null) {
      const m = group.members.get(memberId);
      if (m !== undefined && m.classic === null) {
        throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Member ${memberId} does not use the classic protocol.`);
      }
      return m ?? new ConsumerGroupMember(memberId);
    }
    const existingId = group.staticMembers.get(p.groupInstanceId);
    const existing = existingId === undefined ? undefined : group.members.get(existingId);
    if (existing === undefined || existing.memberId === memberId) return existing ?? new ConsumerGroupMember(memberId);
    if (p.memberId.length > 0) {
      throw new HeartbeatError(
        E.FENCED_INSTANCE_ID,
        `Static member ${memberId} with instance id ${p.groupInstanceId} was fenced by member ${existing.memberId}.`,
      );
    }
    // A classic static member restarted under a new id: it takes over the old member's place.
    existing.memberEpoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
    return this.memberFor(
      group,
      {
        groupId: group.groupId,
        memberId,
        memberEpoch: 0,
        instanceId: p.groupInstanceId,
        rackId: null,
        rebalanceTimeoutMs: p.rebalanceTimeoutMs,
        subscribedTopicNames: null,
        subscribedTopicRegex: null,
        serverAssignor: null,
        topicPartitions: [],
        clientId: p.clientId,
        clientHost: p.clientHost,
        apiVersion: 0,
      },
      memberId,
      records,
    );
  }

  /** A classic request's member: by instance id when given (fenced if another id holds it), and on the classic protocol. */
  private classicMember(group: ConsumerGroup, memberId: string, instanceId: string | null): ConsumerGroupMember {
    let m: ConsumerGroupMember | undefined;
    if (instanceId === null) {
      m = group.members.get(memberId);
    } else {
      const id = group.staticMembers.get(instanceId);
      m = id === undefined ? undefined : group.members.get(id);
      if (m !== undefined && m.memberId !== memberId) {
        throw new HeartbeatError(
          E.FENCED_INSTANCE_ID,
          `Static member ${memberId} with instance id ${instanceId} was fenced by member ${m.memberId}.`,
        );
      }
    }
    if (m === undefined) {
      throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Member ${memberId} is not a member of group ${group.groupId}.`);
    }
    if (m.classic === null) {
      throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Member ${m.memberId} does not use the classic protocol.`);
    }
    return m;
  }

  /** The group and classic member a SyncGroup or Heartbeat is for, at the generation it names (its member epoch). */
  private classicMemberAt(p: {
    groupId: string;
    memberId: string;
    groupInstanceId: string | null;
    generationId: number;
  }): { group: ConsumerGroup; member: ConsumerGroupMember } {
    if (!this.active) throw new HeartbeatError(E.COORDINATOR_NOT_AVAILABLE, 'The coordinator is not active.');
    const group = this.groups.get(p.groupId);
    if (group === undefined) throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Group ${p.groupId} not found.`);
    const member = this.classicMember(group, p.memberId, p.groupInstanceId);
    if (p.generationId !== member.memberEpoch) {
      throw new HeartbeatError(E.ILLEGAL_GENERATION, 'The generation id is not the member epoch.');
    }
    return { group, member };
  }

  /** A classic member told to rejoin must do so within its rebalance timeout, or it is fenced. */
  private scheduleClassicJoinTimeout(group: ConsumerGroup, member: ConsumerGroupMember): void {
    if (member.joinTimer !== null) return;
    const ms = Math.max(0, member.rebalanceTimeoutMs);
    member.joinTimer = this.scheduler.schedule(ms, () => {
      member.joinTimer = null;
      this.fence(group, member.memberId, 'the classic member failed to join within the rebalance timeout');
    });
  }

  /** Kafka's classicGroupSyncToConsumerGroup: the member's current assignment in the embedded protocol. */
  classicSync(p: {
    groupId: string;
    memberId: string;
    groupInstanceId: string | null;
    generationId: number;
    protocolType: string | null;
    protocolName: string | null;
  }): SyncGroupResult {
    try {
      const { group, member } = this.classicMemberAt(p);
      const protocols = member.classic?.protocols ?? [];
      if (
        (p.protocolType !== null && p.protocolType !== CONSUMER_PROTOCOL_TYPE) ||
        (p.protocolName !== null && p.protocolName !== protocols[0]?.name)
      ) {
        throw new HeartbeatError(E.INCONSISTENT_GROUP_PROTOCOL, 'The protocol does not match the JoinGroup response.');
      }
      // A newer group epoch: the member rejoins first, unless it still has partitions to revoke.
      if (group.groupEpoch > member.memberEpoch && member.state !== MEMBER_STATE.UNREVOKED_PARTITIONS) {
        this.scheduleClassicJoinTimeout(group, member);
        throw new HeartbeatError(E.REBALANCE_IN_PROGRESS, 'A new rebalance is triggered; the member should rejoin.');
      }
      member.syncTimer?.cancel();
      member.syncTimer = null;
      this.scheduleSessionTimeout(group, member);
      return {
        errorCode: E.NONE,
        protocolType: p.protocolType,
        protocolName: p.protocolName,
        assignment: encodeClassicAssignment(
          member.assigned,
          (id) => this.topics.nameOf(id),
          subscriptionVersion(protocols[0]?.metadata ?? Buffer.alloc(0)),
        ),
      };
    } catch (err) {
      if (!(err instanceof HeartbeatError)) throw err;
      return syncError(err.code);
    }
  }

  /**
   * Kafka's classicGroupHeartbeatToConsumerGroup: REBALANCE_IN_PROGRESS when the member must
   * rejoin — the group epoch moved, it has partitions to revoke, or partitions it waits for are free.
   */
  classicHeartbeat(p: {
    groupId: string;
    memberId: string;
    groupInstanceId: string | null;
    generationId: number;
  }): number {
    try {
      const { group, member } = this.classicMemberAt(p);
      this.scheduleSessionTimeout(group, member);
      const rejoin =
        member.memberEpoch < group.groupEpoch ||
        member.state === MEMBER_STATE.UNREVOKED_PARTITIONS ||
        (member.state === MEMBER_STATE.UNRELEASED_PARTITIONS && !this.waitingOnUnreleased(group, member));
      if (!rejoin) return E.NONE;
      this.scheduleClassicJoinTimeout(group, member);
      return E.REBALANCE_IN_PROGRESS;
    } catch (err) {
      if (!(err instanceof HeartbeatError)) throw err;
      return err.code;
    }
  }

  /** Whether a partition of the member's target it does not have yet is still held by another member. */
  private waitingOnUnreleased(group: ConsumerGroup, member: ConsumerGroupMember): boolean {
    for (const [t, ps] of group.target.get(member.memberId) ?? new Map<string, Set<number>>()) {
      for (const p of ps) {
        if (member.assigned.get(t)?.has(p) ?? false) continue;
        if (group.partitionEpoch(t, p) !== -1) return true;
      }
    }
    return false;
  }

  /** Kafka's classicGroupLeaveToConsumerGroup: the classic members named leave; the group epoch moves once. */
  async classicLeave(
    groupId: string,
    members: readonly { memberId: string; groupInstanceId: string | null }[],
  ): Promise<{
    errorCode: number;
    members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
  }> {
    const group = this.groups.get(groupId);
    if (!this.active) return { errorCode: E.COORDINATOR_NOT_AVAILABLE, members: [] };
    if (group === undefined) return { errorCode: E.UNKNOWN_MEMBER_ID, members: [] };
    const records: Records = [];
    const out = members.slice(0, MAX_BATCH).map((m) => {
      try {
        let member: ConsumerGroupMember;
        if (m.groupInstanceId !== null && m.memberId === '') {
          // Administrative removal by instance id.
          const id = group.staticMembers.get(m.groupInstanceId);
          const found = id === undefined ? undefined : group.members.get(id);
          if (found === undefined) {
            throw new HeartbeatError(E.UNKNOWN_MEMBER_ID, `Instance id ${m.groupInstanceId} is unknown.`);
          }
          member = this.classicMember(group, found.memberId, m.groupInstanceId);
        } else {
          member = this.classicMember(group, m.memberId, m.groupInstanceId);
        }
        this.log.info(`[GroupId ${groupId}] Member ${member.memberId} left the consumer group through LeaveGroup.`);
        this.dropMember(group, member, records);
        return { memberId: member.memberId, groupInstanceId: m.groupInstanceId, errorCode: E.NONE };
      } catch (err) {
        if (!(err instanceof HeartbeatError)) throw err;
        return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: err.code };
      }
    });
    if (records.length > 0) {
      group.groupEpoch += 1;
      group.metadataHash = this.metadataHash(group);
      records.push({
        key: encodeConsumerGroupKey(T.GROUP_METADATA, groupId),
        value: encodeConsumerGroupMetadataValue({ epoch: group.groupEpoch, metadataHash: group.metadataHash }),
      });
      const error = await this.store(groupId, records);
      if (error !== E.NONE) return { errorCode: error, members: [] };
    }
    return { errorCode: E.NONE, members: out };
  }

  // ---------------------------------------------------------------- describe, list, delete

  describe(groupIds: readonly string[]): DescribedConsumerGroup[] {
    return groupIds.slice(0, MAX_BATCH).map((groupId) => {
      const group = this.groups.get(groupId);
      const missing = (code: number, msg: string): DescribedConsumerGroup => ({
        groupId,
        errorCode: code,
        errorMessage: msg,
        groupState: '',
        groupEpoch: 0,
        assignmentEpoch: 0,
        assignorName: '',
        members: [],
      });
      if (!this.active) return missing(E.COORDINATOR_NOT_AVAILABLE, 'The coordinator is not active.');
      if (group === undefined) return missing(E.GROUP_ID_NOT_FOUND, `Group ${groupId} not found.`);
      const described = (a: TopicAssignment): DescribedTopicPartitions[] =>
        assignmentList(a).flatMap((tp) => {
          const name = this.topics.nameOf(tp.topicId);
          return name === undefined ? [] : [{ topicId: tp.topicId, topicName: name, partitions: tp.partitions }];
        });
      return {
        groupId,
        errorCode: E.NONE,
        errorMessage: null,
        groupState: group.state,
        groupEpoch: group.groupEpoch,
        assignmentEpoch: group.assignmentEpoch,
        assignorName: this.assignorFor(group).name,
        members: [...group.members.values()].map((m) => ({
          memberId: m.memberId,
          instanceId: m.instanceId,
          rackId: m.rackId,
          memberEpoch: m.memberEpoch,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscribedTopicNames: [...m.subscribedTopicNames],
          subscribedTopicRegex: m.subscribedTopicRegex,
          assignment: described(m.assigned),
          targetAssignment: described(group.target.get(m.memberId) ?? new Map()),
        })),
      };
    });
  }

  /** Groups for ListGroups; states compare case-insensitively. */
  list(statesFilter: readonly string[] = []): { groupId: string; state: ConsumerGroupState }[] {
    const states = new Set(statesFilter.map((s) => s.toLowerCase()));
    const out: { groupId: string; state: ConsumerGroupState }[] = [];
    for (const g of this.groups.values()) {
      const state = g.state;
      if (states.size > 0 && !states.has(state.toLowerCase())) continue;
      out.push({ groupId: g.groupId, state });
    }
    return out;
  }

  /** Topic names the group's members subscribe to now (their offsets are kept by offset expiry). */
  subscribedTopics(groupId: string): Set<string> {
    const group = this.groups.get(groupId);
    const out = new Set<string>();
    if (group !== undefined)
      for (const m of group.members.values()) for (const n of this.subscribedNames(m)) out.add(n);
    return out;
  }

  /** Deletes an empty consumer group (its records become tombstones); NON_EMPTY_GROUP while it has members. */
  async deleteGroup(groupId: string): Promise<number> {
    const group = this.groups.get(groupId);
    if (group === undefined) return E.GROUP_ID_NOT_FOUND;
    if (group.members.size > 0) return E.NON_EMPTY_GROUP;
    this.groups.delete(groupId);
    return this.store(groupId, [
      { key: encodeConsumerGroupKey(T.TARGET_ASSIGNMENT_METADATA, groupId), value: null },
      { key: encodeConsumerGroupKey(T.GROUP_METADATA, groupId), value: null },
    ]);
  }

  // ---------------------------------------------------------------- offsets

  /**
   * Kafka's ConsumerGroup.validateOffsetCommit: an empty group takes commits without an epoch
   * (admin tools); otherwise the member must exist, use OffsetCommit v9+, and commit with its
   * current epoch or an older one at which it already held every partition committed.
   */
  validateOffsetCommit(
    groupId: string,
    memberId: string,
    memberEpoch: number,
    apiVersion: number,
    partitions: readonly { topicId: string; partition: number }[],
    transactional = false,
  ): { errorCode: number; errorMessage: string | null } {
    const ok = { errorCode: E.NONE, errorMessage: null };
    const group = this.groups.get(groupId);
    if (group === undefined) return ok;
    if (memberEpoch < 0 && group.members.size === 0) return ok;
    if (transactional && memberEpoch < 0 && memberId === '') return ok;
    const member = group.members.get(memberId);
    if (member === undefined) {
      return {
        errorCode: E.UNKNOWN_MEMBER_ID,
        errorMessage: `Member ${memberId} is not a member of group ${groupId}.`,
      };
    }
    if (member.classic !== null) {
      // A classic member commits with its generation, which is its member epoch (any OffsetCommit version).
      if (memberEpoch === member.memberEpoch) return ok;
      return {
        errorCode: E.ILLEGAL_GENERATION,
        errorMessage: `The received generation id ${memberEpoch} does not match the expected member epoch ${member.memberEpoch}.`,
      };
    }
    if (!transactional && apiVersion < 9) {
      return {
        errorCode: E.UNSUPPORTED_VERSION,
        errorMessage: 'OffsetCommit version 9 or above must be used by members using the consumer group protocol',
      };
    }
    if (memberEpoch === member.memberEpoch) return ok;
    if (memberEpoch > member.memberEpoch) {
      return {
        errorCode: E.STALE_MEMBER_EPOCH,
        errorMessage: `Received member epoch ${memberEpoch} is newer than current member epoch ${member.memberEpoch}.`,
      };
    }
    for (const tp of partitions) {
      const since = member.partitionEpochs.get(`${tp.topicId}:${tp.partition}`);
      if (since === undefined || since > memberEpoch) {
        return {
          errorCode: E.STALE_MEMBER_EPOCH,
          errorMessage: `Partition ${tp.topicId}-${tp.partition} is not assigned or pending revocation for member.`,
        };
      }
    }
    return ok;
  }

  /** Kafka's ConsumerGroup.validateOffsetFetch: a fetch that names a member epoch must match it. */
  validateOffsetFetch(
    groupId: string,
    memberId: string,
    memberEpoch: number,
  ): { errorCode: number; errorMessage: string | null } {
    const group = this.groups.get(groupId);
    if (group === undefined || memberEpoch < 0) return { errorCode: E.NONE, errorMessage: null };
    const member = group.members.get(memberId);
    if (member === undefined) {
      return {
        errorCode: E.UNKNOWN_MEMBER_ID,
        errorMessage: `Member ${memberId} is not a member of group ${groupId}.`,
      };
    }
    if (memberEpoch !== member.memberEpoch) {
      return {
        errorCode: E.STALE_MEMBER_EPOCH,
        errorMessage: `The received member epoch ${memberEpoch} does not match the expected member epoch ${member.memberEpoch}.`,
      };
    }
    return { errorCode: E.NONE, errorMessage: null };
  }

  // ---------------------------------------------------------------- loading and storage

  /**
   * Replays one `__consumer_offsets` partition: the last record per key wins, tombstones delete.
   * Members come back with their epochs and assignments and a fresh session timeout.
   */
  loadPartition(records: Iterable<CoordinatorRecord>): void {
    interface Loaded {
      epoch: number | null;
      hash: bigint;
      assignmentEpoch: number;
      members: Map<string, Buffer | null>;
      targets: Map<string, Buffer | null>;
      current: Map<string, Buffer | null>;
    }
    const loaded = new Map<string, Loaded>();
    const get = (groupId: string): Loaded => {
      let l = loaded.get(groupId);
      if (l === undefined) {
        l = { epoch: null, hash: 0n, assignmentEpoch: 0, members: new Map(), targets: new Map(), current: new Map() };
        loaded.set(groupId, l);
      }
      return l;
    };
    for (const r of records) {
      // Transaction markers (offsets committed in transactions) carry no group record.
      if (r.marker !== undefined) continue;
      const key = decodeConsumerGroupKey(r.key);
      if (key === null) continue;
      const l = get(key.groupId);
      const value = r.value === null ? null : Buffer.from(r.value);
      switch (key.type) {
        case 'group':
          if (value === null) loaded.delete(key.groupId);
          else {
            const v = decodeConsumerGroupMetadataValue(value);
            l.epoch = v.epoch;
            l.hash = v.metadataHash;
          }
          break;
        case 'targetMetadata':
          l.assignmentEpoch = value === null ? 0 : decodeTargetAssignmentMetadataValue(value).assignmentEpoch;
          break;
        case 'member':
          l.members.set(key.memberId, value);
          break;
        case 'targetMember':
          l.targets.set(key.memberId, value);
          break;
        case 'currentAssignment':
          l.current.set(key.memberId, value);
          break;
      }
    }
    for (const [groupId, l] of loaded) {
      const old = this.groups.get(groupId);
      if (old !== undefined) for (const m of old.members.values()) this.cancelTimers(m);
      if (l.epoch === null) {
        this.groups.delete(groupId);
        continue;
      }
      const group = new ConsumerGroup(groupId);
      group.groupEpoch = l.epoch;
      group.metadataHash = l.hash;
      group.assignmentEpoch = l.assignmentEpoch;
      for (const [memberId, value] of l.members) {
        if (value === null) continue;
        const v = decodeConsumerGroupMemberMetadataValue(value);
        const m = new ConsumerGroupMember(memberId);
        Object.assign(m, v);
        const current = l.current.get(memberId);
        if (current !== undefined && current !== null) {
          const c = decodeCurrentMemberAssignmentValue(current);
          m.memberEpoch = c.memberEpoch;
          m.previousMemberEpoch = c.previousMemberEpoch;
          m.state = c.state;
          m.assigned = c.assigned;
          m.pendingRevocation = c.pendingRevocation;
          for (const a of [c.assigned, c.pendingRevocation]) {
            for (const [t, ps] of a) for (const p of ps) m.partitionEpochs.set(`${t}:${p}`, c.memberEpoch);
          }
        }
        group.members.set(memberId, m);
        if (m.instanceId !== null) group.staticMembers.set(m.instanceId, memberId);
        group.updatePartitionEpochs(null, m);
        const target = l.targets.get(memberId);
        group.target.set(
          memberId,
          target === undefined || target === null ? new Map() : decodeTargetAssignmentMemberValue(target),
        );
      }
      for (const m of group.members.values()) this.scheduleSessionTimeout(group, m);
      this.groups.set(groupId, group);
      this.log.info(`Loaded consumer group ${groupId} with ${group.members.size} members.`);
    }
  }

  private async store(groupId: string, records: Records): Promise<number> {
    const partition = this.partitionFor(groupId);
    try {
      await this.append(partition, records);
      return E.NONE;
    } catch (err) {
      const code = err instanceof KafkaError ? err.code : E.UNKNOWN_SERVER_ERROR;
      if (code !== E.KAFKA_STORAGE_ERROR) this.log.error(`append to __consumer_offsets-${partition} failed: ${err}`);
      return code === E.NOT_LEADER_OR_FOLLOWER ? E.NOT_COORDINATOR : E.COORDINATOR_NOT_AVAILABLE;
    }
  }
}
