import type { LocalEtcd } from '@sluice/cluster';
import { ERROR_CODES, FindCoordinatorApi, ShareGroupHeartbeatApi } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { type RawClient, startEtcdCluster, until } from './helpers.js';

// A share group's coordinator loses the leadership of the group's __consumer_offsets partition and gets
// it back: the group is dropped, then read back from its records with its members, epochs and assignments.

let etcd: LocalEtcd;
let brokers: RunningBroker[];
let clients: RawClient[];

beforeAll(async () => {
  ({ etcd, brokers, clients } = await startEtcdCluster('sluice-share-handover', {
    'offsets.topic.num.partitions': '3',
    // One replica: the partition has no leader while its broker is in controlled shutdown.
    'offsets.topic.replication.factor': '1',
    'share.coordinator.state.topic.num.partitions': '3',
  }));
}, 60_000);

afterAll(async () => {
  for (const c of clients ?? []) c.close();
  for (const b of brokers ?? []) await b.stop();
  await etcd?.stop();
});

describe('share group coordinator handover', () => {
  it('a coordinator that gets the offsets partition back carries on with the members and their epochs', async () => {
    const group = 'moving-share';
    // The first FindCoordinator creates __consumer_offsets: asked again until its partitions are led.
    let id = -1;
    await until('a group coordinator', async () => {
      const r = await (clients[0] as RawClient).send(FindCoordinatorApi, 6, {
        keyType: 0,
        key: '',
        coordinatorKeys: [group],
      });
      id = r.coordinators[0]?.errorCode === 0 ? r.coordinators[0].nodeId : -1;
      return id > 0;
    });
    expect(id).toBeGreaterThan(0);
    const coordinator = brokers[id - 1] as RunningBroker;
    const raw = clients[id - 1] as RawClient;
    const heartbeat = (memberId: string, memberEpoch: number, subscribed: string[] | null) =>
      raw.send(ShareGroupHeartbeatApi, 1, {
        groupId: group,
        memberId,
        memberEpoch,
        rackId: null,
        subscribedTopicNames: subscribed,
      });
    const a = await heartbeat('member-a-0000000000000', 0, ['any-topic']);
    const b = await heartbeat('member-b-0000000000000', 0, ['any-topic']);
    expect([a.errorCode, b.errorCode]).toEqual([0, 0]);
    const shares = coordinator.context.groups.shareGroups;
    const before = shares?.coordinator.describe([group])[0];

    const offsets = coordinator.context.topics.get('__consumer_offsets');
    if (offsets === undefined) throw new Error('no offsets topic');
    const p = coordinator.context.groups.coordinator.partitionFor(group);
    const epoch = coordinator.context.store.image.brokers.get(id)?.brokerEpoch as number;
    await coordinator.context.store.setControlledShutdown(id, epoch, true);
    await until('the offsets partition without a leader', () =>
      brokers.every((x) => x.context.store.image.partition(offsets.topicId, p)?.leader === -1),
    );
    expect(shares?.coordinator.has(group)).toBe(false);
    expect((await heartbeat('member-a-0000000000000', a.memberEpoch, null)).errorCode).toBe(
      ERROR_CODES.NOT_COORDINATOR,
    );

    await coordinator.context.store.setControlledShutdown(id, epoch, false);
    await until('the coordinator leading the offsets partition again', () =>
      brokers.every((x) => x.context.store.image.partition(offsets.topicId, p)?.leader === id),
    );
    expect(shares?.coordinator.describe([group])[0]).toEqual(before);
    // Both go on at their epochs: no UNKNOWN_MEMBER_ID, no rejoin.
    const a2 = await heartbeat('member-a-0000000000000', a.memberEpoch, null);
    expect(a2).toMatchObject({ errorCode: 0, memberEpoch: b.memberEpoch });
    const b2 = await heartbeat('member-b-0000000000000', b.memberEpoch, null);
    expect(b2).toMatchObject({ errorCode: 0, memberEpoch: b.memberEpoch, assignment: null });
  }, 90_000);
});
