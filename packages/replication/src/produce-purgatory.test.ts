import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedMetadataStore, initialPartitionRecords, type WriteFence } from '@sluice/cluster/core';
import { ERROR_CODES } from '@sluice/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { updateIsr } from './isr-updater.js';
import { PartitionReplica, type ReplicaLog } from './partition-replica.js';
import { ProducePurgatory } from './produce-purgatory.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('ProducePurgatory', () => {
  it('completes waiters in offset order as their checks pass, and only those', async () => {
    const p = new ProducePurgatory();
    let hw = 0n;
    const check = (required: bigint) => () => (hw >= required ? 0 : null);
    const done: bigint[] = [];
    for (const off of [5n, 10n, 15n]) void p.wait('t-0', off, 10_000, check(off)).then(() => done.push(off));
    expect(p.size).toBe(3);
    hw = 11n;
    p.wake('t-0');
    await Promise.resolve();
    expect(done).toEqual([5n, 10n]);
    expect(p.size).toBe(1);
    p.wake('other');
    hw = 20n;
    p.wake('t-0');
    await Promise.resolve();
    expect(done).toEqual([5n, 10n, 15n]);
    expect(p.size).toBe(0);
  });

  it('answers at once when the check already passes', async () => {
    const p = new ProducePurgatory();
    await expect(p.wait('t-0', 1n, 10, () => 0)).resolves.toBe(0);
    expect(p.size).toBe(0);
  });

  it('a waiter past its timeout gets REQUEST_TIMED_OUT and leaves', async () => {
    vi.useFakeTimers();
    const p = new ProducePurgatory();
    const r = p.wait('t-0', 1n, 1000, () => null);
    vi.advanceTimersByTime(999);
    expect(p.size).toBe(1);
    vi.advanceTimersByTime(1);
    await expect(r).resolves.toBe(ERROR_CODES.REQUEST_TIMED_OUT);
    expect(p.size).toBe(0);
  });

  it('is bounded: past maxWaiting a wait is refused with a retriable error', () => {
    const p = new ProducePurgatory(2);
    void p.wait('a', 1n, 10_000, () => null);
    void p.wait('b', 1n, 10_000, () => null);
    expect(() => p.wait('c', 1n, 10_000, () => null)).toThrow(/Too many/);
    p.failAll(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    expect(p.size).toBe(0);
  });

  it('woken by follower fetches through a replica: acknowledged only once the ISR has the records', async () => {
    const log: ReplicaLog = { logStartOffset: 0n, logEndOffset: 0n, highWatermark: 0n };
    const replica = new PartitionReplica(1, log, () => 0);
    replica.applyRecord({
      topicId: 't',
      partition: 0,
      replicas: [1, 2],
      isr: [1, 2],
      leader: 1,
      leaderEpoch: 0,
      partitionEpoch: 0,
      addingReplicas: [],
      removingReplicas: [],
    });
    const p = new ProducePurgatory();
    (log as { logEndOffset: bigint }).logEndOffset = 3n;
    let result: number | undefined;
    void p.wait('t-0', 3n, 10_000, () => replica.appendCompletion(3n, 2)).then((c) => (result = c));
    replica.updateFollowerFetchState(2, 2n, 0n);
    p.wake('t-0');
    await Promise.resolve();
    expect(result).toBeUndefined();
    replica.updateFollowerFetchState(2, 3n, 0n);
    p.wake('t-0');
    await Promise.resolve();
    expect(result).toBe(0);
  });
});

describe('updateIsr through the metadata store (AlterPartition)', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the shrink with the partition epoch; a stale proposal is refused and changes nothing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-isr-'));
    const store = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
    const reg = await store.registerBroker({ nodeId: 1, incarnationId: 'i', listeners: [], rack: null });
    const fence: WriteFence = { kind: 'broker', nodeId: 1, brokerEpoch: reg.brokerEpoch };
    const [rec] = initialPartitionRecords('tid', 0, [[1, 2, 3]], () => true);
    await store.createTopic({ name: 't', topicId: 'tid', configs: {}, partitionCount: 1 }, [rec], fence);
    let now = 0;
    const log: ReplicaLog = { logStartOffset: 0n, logEndOffset: 5n, highWatermark: 0n };
    const replica = new PartitionReplica(1, log, () => now);
    store.onChange((changes) => {
      for (const c of changes) if (c.type === 'partition' && c.after) replica.applyRecord(c.after);
    });
    replica.applyRecord(store.image.partition('tid', 0)!);
    replica.updateFollowerFetchState(2, 5n, 0n);
    now = 40_000;
    replica.updateFollowerFetchState(2, 5n, 0n);
    await expect(updateIsr(replica, store, fence, 30_000)).resolves.toBe('written');
    expect(store.image.partition('tid', 0)!.isr).toEqual([1, 2]);
    expect(replica.isr).toEqual([1, 2]);

    // Someone else (the controller) changed the partition meanwhile: this leader's view is stale.
    const stale = new PartitionReplica(1, { ...log }, () => now);
    stale.applyRecord({ ...store.image.partition('tid', 0)!, isr: [1, 2] });
    const current = store.image.partition('tid', 0)!;
    await store.alterPartitions(
      [
        {
          expectedPartitionEpoch: current.partitionEpoch,
          next: { ...current, partitionEpoch: current.partitionEpoch + 1 },
        },
      ],
      fence,
    );
    stale.updateFollowerFetchState(2, 0n, 0n);
    now = 100_000;
    await expect(updateIsr(stale, store, fence, 30_000)).resolves.toBe('refused');
    expect(store.image.partition('tid', 0)!.isr).toEqual([1, 2]);
    expect(stale.isrChangePending).toBe(false);
  });
});
