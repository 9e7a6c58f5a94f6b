/**
 * The server-side assignors of KIP-848 consumer groups (`group.consumer.assignors`): `uniform` and
 * `range`. They are pure functions from the group's subscriptions and the subscribed topics'
 * partition counts to a target assignment; the coordinator persists and reconciles the result.
 */

/** topic id → partitions. */
export type TopicAssignment = Map<string, Set<number>>;

export interface AssignmentMemberSpec {
  memberId: string;
  /** Subscribed topic ids that exist (unknown names were already dropped). */
  subscribedTopicIds: ReadonlySet<string>;
  rackId: string | null;
  /** The member's current target assignment, for stickiness. */
  assignment: TopicAssignment;
}

export interface AssignmentTopic {
  partitionCount: number;
  /** Racks of the replicas of each partition, when known (for rack-aware assignment). */
  partitionRacks?: (partition: number) => readonly string[];
}

export interface AssignmentSpec {
  members: AssignmentMemberSpec[];
  /** Every subscribed topic id that exists. */
  topics: ReadonlyMap<string, AssignmentTopic>;
}

export interface ConsumerGroupAssignor {
  readonly name: string;
  assign(spec: AssignmentSpec): Map<string, TopicAssignment>;
}

function emptyResult(spec: AssignmentSpec): Map<string, TopicAssignment> {
  const out = new Map<string, TopicAssignment>();
  for (const m of spec.members) out.set(m.memberId, new Map());
  return out;
}

function add(a: TopicAssignment, topicId: string, partition: number): void {
  let s = a.get(topicId);
  if (s === undefined) a.set(topicId, (s = new Set()));
  s.add(partition);
}

function remove(a: TopicAssignment, topicId: string, partition: number): void {
  const s = a.get(topicId);
  if (s === undefined) return;
  s.delete(partition);
  if (s.size === 0) a.delete(topicId);
}

function count(a: TopicAssignment): number {
  let n = 0;
  for (const s of a.values()) n += s.size;
  return n;
}

/**
 * `uniform` (Kafka's default): every partition of a subscribed topic goes to one subscriber, the
 * counts per member differ by at most one where the subscriptions allow it, and a member keeps as
 * many of its current partitions as balance permits (sticky), so a join or leave moves few
 * partitions. When rack ids are known, a free partition goes preferably to a least-loaded member in
 * a rack that holds a replica of it.
 */
export const uniformAssignor: ConsumerGroupAssignor = {
  name: 'uniform',
  assign(spec) {
    const out = emptyResult(spec);
    const members = [...spec.members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
    if (members.length === 0) return out;
    const subscribers = new Map<string, AssignmentMemberSpec[]>();
    for (const m of members) {
      for (const t of m.subscribedTopicIds) {
        if (!spec.topics.has(t)) continue;
        let list = subscribers.get(t);
        if (list === undefined) subscribers.set(t, (list = []));
        list.push(m);
      }
    }
    // Each member's fair share: its subscribed partitions spread over all subscribers of each topic.
    // Exact for homogeneous subscriptions; an upper guide otherwise (the balancing pass evens it out).
    let total = 0;
    for (const [t, list] of subscribers) if (list.length > 0) total += spec.topics.get(t)?.partitionCount ?? 0;
    const homogeneous = [...subscribers.values()].every((l) => l.length === members.length);
    const quota = (rank: number): number => {
      if (!homogeneous) return Number.MAX_SAFE_INTEGER;
      const base = Math.floor(total / members.length);
      return rank < total % members.length ? base + 1 : base;
    };
    // 1. Keep current partitions that are still valid, up to the quota (members keeping more go first).
    const byKept = members
      .map((m) => {
        let kept = 0;
        for (const [t, ps] of m.assignment) {
          const topic = spec.topics.get(t);
          if (topic === undefined || !m.subscribedTopicIds.has(t)) continue;
          for (const p of ps) if (p < topic.partitionCount) kept++;
        }
        return { m, kept };
      })
      .sort((a, b) => b.kept - a.kept);
    const taken = new Set<string>();
    byKept.forEach(({ m }, rank) => {
      const limit = quota(rank);
      const mine = out.get(m.memberId) as TopicAssignment;
      let n = 0;
      const keys = [...m.assignment.keys()].sort();
      for (const t of keys) {
        const topic = spec.topics.get(t);
        if (topic === undefined || !m.subscribedTopicIds.has(t)) continue;
        for (const p of [...(m.assignment.get(t) as Set<number>)].sort((a, b) => a - b)) {
          const key = `${t}:${p}`;
          if (p >= topic.partitionCount || taken.has(key) || n >= limit) continue;
          taken.add(key);
          add(mine, t, p);
          n++;
        }
      }
    });
    // 2. Free partitions to the least-loaded subscriber (same rack as a replica first when racks are known).
    const load = (m: AssignmentMemberSpec) => count(out.get(m.memberId) as TopicAssignment);
    const topicIds = [...subscribers.keys()].sort((a, b) => {
      const d = (subscribers.get(a)?.length ?? 0) - (subscribers.get(b)?.length ?? 0);
      return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
    });
    for (const t of topicIds) {
      const list = subscribers.get(t) as AssignmentMemberSpec[];
      const topic = spec.topics.get(t) as AssignmentTopic;
      for (let p = 0; p < topic.partitionCount; p++) {
        if (taken.has(`${t}:${p}`)) continue;
        const racks = topic.partitionRacks?.(p) ?? [];
        let best: AssignmentMemberSpec | undefined;
        let bestScore = Number.POSITIVE_INFINITY;
        for (const m of list) {
          // Load dominates; a rack match breaks ties among equally loaded members.
          const rackMiss = racks.length > 0 && (m.rackId === null || !racks.includes(m.rackId)) ? 0.5 : 0;
          const score = load(m) + rackMiss;
          if (score < bestScore) {
            best = m;
            bestScore = score;
          }
        }
        if (best === undefined) continue;
        taken.add(`${t}:${p}`);
        add(out.get(best.memberId) as TopicAssignment, t, p);
      }
    }
    // 3. Balance (heterogeneous subscriptions): move a partition from the most to the least loaded
    // member while they differ by more than one and the receiver subscribes to it. Each move lowers
    // the sum of squared loads, so the loop ends; the bound is a safety net.
    const maxMoves = total + members.length;
    for (let moves = 0; moves < maxMoves && !homogeneous; moves++) {
      let moved = false;
      const sorted = [...members].sort((a, b) => load(b) - load(a));
      outer: for (const from of sorted) {
        for (let i = sorted.length - 1; i >= 0; i--) {
          const to = sorted[i];
          if (load(from) - load(to) <= 1) break;
          const fromA = out.get(from.memberId) as TopicAssignment;
          for (const [t, ps] of fromA) {
            if (!to.subscribedTopicIds.has(t)) continue;
            const p = Math.max(...ps);
            remove(fromA, t, p);
            add(out.get(to.memberId) as TopicAssignment, t, p);
            moved = true;
            break outer;
          }
        }
      }
      if (!moved) break;
    }
    return out;
  },
};

/**
 * `range`: per topic, the subscribers sorted by member id get contiguous ranges of partitions, the
 * first `partitions % subscribers` one more. Members with the same subscriptions therefore get the
 * same partition numbers of every topic (co-partitioning, as Kafka's RangeAssignor promises).
 * Unlike Kafka's server-side range assignor it does not try to keep previous ranges (not sticky).
 */
export const rangeAssignor: ConsumerGroupAssignor = {
  name: 'range',
  assign(spec) {
    const out = emptyResult(spec);
    const topicIds = new Set<string>();
    for (const m of spec.members) for (const t of m.subscribedTopicIds) if (spec.topics.has(t)) topicIds.add(t);
    for (const t of topicIds) {
      const list = spec.members
        .filter((m) => m.subscribedTopicIds.has(t))
        .map((m) => m.memberId)
        .sort();
      const n = spec.topics.get(t)?.partitionCount ?? 0;
      const per = Math.floor(n / list.length);
      const extra = n % list.length;
      let next = 0;
      list.forEach((memberId, i) => {
        const size = per + (i < extra ? 1 : 0);
        for (let p = next; p < next + size; p++) add(out.get(memberId) as TopicAssignment, t, p);
        next += size;
      });
    }
    return out;
  },
};

export const BUILTIN_ASSIGNORS: readonly ConsumerGroupAssignor[] = [uniformAssignor, rangeAssignor];
