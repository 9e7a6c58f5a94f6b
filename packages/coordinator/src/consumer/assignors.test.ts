import { describe, expect, it } from 'vitest';
import { type AssignmentMemberSpec, rangeAssignor, type TopicAssignment, uniformAssignor } from './assignors.js';

const member = (
  memberId: string,
  topics: string[],
  assignment: TopicAssignment = new Map(),
  rackId: string | null = null,
): AssignmentMemberSpec => ({
  memberId,
  subscribedTopicIds: new Set(topics),
  rackId,
  assignment,
});
const sizes = (r: Map<string, TopicAssignment>) =>
  [...r.values()].map((a) => [...a.values()].reduce((n, s) => n + s.size, 0));
const flat = (a: TopicAssignment | undefined) =>
  [...(a ?? new Map())].flatMap(([t, ps]) => [...ps].map((p) => `${t}-${p}`)).sort();

describe('uniform assignor', () => {
  it('spreads partitions within one of each other and assigns each exactly once', () => {
    const topics = new Map([
      ['a', { partitionCount: 7 }],
      ['b', { partitionCount: 3 }],
    ]);
    const r = uniformAssignor.assign({
      members: [member('m1', ['a', 'b']), member('m2', ['a', 'b']), member('m3', ['a', 'b'])],
      topics,
    });
    const s = sizes(r);
    expect(Math.max(...s) - Math.min(...s)).toBeLessThanOrEqual(1);
    const all = [...r.values()].flatMap((a) => flat(a));
    expect(all.length).toBe(10);
    expect(new Set(all).size).toBe(10);
  });

  it('is sticky: a joining member takes partitions from others without reshuffling the rest', () => {
    const topics = new Map([['a', { partitionCount: 6 }]]);
    const first = uniformAssignor.assign({ members: [member('m1', ['a']), member('m2', ['a'])], topics });
    const second = uniformAssignor.assign({
      members: [member('m1', ['a'], first.get('m1')), member('m2', ['a'], first.get('m2')), member('m3', ['a'])],
      topics,
    });
    expect(sizes(second)).toEqual([2, 2, 2]);
    for (const id of ['m1', 'm2']) {
      for (const tp of flat(second.get(id))) expect(flat(first.get(id))).toContain(tp);
    }
  });

  it('balances heterogeneous subscriptions where it can', () => {
    const topics = new Map([
      ['a', { partitionCount: 4 }],
      ['b', { partitionCount: 4 }],
    ]);
    const r = uniformAssignor.assign({
      members: [member('m1', ['a']), member('m2', ['a', 'b']), member('m3', ['b'])],
      topics,
    });
    expect(flat(r.get('m1')).every((tp) => tp.startsWith('a-'))).toBe(true);
    expect(flat(r.get('m3')).every((tp) => tp.startsWith('b-'))).toBe(true);
    const s = sizes(r);
    expect(Math.max(...s) - Math.min(...s)).toBeLessThanOrEqual(1);
  });

  it('prefers a member in a rack holding a replica when loads tie', () => {
    const topics = new Map([['a', { partitionCount: 2, partitionRacks: (p: number) => [p === 0 ? 'r2' : 'r1'] }]]);
    const r = uniformAssignor.assign({
      members: [member('m1', ['a'], new Map(), 'r1'), member('m2', ['a'], new Map(), 'r2')],
      topics,
    });
    expect(flat(r.get('m1'))).toEqual(['a-1']);
    expect(flat(r.get('m2'))).toEqual(['a-0']);
  });
});

describe('range assignor', () => {
  it('gives contiguous ranges by member id, the first members one more, co-partitioned across topics', () => {
    const topics = new Map([
      ['a', { partitionCount: 5 }],
      ['b', { partitionCount: 5 }],
    ]);
    const r = rangeAssignor.assign({ members: [member('m2', ['a', 'b']), member('m1', ['a', 'b'])], topics });
    expect(flat(r.get('m1'))).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1', 'b-2']);
    expect(flat(r.get('m2'))).toEqual(['a-3', 'a-4', 'b-3', 'b-4']);
  });
});
