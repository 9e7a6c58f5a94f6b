import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogManager, MmapFile, PartitionLog } from '@sluice/log';
import { buildRecordBatchSync, ERROR_CODES } from '@sluice/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Partition } from './partition.js';

const dirs: string[] = [];
function partition(name: string): Partition {
  const parent = mkdtempSync(join(tmpdir(), `sluice-partition-${name}-`));
  dirs.push(parent);
  return new Partition('t', 0, PartitionLog.open(join(parent, 't-0')));
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const batch = (baseSequence: number, values: string[]) =>
  buildRecordBatchSync({
    records: values.map((value) => ({ value })),
    producerId: 42n,
    producerEpoch: 0,
    baseSequence,
  });

describe('Partition as a follower', () => {
  it('keeps the producer state of what it replicates: a retry sent to it once it leads is a duplicate', () => {
    const leader = partition('leader');
    const follower = partition('follower');
    leader.appendFromClient(batch(0, ['a', 'b']));
    leader.appendFromClient(batch(2, ['c']));
    follower.appendAsFollower(Buffer.from(leader.log.read(0n, 1 << 20).records));
    expect(follower.log.logEndOffset).toBe(3n);
    // The producer did not hear back for its second batch and sends it again to the new leader.
    const retry = follower.appendFromClient(batch(2, ['c']));
    expect(retry.duplicate).toBe(true);
    expect(retry.firstOffset).toBe(2n);
    expect(follower.log.logEndOffset).toBe(3n);
  });

  it('skips batches it already has when a fetch returns them again, and rebuilds producer state after truncation', () => {
    const leader = partition('leader');
    const follower = partition('follower');
    leader.appendFromClient(batch(0, ['a']));
    leader.appendFromClient(batch(1, ['b']));
    const all = Buffer.from(leader.log.read(0n, 1 << 20).records);
    follower.appendAsFollower(all);
    follower.appendAsFollower(all);
    expect(follower.log.logEndOffset).toBe(2n);
    follower.truncateTo(1n);
    // Sequence 1 is gone with the tail: the producer's batch 1 is new again, not a duplicate.
    const again = follower.appendFromClient(batch(1, ['b']));
    expect(again.duplicate).toBe(false);
    expect(again.firstOffset).toBe(1n);
  });
});

describe('Partition transaction markers', () => {
  const txnBatch = (producerEpoch: number) =>
    buildRecordBatchSync({
      records: [{ value: 'v' }],
      producerId: 7n,
      producerEpoch,
      baseSequence: 0,
      isTransactional: true,
    });

  it('refuses a marker from a coordinator older than the last one (TRANSACTION_COORDINATOR_FENCED), also after a replay of the log', () => {
    const p = partition('fenced');
    p.appendFromClient(txnBatch(0));
    p.appendMarker({ producerId: 7n, producerEpoch: 0, coordinatorEpoch: 5, commit: true });
    const zombie = { producerId: 7n, producerEpoch: 0, coordinatorEpoch: 4, commit: false };
    expect(() => p.appendMarker(zombie)).toThrow(
      expect.objectContaining({ code: ERROR_CODES.TRANSACTION_COORDINATOR_FENCED }),
    );
    // A replica replaying the log learns the coordinator epoch from the marker's value.
    const follower = partition('fenced-follower');
    follower.appendAsFollower(Buffer.from(p.log.read(0n, 1 << 20).records));
    expect(() => follower.appendMarker(zombie)).toThrow(
      expect.objectContaining({ code: ERROR_CODES.TRANSACTION_COORDINATOR_FENCED }),
    );
    expect(p.appendMarker({ ...zombie, coordinatorEpoch: 6 }).firstOffset).toBe(2n);
  });
});

describe('Partition after a crash', () => {
  it('rebuilds producer and transaction state from the log by positional reads, mapping no segment', () => {
    const parent = mkdtempSync(join(tmpdir(), 'sluice-partition-crash-'));
    dirs.push(parent);
    const dir = join(parent, 't-0');
    // Small segments (the replay crosses them) and a data batch larger than the replay's read chunk.
    const config = { segmentBytes: 64 * 1024, maxMessageBytes: 4 << 20 };
    const before = new Partition('t', 0, PartitionLog.open(dir, config));
    for (let s = 0; s < 40; s++) before.appendFromClient(batch(s * 2, [`a${s}`.repeat(500), 'b']));
    before.appendFromClient(batch(80, ['x'.repeat(1500 * 1024)]));
    const txn = (producerId: bigint) =>
      buildRecordBatchSync({
        records: [{ value: 'v' }],
        producerId,
        producerEpoch: 0,
        baseSequence: 0,
        isTransactional: true,
      });
    before.appendFromClient(txn(7n));
    before.appendMarker({ producerId: 7n, producerEpoch: 0, coordinatorEpoch: 5, commit: false });
    before.appendFromClient(txn(8n));
    expect(before.log.segmentCount).toBeGreaterThan(2);
    // Opened again while the first is still open and unflushed: the files as a SIGKILL leaves them.
    let views = 0;
    const view = MmapFile.prototype.read;
    vi.spyOn(MmapFile.prototype, 'read').mockImplementation(function (this: MmapFile, position, length, lease) {
      views++;
      return view.call(this, position, length, lease);
    });
    const after = new Partition('t', 0, PartitionLog.open(dir, config, { hadCleanShutdown: false, recoveryPoint: 0n }));
    vi.restoreAllMocks();
    try {
      expect(views).toBe(0);
      expect(after.log.logEndOffset).toBe(before.log.logEndOffset);
      // The producer's last batch (behind the big one's header) is known: a retry is a duplicate.
      const retry = after.appendFromClient(batch(80, ['x'.repeat(1500 * 1024)]));
      expect(retry.duplicate).toBe(true);
      expect(retry.firstOffset).toBe(80n);
      // The abort marker was read whole: its coordinator epoch fences an older coordinator, and the
      // transaction is aborted; producer 8's is still open, holding the last stable offset.
      expect(() => after.appendMarker({ producerId: 7n, producerEpoch: 0, coordinatorEpoch: 4, commit: true })).toThrow(
        expect.objectContaining({ code: ERROR_CODES.TRANSACTION_COORDINATOR_FENCED }),
      );
      expect(after.txns.abortedBetween(0n, 1000n).map((a) => a.producerId)).toEqual([7n]);
      expect(after.txns.lastStableOffset(1000n)).toBe(83n);
    } finally {
      after.log.close();
      before.log.close();
    }
  });
});

describe('Partition and the log cleaner', () => {
  it("a producer's last batch survives compaction, so producer state rebuilt from the log still sees its retry as a duplicate", async () => {
    const parent = mkdtempSync(join(tmpdir(), 'sluice-partition-cleaned-'));
    dirs.push(parent);
    const manager = LogManager.open(parent, {
      io: 'fd',
      cleanupPolicy: 'compact',
      segmentBytes: 300,
      minCleanableDirtyRatio: 0,
      logger: { info() {}, warn() {}, error() {} },
    });
    try {
      const log = manager.getOrCreate('t', 0);
      const p = new Partition('t', 0, log);
      const keyed = (key: string, value: string, baseSequence = -1) =>
        buildRecordBatchSync({
          records: [{ key, value }],
          producerId: baseSequence < 0 ? -1n : 42n,
          producerEpoch: baseSequence < 0 ? -1 : 0,
          baseSequence,
        });
      p.appendFromClient(keyed('a', 'a-0', 0));
      p.appendFromClient(keyed('a', 'a-1', 1)); // offset 1: producer 42's last batch
      for (let i = 0; i < 12; i++) p.appendFromClient(keyed('a', `plain-${i}`)); // shadow every a
      log.roll();
      await manager.startCleaning(Date.now() + 60_000);
      expect(log.read(0n, 1 << 20).records.length).toBeGreaterThan(0);
      // Producer state rebuilt from the cleaned log (no snapshot), as after an unclean restart.
      const rebuilt = new Partition('t', 0, log);
      const retry = rebuilt.appendFromClient(keyed('a', 'a-1', 1));
      expect(retry.duplicate).toBe(true);
      expect(retry.firstOffset).toBe(1n);
      // And a gap is still refused.
      expect(() => rebuilt.appendFromClient(keyed('a', 'a-3', 3))).toThrow(
        expect.objectContaining({ code: ERROR_CODES.OUT_OF_ORDER_SEQUENCE_NUMBER }),
      );
    } finally {
      manager.close();
    }
  });
});
