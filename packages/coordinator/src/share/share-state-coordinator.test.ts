import { ERROR_CODES as E } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { mergeBatches, ShareStateCoordinator, type ShareStateRecord } from './share-state-coordinator.js';

const TOPIC = '6f1b2f1c-0000-4000-8000-000000000001';
const key = { groupId: 'g', topicId: TOPIC, partition: 0 };
const AVAILABLE = 0;
const ACKED = 2;

function harness() {
  const log = new Map<number, ShareStateRecord[]>();
  const c = new ShareStateCoordinator({
    numPartitions: () => 3,
    append: async (p, records) => {
      log.set(p, [...(log.get(p) ?? []), ...records]);
    },
    now: () => 1_000,
  });
  for (let p = 0; p < 3; p++) c.loadPartition(p, []);
  return { c, log };
}

describe('ShareStateCoordinator', () => {
  it('initializes, reads, writes and deletes a share-partition state, each change a record', async () => {
    const { c, log } = harness();
    expect((await c.read(key, 0)).errorCode).toBe(E.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await c.write(key, { stateEpoch: 0, leaderEpoch: 0, startOffset: 5n, stateBatches: [] })).errorCode).toBe(
      E.UNKNOWN_TOPIC_OR_PARTITION,
    );
    expect((await c.initialize(key, 0, 10n)).errorCode).toBe(E.NONE);
    const batches = [{ firstOffset: 10n, lastOffset: 12n, deliveryState: ACKED, deliveryCount: 1 }];
    expect(
      (await c.write(key, { stateEpoch: 0, leaderEpoch: 3, startOffset: 10n, stateBatches: batches })).errorCode,
    ).toBe(E.NONE);
    const r = await c.read(key, 3);
    expect(r).toMatchObject({
      errorCode: E.NONE,
      stateEpoch: 0,
      leaderEpoch: 3,
      startOffset: 10n,
      stateBatches: batches,
    });
    expect(c.summary(key)).toMatchObject({ errorCode: E.NONE, startOffset: 10n, leaderEpoch: 3 });
    const p = c.partitionFor(key);
    expect(log.get(p)?.length).toBe(2);
    expect((await c.delete(key)).errorCode).toBe(E.NONE);
    expect(log.get(p)?.at(-1)?.value).toBeNull();
    expect((await c.read(key, 3)).errorCode).toBe(E.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('fences writes of an older leader epoch or state epoch, and a read by a newer leader fences the old one', async () => {
    const { c } = harness();
    await c.initialize(key, 1, 0n);
    expect((await c.write(key, { stateEpoch: 1, leaderEpoch: 4, startOffset: 0n, stateBatches: [] })).errorCode).toBe(
      E.NONE,
    );
    expect((await c.write(key, { stateEpoch: 1, leaderEpoch: 3, startOffset: 0n, stateBatches: [] })).errorCode).toBe(
      E.FENCED_LEADER_EPOCH,
    );
    expect((await c.write(key, { stateEpoch: 0, leaderEpoch: 4, startOffset: 0n, stateBatches: [] })).errorCode).toBe(
      E.FENCED_STATE_EPOCH,
    );
    // The new leader (epoch 5) reads: the old one (4) can no longer write.
    expect((await c.read(key, 5)).errorCode).toBe(E.NONE);
    expect((await c.write(key, { stateEpoch: 1, leaderEpoch: 4, startOffset: 0n, stateBatches: [] })).errorCode).toBe(
      E.FENCED_LEADER_EPOCH,
    );
    expect((await c.initialize(key, 1, 0n)).errorCode).toBe(E.FENCED_STATE_EPOCH);
  });

  it('answers NOT_COORDINATOR for a state partition it does not hold, and reloads the latest state from its records', async () => {
    const { c, log } = harness();
    await c.initialize(key, 0, 0n);
    const batches = [{ firstOffset: 0n, lastOffset: 1n, deliveryState: ACKED, deliveryCount: 1 }];
    await c.write(key, { stateEpoch: 0, leaderEpoch: 1, startOffset: 0n, stateBatches: batches });
    const p = c.partitionFor(key);
    c.unloadPartition(p);
    expect((await c.read(key, 1)).errorCode).toBe(E.NOT_COORDINATOR);
    const other = new ShareStateCoordinator({ numPartitions: () => 3, append: async () => {} });
    expect(other.loadPartition(p, log.get(p) ?? [])).toBe(1);
    expect(await other.read(key, 1)).toMatchObject({ errorCode: E.NONE, startOffset: 0n, stateBatches: batches });
  });
});

describe('mergeBatches', () => {
  const b = (first: number, last: number, state = AVAILABLE, count = 1) => ({
    firstOffset: BigInt(first),
    lastOffset: BigInt(last),
    deliveryState: state,
    deliveryCount: count,
  });
  it('lets written batches win where they overlap, keeps the rest, drops what is before the start offset', () => {
    expect(mergeBatches([b(0, 9)], [b(3, 4, ACKED), b(7, 7, ACKED)], 2n)).toEqual([
      b(2, 2),
      b(3, 4, ACKED),
      b(5, 6),
      b(7, 7, ACKED),
      b(8, 9),
    ]);
    expect(mergeBatches([b(0, 3), b(10, 12)], [b(2, 11, ACKED, 2)], 0n)).toEqual([
      b(0, 1),
      b(2, 11, ACKED, 2),
      b(12, 12),
    ]);
    expect(mergeBatches([b(0, 3)], [], 4n)).toEqual([]);
  });
});
