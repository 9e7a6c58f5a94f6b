import type { TopicAssignment } from './assignors.js';

/** Kafka's MemberState byte values (persisted in ConsumerGroupCurrentMemberAssignmentValue.State). */
export const MEMBER_STATE = {
  STABLE: 0,
  UNREVOKED_PARTITIONS: 1,
  UNRELEASED_PARTITIONS: 2,
  UNKNOWN: 127,
} as const;
export type MemberStateCode = (typeof MEMBER_STATE)[keyof typeof MEMBER_STATE];

/** Where a member stands on its way to the target assignment. */
export interface MemberAssignmentState {
  state: MemberStateCode;
  memberEpoch: number;
  previousMemberEpoch: number;
  /** Partitions the member owns (or may own) now. */
  assigned: TopicAssignment;
  /** Partitions it must give up before it moves to the next epoch. */
  pendingRevocation: TopicAssignment;
}

/** Owned partitions as a heartbeat reports them; null when the request did not say. */
export type OwnedPartitions = readonly { topicId: string; partitions: readonly number[] }[] | null;

export function copyAssignment(a: TopicAssignment): TopicAssignment {
  return new Map([...a].map(([t, s]) => [t, new Set(s)]));
}

export function sameAssignment(a: TopicAssignment, b: TopicAssignment): boolean {
  if (a.size !== b.size) return false;
  for (const [t, s] of a) {
    const o = b.get(t);
    if (o === undefined || o.size !== s.size) return false;
    for (const p of s) if (!o.has(p)) return false;
  }
  return true;
}

/** Whether the member still reports owning any of `revoking` (unknown owned partitions count as owning). */
function ownsAny(owned: OwnedPartitions, revoking: TopicAssignment): boolean {
  if (owned === null) return true;
  for (const tp of owned) {
    const r = revoking.get(tp.topicId);
    if (r === undefined) continue;
    for (const p of tp.partitions) if (r.has(p)) return true;
  }
  return false;
}

/**
 * One step of a member towards the target assignment (Kafka's CurrentAssignmentBuilder): partitions
 * to revoke are revoked first (the member stays in its epoch, UNREVOKED_PARTITIONS, until it reports
 * them gone); only then does it move to the target epoch and get new partitions, those still owned by
 * another member (partition epoch not -1) held back (UNRELEASED_PARTITIONS) until they are released.
 * Throws 'fenced' for a member in an unknown state that still claims partitions.
 */
export function reconcile(
  member: MemberAssignmentState,
  targetEpoch: number,
  target: TopicAssignment,
  owned: OwnedPartitions,
  partitionEpoch: (topicId: string, partition: number) => number,
): MemberAssignmentState {
  switch (member.state) {
    case MEMBER_STATE.STABLE:
      return member.memberEpoch !== targetEpoch ? next(member, member.memberEpoch) : member;
    case MEMBER_STATE.UNREVOKED_PARTITIONS:
      if (ownsAny(owned, member.pendingRevocation)) return member;
      return next(member, member.memberEpoch + 1);
    case MEMBER_STATE.UNRELEASED_PARTITIONS:
      return next(member, member.memberEpoch);
    default:
      if (owned === null || owned.length > 0) throw new Error('fenced');
      return next(member, targetEpoch);
  }

  function next(m: MemberAssignmentState, epochIfRevoking: number): MemberAssignmentState {
    let unreleased = false;
    const assigned: TopicAssignment = new Map();
    const revoking: TopicAssignment = new Map();
    const pending: TopicAssignment = new Map();
    for (const topicId of new Set([...target.keys(), ...m.assigned.keys()])) {
      const want = target.get(topicId) ?? new Set<number>();
      const have = m.assigned.get(topicId) ?? new Set<number>();
      const kept = new Set([...have].filter((p) => want.has(p)));
      const revoke = new Set([...have].filter((p) => !kept.has(p)));
      const toAssign = new Set<number>();
      for (const p of want) {
        if (kept.has(p)) continue;
        if (partitionEpoch(topicId, p) === -1) toAssign.add(p);
        else unreleased = true;
      }
      if (kept.size > 0) assigned.set(topicId, kept);
      if (revoke.size > 0) revoking.set(topicId, revoke);
      if (toAssign.size > 0) pending.set(topicId, toAssign);
    }
    const bump = (epoch: number) =>
      epoch === m.memberEpoch
        ? { memberEpoch: m.memberEpoch, previousMemberEpoch: m.previousMemberEpoch }
        : { memberEpoch: epoch, previousMemberEpoch: m.memberEpoch };
    if (revoking.size > 0 && ownsAny(owned, revoking)) {
      return {
        state: MEMBER_STATE.UNREVOKED_PARTITIONS,
        ...bump(epochIfRevoking),
        assigned,
        pendingRevocation: revoking,
      };
    }
    for (const [t, ps] of pending) {
      const a = assigned.get(t);
      if (a === undefined) assigned.set(t, ps);
      else for (const p of ps) a.add(p);
    }
    return {
      state: unreleased ? MEMBER_STATE.UNRELEASED_PARTITIONS : MEMBER_STATE.STABLE,
      ...bump(targetEpoch),
      assigned,
      pendingRevocation: new Map(),
    };
  }
}
