import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import type { TopicMetadataView } from '../consumer/consumer-group-coordinator.js';
import { type Scheduler, systemScheduler, type TimerHandle } from '../scheduler.js';
import { DEFAULT_SHARE_PARTITION_CONFIG, SharePartition, type SharePartitionConfig } from './share-partition.js';

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
}

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
  /** A group's epoch changed, or it was created (epoch) or deleted (null): the broker writes ShareGroupMetadata. */
  persistGroup?: (groupId: string, epoch: number | null) => void;
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
  private readonly persistGroup: (groupId: string, epoch: number | null) => void;

  constructor(options: ShareGroupCoordinatorOptions) {
    this.config = { ...DEFAULT_SHARE_GROUP_CONFIG, ...options.config };
    this.scheduler = options.scheduler ?? systemScheduler;
    this.topics = options.topics;
    this.persistFn = options.persist;
    this.groupConfig = options.groupConfig ?? (() => ({}));
    this.persistGroup = options.persistGroup ?? (() => {});
  }

  /** A share group read back from its ShareGroupMetadata record: no members, at its epoch. */
  restoreGroup(groupId: string, epoch: number): void {
    if (this.groups.has(groupId)) return;
    this.groups.set(groupId, {
      groupId,
      groupEpoch: epoch,
      assignmentEpoch: epoch,
      members: new Map(),
      metadataKey: '',
    });
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
      this.groups.set(groupId, { groupId, groupEpoch: 0, assignmentEpoch: 0, members: new Map(), metadataKey: '' });
      this.persistGroup(groupId, 0);
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
    this.persistGroup(groupId, null);
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
      this.removeMember(group, member);
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
    if (req.memberEpoch === 0) {
      if (group === undefined) {
        group = { groupId: req.groupId, groupEpoch: 0, assignmentEpoch: 0, members: new Map(), metadataKey: '' };
        this.groups.set(req.groupId, group);
      }
      if (member === undefined) {
        if (group.members.size >= this.config.maxSize) {
          throw new KafkaError(E.GROUP_MAX_SIZE_REACHED, `The share group has reached its maximum capacity.`);
        }
        member = {
          memberId: req.memberId,
          memberEpoch: 0,
          rackId: req.rackId,
          clientId: req.clientId,
          clientHost: req.clientHost,
          subscribedTopicNames: [],
          assignment: new Map(),
          sentAssignmentKey: null,
          timer: null,
        };
        group.members.set(member.memberId, member);
        changed = true;
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
    if (req.rackId !== null) member.rackId = req.rackId;
    if (req.subscribedTopicNames !== null) {
      const next = [...new Set(req.subscribedTopicNames)].sort();
      if (next.join('\0') !== member.subscribedTopicNames.join('\0')) {
        member.subscribedTopicNames = next;
        changed = true;
      }
    }
    // Topics created or grown since the assignment was computed change it too.
    const metadataKey = this.metadataKeyOf(group);
    if (metadataKey !== group.metadataKey) {
      group.metadataKey = metadataKey;
      changed = true;
    }
    if (changed) {
      group.groupEpoch++;
      this.persistGroup(group.groupId, group.groupEpoch);
    }
    if (group.assignmentEpoch < group.groupEpoch) this.assign(group);
    member.memberEpoch = group.assignmentEpoch;
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

  private removeMember(group: ShareGroup, member: ShareMember): void {
    member.timer?.cancel();
    group.members.delete(member.memberId);
    group.groupEpoch++;
    this.persistGroup(group.groupId, group.groupEpoch);
    this.assign(group);
    this.releaseMemberRecords(group.groupId, member.memberId);
  }

  private armSessionTimer(group: ShareGroup, member: ShareMember): void {
    member.timer?.cancel();
    member.timer = this.scheduler.schedule(this.config.sessionTimeoutMs, () => {
      if (group.members.get(member.memberId) === member) this.removeMember(group, member);
    });
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
  private assign(group: ShareGroup): void {
    const members = [...group.members.values()].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
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
  }
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
