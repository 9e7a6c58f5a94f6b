import { ERROR_CODES } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { ManualScheduler } from '../scheduler.js';
import { ShareGroupCoordinator } from './share-group-coordinator.js';
import { RECORD_STATE, SharePartition } from './share-partition.js';
import {
  decodeShareSnapshotKey,
  decodeShareSnapshotValue,
  encodeShareSnapshotKey,
  encodeShareSnapshotValue,
} from './share-records.js';

const TOPIC_ID = '00000000-0000-0000-0000-00000000000a';
const topics = (partitionCount: number) => ({
  byName: (n: string) => (n === 't' ? { topicId: TOPIC_ID, partitionCount } : undefined),
  nameOf: (id: string) => (id === TOPIC_ID ? 't' : undefined),
  names: () => ['t'],
});

function join(c: ShareGroupCoordinator, memberId: string) {
  return c.heartbeat({
    groupId: 'g',
    memberId,
    memberEpoch: 0,
    rackId: null,
    subscribedTopicNames: ['t'],
    clientId: 'c',
    clientHost: '/127.0.0.1',
  });
}

describe('ShareGroupCoordinator', () => {
  it('gives every one of five members the one partition, with epochs that follow the group epoch', () => {
    const c = new ShareGroupCoordinator({ topics: topics(1), scheduler: new ManualScheduler() });
    const epochs: number[] = [];
    for (const m of ['m1', 'm2', 'm3', 'm4', 'm5']) {
      const r = join(c, m);
      expect(r.errorCode).toBe(0);
      expect(r.assignment?.topicPartitions).toEqual([{ topicId: TOPIC_ID, partitions: [0] }]);
      epochs.push(r.memberEpoch);
    }
    expect(epochs).toEqual([1, 2, 3, 4, 5]);
    const d = c.describe(['g'])[0];
    expect(d && 'members' in d ? d.members.length : 0).toBe(5);
    // A stale epoch is fenced; an unknown member is refused.
    const fenced = c.heartbeat({
      groupId: 'g',
      memberId: 'm1',
      memberEpoch: 0 + 7,
      rackId: null,
      subscribedTopicNames: null,
      clientId: 'c',
      clientHost: 'h',
    });
    expect(fenced.errorCode).toBe(ERROR_CODES.FENCED_MEMBER_EPOCH);
    const unknownReq = {
      groupId: 'g',
      memberId: 'x',
      memberEpoch: 3,
      rackId: null,
      subscribedTopicNames: null,
      clientId: 'c',
      clientHost: 'h',
    };
    const unknown = c.heartbeat(unknownReq);
    expect(unknown.errorCode).toBe(ERROR_CODES.UNKNOWN_MEMBER_ID);
    const noGroup = c.heartbeat({ ...unknownReq, groupId: 'none' });
    expect(noGroup.errorCode).toBe(ERROR_CODES.GROUP_ID_NOT_FOUND);
    // The next heartbeat of m1 at its epoch moves it to the group's epoch, the assignment unchanged (null).
    const hb = c.heartbeat({
      groupId: 'g',
      memberId: 'm1',
      memberEpoch: 1,
      rackId: null,
      subscribedTopicNames: null,
      clientId: 'c',
      clientHost: 'h',
    });
    expect(hb).toMatchObject({ errorCode: 0, memberEpoch: 5, assignment: null });
  });

  it('spreads partitions over members, and a member that times out leaves and its records are released', () => {
    const clock = new ManualScheduler(0);
    const c = new ShareGroupCoordinator({ topics: topics(4), scheduler: clock, config: { sessionTimeoutMs: 1_000 } });
    join(c, 'a');
    const b = join(c, 'b');
    expect(b.assignment?.topicPartitions[0]?.partitions).toEqual([1, 3]);
    const sp = c.sharePartition('g', TOPIC_ID, 0, () => 0n);
    sp.acquire('a', [{ baseOffset: 0n, lastOffset: 4n, isControl: false }], 10, clock.now());
    clock.advance(1_001);
    expect(c.list()).toEqual([{ groupId: 'g', state: 'Empty' }]);
    expect(sp.stateOf(0n, clock.now())?.state).toBe(RECORD_STATE.AVAILABLE);
    expect(sp.acquiredCount(clock.now())).toBe(0);
  });

  it('writes share snapshots in Kafka’s record format and reads them back', () => {
    const sp = new SharePartition(10n);
    sp.acquire('a', [{ baseOffset: 10n, lastOffset: 12n, isControl: false }], 10, 0);
    sp.acknowledge('a', 11n, 11n, [1], 0);
    const key = encodeShareSnapshotKey({ groupId: 'g', topicId: TOPIC_ID, partition: 3 });
    // int16 type 0, int16-length "g", 16-byte uuid, int32 partition
    expect(key.toString('hex')).toBe(`0000` + `0001` + `67` + '0000000000000000000000000000000a' + '00000003');
    expect(decodeShareSnapshotKey(key)).toEqual({ groupId: 'g', topicId: TOPIC_ID, partition: 3 });
    const value = encodeShareSnapshotValue({
      ...sp.snapshot(),
      snapshotEpoch: 0,
      leaderEpoch: 0,
      createTimestamp: 1n,
      writeTimestamp: 2n,
    });
    const back = decodeShareSnapshotValue(value);
    expect(back.startOffset).toBe(10n);
    expect(back.stateBatches).toEqual([
      { firstOffset: 10n, lastOffset: 10n, deliveryState: 0, deliveryCount: 1 },
      { firstOffset: 11n, lastOffset: 11n, deliveryState: 2, deliveryCount: 1 },
      { firstOffset: 12n, lastOffset: 12n, deliveryState: 0, deliveryCount: 1 },
    ]);
    expect(() => decodeShareSnapshotValue(value.subarray(0, value.length - 5))).toThrow();
  });
});
