import {
  type ConsumerProtocolAssignment,
  ConsumerProtocolAssignmentCodec,
  type ConsumerProtocolSubscription,
  ConsumerProtocolSubscriptionCodec,
  Reader,
  Writer,
} from '@sluice/protocol';
import type { TopicPartition } from './offsets.js';

export interface MemberSubscription {
  memberId: string;
  groupInstanceId: string | null;
  topics: string[];
  /** What the member owns now (cooperative protocol; empty for eager members). */
  owned: TopicPartition[];
  /** The member's subscription userdata (an assignor's own bytes, e.g. Kafka Streams' SubscriptionInfo). */
  userData?: Buffer | null;
}

export interface Assignor {
  /** The protocol name in JoinGroup; Java's names, so mixed groups agree. */
  readonly name: string;
  /** Cooperative assignors let members keep partitions across a rebalance (KIP-429). */
  readonly cooperative: boolean;
  assign(
    members: readonly MemberSubscription[],
    partitionsPerTopic: ReadonlyMap<string, number>,
  ): Map<string, TopicPartition[]>;
  /** Userdata this member puts in its subscription at each join (Kafka's Subscription.userData). */
  subscriptionUserData?(): Buffer | null;
  /** On the leader, after assign(): userdata for each member's assignment (Kafka's Assignment.userData). */
  assignmentUserData?(
    plan: ReadonlyMap<string, TopicPartition[]>,
    members: readonly MemberSubscription[],
    partitionsPerTopic: ReadonlyMap<string, number>,
  ): Map<string, Buffer | null>;
  /** On every member, each generation, before partitions are handed over: its assignment and userdata. */
  onAssignment?(assignment: readonly TopicPartition[], userData: Buffer | null): void | Promise<void>;
}

function byMemberId(a: MemberSubscription, b: MemberSubscription): number {
  return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0;
}

function emptyResult(members: readonly MemberSubscription[]): Map<string, TopicPartition[]> {
  return new Map(members.map((m) => [m.memberId, [] as TopicPartition[]]));
}

/** Java's RangeAssignor: per topic, consecutive partition ranges to the subscribed members in member-id order; the first n % m members get one more. */
export const rangeAssignor: Assignor = {
  name: 'range',
  cooperative: false,
  assign(members, partitionsPerTopic) {
    const out = emptyResult(members);
    for (const [topic, n] of [...partitionsPerTopic].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const subs = members.filter((m) => m.topics.includes(topic)).sort(byMemberId);
      if (subs.length === 0) continue;
      const per = Math.floor(n / subs.length);
      const extra = n % subs.length;
      subs.forEach((m, i) => {
        const start = per * i + Math.min(i, extra);
        const len = per + (i < extra ? 1 : 0);
        const list = out.get(m.memberId) as TopicPartition[];
        for (let p = start; p < start + len; p++) list.push({ topic, partition: p });
      });
    }
    return out;
  },
};

/** Java's RoundRobinAssignor: all partitions in (topic, partition) order dealt round the members in member-id order, skipping members not subscribed. */
export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  cooperative: false,
  assign(members, partitionsPerTopic) {
    const out = emptyResult(members);
    const sorted = [...members].sort(byMemberId);
    if (sorted.length === 0) return out;
    let next = 0;
    for (const [topic, n] of [...partitionsPerTopic].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      for (let p = 0; p < n; p++) {
        for (let tries = 0; tries < sorted.length; tries++) {
          const m = sorted[next % sorted.length];
          next++;
          if (m.topics.includes(topic)) {
            (out.get(m.memberId) as TopicPartition[]).push({ topic, partition: p });
            break;
          }
        }
      }
    }
    return out;
  },
};

const key = (tp: TopicPartition) => `${tp.topic}\u0000${tp.partition}`;

/**
 * A sticky, balanced assignment: members keep what they own where the balance allows, the
 * rest goes to the least loaded subscribed member. Cooperative (KIP-429): a partition moving
 * from one member to another is left out of this round; its owner revokes it and rejoins, and
 * the next rebalance hands it to the new member.
 */
export const cooperativeStickyAssignor: Assignor = {
  name: 'cooperative-sticky',
  cooperative: true,
  assign(members, partitionsPerTopic) {
    const sorted = [...members].sort(byMemberId);
    const target = new Map<string, TopicPartition[]>(sorted.map((m) => [m.memberId, []]));
    const subscribed = (m: MemberSubscription, topic: string) => m.topics.includes(topic);
    const all: TopicPartition[] = [];
    for (const [topic, n] of [...partitionsPerTopic].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      for (let p = 0; p < n; p++) all.push({ topic, partition: p });
    }
    const valid = new Set(all.map(key));
    const taken = new Map<string, string>();
    const prevOwner = new Map<string, string>();
    // 1. Keep what members own and may still have.
    for (const m of sorted) {
      for (const tp of m.owned) {
        const k = key(tp);
        if (!valid.has(k) || !subscribed(m, tp.topic)) continue;
        if (!prevOwner.has(k)) prevOwner.set(k, m.memberId);
        if (taken.has(k)) continue;
        taken.set(k, m.memberId);
        (target.get(m.memberId) as TopicPartition[]).push({ topic: tp.topic, partition: tp.partition });
      }
    }
    // 2. Over-quota members give up their newest extras (quota: ceil of an even share).
    const quota = sorted.length === 0 ? 0 : Math.ceil(all.length / sorted.length);
    const floor = sorted.length === 0 ? 0 : Math.floor(all.length / sorted.length);
    for (const m of sorted) {
      const list = target.get(m.memberId) as TopicPartition[];
      while (list.length > quota) taken.delete(key(list.pop() as TopicPartition));
    }
    // 3. Unowned partitions to the least loaded subscribed member.
    const load = (id: string) => (target.get(id) as TopicPartition[]).length;
    for (const tp of all) {
      if (taken.has(key(tp))) continue;
      let best: MemberSubscription | undefined;
      for (const m of sorted)
        if (subscribed(m, tp.topic) && (best === undefined || load(m.memberId) < load(best.memberId))) best = m;
      if (best === undefined) continue;
      taken.set(key(tp), best.memberId);
      (target.get(best.memberId) as TopicPartition[]).push(tp);
    }
    // 4. Even out: move from members above the even share to members below it (bounded by the partition count).
    for (let moves = 0; moves < all.length; moves++) {
      const under = sorted.find((m) => load(m.memberId) < floor);
      if (under === undefined) break;
      const over = sorted.find(
        (m) =>
          load(m.memberId) > floor &&
          (target.get(m.memberId) as TopicPartition[]).some((tp) => subscribed(under, tp.topic)),
      );
      if (over === undefined) break;
      const list = target.get(over.memberId) as TopicPartition[];
      const i = list.findIndex((tp) => subscribed(under, tp.topic));
      const [tp] = list.splice(i, 1);
      (target.get(under.memberId) as TopicPartition[]).push(tp);
    }
    // 5. Cooperative: hold back partitions still owned by someone else.
    const out = new Map<string, TopicPartition[]>();
    for (const [id, list] of target) {
      out.set(
        id,
        list.filter((tp) => {
          const owner = prevOwner.get(key(tp));
          return owner === undefined || owner === id;
        }),
      );
    }
    return out;
  },
};

export const ASSIGNORS: Record<string, Assignor> = {
  range: rangeAssignor,
  roundrobin: roundRobinAssignor,
  'cooperative-sticky': cooperativeStickyAssignor,
};

function group(tps: readonly TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const m = new Map<string, number[]>();
  for (const tp of tps) {
    let l = m.get(tp.topic);
    if (l === undefined) {
      l = [];
      m.set(tp.topic, l);
    }
    l.push(tp.partition);
  }
  return [...m].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }));
}

function flatten(list: ReadonlyArray<{ topic: string; partitions: number[] }>): TopicPartition[] {
  return list.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
}

const SUBSCRIPTION_VERSION = 1;
const ASSIGNMENT_VERSION = 0;

/** The embedded consumer protocol: an int16 version, then the body (Kafka's ConsumerProtocol). */
export function encodeSubscription(
  topics: readonly string[],
  owned: readonly TopicPartition[],
  userData: Buffer | null = null,
): Buffer {
  const w = new Writer(128);
  w.int16(SUBSCRIPTION_VERSION);
  const s: ConsumerProtocolSubscription = { ...ConsumerProtocolSubscriptionCodec.defaults(), topics: [...topics] };
  s.ownedPartitions = group(owned);
  s.userData = userData;
  ConsumerProtocolSubscriptionCodec.encode(w, SUBSCRIPTION_VERSION, s);
  return w.toBuffer();
}

export function decodeSubscription(memberId: string, groupInstanceId: string | null, buf: Buffer): MemberSubscription {
  const r = new Reader(buf);
  const version = Math.min(r.int16(), ConsumerProtocolSubscriptionCodec.maxVersion);
  const s = ConsumerProtocolSubscriptionCodec.decode(r, version);
  return { memberId, groupInstanceId, topics: s.topics, owned: flatten(s.ownedPartitions), userData: s.userData };
}

export function encodeAssignment(tps: readonly TopicPartition[], userData: Buffer | null = null): Buffer {
  const w = new Writer(128);
  w.int16(ASSIGNMENT_VERSION);
  const a: ConsumerProtocolAssignment = {
    ...ConsumerProtocolAssignmentCodec.defaults(),
    assignedPartitions: group(tps),
    userData,
  };
  ConsumerProtocolAssignmentCodec.encode(w, ASSIGNMENT_VERSION, a);
  return w.toBuffer();
}

export function decodeAssignment(buf: Buffer): TopicPartition[] {
  if (buf.length === 0) return [];
  const r = new Reader(buf);
  const version = Math.min(r.int16(), ConsumerProtocolAssignmentCodec.maxVersion);
  return flatten(ConsumerProtocolAssignmentCodec.decode(r, version).assignedPartitions);
}

/** The userdata of an assignment (null when empty or absent). */
export function decodeAssignmentUserData(buf: Buffer): Buffer | null {
  if (buf.length === 0) return null;
  const r = new Reader(buf);
  const version = Math.min(r.int16(), ConsumerProtocolAssignmentCodec.maxVersion);
  return ConsumerProtocolAssignmentCodec.decode(r, version).userData;
}
