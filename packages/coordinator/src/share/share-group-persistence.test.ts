import { ERROR_CODES } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { ManualScheduler } from '../scheduler.js';
import { ShareGroupCoordinator, type ShareGroupRecord } from './share-group-coordinator.js';
import {
  decodeShareGroupKey,
  decodeShareGroupStatePartitionMetadataValue,
  encodeShareGroupStatePartitionMetadataValue,
} from './share-group-records.js';

const TOPIC_ID = '00000000-0000-0000-0000-00000000000a';
const topics = (partitionCount: number) => ({
  byName: (n: string) => (n === 't' ? { topicId: TOPIC_ID, partitionCount } : undefined),
  nameOf: (id: string) => (id === TOPIC_ID ? 't' : undefined),
  names: () => ['t'],
});

const hb = (memberId: string, memberEpoch: number, subscribedTopicNames: string[] | null = null) => ({
  groupId: 'g',
  memberId,
  memberEpoch,
  rackId: null,
  subscribedTopicNames,
  clientId: `client-${memberId}`,
  clientHost: '/127.0.0.1',
});

/** A coordinator whose records go to `log`, as __consumer_offsets would keep them. */
function withLog(log: ShareGroupRecord[], scheduler = new ManualScheduler(0), partitionCount = 4) {
  return new ShareGroupCoordinator({
    topics: topics(partitionCount),
    scheduler,
    config: { sessionTimeoutMs: 1_000 },
    appendRecords: (_g, records) => {
      log.push(...records);
    },
  });
}

describe('share-group records in __consumer_offsets', () => {
  it('a coordinator that replays them keeps the group epoch, members, epochs and assignments', () => {
    const log: ShareGroupRecord[] = [];
    const c = withLog(log);
    const a = c.heartbeat(hb('a', 0, ['t']));
    const b = c.heartbeat(hb('b', 0, ['t']));
    const c1 = c.heartbeat(hb('c', 0, ['t']));
    expect(c.heartbeat(hb('c', c1.memberEpoch)).errorCode).toBe(0);
    // b leaves: its records are tombstoned.
    expect(c.heartbeat(hb('b', -1)).errorCode).toBe(0);
    const aNow = c.heartbeat(hb('a', a.memberEpoch));
    expect(aNow.errorCode).toBe(0);
    expect(b.errorCode).toBe(0);
    const before = c.describe(['g'])[0];
    c.close();
    const types = new Set(log.map((r) => decodeShareGroupKey(r.key)?.type));
    expect(types).toEqual(new Set(['member', 'group', 'targetMember', 'targetMetadata', 'currentAssignment']));

    const restarted = withLog([]);
    expect(restarted.loadRecords(log)).toBe(1);
    expect(restarted.describe(['g'])[0]).toEqual(before);
    // A member carries on at its epoch: no UNKNOWN_MEMBER_ID, no new epoch, no assignment resent.
    const again = restarted.heartbeat(hb('a', aNow.memberEpoch));
    expect(again).toMatchObject({ errorCode: 0, memberEpoch: aNow.memberEpoch, assignment: null });
    // The one that left stays gone.
    expect(restarted.heartbeat(hb('b', b.memberEpoch)).errorCode).toBe(ERROR_CODES.UNKNOWN_MEMBER_ID);
    // c never heard of its new assignment after b left: it gets it on its next heartbeat.
    const cNext = restarted.heartbeat(hb('c', c1.memberEpoch));
    expect(cNext.errorCode).toBe(0);
    expect(cNext.assignment?.topicPartitions).toEqual([{ topicId: TOPIC_ID, partitions: [1, 3] }]);
    restarted.close();
  });

  it('restored members time out after a session without heartbeats, and the removal is written', () => {
    const log: ShareGroupRecord[] = [];
    const c = withLog(log);
    c.heartbeat(hb('a', 0, ['t']));
    c.close();
    const clock = new ManualScheduler(0);
    const log2: ShareGroupRecord[] = [];
    const restarted = withLog(log2, clock);
    restarted.loadRecords(log);
    expect(restarted.memberCount('g')).toBe(1);
    clock.advance(1_001);
    expect(restarted.memberCount('g')).toBe(0);
    const again = withLog([]);
    again.loadRecords([...log, ...log2]);
    expect(again.memberCount('g')).toBe(0);
    expect(again.describe(['g'])[0]).toMatchObject({ groupEpoch: 2 });
  });

  it('a deleted group stays deleted after a replay', () => {
    const log: ShareGroupRecord[] = [];
    const c = withLog(log);
    const a = c.heartbeat(hb('a', 0, ['t']));
    expect(a.errorCode).toBe(0);
    c.heartbeat(hb('a', -1));
    expect(c.deleteGroup('g')).toBe(true);
    const restarted = withLog([]);
    restarted.loadRecords(log);
    expect(restarted.has('g')).toBe(false);
  });

  it('initializes subscribed share-partitions once through the initializer, and replays which are initialized', async () => {
    const log: ShareGroupRecord[] = [];
    const calls: { stateEpoch: number; topics: { topicId: string; partitions: number[] }[] }[] = [];
    const c = new ShareGroupCoordinator({
      topics: topics(3),
      scheduler: new ManualScheduler(0),
      appendRecords: (_g, records) => {
        log.push(...records);
      },
      initializeState: async (_g, stateEpoch, t) => {
        calls.push({ stateEpoch, topics: t });
        // Partition 2 fails the first time: it is tried again on a later heartbeat.
        const failing = calls.length === 1 ? 2 : -1;
        return t.flatMap((x) =>
          x.partitions.map((p) => ({ topicId: x.topicId, partition: p, errorCode: p === failing ? 15 : 0 })),
        );
      },
    });
    const a = c.heartbeat(hb('a', 0, ['t']));
    c.heartbeat(hb('b', 0, ['t']));
    expect(calls).toEqual([{ stateEpoch: 1, topics: [{ topicId: TOPIC_ID, partitions: [0, 1, 2] }] }]);
    await new Promise((r) => setImmediate(r));
    expect(c.initializedPartitions('g')).toEqual(new Map([[TOPIC_ID, [0, 1]]]));
    expect(c.heartbeat(hb('a', a.memberEpoch)).errorCode).toBe(0);
    expect(calls[1]?.topics).toEqual([{ topicId: TOPIC_ID, partitions: [2] }]);
    await new Promise((r) => setImmediate(r));
    expect(c.initializedPartitions('g')).toEqual(new Map([[TOPIC_ID, [0, 1, 2]]]));
    c.close();
    const restarted = withLog([]);
    restarted.loadRecords(log);
    expect(restarted.initializedPartitions('g')).toEqual(new Map([[TOPIC_ID, [0, 1, 2]]]));
  });

  it('ShareGroupStatePartitionMetadataValue keeps Kafka 4.4 field order', () => {
    const v = {
      initializingTopics: [{ topicId: TOPIC_ID, topicName: 't', partitions: [2] }],
      initializedTopics: [{ topicId: TOPIC_ID, topicName: 't', partitions: [0, 1] }],
      deletingTopics: [],
    };
    const buf = encodeShareGroupStatePartitionMetadataValue(v);
    // version 0, then InitializingTopics: compact length 2 (1 entry), the uuid, compact "t", [2]
    expect(buf.subarray(0, 3).toString('hex')).toBe('000002');
    expect(decodeShareGroupStatePartitionMetadataValue(buf)).toEqual(v);
    expect(() => decodeShareGroupStatePartitionMetadataValue(buf.subarray(0, buf.length - 3))).toThrow();
  });
});
