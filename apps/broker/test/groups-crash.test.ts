// Committed offsets and group metadata survive a SIGKILL of the broker: once OffsetCommit is
// answered, the commit is in __consumer_offsets, and the restarted broker loads it.

import { CreateTopicsApi, OffsetCommitApi, OffsetFetchApi, ZERO_UUID } from '@sluice/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, RawClient, spawnBroker, tempDir } from './helpers.js';

const OVERRIDES = { 'offsets.topic.num.partitions': '3' };
let broker: BrokerProcess | undefined;

afterAll(async () => {
  await broker?.kill('SIGKILL');
});

describe('committed offsets across a SIGKILL', () => {
  it('every acknowledged commit is there after the broker is killed and restarted', async () => {
    const dataDir = tempDir('sluice-groups-crash-');
    broker = await spawnBroker({ dataDir, overrides: OVERRIDES });
    const raw = await RawClient.connect(broker.port);
    const created = await raw.send(CreateTopicsApi, 7, {
      timeoutMs: 10_000,
      validateOnly: false,
      topics: [{ name: 'orders', numPartitions: 4, replicationFactor: 1, assignments: [], configs: [] }],
    });
    expect(created.topics[0].errorCode).toBe(0);

    // 40 groups commit 4 partitions each, 5 rounds; only answered commits count.
    const acknowledged = new Map<string, bigint>();
    for (let round = 1; round <= 5; round++) {
      for (let g = 0; g < 40; g++) {
        const groupId = `g-${g}`;
        const offsets = [0, 1, 2, 3].map((p) => BigInt(round * 100 + g * 4 + p));
        const r = await raw.send(OffsetCommitApi, 8, {
          groupId,
          generationIdOrMemberEpoch: -1,
          memberId: '',
          groupInstanceId: null,
          retentionTimeMs: -1n,
          topics: [
            {
              name: 'orders',
              topicId: ZERO_UUID,
              partitions: offsets.map((committedOffset, partitionIndex) => ({
                partitionIndex,
                committedOffset,
                committedLeaderEpoch: -1,
                committedMetadata: `round-${round}`,
              })),
            },
          ],
        });
        for (const p of r.topics[0].partitions) {
          expect(p.errorCode).toBe(0);
          acknowledged.set(`${groupId}/${p.partitionIndex}`, offsets[p.partitionIndex]);
        }
      }
    }
    raw.close();
    expect(await broker.kill('SIGKILL')).toBeNull();

    broker = await spawnBroker({ dataDir, overrides: OVERRIDES });
    const raw2 = await RawClient.connect(broker.port);
    const fetched = await raw2.send(OffsetFetchApi, 8, {
      groupId: '',
      topics: [],
      groups: Array.from({ length: 40 }, (_, g) => ({
        groupId: `g-${g}`,
        memberId: null,
        memberEpoch: -1,
        topics: [{ name: 'orders', topicId: ZERO_UUID, partitionIndexes: [0, 1, 2, 3] }],
      })),
      requireStable: false,
    });
    raw2.close();
    const found = new Map<string, bigint>();
    for (const group of fetched.groups) {
      expect(group.errorCode).toBe(0);
      for (const p of group.topics[0].partitions) {
        expect(p.errorCode).toBe(0);
        expect(p.metadata).toBe('round-5');
        found.set(`${group.groupId}/${p.partitionIndex}`, p.committedOffset);
      }
    }
    expect(found).toEqual(acknowledged);
  });
});
