import { ERROR_CODES as E } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import type { CoordinatorRecord } from '../coordinator.js';
import { ManualScheduler } from '../scheduler.js';
import {
  ConsumerGroupCoordinator,
  type ConsumerGroupHeartbeatParams,
  type ConsumerGroupHeartbeatResult,
  type TopicMetadataView,
} from './consumer-group-coordinator.js';
import { MEMBER_STATE } from './reconcile.js';

const FOO = '00000000-0000-0000-0000-00000000f001';
const BAR = '00000000-0000-0000-0000-00000000ba02';

function fakeId(name: string): string {
  const hex = Buffer.from(name).toString('hex').padEnd(32, '0').slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function harness(partitionsOf: Record<string, number> = { foo: 6, bar: 2 }) {
  const clock = new ManualScheduler();
  const written: CoordinatorRecord[] = [];
  const ids: Record<string, string> = { foo: FOO, bar: BAR };
  const topics: TopicMetadataView = {
    byName: (n) =>
      partitionsOf[n] === undefined ? undefined : { topicId: ids[n] ?? fakeId(n), partitionCount: partitionsOf[n] },
    nameOf: (id) => Object.keys(ids).find((n) => ids[n] === id && partitionsOf[n] !== undefined),
    names: () => Object.keys(partitionsOf),
  };
  const make = () =>
    new ConsumerGroupCoordinator({
      scheduler: clock,
      topics,
      config: { sessionTimeoutMs: 45_000, heartbeatIntervalMs: 5_000 },
      append: (_p, records) => {
        written.push(...records);
      },
    });
  const c = make();
  const hb = (over: Partial<ConsumerGroupHeartbeatParams>): Promise<ConsumerGroupHeartbeatResult> =>
    c.heartbeat({
      groupId: 'g',
      memberId: 'm1',
      memberEpoch: 0,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: 60_000,
      subscribedTopicNames: ['foo'],
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: [],
      clientId: 'client',
      clientHost: '/127.0.0.1',
      apiVersion: 1,
      ...over,
    });
  /** A steady-state heartbeat reporting what the member owns. */
  const beat = (memberId: string, memberEpoch: number, owned: Map<string, number[]>) =>
    hb({
      memberId,
      memberEpoch,
      rebalanceTimeoutMs: -1,
      subscribedTopicNames: null,
      topicPartitions: [...owned].map(([topicId, partitions]) => ({ topicId, partitions })),
    });
  return { c, clock, written, hb, beat, make, partitionsOf };
}

function owned(r: ConsumerGroupHeartbeatResult): Map<string, number[]> {
  return new Map((r.assignment?.topicPartitions ?? []).map((tp) => [tp.topicId, tp.partitions]));
}

describe('ConsumerGroupCoordinator heartbeat', () => {
  it('a first member joins, gets epoch 1 and every partition', async () => {
    const h = harness();
    const r = await h.hb({});
    expect(r.errorCode).toBe(E.NONE);
    expect(r.memberId).toBe('m1');
    expect(r.memberEpoch).toBe(1);
    expect(r.heartbeatIntervalMs).toBe(5_000);
    expect(r.assignment?.topicPartitions).toEqual([{ topicId: FOO, partitions: [0, 1, 2, 3, 4, 5] }]);
    expect(h.c.describe(['g'])[0]).toMatchObject({
      groupState: 'Stable',
      groupEpoch: 1,
      assignmentEpoch: 1,
      assignorName: 'uniform',
    });
  });

  it('a second member gets partitions only after the first revokes them (revocation before assignment)', async () => {
    const h = harness();
    const a1 = await h.hb({});
    const b1 = await h.hb({ memberId: 'm2' });
    // m2 is at the new epoch but its partitions are still held by m1: nothing yet.
    expect(b1.memberEpoch).toBe(2);
    expect(b1.assignment?.topicPartitions).toEqual([]);
    expect(h.c.group('g')?.members.get('m2')?.state).toBe(MEMBER_STATE.UNRELEASED_PARTITIONS);
    // m1, still owning all six, is told to keep three and stays in epoch 1 until it revokes.
    const a2 = await h.beat('m1', 1, owned(a1));
    expect(a2.memberEpoch).toBe(1);
    expect(a2.assignment?.topicPartitions[0].partitions).toHaveLength(3);
    expect(h.c.describe(['g'])[0].groupState).toBe('Reconciling');
    // m1 reports the revocation done: it moves to epoch 2.
    const a3 = await h.beat('m1', 1, owned(a2));
    expect(a3.memberEpoch).toBe(2);
    expect(a3.assignment).toBeNull();
    // Now m2 gets the released partitions.
    const b2 = await h.beat('m2', 2, new Map());
    expect(b2.memberEpoch).toBe(2);
    const all = [
      ...(a2.assignment?.topicPartitions[0].partitions ?? []),
      ...(b2.assignment?.topicPartitions[0].partitions ?? []),
    ];
    expect(all.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(h.c.describe(['g'])[0].groupState).toBe('Stable');
  });

  it('fences a member epoch ahead of or behind the coordinator, forgiving a lost bump', async () => {
    const h = harness();
    const a1 = await h.hb({});
    expect((await h.beat('m1', 5, owned(a1))).errorCode).toBe(E.FENCED_MEMBER_EPOCH);
    await h.hb({ memberId: 'm2' });
    const a2 = await h.beat('m1', 1, owned(a1));
    const a3 = await h.beat('m1', 1, owned(a2));
    expect(a3.memberEpoch).toBe(2);
    // The answer with epoch 2 was lost: epoch 1 with a subset of the assignment is accepted.
    expect((await h.beat('m1', 1, owned(a2))).errorCode).toBe(E.NONE);
    // Epoch 1 claiming a partition it no longer has is fenced.
    expect((await h.beat('m1', 1, owned(a1))).errorCode).toBe(E.FENCED_MEMBER_EPOCH);
    expect((await h.beat('nobody', 1, new Map())).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect((await h.hb({ groupId: 'other', memberEpoch: 3 })).errorCode).toBe(E.GROUP_ID_NOT_FOUND);
  });

  it('rejects invalid requests with Kafka error codes', async () => {
    const h = harness();
    expect((await h.hb({ memberId: '' })).errorCode).toBe(E.INVALID_REQUEST);
    expect((await h.hb({ memberId: '', apiVersion: 0 })).errorCode).toBe(E.NONE);
    expect((await h.hb({ rebalanceTimeoutMs: -1 })).errorCode).toBe(E.INVALID_REQUEST);
    expect((await h.hb({ topicPartitions: null })).errorCode).toBe(E.INVALID_REQUEST);
    expect((await h.hb({ subscribedTopicNames: null })).errorCode).toBe(E.INVALID_REQUEST);
    expect((await h.hb({ memberEpoch: -3 })).errorCode).toBe(E.INVALID_REQUEST);
    expect((await h.hb({ memberEpoch: -2 })).errorCode).toBe(E.INVALID_REQUEST);
    expect((await h.hb({ serverAssignor: 'sticky' })).errorCode).toBe(E.UNSUPPORTED_ASSIGNOR);
    expect((await h.hb({ subscribedTopicRegex: '(unclosed' })).errorCode).toBe(E.INVALID_REGULAR_EXPRESSION);
    expect((await h.hb({ groupId: '' })).errorCode).toBe(E.INVALID_GROUP_ID);
  });

  it('a leaving member (epoch -1) frees its partitions and bumps the group epoch', async () => {
    const h = harness();
    await h.hb({});
    await h.hb({ memberId: 'm2' });
    const leave = await h.hb({ memberId: 'm1', memberEpoch: -1 });
    expect(leave).toMatchObject({ errorCode: E.NONE, memberId: 'm1', memberEpoch: -1 });
    const b = await h.beat('m2', 2, new Map());
    expect(b.memberEpoch).toBe(3);
    expect(b.assignment?.topicPartitions).toEqual([{ topicId: FOO, partitions: [0, 1, 2, 3, 4, 5] }]);
  });

  it('fences a member whose session expires', async () => {
    const h = harness();
    await h.hb({});
    const b = await h.hb({ memberId: 'm2' });
    // m2 keeps heartbeating; m1 goes silent.
    for (let i = 0; i < 10; i++) {
      h.clock.advance(5_000);
      await h.beat('m2', b.memberEpoch, new Map());
    }
    expect(h.c.group('g')?.members.has('m1')).toBe(false);
    expect(h.c.describe(['g'])[0].members.map((m) => m.assignment[0]?.partitions)).toEqual([[0, 1, 2, 3, 4, 5]]);
  });

  it('fences a member that does not revoke within its rebalance timeout', async () => {
    const h = harness();
    const a1 = await h.hb({ rebalanceTimeoutMs: 10_000 });
    await h.hb({ memberId: 'm2' });
    await h.beat('m1', 1, owned(a1)); // told to revoke, never does
    expect(h.c.group('g')?.members.get('m1')?.state).toBe(MEMBER_STATE.UNREVOKED_PARTITIONS);
    h.clock.advance(9_000);
    await h.beat('m1', 1, owned(a1)); // still owns them: the rebalance timer is not restarted
    h.clock.advance(1_500);
    expect(h.c.group('g')?.members.has('m1')).toBe(false);
  });

  it('a static member leaving with -2 keeps its assignment and a new instance takes it over without a rebalance', async () => {
    const h = harness();
    const a = await h.hb({ instanceId: 'i1' });
    await h.hb({ memberId: 'other', instanceId: 'i2' });
    const epochBefore = h.c.group('g')?.groupEpoch;
    expect((await h.hb({ memberId: 'm1', memberEpoch: -2, instanceId: 'i1' })).memberEpoch).toBe(-2);
    // Another process with the same instance id while the old one still holds it: refused.
    expect((await h.hb({ memberId: 'x', instanceId: 'i2' })).errorCode).toBe(E.UNRELEASED_INSTANCE_ID);
    const back = await h.hb({ memberId: 'm1-new', instanceId: 'i1' });
    expect(back.errorCode).toBe(E.NONE);
    expect(h.c.group('g')?.groupEpoch).toBe(epochBefore);
    expect(h.c.group('g')?.members.has('m1')).toBe(false);
    expect(back.assignment?.topicPartitions.length).toBeGreaterThan(0);
    expect(back.memberEpoch).toBe(epochBefore);
    expect(a.errorCode).toBe(E.NONE);
    // The old member id is fenced for this instance.
    expect((await h.hb({ memberId: 'm1', memberEpoch: 2, instanceId: 'i1', rebalanceTimeoutMs: -1 })).errorCode).toBe(
      E.FENCED_INSTANCE_ID,
    );
  });

  it('a partition count change bumps the group epoch and assigns the new partitions', async () => {
    const h = harness();
    const a = await h.hb({});
    h.partitionsOf.foo = 8;
    const b = await h.beat('m1', a.memberEpoch, owned(a));
    expect(b.memberEpoch).toBe(2);
    expect(b.assignment?.topicPartitions[0].partitions).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('subscribes by regex (whole-name match)', async () => {
    const h = harness({ 'orders-eu': 2, 'orders-us': 1, ordersx: 1 });
    const r = await h.hb({ subscribedTopicNames: null, subscribedTopicRegex: 'orders-.*' });
    expect(r.errorCode).toBe(E.NONE);
    expect(r.assignment?.topicPartitions.map((t) => t.partitions.length).sort()).toEqual([1, 2]);
  });

  // librdkafka 2.16 (group.protocol=consumer) sends SubscribedTopicRegex "" beside its topic list; Kafka reads
  // an empty regex as none (subscribedTopicRegexOrNull). Refusing it failed every librdkafka member fatally.
  it('an empty regex beside topic names is no regex', async () => {
    const h = harness();
    const r = await h.hb({ subscribedTopicRegex: '' });
    expect(r.errorCode).toBe(E.NONE);
    expect(r.assignment?.topicPartitions).toEqual([{ topicId: FOO, partitions: [0, 1, 2, 3, 4, 5] }]);
    expect((await h.hb({ memberId: 'm2', subscribedTopicNames: null, subscribedTopicRegex: '' })).errorCode).toBe(
      E.INVALID_REQUEST,
    );
  });

  it('state survives a reload of the records it wrote', async () => {
    const h = harness();
    const a1 = await h.hb({});
    await h.hb({ memberId: 'm2', instanceId: 'i2', rackId: 'r1' });
    const a2 = await h.beat('m1', 1, owned(a1));
    const restarted = h.make();
    restarted.loadPartition(h.written);
    const before = h.c.describe(['g']);
    const after = restarted.describe(['g']);
    expect(after).toEqual(before);
    const g = restarted.group('g');
    expect(g?.members.get('m1')?.state).toBe(MEMBER_STATE.UNREVOKED_PARTITIONS);
    expect(g?.staticMembers.get('i2')).toBe('m2');
    // The reloaded coordinator carries on: m1 revokes and moves to epoch 2.
    const r = await restarted.heartbeat({
      groupId: 'g',
      memberId: 'm1',
      memberEpoch: 1,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: -1,
      subscribedTopicNames: null,
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: [...owned(a2)].map(([topicId, partitions]) => ({ topicId, partitions })),
      clientId: 'client',
      clientHost: '/127.0.0.1',
      apiVersion: 1,
    });
    expect(r.memberEpoch).toBe(2);
    // A deleted (empty) group stays deleted after replay.
    await restarted.heartbeat({ ...baseLeave('m1') });
    await restarted.heartbeat({ ...baseLeave('m2'), instanceId: 'i2' });
    expect(await restarted.deleteGroup('g')).toBe(E.NONE);
    const third = h.make();
    third.loadPartition(h.written);
    expect(third.has('g')).toBe(false);
  });

  it('a reload passes over the transaction markers of offsets committed in transactions', async () => {
    const h = harness();
    await h.hb({});
    const restarted = h.make();
    // As the broker's reader yields a commit or abort marker of __consumer_offsets: an empty key.
    restarted.loadPartition([
      { key: Buffer.alloc(0), value: null, txnProducerId: 7n, marker: 'commit' },
      ...h.written,
      { key: Buffer.alloc(0), value: null, txnProducerId: 8n, marker: 'abort' },
    ]);
    expect(restarted.describe(['g'])).toEqual(h.c.describe(['g']));
  });

  it('unloads the groups of a partition another broker now leads, timers included', async () => {
    const h = harness();
    await h.hb({});
    const pending = h.clock.pending;
    expect(h.c.unloadPartition(h.c.partitionFor('g') + 1)).toBe(0);
    expect(h.c.unloadPartition(h.c.partitionFor('g'))).toBe(1);
    expect(h.c.has('g')).toBe(false);
    expect(h.clock.pending).toBe(pending - 1);
    // Loading the partition back restores it.
    h.c.loadPartition(h.written);
    expect(h.c.describe(['g'])[0].members).toHaveLength(1);
  });

  it('validates offset commits and fetches against member epochs', async () => {
    const h = harness();
    const a = await h.hb({});
    const p0 = [{ topicId: FOO, partition: 0 }];
    expect(h.c.validateOffsetCommit('g', 'm1', 1, 9, p0).errorCode).toBe(E.NONE);
    expect(h.c.validateOffsetCommit('g', 'm1', 2, 9, p0).errorCode).toBe(E.STALE_MEMBER_EPOCH);
    expect(h.c.validateOffsetCommit('g', 'zz', 1, 9, p0).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.c.validateOffsetCommit('g', 'm1', 1, 8, p0).errorCode).toBe(E.UNSUPPORTED_VERSION);
    expect(h.c.validateOffsetCommit('g', '', -1, 9, p0).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    // After a bump, an older epoch may still commit partitions held since then.
    h.partitionsOf.foo = 7;
    await h.beat('m1', a.memberEpoch, owned(a));
    expect(h.c.validateOffsetCommit('g', 'm1', 1, 9, p0).errorCode).toBe(E.NONE);
    expect(h.c.validateOffsetCommit('g', 'm1', 1, 9, [{ topicId: FOO, partition: 6 }]).errorCode).toBe(
      E.STALE_MEMBER_EPOCH,
    );
    expect(h.c.validateOffsetFetch('g', 'm1', 2).errorCode).toBe(E.NONE);
    expect(h.c.validateOffsetFetch('g', 'm1', 1).errorCode).toBe(E.STALE_MEMBER_EPOCH);
    expect(h.c.validateOffsetFetch('g', 'm1', -1).errorCode).toBe(E.NONE);
    await h.hb({ memberId: 'm1', memberEpoch: -1 });
    expect(h.c.validateOffsetCommit('g', '', -1, 9, p0).errorCode).toBe(E.NONE);
  });
});

function baseLeave(memberId: string): ConsumerGroupHeartbeatParams {
  return {
    groupId: 'g',
    memberId,
    memberEpoch: -1,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: -1,
    subscribedTopicNames: null,
    subscribedTopicRegex: null,
    serverAssignor: null,
    topicPartitions: null,
    clientId: 'client',
    clientHost: '/127.0.0.1',
    apiVersion: 1,
  };
}
