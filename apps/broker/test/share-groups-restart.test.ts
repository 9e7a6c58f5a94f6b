import { Kafka } from '@sluice/client';
import { ShareGroupHeartbeatApi } from '@sluice/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, startInProcess, tempDir, until } from './helpers.js';

// A share group's members, their epochs and assignments, and which share-partitions are initialized are
// kept in __consumer_offsets (Kafka's ShareGroup* records), so a restarted broker carries on with them.

const dataDir = tempDir('sluice-share-restart-');
const props = {
  'log.dirs': dataDir,
  'offsets.topic.num.partitions': '3',
  'share.coordinator.state.topic.num.partitions': '3',
};
let broker: RunningBroker | undefined;
let raw: RawClient | undefined;

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

const heartbeat = (client: RawClient, memberId: string, memberEpoch: number, subscribed: string[] | null) =>
  client.send(ShareGroupHeartbeatApi, 1, {
    groupId: 'kept',
    memberId,
    memberEpoch,
    rackId: null,
    subscribedTopicNames: subscribed,
  });

describe('share groups across a broker restart', () => {
  it('keep the group epoch, members with their epochs and assignments, and initialized share-partitions', async () => {
    broker = await startInProcess(props);
    const admin = new Kafka({ brokers: [broker.bootstrap] }).admin();
    await admin.createTopics([{ name: 'kq', numPartitions: 2 }]);
    await admin.close();
    const topicId = broker.context.topics.get('kq')?.topicId as string;
    raw = await RawClient.connect(broker.port);
    const a = await heartbeat(raw, 'member-a-0000000000000', 0, ['kq']);
    const b = await heartbeat(raw, 'member-b-0000000000000', 0, ['kq']);
    expect([a.errorCode, b.errorCode]).toEqual([0, 0]);
    // a catches up with the epoch b's join made.
    const a2 = await heartbeat(raw, 'member-a-0000000000000', a.memberEpoch, null);
    expect(a2).toMatchObject({ errorCode: 0, memberEpoch: b.memberEpoch });
    const shares = () => broker?.context.groups.shareGroups;
    // Both partitions are initialized at the share coordinator when first assigned, before any fetch.
    await until(
      'share-partitions initialized',
      () => shares()?.coordinator.initializedPartitions('kept').get(topicId)?.length === 2,
    );
    expect(shares()?.state.coordinator.summary({ groupId: 'kept', topicId, partition: 1 }).errorCode).toBe(0);
    const before = shares()?.coordinator.describe(['kept'])[0];
    raw.close();
    await broker.stop();

    broker = await startInProcess(props);
    expect(shares()?.coordinator.describe(['kept'])[0]).toEqual(before);
    expect(shares()?.coordinator.initializedPartitions('kept')).toEqual(new Map([[topicId, [0, 1]]]));
    raw = await RawClient.connect(broker.port);
    // Both members go on at their epochs: no UNKNOWN_MEMBER_ID, no rejoin, no epoch bump.
    const a3 = await heartbeat(raw, 'member-a-0000000000000', a2.memberEpoch, null);
    const b3 = await heartbeat(raw, 'member-b-0000000000000', b.memberEpoch, null);
    expect(a3).toMatchObject({ errorCode: 0, memberEpoch: a2.memberEpoch, assignment: null });
    expect(b3).toMatchObject({ errorCode: 0, memberEpoch: b.memberEpoch, assignment: null });
    expect(shares()?.coordinator.describe(['kept'])[0]).toMatchObject({ groupEpoch: b.memberEpoch });
    // Initialized at start offset -1 and never fetched: not held from the start, but read and resolved
    // (share.auto.offset.reset=latest: the log end) on first use.
    expect(shares()?.coordinator.existingSharePartition('kept', topicId, 0)).toBeUndefined();
    expect(await shares()?.load('kept', topicId, 0, () => 7n)).toBe(0);
    expect(shares()?.coordinator.existingSharePartition('kept', topicId, 0)?.startOffset).toBe(7n);
  });
});
