import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ATTRIBUTES_OFFSET, CRC_OFFSET, MAX_TIMESTAMP_OFFSET } from './batch.js';
import { readOffsetCheckpoint } from './checkpoint.js';
import { crc32c } from './crc.js';
import { ViewLease } from './io/retired-mappings.js';
import { LeaderEpochCache } from './leader-epoch-cache.js';
import {
  CLEAN_SHUTDOWN_FILE,
  CLEANER_OFFSET_CHECKPOINT,
  LOG_START_OFFSET_CHECKPOINT,
  LogManager,
  RECOVERY_POINT_CHECKPOINT,
} from './log-manager.js';
import { type AppendResult, MAX_TIMESTAMP, PartitionLog } from './partition-log.js';
import { applyRetention } from './retention.js';
import { makeBatch, makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
const quiet = { info() {}, warn() {}, error() {} };

for (const io of ['fd', 'mmap'] as const) {
  describe(`PartitionLog (${io})`, () => {
    const open = (dir: string, extra = {}) => PartitionLog.open(dir, { io, logger: quiet, ...extra });

    it('rejects corrupt batches and reads outside the log with typed errors', () => {
      const log = open(path.join(testRoot('errors'), 't-0'));
      const bad = makeValueBatch(2, 10);
      bad[bad.length - 1] ^= 1;
      expect(() => log.append(bad)).toThrow(expect.objectContaining({ code: 2 }));
      const wrongMagic = makeValueBatch(1, 10);
      wrongMagic[16] = 1;
      expect(() => log.append(wrongMagic)).toThrow(/magic 1/);
      expect(() => log.append(makeValueBatch(1, 10).subarray(0, 40))).toThrow(/header needs/);
      log.append(makeValueBatch(3, 10));
      expect(() => log.read(4n, 100)).toThrow(expect.objectContaining({ code: 1, errorName: 'OFFSET_OUT_OF_RANGE' }));
      expect(log.read(3n, 100).records.length).toBe(0);
      log.highWatermark = 3n;
      log.deleteRecords(2n);
      expect(() => log.read(1n, 100)).toThrow(expect.objectContaining({ code: 1 }));
      expect(log.read(2n, 100).firstBatchOffset).toBe(0n);
      expect(() => log.deleteRecords(4n)).toThrow(expect.objectContaining({ code: 1 }));
      log.close();
    });

    it('appends several batches at once, wakes listeners, and honours maxOffset', () => {
      const log = open(path.join(testRoot('multi'), 't-1'));
      const seen: AppendResult[] = [];
      const off = log.onAppend((r) => seen.push(r));
      const two = Buffer.concat([makeValueBatch(2, 10), makeValueBatch(3, 10)]);
      const r = log.append(two);
      expect([r.firstOffset, r.lastOffset]).toEqual([0n, 4n]);
      expect(two.readBigInt64BE(0)).toBe(0n);
      expect(seen).toHaveLength(1);
      off();
      log.append(makeValueBatch(1, 10));
      expect(seen).toHaveLength(1);
      expect(log.read(0n, 1 << 20, 1n).records.length).toBe(0);
      expect(log.read(0n, 1 << 20, 2n).records.length).toBe(two.length - makeValueBatch(3, 10).length);
      expect(log.read(0n, 1 << 20, 5n).records.length).toBe(two.length);
      expect(log.read(0n, 1 << 20).records.length).toBeGreaterThan(two.length);
      log.close();
    });

    it('reads nothing, without minOneBatch, when the first batch is over maxBytes', () => {
      const log = open(path.join(testRoot('min-one'), 't-0'));
      const first = makeValueBatch(3, 100);
      log.append(first);
      log.append(makeValueBatch(2, 100));
      log.highWatermark = 5n;
      const lease = new ViewLease();
      const none = log.read(0n, first.length - 1, 5n, lease, false);
      expect(none.records.length).toBe(0);
      expect(none.firstBatchOffset).toBe(-1n);
      expect(none.highWatermark).toBe(5n);
      // Not read at all: no mapping (mmap) or slab (fd) taken for it.
      expect(lease.size).toBe(0);
      expect(log.read(0n, first.length - 1, 5n).records.length).toBe(first.length);
      expect(log.read(1n, first.length, 5n, undefined, false).records.length).toBe(first.length);
      expect(() => log.read(6n, 0, 5n, undefined, false)).toThrow(expect.objectContaining({ code: 1 }));
      lease.release();
      log.close();
    });

    it('stamps LogAppendTime with a valid CRC', () => {
      const log = open(path.join(testRoot('lat'), 't-2'), { messageTimestampType: 'LogAppendTime', now: () => 123456 });
      const r = log.append(makeValueBatch(2, 10));
      expect(r.logAppendTime).toBe(123456n);
      const b = log.read(0n, 1000).records;
      expect(b.readBigInt64BE(MAX_TIMESTAMP_OFFSET)).toBe(123456n);
      expect(b.readInt16BE(ATTRIBUTES_OFFSET) & 0x08).toBe(0x08);
      expect(b.readUInt32BE(CRC_OFFSET)).toBe(crc32c(b.subarray(ATTRIBUTES_OFFSET)));
      log.close();
    });

    it('answers ListOffsets for latest, earliest and max timestamp', () => {
      const log = open(path.join(testRoot('ts'), 't-3'));
      log.append(makeBatch([{ value: null }], { baseTimestamp: 100n }));
      log.append(makeBatch([{ value: null }, { value: null, timestampDelta: 400 }], { baseTimestamp: 100n }));
      log.append(makeBatch([{ value: null }], { baseTimestamp: 300n }));
      expect(log.offsetForTimestamp(-1n)).toEqual({ offset: 4n, timestamp: -1n });
      expect(log.offsetForTimestamp(-2n)).toEqual({ offset: 0n, timestamp: -1n });
      expect(log.offsetForTimestamp(MAX_TIMESTAMP)).toEqual({ offset: 2n, timestamp: 500n });
      expect(log.offsetForTimestamp(250n)?.offset).toBe(1n);
      expect(log.offsetForTimestamp(501n)).toBeNull();
      log.close();
    });

    it('rolls on segment.ms and on a full index, and trims preallocated files on close', () => {
      let now = 1_000;
      const dir = path.join(testRoot('roll'), 't-4');
      const log = open(dir, { segmentMs: 50, segmentIndexBytes: 32, indexIntervalBytes: 0, now: () => now });
      log.append(makeValueBatch(1, 10));
      now += 100;
      log.append(makeValueBatch(1, 10));
      expect(log.segmentCount).toBe(2);
      for (let i = 0; i < 5; i++) log.append(makeValueBatch(1, 10));
      expect(log.segmentCount).toBe(3); // 4 index entries of 8 bytes fill a 32-byte index
      const active = path.join(dir, `${log.segmentBaseOffsets()[2].toString().padStart(20, '0')}.index`);
      expect(fs.statSync(active).size).toBe(32);
      log.close();
      expect(fs.statSync(active).size).toBe(8 * 2); // two batches went into the last segment
      // No preallocated space is left in the .log files either.
      let total = 0;
      for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log')))
        total += fs.statSync(path.join(dir, f)).size;
      expect(total).toBe(7 * makeValueBatch(1, 10).length);
    });

    it('applies retention.ms and retention.bytes to whole segments, rolling an expired active one', () => {
      let now = 10_000;
      const log = open(path.join(testRoot('ret'), 't-5'), { segmentBytes: 200, retentionMs: 1000, now: () => now });
      for (let i = 0; i < 6; i++)
        log.append(makeBatch([{ value: Buffer.alloc(50) }], { baseTimestamp: BigInt(now + i) }));
      const before = log.segmentCount;
      expect(before).toBeGreaterThan(3);
      expect(applyRetention(log, now)).toBe(0);
      (log.config as { retentionBytes: number }).retentionBytes = 250;
      // Kafka's rule: delete while what remains is still >= retention.bytes.
      expect(applyRetention(log, now)).toBe(before - 3);
      expect(log.logStartOffset).toBe(log.segmentBaseOffsets()[0]);
      now += 5000;
      (log.config as { retentionBytes: number }).retentionBytes = -1;
      applyRetention(log, now);
      // Every record is past retention.ms: the active segment was rolled so that it could go too
      // (Kafka's behaviour); the log keeps its end offset and starts there.
      expect(log.segmentCount).toBe(1);
      expect(log.logStartOffset).toBe(6n);
      expect(log.logEndOffset).toBe(6n);
      expect(log.read(6n, 100).records.length).toBe(0);
      expect(() => log.read(5n, 100)).toThrow(expect.objectContaining({ code: 1 }));
      log.close();
    });

    it('recovers a stray file, an orphan index and an index pointing past the log', () => {
      const dir = path.join(testRoot('stray'), 't-6');
      const log = open(dir, { segmentBytes: 400, indexIntervalBytes: 0 });
      for (let i = 0; i < 10; i++) log.append(makeValueBatch(1, 60));
      log.close();
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
      fs.writeFileSync(path.join(dir, `${'9'.repeat(20)}.index`), Buffer.alloc(16));
      const idx = path.join(dir, `${'0'.repeat(20)}.index`);
      const bytes = fs.readFileSync(idx);
      bytes.writeInt32BE(1 << 30, bytes.length - 4);
      fs.writeFileSync(idx, bytes);
      const warnings: string[] = [];
      const again = PartitionLog.open(
        dir,
        { io, logger: { ...quiet, warn: (m) => warnings.push(m) } },
        { hadCleanShutdown: true },
      );
      expect(again.logEndOffset).toBe(10n);
      expect(warnings.join('\n')).toMatch(/stray file .*notes\.txt/);
      expect(warnings.join('\n')).toMatch(/index .*99999999999999999999\.index that has no log/);
      expect(warnings.join('\n')).toMatch(/00000000000000000000\.index is inconsistent at byte \d+/);
      for (let o = 0n; o < 10n; o++) expect(again.read(o, 1).firstBatchOffset).toBe(o);
      again.close();
    });
  });
}

describe('LogManager', () => {
  it('locks the data dir, checkpoints in Kafka format and marks clean shutdown', () => {
    const root = testRoot('mgr');
    const m = LogManager.open(root, { io: 'fd', logger: quiet });
    expect(() => LogManager.open(root, { logger: quiet })).toThrow(/already in use by process \d+/);
    const log = m.getOrCreate('orders', 2);
    log.append(makeValueBatch(4, 10));
    log.flush();
    m.getOrCreate('my-topic', 0);
    m.checkpoint();
    const text = fs.readFileSync(path.join(root, RECOVERY_POINT_CHECKPOINT), 'utf8');
    expect(text.split('\n').slice(0, 2)).toEqual(['0', '2']);
    expect(text).toContain('orders 2 4\n');
    expect(readOffsetCheckpoint(path.join(root, RECOVERY_POINT_CHECKPOINT)).get('my-topic-0')).toBe(0n);
    m.close();
    expect(fs.existsSync(path.join(root, CLEAN_SHUTDOWN_FILE))).toBe(true);
    const again = LogManager.open(root, { logger: quiet });
    expect(fs.existsSync(path.join(root, CLEAN_SHUTDOWN_FILE))).toBe(false);
    expect(again.get('orders', 2)?.logEndOffset).toBe(4n);
    expect(again.deleteLog('orders', 2)).toBe(true);
    expect(fs.existsSync(path.join(root, 'orders-2'))).toBe(false);
    again.close();
  });

  it('rewrites a checkpoint file only when its content changes', async () => {
    const root = testRoot('mgr-idle');
    const m = LogManager.open(root, { io: 'fd', logger: quiet });
    const log = m.getOrCreate('orders', 0);
    await m.runMaintenance();
    const file = path.join(root, RECOVERY_POINT_CHECKPOINT);
    // A rewrite replaces the file by rename, so a new inode says it was written again.
    const inode = () => fs.statSync(file).ino;
    const before = inode();
    await m.runMaintenance();
    m.checkpoint();
    expect(inode()).toBe(before);
    log.append(makeValueBatch(3, 10));
    log.flush();
    await m.runMaintenance();
    expect(inode()).not.toBe(before);
    expect(readOffsetCheckpoint(file).get('orders-0')).toBe(3n);
    m.close();
  });

  it('does not rewrite unchanged checkpoint files when it opens a data dir again', () => {
    const root = testRoot('mgr-reopen');
    const first = LogManager.open(root, { io: 'fd', logger: quiet });
    first.getOrCreate('orders', 0).append(makeValueBatch(2, 10));
    first.close();
    const files = [RECOVERY_POINT_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, CLEANER_OFFSET_CHECKPOINT];
    const inodes = () => files.map((f) => fs.statSync(path.join(root, f)).ino);
    const before = inodes();
    const again = LogManager.open(root, { io: 'fd', logger: quiet });
    expect(inodes()).toEqual(before);
    again.get('orders', 0)?.append(makeValueBatch(1, 10));
    again.close();
    // A change is still written: the recovery point moved.
    expect(inodes()[0]).not.toBe(before[0]);
    expect(readOffsetCheckpoint(path.join(root, RECOVERY_POINT_CHECKPOINT)).get('orders-0')).toBe(3n);
  });

  it('names the file when a checkpoint is corrupt', () => {
    const root = testRoot('mgrbad');
    fs.writeFileSync(path.join(root, RECOVERY_POINT_CHECKPOINT), '0\n5\nonly one\n');
    expect(() => LogManager.open(root, { logger: quiet })).toThrow(/recovery-point-offset-checkpoint/);
    // The failed open released the lock.
    fs.rmSync(path.join(root, RECOVERY_POINT_CHECKPOINT));
    LogManager.open(root, { logger: quiet }).close();
  });
});

describe('LeaderEpochCache', () => {
  it('answers OffsetForLeaderEpoch and persists in Kafka text format', () => {
    const dir = testRoot('epoch');
    const c = new LeaderEpochCache(dir);
    c.assign(1, 0n);
    c.assign(3, 10n);
    c.assign(5, 20n);
    expect(c.endOffsetFor(5, 30n)).toEqual({ epoch: 5, endOffset: 30n });
    expect(c.endOffsetFor(3, 30n)).toEqual({ epoch: 3, endOffset: 20n });
    expect(c.endOffsetFor(4, 30n)).toEqual({ epoch: 3, endOffset: 20n });
    expect(c.endOffsetFor(0, 30n)).toEqual({ epoch: 0, endOffset: 0n });
    expect(c.endOffsetFor(6, 30n)).toEqual({ epoch: -1, endOffset: -1n });
    expect(c.endOffsetFor(-1, 30n)).toEqual({ epoch: -1, endOffset: -1n });
    expect(fs.readFileSync(c.file, 'utf8')).toBe('0\n3\n1 0\n3 10\n5 20\n');
    c.truncateFromEnd(15n);
    c.truncateFromStart(12n);
    expect(new LeaderEpochCache(dir).all()).toEqual([{ epoch: 3, startOffset: 12n }]);
  });

  it('keeps, on opening, an epoch that starts at the log end (a leader that appended nothing) without rewriting the checkpoint', () => {
    const dir = path.join(testRoot('epoch-at-end'), 't-0');
    const log = PartitionLog.open(dir, { io: 'fd', logger: quiet });
    log.append(makeValueBatch(2, 1), { leaderEpoch: 0 });
    // Leadership recorded epoch 1 at the end; one starting past the end is what a crash leaves.
    log.leaderEpochCache.assign(1, log.logEndOffset);
    log.close();
    const before = fs.statSync(log.leaderEpochCache.file).ino;
    const again = PartitionLog.open(dir, { io: 'fd', logger: quiet });
    expect(again.leaderEpochCache.all()).toEqual([
      { epoch: 0, startOffset: 0n },
      { epoch: 1, startOffset: 2n },
    ]);
    // The checkpoint is replaced by rename when written: the same inode means it was not rewritten.
    expect(fs.statSync(again.leaderEpochCache.file).ino).toBe(before);
    again.leaderEpochCache.assign(2, 5n);
    again.close();
    expect(PartitionLog.open(dir, { io: 'fd', logger: quiet }).leaderEpochCache.all()).toEqual([
      { epoch: 0, startOffset: 0n },
      { epoch: 1, startOffset: 2n },
    ]);
  });

  it('forgets, on a truncation to its end, an epoch it recorded at leadership and never appended under', () => {
    const log = PartitionLog.open(path.join(testRoot('epoch-at-end-truncate'), 't-0'), { io: 'fd', logger: quiet });
    log.append(makeValueBatch(2, 1), { leaderEpoch: 0 });
    log.leaderEpochCache.assign(1, log.logEndOffset);
    // A follower told by the new leader (epoch 2) that the logs agree up to offset 2: nothing to cut.
    expect(log.truncateTo(2n)).toBe(false);
    expect(log.logEndOffset).toBe(2n);
    expect(log.leaderEpochCache.all()).toEqual([{ epoch: 0, startOffset: 0n }]);
    log.close();
  });

  it('is fed by appends with a leader epoch and cut by truncation', () => {
    const log = PartitionLog.open(path.join(testRoot('epochlog'), 't-0'), { io: 'fd', logger: quiet });
    log.append(makeValueBatch(2, 1), { leaderEpoch: 0 });
    log.append(makeValueBatch(2, 1), { leaderEpoch: 2 });
    log.append(makeValueBatch(2, 1), { leaderEpoch: 2 });
    expect(log.endOffsetFor(0)).toEqual({ epoch: 0, endOffset: 2n });
    expect(log.endOffsetFor(2)).toEqual({ epoch: 2, endOffset: 6n });
    log.truncateTo(3n);
    expect(log.logEndOffset).toBe(2n);
    expect(log.endOffsetFor(0)).toEqual({ epoch: 0, endOffset: 2n });
    log.close();
  });
});
