import { describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../coordinator.js';
import { ManualScheduler } from '../scheduler.js';

describe('offset expiry of a KIP-848 consumer group', () => {
  it('keeps the offsets of topics the consumer group subscribes to, expires the rest', async () => {
    const clock = new ManualScheduler();
    const c = new GroupCoordinator({
      scheduler: clock,
      config: { offsetsRetentionMs: 1000, offsetsRetentionCheckIntervalMs: 1_000_000 },
      append: () => {},
      offsetsInUse: (groupId) => (groupId === 'cg' ? new Set(['orders']) : null),
    });
    const commit = (groupId: string, topic: string) =>
      c.commitOffsets({
        groupId,
        generationId: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1,
        topics: [
          {
            name: topic,
            partitions: [{ partitionIndex: 0, committedOffset: 5n, committedLeaderEpoch: -1, committedMetadata: null }],
          },
        ],
      });
    await commit('cg', 'orders');
    await commit('cg', 'old-topic');
    await commit('simple', 'orders');
    clock.advance(2000);
    expect(await c.expireOffsets()).toBe(2);
    expect(c.fetchOffsets('cg', null).topics.map((t) => t.name)).toEqual(['orders']);
    expect(c.fetchOffsets('simple', null).topics).toEqual([]);
    c.shutdown();
  });
});
