import { describe, expect, it } from 'vitest';
import {
  cooperativeStickyAssignor,
  decodeAssignment,
  decodeAssignmentUserData,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type MemberSubscription,
  rangeAssignor,
  roundRobinAssignor,
} from '../src/consumer/assignors.js';

const m = (memberId: string, topics: string[], owned: Array<[string, number]> = []): MemberSubscription => ({
  memberId,
  groupInstanceId: null,
  topics,
  owned: owned.map(([topic, partition]) => ({ topic, partition })),
});
const show = (r: Map<string, Array<{ topic: string; partition: number }>>) =>
  Object.fromEntries([...r].map(([k, v]) => [k, v.map((tp) => `${tp.topic}${tp.partition}`).sort()]));

describe('assignors', () => {
  it('range: consecutive ranges per topic, the first members get the extra', () => {
    const r = rangeAssignor.assign(
      [m('b', ['t', 'u']), m('a', ['t', 'u'])],
      new Map([
        ['t', 5],
        ['u', 2],
      ]),
    );
    expect(show(r)).toEqual({ a: ['t0', 't1', 't2', 'u0'], b: ['t3', 't4', 'u1'] });
  });

  it('roundrobin: deals partitions in order, skipping unsubscribed members', () => {
    const r = roundRobinAssignor.assign(
      [m('a', ['t']), m('b', ['t', 'u']), m('c', ['u'])],
      new Map([
        ['t', 3],
        ['u', 3],
      ]),
    );
    // Java's circular iterator: t0→a t1→b t2→(c skipped)a u0→b u1→c u2→(a skipped)b.
    expect(show(r)).toEqual({ a: ['t0', 't2'], b: ['t1', 'u0', 'u2'], c: ['u1'] });
  });

  it('cooperative-sticky: keeps owned partitions and holds back the ones that move', () => {
    const counts = new Map([['t', 6]]);
    const first = cooperativeStickyAssignor.assign([m('a', ['t'])], counts);
    expect(show(first)).toEqual({ a: ['t0', 't1', 't2', 't3', 't4', 't5'] });
    // b joins: a keeps three, the three that move to b are held back this round.
    const owned = (first.get('a') ?? []).map((tp) => [tp.topic, tp.partition] as [string, number]);
    const second = cooperativeStickyAssignor.assign([m('a', ['t'], owned), m('b', ['t'])], counts);
    expect(second.get('a')).toHaveLength(3);
    expect(second.get('b')).toEqual([]);
    // After a revokes them, the next round gives b the three a gave up.
    const kept = (second.get('a') ?? []).map((tp) => [tp.topic, tp.partition] as [string, number]);
    const third = cooperativeStickyAssignor.assign([m('a', ['t'], kept), m('b', ['t'])], counts);
    expect(show(third).a).toEqual(show(second).a);
    expect(third.get('b')).toHaveLength(3);
    const all = [...(third.get('a') ?? []), ...(third.get('b') ?? [])].map((tp) => tp.partition).sort();
    expect(all).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('encodes subscriptions and assignments in the consumer protocol format', () => {
    const sub = decodeSubscription('x', null, encodeSubscription(['a', 'b'], [{ topic: 'a', partition: 2 }]));
    expect(sub.topics).toEqual(['a', 'b']);
    expect(sub.owned).toEqual([{ topic: 'a', partition: 2 }]);
    const buf = encodeAssignment([
      { topic: 'a', partition: 1 },
      { topic: 'a', partition: 0 },
    ]);
    // int16 version 0, then one topic 'a' with partitions [0, 1], then null user data.
    expect(buf.readInt16BE(0)).toBe(0);
    expect(decodeAssignment(buf)).toEqual([
      { topic: 'a', partition: 0 },
      { topic: 'a', partition: 1 },
    ]);
    expect(decodeAssignment(Buffer.alloc(0))).toEqual([]);
  });

  it("carries an assignor's userdata in the subscription and the assignment", () => {
    const sub = decodeSubscription('x', null, encodeSubscription(['a'], [], Buffer.from('who-am-i')));
    expect(sub.userData?.toString()).toBe('who-am-i');
    expect(decodeSubscription('x', null, encodeSubscription(['a'], [])).userData).toBeNull();
    const buf = encodeAssignment([{ topic: 'a', partition: 0 }], Buffer.from('hosts'));
    expect(decodeAssignment(buf)).toEqual([{ topic: 'a', partition: 0 }]);
    expect(decodeAssignmentUserData(buf)?.toString()).toBe('hosts');
    expect(decodeAssignmentUserData(encodeAssignment([]))).toBeNull();
    expect(decodeAssignmentUserData(Buffer.alloc(0))).toBeNull();
  });
});
