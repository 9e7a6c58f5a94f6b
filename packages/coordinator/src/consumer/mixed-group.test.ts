import {
  ConsumerProtocolAssignmentCodec,
  ConsumerProtocolSubscriptionCodec,
  ERROR_CODES as E,
  Reader,
  Writer,
} from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { type CoordinatorRecord, GroupCoordinator, type JoinGroupParams } from '../coordinator.js';
import { ManualScheduler } from '../scheduler.js';
import type { ConsumerGroupMigrationPolicy } from './classic-protocol.js';
import {
  ConsumerGroupCoordinator,
  type ConsumerGroupHeartbeatParams,
  type TopicMetadataView,
} from './consumer-group-coordinator.js';
import { decodeConsumerGroupMemberMetadataValue, encodeConsumerGroupMemberMetadataValue } from './consumer-records.js';

const FOO = '00000000-0000-0000-0000-00000000f001';

/** ConsumerProtocolSubscription metadata; v1 carries the partitions the member owns. */
function subscription(owned: number[] | null = null): Buffer {
  const version = owned === null ? 0 : 1;
  const w = new Writer(64).int16(version);
  ConsumerProtocolSubscriptionCodec.encode(w, version, {
    ...ConsumerProtocolSubscriptionCodec.defaults(),
    topics: ['foo'],
    userData: null,
    ownedPartitions: owned === null ? [] : [{ topic: 'foo', partitions: owned }],
  });
  return w.toBuffer();
}

function assignment(partitions: number[]): Buffer {
  const w = new Writer(64).int16(0);
  ConsumerProtocolAssignmentCodec.encode(w, 0, { assignedPartitions: [{ topic: 'foo', partitions }], userData: null });
  return w.toBuffer();
}

function partitionsOf(buf: Buffer): number[] {
  const r = new Reader(buf);
  const v = r.int16();
  return ConsumerProtocolAssignmentCodec.decode(r, v)
    .assignedPartitions.flatMap((tp) => tp.partitions)
    .sort((a, b) => a - b);
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness(migrationPolicy: ConsumerGroupMigrationPolicy = 'bidirectional') {
  const clock = new ManualScheduler();
  const written: CoordinatorRecord[] = [];
  /** While set, every append to __consumer_offsets fails (a log that refuses writes). */
  const log = { refuse: false };
  const append = (_p: number, records: CoordinatorRecord[]) => {
    if (log.refuse) throw new Error('the log refuses writes');
    written.push(...records);
  };
  let next = 0;
  const classic = new GroupCoordinator({
    config: { numPartitions: 3, groupInitialRebalanceDelayMs: 0, groupMinSessionTimeoutMs: 1000 },
    scheduler: clock,
    append,
    newMemberId: (clientId) => `${clientId}-${++next}`,
  });
  const topics: TopicMetadataView = {
    byName: (n) => (n === 'foo' ? { topicId: FOO, partitionCount: 6 } : undefined),
    nameOf: (id) => (id === FOO ? 'foo' : undefined),
    names: () => ['foo'],
  };
  const cg = new ConsumerGroupCoordinator({
    scheduler: clock,
    topics,
    config: { numPartitions: 3, migrationPolicy },
    append,
    classic,
  });
  /** JoinGroup routed as the broker routes it: to the consumer group while it exists. */
  const join = (over: Partial<JoinGroupParams>) => {
    const p: JoinGroupParams = {
      groupId: 'g',
      memberId: '',
      groupInstanceId: null,
      clientId: 'classic',
      clientHost: '/127.0.0.1',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 30_000,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: subscription() }],
      requireKnownMemberId: false,
      supportSkippingAssignment: false,
      ...over,
    };
    return cg.has('g') ? cg.classicJoin(p) : classic.joinGroup(p);
  };
  const sync = (
    memberId: string,
    generationId: number,
    assignments: { memberId: string; assignment: Buffer }[] = [],
  ) =>
    cg.has('g')
      ? Promise.resolve(
          cg.classicSync({
            groupId: 'g',
            memberId,
            groupInstanceId: null,
            generationId,
            protocolType: 'consumer',
            protocolName: 'range',
          }),
        )
      : classic.syncGroup({
          groupId: 'g',
          memberId,
          groupInstanceId: null,
          generationId,
          protocolType: 'consumer',
          protocolName: 'range',
          assignments,
        });
  const heartbeat = (memberId: string, generationId: number) => {
    const p = { groupId: 'g', memberId, groupInstanceId: null, generationId };
    return cg.has('g') ? cg.classicHeartbeat(p) : classic.heartbeat(p);
  };
  const hb = (over: Partial<ConsumerGroupHeartbeatParams>) =>
    cg.heartbeat({
      groupId: 'g',
      memberId: 'new-1',
      memberEpoch: 0,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: 30_000,
      subscribedTopicNames: ['foo'],
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: [],
      clientId: 'kip848',
      clientHost: '/127.0.0.1',
      apiVersion: 1,
      ...over,
    });
  /** A classic group with one member that owns all six partitions, Stable at generation 1. */
  const classicGroup = async () => {
    const pending = join({});
    await flush();
    clock.advance(0);
    const joined = await pending;
    expect(joined.errorCode).toBe(E.NONE);
    const synced = await sync(joined.memberId, joined.generationId, [
      { memberId: joined.memberId, assignment: assignment([0, 1, 2, 3, 4, 5]) },
    ]);
    expect(synced.errorCode).toBe(E.NONE);
    await flush();
    expect(classic.group('g')?.state).toBe('Stable');
    return joined.memberId;
  };
  return { clock, classic, cg, join, sync, heartbeat, hb, classicGroup, written, log };
}

describe('mixed groups (group.consumer.migration.policy)', () => {
  it('upgrades a classic group when a KIP-848 member joins, serves the classic member from the target, downgrades when the KIP-848 member leaves', async () => {
    const h = harness();
    const a = await h.classicGroup();

    // A ConsumerGroupHeartbeat member converts the group; it waits for A's partitions.
    const b1 = await h.hb({});
    expect(b1.errorCode).toBe(E.NONE);
    expect(h.cg.has('g')).toBe(true);
    expect(h.classic.group('g')?.size).toBe(0);
    expect(b1.memberEpoch).toBe(2);
    expect(b1.assignment?.topicPartitions ?? []).toEqual([]);
    const converted = h.cg.describe(['g'])[0];
    expect(converted.groupEpoch).toBe(2);
    expect(converted.members.find((m) => m.memberId === a)?.assignment[0].partitions).toEqual([0, 1, 2, 3, 4, 5]);

    // The classic member is told to rejoin; JoinGroup answers at once with its new epoch as generation.
    expect(h.heartbeat(a, 1)).toBe(E.REBALANCE_IN_PROGRESS);
    const rejoined = await h.join({ memberId: a });
    expect(rejoined.errorCode).toBe(E.NONE);
    expect(rejoined.generationId).toBe(2);
    expect(rejoined.protocolName).toBe('range');
    expect(rejoined.leader).toBe('');
    expect(rejoined.members).toEqual([]);
    const synced = await h.sync(a, 2);
    expect(synced.errorCode).toBe(E.NONE);
    const aParts = partitionsOf(synced.assignment);
    expect(aParts).toHaveLength(3);
    expect(h.heartbeat(a, 2)).toBe(E.NONE);

    // The KIP-848 member now gets the partitions A gave up: the two halves are disjoint and whole.
    const b2 = await h.hb({ memberEpoch: 2, rebalanceTimeoutMs: -1, subscribedTopicNames: null });
    const bParts = b2.assignment?.topicPartitions[0]?.partitions ?? [];
    expect([...aParts, ...bParts].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(h.cg.describe(['g'])[0].groupState).toBe('Stable');

    // The last KIP-848 member leaves: the group is classic again and rebalances.
    const left = await h.hb({ memberEpoch: -1, rebalanceTimeoutMs: -1, subscribedTopicNames: null });
    expect(left.errorCode).toBe(E.NONE);
    expect(h.cg.has('g')).toBe(false);
    const back = h.classic.group('g');
    expect(back?.state).toBe('PreparingRebalance');
    // Generation = the consumer group's epoch, so A's member epoch is its generation.
    expect(back?.generationId).toBe(2);
    expect([...(back?.members.keys() ?? [])]).toEqual([a]);
    expect(partitionsOf(back?.members.get(a)?.assignment ?? Buffer.alloc(0))).toEqual(aParts);
    expect(h.heartbeat(a, 2)).toBe(E.REBALANCE_IN_PROGRESS);
    const again = await h.join({ memberId: a });
    expect(again.errorCode).toBe(E.NONE);
    expect(again.generationId).toBe(3);
    expect(again.leader).toBe(a);
    // The consumer group's records were tombstoned.
    const last = h.written.filter((r) => r.key.readInt16BE(0) === 3).at(-1);
    expect(last?.value).toBeNull();
  });

  it('a cooperative classic member revokes first: same generation and a smaller assignment, then rejoins for the next epoch', async () => {
    const h = harness();
    const a = await h.classicGroup();
    await h.hb({});
    // A reports it owns all six: the three moving to B are pending revocation.
    const j1 = await h.join({
      memberId: a,
      protocols: [{ name: 'range', metadata: subscription([0, 1, 2, 3, 4, 5]) }],
    });
    expect(j1.generationId).toBe(1);
    const s1 = await h.sync(a, 1);
    expect(s1.errorCode).toBe(E.NONE);
    const kept = partitionsOf(s1.assignment);
    expect(kept).toHaveLength(3);
    expect(h.heartbeat(a, 1)).toBe(E.REBALANCE_IN_PROGRESS);
    // B cannot get the partitions still held by A.
    const b = await h.hb({ memberEpoch: 2, rebalanceTimeoutMs: -1, subscribedTopicNames: null });
    expect(b.assignment?.topicPartitions ?? []).toEqual([]);
    const j2 = await h.join({ memberId: a, protocols: [{ name: 'range', metadata: subscription(kept) }] });
    expect(j2.generationId).toBe(2);
    const b2 = await h.hb({ memberEpoch: 2, rebalanceTimeoutMs: -1, subscribedTopicNames: null });
    expect(b2.assignment?.topicPartitions[0]?.partitions).toHaveLength(3);
  });

  it('classic LeaveGroup and session expiry remove classic members from a consumer group', async () => {
    const h = harness();
    const a = await h.classicGroup();
    await h.hb({});
    const r = await h.cg.classicLeave('g', [{ memberId: a, groupInstanceId: null }]);
    expect(r.members[0].errorCode).toBe(E.NONE);
    expect(h.cg.describe(['g'])[0].members.map((m) => m.memberId)).toEqual(['new-1']);
    expect(h.heartbeat(a, 2)).toBe(E.UNKNOWN_MEMBER_ID);
    // A KIP-848 member cannot be driven through the classic APIs.
    expect(h.heartbeat('new-1', 2)).toBe(E.UNKNOWN_MEMBER_ID);
  });

  it('a classic member commits offsets with its generation (its member epoch), on any OffsetCommit version', async () => {
    const h = harness();
    const a = await h.classicGroup();
    await h.hb({});
    const parts = [{ topicId: FOO, partition: 0 }];
    expect(h.cg.validateOffsetCommit('g', a, 1, 2, parts).errorCode).toBe(E.NONE);
    expect(h.cg.validateOffsetCommit('g', a, 2, 2, parts).errorCode).toBe(E.ILLEGAL_GENERATION);
    // The KIP-848 member still needs OffsetCommit v9.
    expect(h.cg.validateOffsetCommit('g', 'new-1', 2, 8, parts).errorCode).toBe(E.UNSUPPORTED_VERSION);
  });

  it('a restarted static classic member takes over its instance id and assignment in a consumer group', async () => {
    const h = harness();
    const pending = h.join({ groupInstanceId: 'i1' });
    await flush();
    h.clock.advance(0);
    const first = await pending;
    await h.sync(first.memberId, first.generationId, [
      { memberId: first.memberId, assignment: assignment([0, 1, 2, 3, 4, 5]) },
    ]);
    await flush();
    await h.hb({});
    const before = h.cg.describe(['g'])[0].members.find((m) => m.instanceId === 'i1');
    const again = await h.join({ groupInstanceId: 'i1' });
    expect(again.errorCode).toBe(E.NONE);
    expect(again.memberId).not.toBe(first.memberId);
    const members = h.cg.describe(['g'])[0].members;
    expect(members.map((m) => m.memberId).sort()).toEqual([again.memberId, 'new-1'].sort());
    expect(members.find((m) => m.instanceId === 'i1')?.targetAssignment).toEqual(before?.targetAssignment);
    // The old member id is fenced.
    expect(h.heartbeat(first.memberId, first.generationId)).toBe(E.UNKNOWN_MEMBER_ID);
    // The new one must sync within its rebalance timeout, and does.
    expect((await h.sync(again.memberId, again.generationId)).errorCode).not.toBe(E.UNKNOWN_MEMBER_ID);
  });

  it('an upgrade whose records the log refuses is undone: the classic group keeps its member, generation and assignment', async () => {
    const h = harness();
    const a = await h.classicGroup();
    h.log.refuse = true;
    const refused = await h.hb({});
    expect(refused.errorCode).toBe(E.COORDINATOR_NOT_AVAILABLE);
    expect(h.cg.has('g')).toBe(false);
    const back = h.classic.group('g');
    expect([...(back?.members.keys() ?? [])]).toEqual([a]);
    expect(back?.generationId).toBe(1);
    expect(partitionsOf(back?.members.get(a)?.assignment ?? Buffer.alloc(0))).toEqual([0, 1, 2, 3, 4, 5]);
    // The classic member goes on in the classic group: told to rejoin, it is the leader of the next generation.
    expect(h.heartbeat(a, 1)).toBe(E.REBALANCE_IN_PROGRESS);
    const rejoined = await h.join({ memberId: a });
    expect(rejoined.errorCode).toBe(E.NONE);
    expect(rejoined.leader).toBe(a);
    // Once the log takes writes again, the KIP-848 member's retry converts the group.
    h.log.refuse = false;
    const retried = await h.hb({});
    expect(retried.errorCode).toBe(E.NONE);
    expect(h.cg.has('g')).toBe(true);
  });

  it('policy disabled: a classic group with members refuses a KIP-848 member', async () => {
    const h = harness('disabled');
    await h.classicGroup();
    const r = await h.hb({});
    expect(r.errorCode).toBe(E.GROUP_ID_NOT_FOUND);
    expect(h.cg.has('g')).toBe(false);
    expect(h.classic.group('g')?.size).toBe(1);
  });

  it('policy upgrade: no downgrade when the last KIP-848 member leaves', async () => {
    const h = harness('upgrade');
    const a = await h.classicGroup();
    await h.hb({});
    await h.hb({ memberEpoch: -1, rebalanceTimeoutMs: -1, subscribedTopicNames: null });
    expect(h.cg.has('g')).toBe(true);
    expect(h.cg.describe(['g'])[0].members.map((m) => m.memberId)).toEqual([a]);
  });

  it('a classic member keeps its protocols through a restart of the coordinator (ClassicMemberMetadata, tag 0)', () => {
    const v = {
      instanceId: null,
      rackId: null,
      clientId: 'c',
      clientHost: '/h',
      subscribedTopicNames: ['foo'],
      subscribedTopicRegex: null,
      rebalanceTimeoutMs: 30_000,
      serverAssignor: null,
      classic: { sessionTimeoutMs: 10_000, protocols: [{ name: 'range', metadata: subscription() }] },
    };
    expect(decodeConsumerGroupMemberMetadataValue(encodeConsumerGroupMemberMetadataValue(v))).toEqual(v);
    const plain = { ...v, classic: null };
    expect(decodeConsumerGroupMemberMetadataValue(encodeConsumerGroupMemberMetadataValue(plain))).toEqual(plain);
  });
});
