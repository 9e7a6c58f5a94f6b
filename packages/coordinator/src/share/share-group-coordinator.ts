import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import type { TopicMetadataView } from '../consumer/consumer-group-coordinator.js';
import { type Scheduler, systemScheduler, type TimerHandle } from '../scheduler.js';
import {
  decodeShareGroupCurrentMemberAssignmentValue,
  decodeShareGroupKey,
  decodeShareGroupMemberMetadataValue,
  decodeShareGroupStatePartitionMetadataValue,
  decodeShareGroupTargetAssignmentMemberValue,
  decodeShareGroupTargetAssignmentMetadataValue,
  encodeShareGroupCurrentMemberAssignmentValue,
  encodeShareGroupKey,
  encodeShareGroupMemberMetadataValue,
  encodeShareGroupStatePartitionMetadataValue,
  encodeShareGroupTargetAssignmentMemberValue,
  encodeShareGroupTargetAssignmentMetadataValue,
  SHARE_GROUP_RECORD_TYPE,
} from './share-group-records.js';
import { DEFAULT_SHARE_PARTITION_CONFIG, SharePartition, type SharePartitionConfig } from './share-partition.js';
import { decodeShareGroupMetadataValue, encodeShareGroupMetadataValue } from './share-records.js';

const E = ERROR_CODES;
/** ShareGroupHeartbeat's member epoch of a member that leaves. */
export const SHARE_LEAVE_MEMBER_EPOCH = -1;
/** A bound on the length of a member id a client makes (v1: the client generates it, a UUID). */
const MAX_MEMBER_ID_LENGTH = 64;

export interface ShareGroupConfig extends SharePartitionConfig {
  /** group.share.session.timeout.ms */
  sessionTimeoutMs: number;
  /** group.share.heartbeat.interval.ms */
  heartbeatIntervalMs: number;
  /** group.share.max.size */
  maxSize: number;
}

export const DEFAULT_SHARE_GROUP_CONFIG: ShareGroupConfig = {
  ...DEFAULT_SHARE_PARTITION_CONFIG,
  sessionTimeoutMs: 45_000,
  heartbeatIntervalMs: 5_000,
  maxSize: 200,
};

export interface ShareGroupHeartbeatInput {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  rackId: string | null;
  /** null: unchanged since the last heartbeat. */
  subscribedTopicNames: string[] | null;
  clientId: string;
  clientHost: string;
}

export interface ShareAssignmentTopic {
  topicId: string;
  partitions: number[];
}

export interface ShareGroupHeartbeatResult {
  errorCode: number;
  errorMessage: string | null;
  memberId: string | null;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /** null when the member already has this assignment. */
  assignment: { topicPartitions: ShareAssignmentTopic[] } | null;
}

interface ShareMember {
  memberId: string;
  memberEpoch: number;
  previousMemberEpoch: number;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
  /** topicId -> partitions, as last computed. */
  assignment: Map<string, number[]>;
  /** The assignment's key as last sent, so an unchanged one is not sent again. */
  sentAssignmentKey: string | null;
  timer: TimerHandle | null;
}

interface ShareGroup {
  groupId: string;
  groupEpoch: number;
  assignmentEpoch: number;
  members: Map<string, ShareMember>;
  /** The subscribed topics' ids and partition counts the assignment was computed from. */
  metadataKey: string;
  /** Share-partitions with state at the share coordinator (ShareGroupStatePartitionMetadata), by topic id. */
  initialized: Map<string, TopicPartitionSet>;
  /** Share-partitions whose InitializeShareGroupState is under way. */
  initializing: Map<string, TopicPartitionSet>;
  /** Topics whose share state is being deleted: topic id -> name. */
  deleting: Map<string, string>;
}

interface TopicPartitionSet {
  name: string;
  partitions: Set<number>;
}

/** A `__consumer_offsets` record of a share group (a null value is a tombstone). */
export interface ShareGroupRecord {
  key: Buffer;
  value: Buffer | null;
}

/** Share-partitions to initialize at the share coordinator, and what each answered (0: initialized). */
export type ShareStateInitializer = (
  groupId: string,
  stateEpoch: number,
  topics: { topicId: string; partitions: number[] }[],
) => Promise<{ topicId: string; partition: number; errorCode: number }[]>;

export interface DescribedShareGroup {
  groupId: string;
  groupState: 'Empty' | 'Stable' | 'Dead';
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  members: {
    memberId: string;
    rackId: string | null;
    memberEpoch: number;
    clientId: string;
    clientHost: string;
    subscribedTopicNames: string[];
    assignment: { topicId: string; topicName: string; partitions: number[] }[];
  }[];
}

/** A change of share-partition state to persist (the broker writes it to `__share_group_state`). */
export type SharePartitionPersist = (
  groupId: string,
  topicId: string,
  partition: number,
  /** null: the share-partition's state is deleted (a tombstone). */
  sp: SharePartition | null,
) => void;

export interface ShareGroupCoordinatorOptions {
  config?: Partial<ShareGroupConfig>;
  topics: TopicMetadataView;
  scheduler?: Scheduler;
  persist?: SharePartitionPersist;
  /** A group's own settings (group configs), applied to its share-partitions when they are created. */
  groupConfig?: (groupId: string) => Partial<SharePartitionConfig>;
  /**
   * Appends a group's records (Kafka's ShareGroup* records: metadata, members, target and current
   * assignments, initialized share-partitions) to its `__consumer_offsets` partition.
   */
  appendRecords?: (groupId: string, records: ShareGroupRecord[]) => void;
  /**
   * Initializes share-partitions at the share coordinator (InitializeShareGroupState) when a subscribed
   * topic's partitions are first assigned, as Kafka's group coordinator does; none: they are initialized
   * lazily by their partition leader.
   */
  initializeState?: ShareStateInitializer;
}

/**
 * Share groups (KIP-932): membership through ShareGroupHeartbeat with member and group epochs, the `simple`
 * assignor (a partition may go to several members: queue semantics), and the share-partitions of every
 * group, whose records members acquire and acknowledge one by one.
 */
export class ShareGroupCoordinator {
  readonly config: ShareGroupConfig;
  private readonly scheduler: Scheduler;
  private readonly topics: TopicMetadataView;
  private readonly groups = new Map<string, ShareGroup>();
  private readonly partitions = new Map<string, SharePartition>();
  private readonly persistFn: SharePartitionPersist | undefined;
  private readonly groupConfig: (groupId: string) => Partial<SharePartitionConfig>;
  private readonly appendRecords: (groupId: string, records: ShareGroupRecord[]) => void;
  private readonly initializeState: ShareStateInitializer | undefined;

  constructor(options: ShareGroupCoordinatorOptions) {
    this.config = { ...DEFAULT_SHARE_GROUP_CONFIG, ...options.config };
    this.scheduler = options.scheduler ?? systemScheduler;
    this.topics = options.topics;
    this.persistFn = options.persist;
    this.groupConfig = options.groupConfig ?? (() => ({}));
    this.appendRecords = options.appendRecords ?? (() => {});
    this.initializeState = options.initializeState;
  }

  /**
   * Replays share-group records of one `__consumer_offsets` partition (broker start, or its leadership
   * moved here): groups come back with their epochs, members with their epochs and assignments, and
   * which share-partitions are initialized. Members get a fresh session timeout. Returns the groups loaded.
   */
  loadRecords(records: Iterable<{ key: Buffer; value: Buffer | null }>, onError?: (err: unknown) => void): number {
    const loaded = new Map<string, ShareGroup>();
    // Groups whose latest record so far is a ShareGroupMetadata tombstone.
    const deleted = new Set<string>();
    const groupOf = (groupId: string): ShareGroup => {
      deleted.delete(groupId);
      let g = loaded.get(groupId);
      if (g === undefined) {
        g = newGroup(groupId);
        loaded.set(groupId, g);
      }
      return g;
    };
    const memberOf = (g: ShareGroup, memberId: string): ShareMember => {
      let m = g.members.get(memberId);
      if (m === undefined) {
        m = newMember(memberId, null, '', '');
        g.members.set(memberId, m);
      }
      return m;
    };
    // Members seen with metadata (a member without it was removed, or its records were compacted away).
    const withMetadata = new Set<ShareMember>();
    for (const r of records) {
      try {
        const k = decodeShareGroupKey(r.key);
        if (k === null) continue;
        const value = r.value;
        if (value === null) {
          // Tombstones: the group (deleted), a member (left), its target assignment; the rest goes with them.
          const g = loaded.get(k.groupId);
          if (k.type === 'group') {
            loaded.set(k.groupId, newGroup(k.groupId));
            deleted.add(k.groupId);
          } else if (g !== undefined && 'memberId' in k && k.type !== 'currentAssignment') {
            const m = g.members.get(k.memberId);
            if (m !== undefined && k.type === 'member') {
              g.members.delete(k.memberId);
              withMetadata.delete(m);
            } else if (m !== undefined) m.assignment = new Map();
          } else if (g !== undefined && k.type === 'statePartitions') {
            g.initialized = new Map();
            g.deleting = new Map();
          }
          continue;
        }
        const g = groupOf(k.groupId);
        if (k.type === 'group') {
          g.groupEpoch = decodeShareGroupMetadataValue(value).epoch;
        } else if (k.type === 'targetMetadata') {
          g.assignmentEpoch = decodeShareGroupTargetAssignmentMetadataValue(value).assignmentEpoch;
        } else if (k.type === 'statePartitions') {
          const v = decodeShareGroupStatePartitionMetadataValue(value);
          g.initialized = toTopicSets(v.initializedTopics);
          // An initialization cut off by the restart is done again on the next heartbeat.
          g.initializing = new Map();
          g.deleting = new Map(v.deletingTopics.map((t) => [t.topicId, t.topicName]));
        } else if (k.type === 'member') {
          const m = memberOf(g, k.memberId);
          const v = decodeShareGroupMemberMetadataValue(value);
          Object.assign(m, {
            rackId: v.rackId,
            clientId: v.clientId,
            clientHost: v.clientHost,
            subscribedTopicNames: [...v.subscribedTopicNames].sort(),
          });
          withMetadata.add(m);
        } else if (k.type === 'targetMember') {
          memberOf(g, k.memberId).assignment = sortedLists(decodeShareGroupTargetAssignmentMemberValue(value));
        } else if (k.type === 'currentAssignment') {
          const v = decodeShareGroupCurrentMemberAssignmentValue(value);
          const m = memberOf(g, k.memberId);
          m.memberEpoch = v.memberEpoch;
          m.previousMemberEpoch = v.previousMemberEpoch;
          m.sentAssignmentKey = assignmentKey(sortedLists(v.assigned));
        }
      } catch (err) {
        onError?.(err);
      }
    }
    let n = 0;
    for (const g of loaded.values()) {
      const existing = this.groups.get(g.groupId);
      if (existing !== undefined) for (const m of existing.members.values()) m.timer?.cancel();
      if (deleted.has(g.groupId)) {
        this.groups.delete(g.groupId);
        continue;
      }
      for (const m of [...g.members.values()]) if (!withMetadata.has(m)) g.members.delete(m.memberId);
      g.metadataKey = this.metadataKeyOf(g);
      this.groups.set(g.groupId, g);
      for (const m of g.members.values()) this.armSessionTimer(g, m);
      n++;
    }
    return n;
  }

  /** Forgets share groups without members (their coordinator moved to another broker); returns how many. */
  unloadGroups(groupIds: Iterable<string>): number {
    let n = 0;
    for (const id of groupIds) {
      const g = this.groups.get(id);
      if (g === undefined) continue;
      for (const m of g.members.values()) m.timer?.cancel();
      this.groups.delete(id);
      n++;
    }
    return n;
  }

  has(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  /** Creates an empty share group if there is none (AlterShareGroupOffsets on a new group, as Kafka does). */
  ensureGroup(groupId: string): void {
    if (!this.groups.has(groupId)) {
      this.groups.set(groupId, newGroup(groupId));
      this.appendRecords(groupId, [groupEpochRecord(groupId, 0)]);
    }
  }

  /** Members of a share group now (0 when it does not exist). */
  memberCount(groupId: string): number {
    return this.groups.get(groupId)?.members.size ?? 0;
  }

  /** Forgets a share group without members and its share-partitions (DeleteGroups). */
  deleteGroup(groupId: string): boolean {
    const g = this.groups.get(groupId);
    if (g === undefined || g.members.size > 0) return false;
    this.groups.delete(groupId);
    const T = SHARE_GROUP_RECORD_TYPE;
    this.appendRecords(groupId, [
      { key: encodeShareGroupKey(T.STATE_PARTITION_METADATA, groupId), value: null },
      { key: encodeShareGroupKey(T.TARGET_ASSIGNMENT_METADATA, groupId), value: null },
      { key: encodeShareGroupKey(T.GROUP_METADATA, groupId), value: null },
    ]);
    for (const [topicId, p] of this.sharePartitionsOf(groupId)) this.resetSharePartition(groupId, topicId, p, null);
    return true;
  }

  /** Whether `memberId` is a member of the share group now. */
  isMember(groupId: string, memberId: string): boolean {
    return this.groups.get(groupId)?.members.has(memberId) ?? false;
  }

  list(statesFilter: readonly string[] = []): { groupId: string; state: string }[] {
    const out: { groupId: string; state: string }[] = [];
    for (const g of this.groups.values()) {
      const state = stateOf(g);
      if (statesFilter.length === 0 || statesFilter.some((s) => s.toLowerCase() === state.toLowerCase())) {
        out.push({ groupId: g.groupId, state });
      }
    }
    return out;
  }

  heartbeat(req: ShareGroupHeartbeatInput): ShareGroupHeartbeatResult {
    try {
      return this.doHeartbeat(req);
    } catch (err) {
      const code = err instanceof KafkaError ? err.code : E.UNKNOWN_SERVER_ERROR;
      return {
        errorCode: code,
        errorMessage: err instanceof Error ? err.message : String(err),
        memberId: null,
        memberEpoch: 0,
        heartbeatIntervalMs: 0,
        assignment: null,
      };
    }
  }

  private doHeartbeat(req: ShareGroupHeartbeatInput): ShareGroupHeartbeatResult {
    if (req.groupId === '') throw new KafkaError(E.INVALID_REQUEST, 'GroupId can not be empty.');
    if (req.memberId === '' || req.memberId.length > MAX_MEMBER_ID_LENGTH) {
      throw new KafkaError(E.INVALID_REQUEST, 'MemberId can not be empty.');
    }
    if (req.memberEpoch < SHARE_LEAVE_MEMBER_EPOCH) {
      throw new KafkaError(E.INVALID_REQUEST, 'MemberEpoch is invalid.');
    }
    if (req.memberEpoch === 0 && (req.subscribedTopicNames === null || req.subscribedTopicNames.length === 0)) {
      throw new KafkaError(E.INVALID_REQUEST, 'SubscribedTopicNames must be set in first request.');
    }
    let group = this.groups.get(req.groupId);
    if (req.memberEpoch === SHARE_LEAVE_MEMBER_EPOCH) {
      const member = group?.members.get(req.memberId);
      if (group === undefined || member === undefined) {
        throw new KafkaError(E.UNKNOWN_MEMBER_ID, `Member ${req.memberId} is not a member of group ${req.groupId}.`);
      }
      this.appendRecords(group.groupId, this.removeMember(group, member));
      return {
        errorCode: 0,
        errorMessage: null,
        memberId: req.memberId,
        memberEpoch: SHARE_LEAVE_MEMBER_EPOCH,
        heartbeatIntervalMs: 0,
        assignment: null,
      };
    }
    let member = group?.members.get(req.memberId);
    // One heartbeat that changes the group (a new member, a subscription, topic metadata) bumps its epoch once.
    let changed = false;
    let memberChanged = false;
    if (req.memberEpoch === 0) {
      if (group === undefined) {
        group = newGroup(req.groupId);
        this.groups.set(req.groupId, group);
      }
      if (member === undefined) {
        if (group.members.size >= this.config.maxSize) {
          throw new KafkaError(E.GROUP_MAX_SIZE_REACHED, `The share group has reached its maximum capacity.`);
        }
        member = newMember(req.memberId, req.rackId, req.clientId, req.clientHost);
        group.members.set(member.memberId, member);
        changed = true;
        memberChanged = true;
      }
      // Joining again with epoch 0 asks for the full assignment.
      member.sentAssignmentKey = null;
    } else {
      // As Kafka: a group that does not exist is not found; a member it does not know is unknown.
      if (group === undefined) throw new KafkaError(E.GROUP_ID_NOT_FOUND, `Group ${req.groupId} not found.`);
      if (member === undefined) {
        throw new KafkaError(E.UNKNOWN_MEMBER_ID, `Member ${req.memberId} is not a member of group ${req.groupId}.`);
      }
      if (req.memberEpoch !== member.memberEpoch) {
        throw new KafkaError(
          E.FENCED_MEMBER_EPOCH,
          `The share group member has a smaller member epoch (${req.memberEpoch}) than the one known by the group coordinator (${member.memberEpoch}).`,
        );
      }
    }
    if (req.rackId !== null && req.rackId !== member.rackId) {
      member.rackId = req.rackId;
      memberChanged = true;
    }
    if (req.subscribedTopicNames !== null) {
      const next = [...new Set(req.subscribedTopicNames)].sort();
      if (next.join('\0') !== member.subscribedTopicNames.join('\0')) {
        member.subscribedTopicNames = next;
        changed = true;
        memberChanged = true;
      }
    }
    // Kafka's order: member metadata, group epoch, target assignment, the member's current assignment.
    const records: ShareGroupRecord[] = [];
    if (memberChanged) records.push(memberMetadataRecord(group.groupId, member));
    // Topics created or grown since the assignment was computed change it too.
    const metadataKey = this.metadataKeyOf(group);
    if (metadataKey !== group.metadataKey) {
      group.metadataKey = metadataKey;
      changed = true;
    }
    if (changed) {
      group.groupEpoch++;
      records.push(groupEpochRecord(group.groupId, group.groupEpoch));
    }
    if (group.assignmentEpoch < group.groupEpoch) records.push(...this.assign(group));
    if (member.memberEpoch !== group.assignmentEpoch) {
      member.previousMemberEpoch = member.memberEpoch;
      member.memberEpoch = group.assignmentEpoch;
      records.push(currentAssignmentRecord(group.groupId, member));
    }
    const initialize = this.partitionsToInitialize(group);
    if (initialize.length > 0) records.push(statePartitionsRecord(group));
    if (records.length > 0) this.appendRecords(group.groupId, records);
    if (initialize.length > 0) this.startInitialize(group, initialize);
    this.armSessionTimer(group, member);
    const key = assignmentKey(member.assignment);
    const newAssignment = key !== member.sentAssignmentKey;
    member.sentAssignmentKey = key;
    return {
      errorCode: 0,
      errorMessage: null,
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      assignment: newAssignment
        ? { topicPartitions: [...member.assignment].map(([topicId, partitions]) => ({ topicId, partitions })) }
        : null,
    };
  }

  describe(
    groupIds: readonly string[],
  ): (DescribedShareGroup | { groupId: string; errorCode: number; errorMessage: string })[] {
    return groupIds.map((groupId) => {
      const g = this.groups.get(groupId);
      if (g === undefined) {
        return { groupId, errorCode: E.GROUP_ID_NOT_FOUND, errorMessage: `Group ${groupId} not found.` };
      }
      return {
        groupId,
        groupState: stateOf(g),
        groupEpoch: g.groupEpoch,
        assignmentEpoch: g.assignmentEpoch,
        assignorName: 'simple',
        members: [...g.members.values()].map((m) => ({
          memberId: m.memberId,
          rackId: m.rackId,
          memberEpoch: m.memberEpoch,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscribedTopicNames: m.subscribedTopicNames,
          assignment: [...m.assignment].map(([topicId, partitions]) => ({
            topicId,
            topicName: this.topics.nameOf(topicId) ?? '',
            partitions,
          })),
        })),
      };
    });
  }

  /**
   * The share-partition of (group, topic, partition), created at `initialOffset()` (share.auto.offset.reset:
   * the log end offset for `latest`, the log start for `earliest`) the first time a member fetches it.
   */
  sharePartition(groupId: string, topicId: string, partition: number, initialOffset: () => bigint): SharePartition {
    const key = partitionKey(groupId, topicId, partition);
    let sp = this.partitions.get(key);
    if (sp === undefined) {
      sp = new SharePartition(initialOffset(), this.partitionConfig(groupId));
      this.partitions.set(key, sp);
      this.persist(groupId, topicId, partition, sp);
    }
    return sp;
  }

  /** The share-partition settings of a group: the broker's, with the group's own configs over them. */
  partitionConfig(groupId: string): SharePartitionConfig {
    const { lockDurationMs, deliveryCountLimit, maxRecordLocks } = this.config;
    return { lockDurationMs, deliveryCountLimit, maxRecordLocks, ...this.groupConfig(groupId) };
  }

  /** An existing share-partition, or undefined when no member has fetched it yet. */
  existingSharePartition(groupId: string, topicId: string, partition: number): SharePartition | undefined {
    return this.partitions.get(partitionKey(groupId, topicId, partition));
  }

  /** Share-partitions of a group, as [topicId, partition, state]. */
  sharePartitionsOf(groupId: string): [string, number, SharePartition][] {
    const out: [string, number, SharePartition][] = [];
    const prefix = `${groupId}\0`;
    for (const [key, sp] of this.partitions) {
      if (!key.startsWith(prefix)) continue;
      const [, topicId, p] = key.split('\0');
      out.push([topicId as string, Number(p), sp]);
    }
    return out;
  }

  /** Writes a share-partition's state after a change (acquire, acknowledge, release). */
  persist(groupId: string, topicId: string, partition: number, sp: SharePartition): void {
    this.persistFn?.(groupId, topicId, partition, sp);
  }

  /** A share-partition read back from `__share_group_state` (broker start). */
  restoreSharePartition(groupId: string, topicId: string, partition: number, sp: SharePartition): void {
    this.partitions.set(partitionKey(groupId, topicId, partition), sp);
  }

  /** Forgets a share-partition held here without persisting anything (its persisted state is newer elsewhere). */
  unloadSharePartition(groupId: string, topicId: string, partition: number): void {
    this.partitions.delete(partitionKey(groupId, topicId, partition));
  }

  /** Forgets every group's share-partition of a topic partition another broker leads now; returns how many. */
  unloadTopicPartition(topicId: string, partition: number): number {
    let n = 0;
    const suffix = `\0${topicId}\0${partition}`;
    for (const key of [...this.partitions.keys()]) {
      if (key.endsWith(suffix)) {
        this.partitions.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Replaces a share-partition's state (AlterShareGroupOffsets) or forgets it (DeleteShareGroupOffsets). */
  resetSharePartition(groupId: string, topicId: string, partition: number, offset: bigint | null): void {
    const key = partitionKey(groupId, topicId, partition);
    if (offset === null) {
      if (this.partitions.delete(key)) this.persistFn?.(groupId, topicId, partition, null);
      return;
    }
    let sp = this.partitions.get(key);
    if (sp === undefined) {
      sp = new SharePartition(offset, this.partitionConfig(groupId));
      this.partitions.set(key, sp);
    } else {
      sp.reset(offset);
    }
    this.persist(groupId, topicId, partition, sp);
  }

  /** Releases what a member holds in every share-partition of its group (it left, or its session closed). */
  releaseMemberRecords(groupId: string, memberId: string): void {
    const now = this.scheduler.now();
    for (const [topicId, p, sp] of this.sharePartitionsOf(groupId)) {
      if (sp.releaseMember(memberId, now) > 0) this.persist(groupId, topicId, p, sp);
    }
  }

  /** Stops every timer (broker shutdown). */
  close(): void {
    for (const g of this.groups.values()) for (const m of g.members.values()) m.timer?.cancel();
  }

  /** Removes a member; returns the records that say so (tombstones, the new epoch and target assignment). */
  private removeMember(group: ShareGroup, member: ShareMember): ShareGroupRecord[] {
    member.timer?.cancel();
    group.members.delete(member.memberId);
    const T = SHARE_GROUP_RECORD_TYPE;
    const records: ShareGroupRecord[] = [
      { key: encodeShareGroupKey(T.CURRENT_MEMBER_ASSIGNMENT, group.groupId, member.memberId), value: null },
      { key: encodeShareGroupKey(T.TARGET_ASSIGNMENT_MEMBER, group.groupId, member.memberId), value: null },
      { key: encodeShareGroupKey(T.MEMBER_METADATA, group.groupId, member.memberId), value: null },
    ];
    group.groupEpoch++;
    records.push(groupEpochRecord(group.groupId, group.groupEpoch));
    records.push(...this.assign(group));
    this.releaseMemberRecords(group.groupId, member.memberId);
    return records;
  }

  private armSessionTimer(group: ShareGroup, member: ShareMember): void {
    member.timer?.cancel();
    member.timer = this.scheduler.schedule(this.config.sessionTimeoutMs, () => {
      if (group.members.get(member.memberId) === member) {
        this.appendRecords(group.groupId, this.removeMember(group, member));
      }
    });
  }

  /**
   * Partitions of the group's subscribed topics with no share state yet and none on the way (Kafka's
   * maybeCreateInitializeShareGroupStateRequest); they are marked initializing. Empty without an initializer.
   */
  private partitionsToInitialize(group: ShareGroup): { topicId: string; partitions: number[] }[] {
    if (this.initializeState === undefined) return [];
    const names = new Set<string>();
    for (const m of group.members.values()) for (const t of m.subscribedTopicNames) names.add(t);
    const out: { topicId: string; partitions: number[] }[] = [];
    for (const name of [...names].sort()) {
      const topic = this.topics.byName(name);
      if (topic === undefined || group.deleting.has(topic.topicId)) continue;
      const done = group.initialized.get(topic.topicId)?.partitions;
      const running = group.initializing.get(topic.topicId)?.partitions;
      const partitions: number[] = [];
      for (let p = 0; p < topic.partitionCount; p++) if (!done?.has(p) && !running?.has(p)) partitions.push(p);
      if (partitions.length === 0) continue;
      addPartitions(group.initializing, topic.topicId, name, partitions);
      out.push({ topicId: topic.topicId, partitions });
    }
    return out;
  }

  /** Sends InitializeShareGroupState; what succeeded moves to initialized, the rest is tried on a later heartbeat. */
  private startInitialize(group: ShareGroup, topics: { topicId: string; partitions: number[] }[]): void {
    const initializer = this.initializeState;
    if (initializer === undefined) return;
    const settle = (results: { topicId: string; partition: number; errorCode: number }[]) => {
      if (this.groups.get(group.groupId) !== group) return;
      for (const t of topics) {
        const running = group.initializing.get(t.topicId);
        for (const p of t.partitions) running?.partitions.delete(p);
        if (running !== undefined && running.partitions.size === 0) group.initializing.delete(t.topicId);
      }
      const ok = results.filter((r) => r.errorCode === 0);
      for (const r of ok) {
        addPartitions(group.initialized, r.topicId, this.topics.nameOf(r.topicId) ?? '', [r.partition]);
      }
      this.appendRecords(group.groupId, [statePartitionsRecord(group)]);
    };
    initializer(group.groupId, group.groupEpoch, topics).then(settle, () => settle([]));
  }

  /** Share-partitions of a group recorded as initialized at the share coordinator, by topic id. */
  initializedPartitions(groupId: string): Map<string, number[]> {
    const g = this.groups.get(groupId);
    return new Map([...(g?.initialized ?? [])].map(([t, s]) => [t, [...s.partitions].sort((a, b) => a - b)] as const));
  }

  /**
   * Records share-partitions as initialized (AlterShareGroupOffsets) or no longer (null partitions: the
   * topic's state was deleted, DeleteShareGroupOffsets), and writes ShareGroupStatePartitionMetadata.
   */
  markInitialized(groupId: string, topicId: string, partitions: number[] | null): void {
    const g = this.groups.get(groupId);
    if (g === undefined) return;
    if (partitions === null) {
      g.initialized.delete(topicId);
      g.initializing.delete(topicId);
    } else addPartitions(g.initialized, topicId, this.topics.nameOf(topicId) ?? '', partitions);
    this.appendRecords(groupId, [statePartitionsRecord(g)]);
  }

  private metadataKeyOf(group: ShareGroup): string {
    const names = new Set<string>();
    for (const m of group.members.values()) for (const t of m.subscribedTopicNames) names.add(t);
    return [...names]
      .sort()
      .map((n) => {
        const t = this.topics.byName(n);
        return t === undefined ? `${n}:-` : `${n}:${t.topicId}:${t.partitionCount}`;
      })
      .join(',');
  }

  /**
   * The `simple` assignor: per topic, its partitions are spread over the members subscribed to it; with
   * more members than partitions every member gets one partition and a partition is shared by several
   * members (records of a share-partition go to one member at a time anyway).
   */
  private assign(group: ShareGroup): ShareGroupRecord[] {
    const members = [...group.members.values()].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
    const before = new Map(members.map((m) => [m, assignmentKey(m.assignment)]));
    for (const m of members) m.assignment = new Map();
    const topicNames = new Set<string>();
    for (const m of members) for (const t of m.subscribedTopicNames) topicNames.add(t);
    for (const name of [...topicNames].sort()) {
      const topic = this.topics.byName(name);
      if (topic === undefined || topic.partitionCount === 0) continue;
      const subscribers = members.filter((m) => m.subscribedTopicNames.includes(name));
      const count = topic.partitionCount;
      const give = (m: ShareMember, p: number) => {
        const list = m.assignment.get(topic.topicId) ?? [];
        list.push(p);
        m.assignment.set(topic.topicId, list);
      };
      if (subscribers.length <= count) {
        for (let p = 0; p < count; p++) give(subscribers[p % subscribers.length] as ShareMember, p);
      } else {
        subscribers.forEach((m, i) => {
          give(m, i % count);
        });
      }
    }
    group.assignmentEpoch = group.groupEpoch;
    const T = SHARE_GROUP_RECORD_TYPE;
    const records: ShareGroupRecord[] = [];
    for (const m of members) {
      if (before.get(m) === assignmentKey(m.assignment)) continue;
      records.push({
        key: encodeShareGroupKey(T.TARGET_ASSIGNMENT_MEMBER, group.groupId, m.memberId),
        value: encodeShareGroupTargetAssignmentMemberValue(toAssignment(m.assignment)),
      });
    }
    records.push({
      key: encodeShareGroupKey(T.TARGET_ASSIGNMENT_METADATA, group.groupId),
      value: encodeShareGroupTargetAssignmentMetadataValue(group.assignmentEpoch),
    });
    return records;
  }
}

/** A group with no members at epoch 0. */
function newGroup(groupId: string): ShareGroup {
  return {
    groupId,
    groupEpoch: 0,
    assignmentEpoch: 0,
    members: new Map(),
    metadataKey: '',
    initialized: new Map(),
    initializing: new Map(),
    deleting: new Map(),
  };
}

function newMember(memberId: string, rackId: string | null, clientId: string, clientHost: string): ShareMember {
  return {
    memberId,
    memberEpoch: 0,
    previousMemberEpoch: 0,
    rackId,
    clientId,
    clientHost,
    subscribedTopicNames: [],
    assignment: new Map(),
    sentAssignmentKey: null,
    timer: null,
  };
}

function addPartitions(m: Map<string, TopicPartitionSet>, topicId: string, name: string, ps: number[]): void {
  let s = m.get(topicId);
  if (s === undefined) {
    s = { name, partitions: new Set() };
    m.set(topicId, s);
  }
  for (const p of ps) s.partitions.add(p);
}

function toTopicSets(topics: { topicId: string; topicName: string; partitions: number[] }[]) {
  return new Map(topics.map((t) => [t.topicId, { name: t.topicName, partitions: new Set(t.partitions) }]));
}

function sortedLists(a: Map<string, Set<number>>): Map<string, number[]> {
  return new Map([...a].map(([t, ps]) => [t, [...ps].sort((x, y) => x - y)]));
}

function toAssignment(a: Map<string, number[]>): Map<string, Set<number>> {
  return new Map([...a].map(([t, ps]) => [t, new Set(ps)]));
}

function groupEpochRecord(groupId: string, epoch: number): ShareGroupRecord {
  return {
    key: encodeShareGroupKey(SHARE_GROUP_RECORD_TYPE.GROUP_METADATA, groupId),
    value: encodeShareGroupMetadataValue(epoch),
  };
}

function memberMetadataRecord(groupId: string, m: ShareMember): ShareGroupRecord {
  return {
    key: encodeShareGroupKey(SHARE_GROUP_RECORD_TYPE.MEMBER_METADATA, groupId, m.memberId),
    value: encodeShareGroupMemberMetadataValue({
      rackId: m.rackId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      subscribedTopicNames: m.subscribedTopicNames,
    }),
  };
}

function currentAssignmentRecord(groupId: string, m: ShareMember): ShareGroupRecord {
  return {
    key: encodeShareGroupKey(SHARE_GROUP_RECORD_TYPE.CURRENT_MEMBER_ASSIGNMENT, groupId, m.memberId),
    value: encodeShareGroupCurrentMemberAssignmentValue({
      memberEpoch: m.memberEpoch,
      previousMemberEpoch: m.previousMemberEpoch,
      state: 0,
      assigned: toAssignment(m.assignment),
    }),
  };
}

function statePartitionsRecord(g: ShareGroup): ShareGroupRecord {
  const list = (m: Map<string, TopicPartitionSet>) =>
    [...m].map(([topicId, s]) => ({
      topicId,
      topicName: s.name,
      partitions: [...s.partitions].sort((a, b) => a - b),
    }));
  return {
    key: encodeShareGroupKey(SHARE_GROUP_RECORD_TYPE.STATE_PARTITION_METADATA, g.groupId),
    value: encodeShareGroupStatePartitionMetadataValue({
      initializingTopics: list(g.initializing),
      initializedTopics: list(g.initialized),
      deletingTopics: [...g.deleting].map(([topicId, topicName]) => ({ topicId, topicName })),
    }),
  };
}

function stateOf(g: ShareGroup): 'Empty' | 'Stable' {
  return g.members.size === 0 ? 'Empty' : 'Stable';
}

function partitionKey(groupId: string, topicId: string, partition: number): string {
  return `${groupId}\0${topicId}\0${partition}`;
}

function assignmentKey(a: Map<string, number[]>): string {
  return [...a]
    .map(([t, ps]) => `${t}:${ps.join(',')}`)
    .sort()
    .join(';');
}
