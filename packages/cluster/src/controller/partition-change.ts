import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { NO_LEADER, type PartitionRecord } from '../model.js';

/**
 * Kafka's election kinds (PartitionChangeBuilder.Election): ONLINE picks a live ISR member,
 * PREFERRED tries the first replica first, UNCLEAN may fall back to a live replica outside the ISR.
 */
export type ElectionKind = 'online' | 'preferred' | 'unclean';

/** Whether a broker may lead: registered, not fenced, not in controlled shutdown. */
export type IsActive = (nodeId: number) => boolean;

export interface PartitionChangeRequest {
  /** The ISR wanted; the current one if absent. An empty target keeps the last member (no ELR). */
  targetIsr?: readonly number[];
  /** A new replica list (reassignment); the current one if absent. */
  targetReplicas?: readonly number[];
  targetAdding?: readonly number[];
  targetRemoving?: readonly number[];
  election?: ElectionKind;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function containsAll(superset: readonly number[], subset: readonly number[]): boolean {
  return subset.every((x) => superset.includes(x));
}

/** The leader Kafka's rules choose, and whether choosing it was unclean. */
export function electLeader(
  current: PartitionRecord,
  targetIsr: readonly number[],
  targetReplicas: readonly number[],
  election: ElectionKind,
  isActive: IsActive,
): { leader: number; unclean: boolean } {
  const valid = (id: number) => targetIsr.includes(id) && isActive(id);
  if (election === 'preferred') {
    if (targetReplicas.length > 0 && valid(targetReplicas[0])) return { leader: targetReplicas[0], unclean: false };
    if (current.leader !== NO_LEADER && valid(current.leader)) return { leader: current.leader, unclean: false };
    const next = targetReplicas.slice(1).find(valid);
    return { leader: next ?? NO_LEADER, unclean: false };
  }
  // A leader that is still valid keeps its leadership: no needless epoch bump.
  if (current.leader !== NO_LEADER && valid(current.leader)) return { leader: current.leader, unclean: false };
  const clean = targetReplicas.find(valid);
  if (clean !== undefined) return { leader: clean, unclean: false };
  if (election === 'unclean') {
    const any = targetReplicas.find(isActive);
    if (any !== undefined) return { leader: any, unclean: true };
  }
  return { leader: NO_LEADER, unclean: false };
}

/**
 * The next record for a partition after a change, with Kafka's PartitionChangeBuilder semantics,
 * or null when nothing changes. A new leader bumps the leader epoch; so does a replica set that
 * drops a replica; any change bumps the partition epoch. Without eligible leader replicas (ELR,
 * not modelled) the ISR never becomes empty: removing its last member leaves it in place and the
 * partition without a leader. An unclean election sets the ISR to the new leader alone.
 */
export function buildPartitionChange(
  current: PartitionRecord,
  request: PartitionChangeRequest,
  isActive: IsActive,
): PartitionRecord | null {
  let targetIsr = [...(request.targetIsr ?? current.isr)];
  let targetReplicas = [...(request.targetReplicas ?? current.replicas)];
  let targetAdding = [...(request.targetAdding ?? current.addingReplicas)];
  let targetRemoving = [...(request.targetRemoving ?? current.removingReplicas)];

  // A reassignment completes once every adding replica is in the ISR: drop the removed ones.
  if ((targetAdding.length > 0 || targetRemoving.length > 0) && containsAll(targetIsr, targetAdding)) {
    const remainingIsr = targetIsr.filter((id) => !targetRemoving.includes(id));
    if (remainingIsr.length > 0) {
      targetIsr = remainingIsr;
      targetReplicas = targetReplicas.filter((id) => !targetRemoving.includes(id));
      targetAdding = [];
      targetRemoving = [];
    }
  }

  const next: PartitionRecord = { ...current };
  let leaderChanged = false;
  const { leader, unclean } = electLeader(current, targetIsr, targetReplicas, request.election ?? 'online', isActive);
  if (leader !== current.leader) {
    next.leader = leader;
    leaderChanged = true;
    if (unclean) next.isr = [leader];
  }
  if (!unclean && targetIsr.length > 0 && !sameList(targetIsr, current.isr)) next.isr = targetIsr;
  // Dropping a replica ends its leadership view of the partition: the leader epoch moves too.
  if (!leaderChanged && !containsAll(targetReplicas, current.replicas)) leaderChanged = true;
  if (!sameList(targetReplicas, current.replicas)) next.replicas = targetReplicas;
  if (!sameList(targetAdding, current.addingReplicas)) next.addingReplicas = targetAdding;
  if (!sameList(targetRemoving, current.removingReplicas)) next.removingReplicas = targetRemoving;

  const changed =
    leaderChanged ||
    !sameList(next.isr, current.isr) ||
    !sameList(next.replicas, current.replicas) ||
    !sameList(next.addingReplicas, current.addingReplicas) ||
    !sameList(next.removingReplicas, current.removingReplicas);
  if (!changed) return null;
  if (leaderChanged) next.leaderEpoch = current.leaderEpoch + 1;
  next.partitionEpoch = current.partitionEpoch + 1;
  return next;
}

/**
 * What the controller writes when a broker is fenced (its registration lapsed) or enters
 * controlled shutdown (Kafka's handleBrokerFenced / handleBrokerInControlledShutdown): it leaves
 * the ISR of every partition it is in, and partitions it led elect a new leader from the rest of
 * the ISR (unclean only where `uncleanFor(topicId)` says `unclean.leader.election.enable`).
 */
export function changesForBrokerRemoval(
  partitions: Iterable<PartitionRecord>,
  brokerId: number,
  isActive: IsActive,
  uncleanFor: (topicId: string) => boolean,
): PartitionRecord[] {
  const active: IsActive = (id) => id !== brokerId && isActive(id);
  const out: PartitionRecord[] = [];
  for (const p of partitions) {
    if (!p.isr.includes(brokerId)) continue;
    const next = buildPartitionChange(
      p,
      { targetIsr: p.isr.filter((id) => id !== brokerId), election: uncleanFor(p.topicId) ? 'unclean' : 'online' },
      active,
    );
    if (next) out.push(next);
  }
  return out;
}

/**
 * Partitions without a leader that can elect one now (a broker came back; Kafka's
 * handleBrokerUnfenced): clean elections, unclean only where the topic allows it.
 */
export function changesForLeaderlessPartitions(
  partitions: Iterable<PartitionRecord>,
  isActive: IsActive,
  uncleanFor: (topicId: string) => boolean,
): PartitionRecord[] {
  const out: PartitionRecord[] = [];
  for (const p of partitions) {
    if (p.leader !== NO_LEADER) continue;
    const next = buildPartitionChange(p, { election: uncleanFor(p.topicId) ? 'unclean' : 'online' }, isActive);
    if (next && next.leader !== NO_LEADER) out.push(next);
  }
  return out;
}

/** The answer of ElectLeaders for one partition: the new record, or Kafka's error code. */
export type ElectLeadersResult = { next: PartitionRecord } | { errorCode: number; message: string };

/**
 * ElectLeaders (KIP-460) for one partition, as Kafka's ReplicationControlManager.electLeader with
 * its messages. PREFERRED: ELECTION_NOT_NEEDED when the first replica leads already; otherwise
 * Kafka's preferred election (the first replica if it is a live ISR member, else the current leader
 * if still valid, else another live ISR member), PREFERRED_LEADER_NOT_AVAILABLE when that changes
 * nothing. UNCLEAN: ELECTION_NOT_NEEDED when the partition has a leader, else an election that may
 * pick a live replica outside the ISR, ELIGIBLE_LEADERS_NOT_AVAILABLE when none is live.
 */
export function electLeaders(
  current: PartitionRecord,
  kind: 'preferred' | 'unclean',
  isActive: IsActive,
): ElectLeadersResult {
  const notNeeded = kind === 'preferred' ? current.leader === current.replicas[0] : current.leader !== NO_LEADER;
  if (notNeeded) {
    return { errorCode: ERROR_CODES.ELECTION_NOT_NEEDED, message: 'Leader election not needed for topic partition.' };
  }
  const next = buildPartitionChange(current, { election: kind }, isActive);
  if (next && next.leader !== NO_LEADER) return { next };
  return kind === 'preferred'
    ? { errorCode: ERROR_CODES.PREFERRED_LEADER_NOT_AVAILABLE, message: 'The preferred leader was not available.' }
    : {
        errorCode: ERROR_CODES.ELIGIBLE_LEADERS_NOT_AVAILABLE,
        message: 'Eligible topic partition leaders are not available.',
      };
}

/**
 * The first records of new partitions from their replica lists (CreateTopics, CreatePartitions):
 * the ISR is the live replicas, the leader the first of them. Throws INVALID_REPLICA_ASSIGNMENT
 * when none of a partition's replicas is live.
 */
export function initialPartitionRecords(
  topicId: string,
  firstPartition: number,
  assignments: readonly (readonly number[])[],
  isActive: IsActive,
): PartitionRecord[] {
  return assignments.map((replicas, i) => {
    const isr = replicas.filter(isActive);
    if (isr.length === 0) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
        `All brokers specified in the manual partition assignment for partition ${firstPartition + i} are fenced or in controlled shutdown.`,
      );
    }
    return {
      topicId,
      partition: firstPartition + i,
      replicas: [...replicas],
      isr,
      leader: isr[0],
      leaderEpoch: 0,
      partitionEpoch: 0,
      addingReplicas: [],
      removingReplicas: [],
    };
  });
}
