import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import { buildRecordBatchSync, RecordBatch } from '@sluice/protocol';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { cleanLog, dirtyRatio, groupSegmentsBySize, SLICE_BYTES } from './cleaner.js';
import { LogManager } from './log-manager.js';
import { PartitionLog } from './partition-log.js';
import type { LogSegment } from './segment.js';
import { makeBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
const quiet = { info() {}, warn() {}, error() {} };

interface Rec {
  offset: bigint;
  key: string | null;
  value: string | null;
}

function allRecords(log: PartitionLog): { records: Rec[]; controlBatches: bigint[] } {
  const records: Rec[] = [];
  const controlBatches: bigint[] = [];
  let off = log.logStartOffset;
  for (let guard = 0; off < log.logEndOffset && guard < 100_000; guard++) {
    const r = log.read(off, 1 << 20);
    if (r.records.length === 0) break;
    let at = 0;
    while (at < r.records.length) {
      const b = new RecordBatch(r.records, at);
      expect(b.isValid()).toBe(true);
      if (b.isControl) controlBatches.push(b.baseOffset);
      else
        for (const rec of b.records()) {
          records.push({ offset: rec.offset, key: rec.key?.toString() ?? null, value: rec.value?.toString() ?? null });
        }
      off = b.lastOffset + 1n;
      at += b.sizeInBytes;
    }
  }
  return { records, controlBatches };
}

for (const io of ['fd', 'mmap'] as const) {
  describe(`compaction (${io})`, () => {
    it('keeps the latest record per key, keeps offsets, drops old tombstones, keeps control batches', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 4 })), {
              minLength: 1,
              maxLength: 5,
            }),
            {
              minLength: 2,
              maxLength: 25,
            },
          ),
          fc.integer({ min: 0, max: 24 }),
          async (batches, controlAt) => {
            let now = 1_000_000;
            const dir = path.join(testRoot('clean'), 'compacted-0');
            const log = PartitionLog.open(dir, {
              io,
              logger: quiet,
              cleanupPolicy: 'compact',
              segmentBytes: 300,
              deleteRetentionMs: 1000,
              minCleanableDirtyRatio: 0,
              now: () => now,
            });
            const written: Rec[] = [];
            for (const [i, recs] of batches.entries()) {
              // The older half is past delete.retention.ms when the cleaner runs (at now + 5000); the newer half is not.
              const ts = BigInt(i < batches.length / 2 ? now - 10_000 : now + 4500);
              if (i === controlAt)
                log.append(
                  makeBatch([{ key: Buffer.alloc(4), value: Buffer.alloc(6) }], {
                    attributes: 0x30,
                    baseTimestamp: ts,
                  }),
                );
              const first = log.logEndOffset;
              log.append(
                makeBatch(
                  recs.map(([k, v]) => ({
                    key: Buffer.from(`k${k}`),
                    value: v === 0 ? null : Buffer.from(`v${v}-${i}`),
                  })),
                  { baseTimestamp: ts },
                ),
              );
              recs.forEach(([k, v], j) => {
                written.push({ offset: first + BigInt(j), key: `k${k}`, value: v === 0 ? null : `v${v}-${i}` });
              });
            }
            const before = allRecords(log);
            const activeBase = log.segmentBaseOffsets().at(-1)!;
            now += 5000;
            const r = await cleanLog(log);
            const after = allRecords(log);
            // Expected: in cleaned segments only each key's latest record survives, and tombstones whose batch is old go.
            const latest = new Map<string, bigint>();
            // As in Kafka, the key map covers the cleanable segments only, not the active one.
            for (const w of written) if (w.key !== null && w.offset < activeBase) latest.set(w.key, w.offset);
            const oldTs = (o: bigint) => {
              // Which batch holds offset o? Those in the first half were written 10 s before `now - 5000`.
              let off = 0n;
              for (const [i, recs] of batches.entries()) {
                if (i === controlAt) off += 1n;
                if (o < off + BigInt(recs.length)) return i < batches.length / 2;
                off += BigInt(recs.length);
              }
              return false;
            };
            const expected = written.filter((w) => {
              if (w.offset >= activeBase || r === null) return true;
              if (latest.get(w.key!) !== w.offset) return false;
              return !(w.value === null && oldTs(w.offset));
            });
            expect(after.records).toEqual(expected);
            expect(after.controlBatches).toEqual(before.controlBatches);
            expect(log.logEndOffset).toBe(BigInt(written.length) + BigInt(before.controlBatches.length));
            log.close();
            const again = PartitionLog.open(dir, { io, logger: quiet, cleanupPolicy: 'compact', segmentBytes: 300 });
            expect(allRecords(again).records).toEqual(expected);
            again.close();
          },
        ),
        { numRuns: 25 },
      );
    });

    it('is not due below min.cleanable.dirty.ratio and ignores delete-policy logs', async () => {
      const log = PartitionLog.open(path.join(testRoot('cleanratio'), 'c-1'), { io, logger: quiet, segmentBytes: 200 });
      for (let i = 0; i < 6; i++) log.append(makeBatch([{ key: Buffer.from('a'), value: Buffer.alloc(60) }]));
      expect(await cleanLog(log)).toBeNull();
      (log.config as { cleanupPolicy: string }).cleanupPolicy = 'compact';
      expect(dirtyRatio(log)).toBe(1);
      const r = await cleanLog(log);
      expect(r?.segmentsCleaned).toBeGreaterThan(0);
      expect(dirtyRatio(log)).toBe(0);
      expect(await cleanLog(log)).toBeNull();
      log.close();
    });
  });
}

describe('compaction from the log manager', () => {
  it('maintenance compacts logs whose cleanup.policy includes compact, and leaves delete logs alone', async () => {
    const root = testRoot('managed-clean');
    const manager = LogManager.open(
      root,
      { io: 'fd', logger: quiet, segmentBytes: 400, minCleanableDirtyRatio: 0 },
      { topicConfig: (topic) => (topic === 'compacted' ? { cleanupPolicy: 'compact' } : {}) },
    );
    try {
      const compacted = manager.getOrCreate('compacted', 0);
      const plain = manager.getOrCreate('plain', 0);
      // 40 records over 4 keys, one per batch, so that segments roll and the older ones are cleanable.
      for (let i = 0; i < 40; i++) {
        for (const log of [compacted, plain]) {
          log.append(
            makeBatch([{ key: Buffer.from(`k${i % 4}`), value: Buffer.from(`v${i}`) }], {
              baseTimestamp: BigInt(Date.now()),
            }),
          );
        }
      }
      expect(compacted.segmentCount).toBeGreaterThan(2);
      manager.runMaintenance();
      await manager.startCleaning();
      const kept = allRecords(compacted).records;
      // Offsets are kept; the cleaned segments hold only each key's latest record.
      expect(kept.length).toBeLessThan(40);
      expect(kept.map((r) => r.offset)).toEqual([...kept.map((r) => r.offset)].sort((a, b) => (a < b ? -1 : 1)));
      const latest = new Map<string, bigint>();
      for (const r of kept) latest.set(r.key!, r.offset);
      for (let k = 0; k < 4; k++) expect(latest.get(`k${k}`)).toBe(BigInt(36 + k));
      expect(allRecords(plain).records).toHaveLength(40);
      expect(compacted.logEndOffset).toBe(40n);
      const cleanTo = compacted.cleanerCheckpoint;
      expect(cleanTo).toBeGreaterThan(0n);
      manager.close();
      // The clean offset survives a restart (cleaner-offset-checkpoint), so nothing is dirty again.
      const reopened = LogManager.open(
        root,
        { io: 'fd', logger: quiet, segmentBytes: 400, minCleanableDirtyRatio: 0 },
        { topicConfig: (topic) => (topic === 'compacted' ? { cleanupPolicy: 'compact' } : {}) },
      );
      try {
        expect(reopened.get('compacted', 0)!.cleanerCheckpoint).toBe(cleanTo);
        expect(reopened.get('plain', 0)!.cleanerCheckpoint).toBe(0n);
      } finally {
        reopened.close();
      }
    } finally {
      manager.close();
    }
  });
});

describe('compaction merges the segments it shrinks', () => {
  const KEYS = 50;
  /** One round: every key written again, 10 records a batch of 100-byte values. */
  function writeRound(log: PartitionLog, round: number): void {
    for (let k = 0; k < KEYS; k += 10) {
      log.append(
        makeBatch(
          Array.from({ length: 10 }, (_, j) => ({
            key: Buffer.from(`k${k + j}`),
            value: Buffer.alloc(100, 0x61 + round),
          })),
        ),
      );
    }
  }

  for (const io of ['fd', 'mmap'] as const) {
    it(`keeps the segment count bounded over write rounds and leaves no empty segment (${io})`, async () => {
      const dir = path.join(testRoot('clean-merge'), 'm-0');
      const log = PartitionLog.open(dir, {
        io,
        logger: quiet,
        cleanupPolicy: 'compact',
        segmentBytes: 3000,
        minCleanableDirtyRatio: 0,
      });
      const counts: number[] = [];
      for (let round = 0; round < 3; round++) {
        // 10 rounds of writes between passes, as a busy compacted topic sees.
        for (let r = 0; r < 10; r++) writeRound(log, round * 10 + r);
        await cleanLog(log);
        counts.push(log.segmentCount);
        const segs = log.segmentList();
        // No empty segment but (possibly) the first, which keeps the log start where it is.
        for (const s of segs.slice(1, -1)) expect(s.size).toBeGreaterThan(0);
        // Every key once with its latest value, whatever the segment layout.
        const latest = new Map<string, string>();
        for (const rec of allRecords(log).records) latest.set(rec.key!, rec.value!);
        expect(latest.size).toBe(KEYS);
        for (const v of latest.values()) expect(v.charCodeAt(0)).toBe(0x61 + round * 10 + 9);
        expect(log.logStartOffset).toBe(0n);
      }
      // Each round writes ~20 segments' worth; all but the newest records of each key go, so the
      // cleaned ones merge into a few (KEYS × ~120 bytes ≈ 2 segments) instead of piling up.
      for (const n of counts) expect(n).toBeLessThanOrEqual(8);
      log.close();
      const again = PartitionLog.open(dir, { io, logger: quiet, cleanupPolicy: 'compact', segmentBytes: 3000 });
      expect(allRecords(again).records.length).toBe(allRecords(again).records.length);
      expect(again.segmentCount).toBe(counts[2]);
      again.close();
    });
  }

  it('groups consecutive segments while bytes, index entries and offsets fit (groupSegmentsBySize)', () => {
    const seg = (base: bigint, size: number, next: bigint, entries = 1) =>
      ({
        baseOffset: base,
        size,
        nextOffset: next,
        index: { entries },
        timeIndex: { entries },
      }) as unknown as LogSegment;
    const a = seg(0n, 400, 10n);
    const b = seg(10n, 500, 20n);
    const c = seg(20n, 200, 30n);
    const d = seg(30n, 50, 2n ** 31n + 100n);
    expect(groupSegmentsBySize([a, b, c, d], 1000, 1 << 20)).toEqual([[a, b], [c], [d]]);
    expect(groupSegmentsBySize([a, b, c], 1100, 1 << 20)).toEqual([[a, b, c]]);
    // Index room: 12 bytes a time index entry, two of them fit in 24.
    expect(groupSegmentsBySize([a, b, c], 1100, 24)).toEqual([[a, b], [c]]);
  });

  it('a crash part-way through a group swap is finished at the next open, losing nothing', async () => {
    const dir = path.join(testRoot('clean-swap-crash'), 's-0');
    const config = {
      io: 'fd' as const,
      logger: quiet,
      cleanupPolicy: 'compact' as const,
      segmentBytes: 3000,
      minCleanableDirtyRatio: 0,
    };
    const log = PartitionLog.open(dir, config);
    for (let r = 0; r < 6; r++) writeRound(log, r);
    // The rolled segments' background syncs done first, as they are long before a cleaner round in a
    // broker: otherwise close() below would flush segments the failed swap already closed.
    await log.rolledSegmentsSynced();
    const expected = new Map<string, string>();
    for (const rec of allRecords(log).records) expected.set(rec.key!, rec.value!);
    // The crash: moving the cleaned log into place fails, after the group's later segments are deleted.
    const rename = fs.renameSync;
    const spy = vi.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (String(to).startsWith(dir + path.sep) && String(to).endsWith('.log')) throw new Error('crash');
      return rename(from, to);
    });
    try {
      await expect(cleanLog(log)).rejects.toThrow('crash');
    } finally {
      spy.mockRestore();
    }
    log.close();
    const again = PartitionLog.open(dir, config);
    const got = new Map<string, string>();
    for (const rec of allRecords(again).records) got.set(rec.key!, rec.value!);
    expect(got).toEqual(expected);
    expect(fs.existsSync(`${dir}.cleaning`)).toBe(false);
    again.close();
  });

  it('after a swap that failed part-way, the log still flushes and closes (its retired segments skipped)', () => {
    const dir = path.join(testRoot('clean-swap-fail-flush'), 's-0');
    const log = PartitionLog.open(dir, { io: 'fd', logger: quiet, cleanupPolicy: 'compact', segmentBytes: 3000 });
    for (let r = 0; r < 6; r++) writeRound(log, r);
    // No await since the writes: the rolled segments' background syncs have not moved the recovery
    // point, so a flush walks the segments the failed swap retired.
    const group = log.segmentList().slice(0, 2);
    expect(group.length).toBe(2);
    const work = `${dir}.cleaning`;
    fs.mkdirSync(work, { recursive: true });
    const first = group[0].fileName;
    fs.copyFileSync(first, path.join(work, path.basename(first)));
    const rename = fs.renameSync;
    const spy = vi.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (String(to).startsWith(dir + path.sep) && String(to).endsWith('.log')) throw new Error('crash');
      return rename(from, to);
    });
    try {
      expect(() => log.swapInCleaned(group, work)).toThrow('crash');
    } finally {
      spy.mockRestore();
    }
    expect(log.recoveryPoint).toBeLessThan(log.logEndOffset);
    log.append(makeBatch([{ key: Buffer.from('k'), value: Buffer.from('after') }]));
    expect(() => log.flush()).not.toThrow();
    expect(log.recoveryPoint).toBe(log.logEndOffset);
    expect(() => log.close()).not.toThrow();
  });

  it('writes the next cleaned segment only after the last one was swapped in', async () => {
    const dir = path.join(testRoot('clean-worker-pacing'), 'p-0');
    const log = PartitionLog.open(dir, {
      io: 'fd',
      logger: quiet,
      cleanupPolicy: 'compact',
      minCleanableDirtyRatio: 0,
      segmentBytes: 3000,
    });
    for (let r = 0; r < 6; r++) writeRound(log, r);
    const waiting: number[] = [];
    const swap = PartitionLog.prototype.swapInCleaned;
    const spy = vi.spyOn(PartitionLog.prototype, 'swapInCleaned').mockImplementation(function (
      this: PartitionLog,
      group,
      work,
    ) {
      // Holds this thread a while: a worker not waiting for the swap would write its next group meanwhile.
      const until = performance.now() + 30;
      while (performance.now() < until);
      // Cleaned segments with records in the cleaning dir (an empty one dropped from the log stays there).
      waiting.push(
        fs.readdirSync(work).filter((f) => f.endsWith('.log') && fs.statSync(path.join(work, f)).size > 0).length,
      );
      return swap.call(this, group, work);
    });
    try {
      const r = await cleanLog(log);
      expect(r!.segmentsCleaned).toBeGreaterThan(3);
    } finally {
      spy.mockRestore();
    }
    expect(waiting.length).toBeGreaterThan(1);
    for (const n of waiting) expect(n).toBeLessThanOrEqual(1);
    log.close();
  });
});

describe('cleaner slices', () => {
  it(`handles at most SLICE_BYTES of records between yields, even inside one big batch`, async () => {
    const dir = path.join(testRoot('clean-slices'), 'big-0');
    const log = PartitionLog.open(dir, {
      io: 'fd',
      logger: quiet,
      cleanupPolicy: 'compact',
      minCleanableDirtyRatio: 0,
      segmentBytes: 4 << 20,
      maxMessageBytes: 2 << 20,
    });
    // One ~1 MiB batch of 5,000 records, every key written again later: all of it is looked up
    // and dropped, and none of it may be one slice.
    const records = (v: number) =>
      Array.from({ length: 5000 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.alloc(200, v) }));
    log.append(makeBatch(records(1)));
    log.append(makeBatch(records(2)));
    log.roll();
    log.append(makeBatch([{ key: Buffer.from('x'), value: Buffer.from('y') }]));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const r = await cleanLog(log);
    clearInterval(ticker);
    expect(r?.recordsRemoved).toBe(5000);
    expect(r!.longestSliceBytes).toBeGreaterThan(0);
    expect(r!.longestSliceBytes).toBeLessThanOrEqual(SLICE_BYTES);
    // The cleaner yielded many times: timers ran between its slices.
    expect(ticks).toBeGreaterThan(10);
    log.close();
  });
});

describe('cleaner worker', () => {
  /** A compacted log of ~`mb` MiB where every key is written 4 times, plus an active segment. */
  function bigCompactedLog(name: string, mb: number): PartitionLog {
    const log = PartitionLog.open(path.join(testRoot(name), 'w-0'), {
      io: 'fd',
      logger: quiet,
      cleanupPolicy: 'compact',
      minCleanableDirtyRatio: 0,
      segmentBytes: 64 << 20,
    });
    const batches = Math.ceil((mb << 20) / (100 * 320));
    const keys = batches * 25;
    let k = 0;
    for (let b = 0; b < batches; b++) {
      log.append(
        makeBatch(
          Array.from({ length: 100 }, () => ({ key: Buffer.from(`k${k++ % keys}`), value: Buffer.alloc(300, b) })),
        ),
      );
    }
    log.roll();
    log.append(makeBatch([{ key: Buffer.from('x'), value: Buffer.from('y') }]));
    return log;
  }

  it("decodes and rewrites the records on a worker thread, so the event loop's heap and timers are spared", async () => {
    const log = bigCompactedLog('clean-worker', 16);
    const recordsBefore = allRecords(log).records.length;
    // The longest gap between timer ticks while the pass runs: the event loop's worst stall.
    let last = performance.now();
    let longestGapMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
    }, 1);
    const r = await cleanLog(log);
    clearInterval(ticker);
    expect(typeof r?.threadId).toBe('number');
    expect(r!.threadId).not.toBe(threadId);
    expect(r!.recordsRemoved).toBe(Math.floor((recordsBefore - 1) * 0.75));
    // Generous (a loaded machine); the pass itself takes over a second.
    expect(longestGapMs).toBeLessThan(200);
    log.close();
  });

  it('cancels a pass whose log is closed meanwhile, promptly, leaving the log whole', async () => {
    const log = bigCompactedLog('clean-worker-cancel', 16);
    const recordsBefore = allRecords(log).records.length;
    const started = performance.now();
    const pass = cleanLog(log);
    // The worker is on its first pass over 16 MiB (one group: nothing swapped yet) when the log closes.
    await new Promise((r) => setTimeout(r, 100));
    log.close();
    const r = await pass;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(r?.segmentsCleaned).toBe(0);
    expect(fs.existsSync(`${log.dir}.cleaning`)).toBe(false);
    const again = PartitionLog.open(log.dir, { io: 'fd', logger: quiet, cleanupPolicy: 'compact' });
    expect(allRecords(again).records.length).toBe(recordsBefore);
    again.close();
  });
});

describe('cleaner worker errors', () => {
  it('a batch the worker cannot read fails the pass with the same error as before and leaves the log as it was', async () => {
    const dir = path.join(testRoot('clean-worker-corrupt'), 'c-0');
    const config = { io: 'fd' as const, logger: quiet, cleanupPolicy: 'compact' as const, minCleanableDirtyRatio: 0 };
    const log = PartitionLog.open(dir, config);
    for (let i = 0; i < 4; i++) log.append(makeBatch([{ key: Buffer.from('k'), value: Buffer.from(`v${i}`) }]));
    log.roll();
    log.append(makeBatch([{ key: Buffer.from('x'), value: Buffer.from('y') }]));
    // The second batch's length field claims more than the segment holds.
    const first = log.segmentList()[0];
    const firstBatch = new RecordBatch(first.log.read(0, first.size)).sizeInBytes;
    const fd = fs.openSync(first.log.path, 'r+');
    fs.writeSync(fd, Buffer.from([0x7f, 0, 0, 0]), 0, 4, firstBatch + 8);
    fs.closeSync(fd);
    const files = () => fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('hex')]);
    const before = files();
    await expect(cleanLog(log)).rejects.toThrow(`${first.log.path}: bad batch at byte ${firstBatch} while cleaning`);
    expect(files()).toEqual(before);
    expect(fs.existsSync(`${dir}.cleaning`)).toBe(false);
    expect(log.segmentCount).toBe(2);
    log.close();
  });
});

describe('cleaner worker lifetime', () => {
  it('an idle cleaner worker does not keep the process alive', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions',
        'sluice-source',
        '--import',
        'tsx',
        fileURLToPath(new URL('./test-clean-child.ts', import.meta.url)),
        path.join(testRoot('clean-exit'), 'e-0'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // Bounded: a child still running after 20 s (start-up included) is killed and fails the test.
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    expect(out).toContain('removed 9');
    expect(code).toBe(0);
  });
});

describe('compaction of transactions', () => {
  it("drops aborted transactions' records, lets only committed ones shadow older values, keeps undecided ones and markers", async () => {
    const log = PartitionLog.open(path.join(testRoot('cleantxn'), 'tx-0'), {
      logger: quiet,
      cleanupPolicy: 'compact',
      segmentBytes: 300,
      minCleanableDirtyRatio: 0,
    });
    const data = (key: string, value: string, producerId = -1n) =>
      buildRecordBatchSync({
        records: [{ key, value }],
        producerId,
        producerEpoch: producerId < 0n ? -1 : 0,
        baseSequence: producerId < 0n ? -1 : 0,
        isTransactional: producerId >= 0n,
      });
    const marker = (producerId: bigint, commit: boolean) =>
      buildRecordBatchSync({
        records: [{ key: Buffer.from([0, 0, 0, commit ? 1 : 0]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }],
        producerId,
        producerEpoch: 0,
        isTransactional: true,
        isControl: true,
      });
    log.append(data('a', 'a-plain'));
    log.append(data('b', 'b-plain'));
    log.append(data('c', 'c-plain'));
    log.append(data('a', 'a-aborted', 1n));
    log.append(marker(1n, false));
    log.append(data('b', 'b-committed', 2n));
    log.append(marker(2n, true));
    // Producer 3's transaction is still open when the cleaner runs.
    log.append(data('c', 'c-open', 3n));
    for (let i = 0; i < 10; i++) log.append(data(`filler-${i}`, 'x'));
    expect(await cleanLog(log)).not.toBeNull();
    const after = allRecords(log);
    const values = after.records.map((r) => r.value);
    expect(values).not.toContain('a-aborted');
    expect(values).toContain('a-plain');
    expect(values).not.toContain('b-plain');
    expect(values).toContain('b-committed');
    expect(values).toContain('c-plain');
    expect(values).toContain('c-open');
    // Both markers stay (Kafka removes one only after delete.retention.ms, once its data is gone).
    expect(after.controlBatches).toEqual([4n, 6n]);
    log.close();
  });
});

describe('compaction of transaction markers and the last stable offset', () => {
  const data = (key: string, value: string, producerId = -1n) =>
    buildRecordBatchSync({
      records: [{ key, value }],
      producerId,
      producerEpoch: producerId < 0n ? -1 : 0,
      baseSequence: producerId < 0n ? -1 : 0,
      isTransactional: producerId >= 0n,
    });
  const marker = (producerId: bigint, commit: boolean) =>
    buildRecordBatchSync({
      records: [{ key: Buffer.from([0, 0, 0, commit ? 1 : 0]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }],
      producerId,
      producerEpoch: 0,
      isTransactional: true,
      isControl: true,
    });
  const markers = (log: PartitionLog) => {
    const out: { offset: bigint; horizon: bigint | null }[] = [];
    for (let off = log.logStartOffset, guard = 0; off < log.logEndOffset && guard < 10_000; guard++) {
      const r = log.read(off, 1 << 20);
      if (r.records.length === 0) break;
      for (let at = 0; at < r.records.length; ) {
        const b = new RecordBatch(r.records, at);
        expect(b.isValid()).toBe(true);
        if (b.isControl) out.push({ offset: b.baseOffset, horizon: b.deleteHorizonMs });
        off = b.lastOffset + 1n;
        at += b.sizeInBytes;
      }
    }
    return out;
  };

  it('removes a marker delete.retention.ms after the pass that found its transaction without data, and its .txnindex entry at that pass', async () => {
    // Ahead of the records' timestamps (min.compaction.lag.ms is 0, but a future segment is not cleaned).
    let now = Date.now() + 60_000;
    const log = PartitionLog.open(path.join(testRoot('cleanmarkers'), 'tx-0'), {
      logger: quiet,
      cleanupPolicy: 'compact',
      segmentBytes: 300,
      minCleanableDirtyRatio: 0,
      deleteRetentionMs: 1000,
      now: () => now,
    });
    log.append(data('a', 'a-aborted', 1n)); // 0
    log.append(marker(1n, false)); // 1
    log.appendAbortedTxn({ producerId: 1n, firstOffset: 0n, lastOffset: 1n, lastStableOffset: 2n });
    log.append(data('b', 'b-committed', 2n)); // 2
    log.append(marker(2n, true)); // 3
    log.append(data('b', 'b-plain')); // 4: shadows b-committed
    log.append(data('c', 'c-committed', 3n)); // 5: stays, the latest c
    log.append(marker(3n, true)); // 6
    for (let i = 0; i < 10; i++) log.append(data(`filler-${i}`, 'x'));

    // Pass 1 removes the data of transactions 1 and 2; their markers stay, without a horizon yet,
    // and the aborted transaction stays indexed (its data was still there when the pass began).
    expect(await cleanLog(log)).not.toBeNull();
    expect(allRecords(log).records.map((r) => r.value)).not.toContain('a-aborted');
    expect(allRecords(log).records.map((r) => r.value)).not.toContain('b-committed');
    expect(markers(log)).toEqual([
      { offset: 1n, horizon: null },
      { offset: 3n, horizon: null },
      { offset: 6n, horizon: null },
    ]);
    expect(log.abortedTxns().map((e) => e.lastOffset)).toEqual([1n]);

    // Pass 2 finds transactions 1 and 2 without data: their markers get the delete horizon
    // now + delete.retention.ms, and the aborted transaction leaves the index (no data to skip).
    now += 10;
    expect(await cleanLog(log)).not.toBeNull();
    expect(markers(log)).toEqual([
      { offset: 1n, horizon: BigInt(now + 1000) },
      { offset: 3n, horizon: BigInt(now + 1000) },
      { offset: 6n, horizon: null },
    ]);
    expect(log.abortedTxns()).toEqual([]);

    // Before the horizon they stay.
    now += 500;
    await cleanLog(log);
    expect(markers(log).map((m) => m.offset)).toEqual([1n, 3n, 6n]);

    // After it they go; transaction 3's marker stays as long as its data does, however old.
    now += 5000;
    await cleanLog(log);
    expect(markers(log)).toEqual([{ offset: 6n, horizon: null }]);
    expect(allRecords(log).records.map((r) => r.value)).toContain('c-committed');
    log.close();

    // The cleaned log reopens with no stale index entry.
    const reopened = PartitionLog.open(path.join(testRoot('cleanmarkers'), 'tx-0'), { logger: quiet });
    expect(reopened.abortedTxns()).toEqual([]);
    reopened.close();
  });

  it('a marker whose delete horizon an earlier pass stamped goes once the horizon passes, across a restart of a quiet log', async () => {
    const root = testRoot('cleanhorizonrestart');
    const now = Date.now() + 60_000;
    const open = () =>
      LogManager.open(root, {
        io: 'fd',
        logger: quiet,
        cleanupPolicy: 'compact',
        segmentBytes: 300,
        minCleanableDirtyRatio: 0.5,
        deleteRetentionMs: 1000,
      });
    const manager = open();
    let log = manager.getOrCreate('tx', 0);
    log.append(data('a', 'a-aborted', 1n)); // 0
    log.append(marker(1n, false)); // 1
    log.appendAbortedTxn({ producerId: 1n, firstOffset: 0n, lastOffset: 1n, lastStableOffset: 2n });
    for (let i = 0; i < 10; i++) log.append(data(`filler-${i}`, 'x'));
    // Pass 1 removes the aborted data; pass 2 (due as new data came) stamps the marker's horizon.
    await manager.startCleaning(now);
    expect(markers(log)).toEqual([{ offset: 1n, horizon: null }]);
    for (let i = 10; i < 30; i++) log.append(data(`filler-${i}`, 'x'));
    await manager.startCleaning(now);
    expect(markers(log)).toEqual([{ offset: 1n, horizon: BigInt(now + 1000) }]);
    manager.close();

    // A restart, and nothing new: the log is below its dirty ratio, yet the marker is due.
    const reopened = open();
    try {
      log = reopened.get('tx', 0) as PartitionLog;
      expect(dirtyRatio(log, now + 5000)).toBeLessThan(0.5);
      await reopened.startCleaning(now + 500);
      expect(markers(log)).toEqual([{ offset: 1n, horizon: BigInt(now + 1000) }]);
      await reopened.startCleaning(now + 5000);
      expect(markers(log)).toEqual([]);
    } finally {
      reopened.close();
    }
  });

  it("keeps each active producer's last batch, empty once its records are cleaned away, and its last marker past the horizon", async () => {
    let now = Date.now() + 60_000;
    const dir = path.join(testRoot('cleanproducers'), 'pid-0');
    const log = PartitionLog.open(dir, {
      logger: quiet,
      cleanupPolicy: 'compact',
      segmentBytes: 300,
      minCleanableDirtyRatio: 0,
      deleteRetentionMs: 1000,
      now: () => now,
    });
    const idempotent = (key: string, producerId: bigint, baseSequence: number) =>
      buildRecordBatchSync({
        records: [
          { key, value: `${key}-1` },
          { key, value: `${key}-2` },
        ],
        producerId,
        producerEpoch: 3,
        baseSequence,
      });
    log.append(idempotent('a', 5n, 0)); // 0-1: an older batch of producer 5
    const last = log.append(idempotent('a', 5n, 2)); // 2-3: producer 5's last batch
    log.append(idempotent('z', 8n, 0)); // 4-5: a producer the owner no longer tracks
    log.append(data('t', 't-committed', 6n)); // 6
    const marker6 = log.append(marker(6n, true)).firstOffset; // 7: producer 6's last entry (epoch 0)
    log.append(data('a', 'a-plain')); // 8: shadows every a
    log.append(data('z', 'z-plain')); // 9
    log.append(data('t', 't-plain')); // 10
    for (let i = 0; i < 10; i++) log.append(data(`filler-${i}`, 'x'));
    log.setLastProducerRecordsSource(() => [
      { producerId: 5n, lastDataOffset: last.lastOffset, producerEpoch: 3 },
      { producerId: 6n, lastDataOffset: null, producerEpoch: 0 },
    ]);
    const batches = () => {
      const out: { base: bigint; last: bigint; pid: bigint; epoch: number; seq: number; count: number }[] = [];
      for (let off = log.logStartOffset, guard = 0; off < log.logEndOffset && guard < 10_000; guard++) {
        const r = log.read(off, 1 << 20);
        if (r.records.length === 0) break;
        for (let at = 0; at < r.records.length; ) {
          const b = new RecordBatch(r.records, at);
          expect(b.isValid()).toBe(true);
          if (b.producerId >= 0n) {
            out.push({
              base: b.baseOffset,
              last: b.lastOffset,
              pid: b.producerId,
              epoch: b.producerEpoch,
              seq: b.baseSequence,
              count: b.recordCount,
            });
          }
          off = b.lastOffset + 1n;
          at += b.sizeInBytes;
        }
      }
      return out;
    };
    // Three passes: the data goes, the marker gets its horizon, the horizon passes.
    for (let pass = 0; pass < 3; pass++) {
      expect(await cleanLog(log)).not.toBeNull();
      now += 5000;
    }
    expect(allRecords(log).records.map((r) => r.value)).not.toContain('a-2');
    // Producer 5's last batch stays without records, with its offsets, epoch and sequence; its older
    // batch and producer 8's go; producer 6's marker outlives its delete horizon.
    expect(batches()).toEqual([
      { base: 2n, last: 3n, pid: 5n, epoch: 3, seq: 2, count: 0 },
      { base: marker6, last: marker6, pid: 6n, epoch: 0, seq: -1, count: 1 },
    ]);
    log.close();
    // The empty batch passes recovery of the whole log.
    const reopened = PartitionLog.open(dir, { logger: quiet });
    expect(reopened.logEndOffset).toBe(log.logEndOffset);
    reopened.close();
  });

  it('never cleans past the last stable offset: segments above it keep every record', async () => {
    const dir = path.join(testRoot('cleanlso'), 'lso-0');
    const log = PartitionLog.open(dir, {
      logger: quiet,
      cleanupPolicy: 'compact',
      segmentBytes: 300,
      minCleanableDirtyRatio: 0,
    });
    log.append(data('k', 'k-1'));
    log.append(data('k', 'k-2'));
    // An open transaction from here: the owner's last stable offset stays at its first offset.
    const open = log.append(data('t', 't-open', 7n)).firstOffset;
    for (let i = 0; i < 6; i++) log.append(data('k', `k-${i + 3}`));
    for (let i = 0; i < 10; i++) log.append(data(`filler-${i}`, 'x'));
    log.highWatermark = log.logEndOffset;
    log.setLastStableOffsetSource(() => open);
    expect(log.lastStableOffset).toBe(open);
    await cleanLog(log);
    const values = allRecords(log).records.map((r) => r.value);
    // Every k at or above the LSO stays (k-3 … k-8), and so does t-open.
    for (let i = 3; i <= 8; i++) expect(values).toContain(`k-${i}`);
    expect(values).toContain('t-open');
    // Once the transaction ends (LSO at the log end), the older values go.
    log.setLastStableOffsetSource(() => log.logEndOffset);
    await cleanLog(log);
    const later = allRecords(log).records.map((r) => r.value);
    expect(later.filter((v) => v?.startsWith('k-'))).toEqual(['k-8']);
    log.close();
  });
});
