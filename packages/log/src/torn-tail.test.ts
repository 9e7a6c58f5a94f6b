import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogManager } from './log-manager.js';
import { PartitionLog } from './partition-log.js';
import { collectBatches as collect, makeBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(() => {
  removeTestRoots();
});

const quiet = { info() {}, warn() {}, error() {} };

function segmentLog(dir: string, base: bigint): string {
  return path.join(dir, `${base.toString().padStart(20, '0')}.log`);
}

for (const io of ['fd', 'mmap'] as const) {
  describe(`a torn last batch (${io})`, () => {
    it('after a clean stop: 100 records with the last 100 bytes cut recover to the 90 before, and their offsets are never reused', () => {
      const root = testRoot('torn-clean');
      // Batches of 10 records of 500 bytes: each passes index.interval.bytes (4096), so the last
      // batch is the last indexed one, where a clean start resumes its scan.
      const cfg = { io, logger: quiet };
      const m = LogManager.open(root, cfg);
      const log = m.getOrCreate('orders', 0);
      const batches: Buffer[] = [];
      for (let i = 0; i < 10; i++) {
        const value = Buffer.alloc(500, i + 1);
        const b = makeBatch(
          Array.from({ length: 10 }, () => ({ value })),
          { baseTimestamp: BigInt(1_700_000_000_000 + i) },
        );
        log.append(b);
        batches.push(Buffer.from(b));
      }
      expect(log.logEndOffset).toBe(100n);
      m.close();
      const file = segmentLog(path.join(root, 'orders-0'), 0n);
      fs.truncateSync(file, fs.statSync(file).size - 100);

      const warnings: string[] = [];
      const again = LogManager.open(root, { ...cfg, logger: { ...quiet, warn: (w) => warnings.push(w) } });
      const p = again.get('orders', 0)!;
      expect(warnings.join('\n')).toMatch(/recovery truncated .*\.log at byte \d+ .*log end offset 90/);
      expect(p.logEndOffset).toBe(90n);
      expect(collect(p).equals(Buffer.concat(batches.slice(0, 9)))).toBe(true);
      const next = makeBatch([{ value: Buffer.from('after') }], { baseTimestamp: 1_800_000_000_000n });
      expect(p.append(next).firstOffset).toBe(90n);
      expect(p.logEndOffset).toBe(91n);

      // A SIGKILL now (the directory as it is on disk, copied) and a clean stop both keep it all.
      const killed = testRoot('torn-clean-killed');
      fs.cpSync(root, killed, { recursive: true });
      fs.rmSync(path.join(killed, '.lock'), { force: true });
      again.close();
      for (const dir of [root, killed]) {
        const w: string[] = [];
        const third = LogManager.open(dir, { ...cfg, logger: { ...quiet, warn: (x) => w.push(x) } });
        const t = third.get('orders', 0)!;
        expect(w).toEqual([]);
        expect(t.logEndOffset).toBe(91n);
        expect(collect(t).equals(Buffer.concat([...batches.slice(0, 9), next]))).toBe(true);
        third.close();
      }
    });

    // Small batches, so every cut of the last two batches is a few hundred reopens; the I/O kind
    // does not change what recovery decides, so the byte-by-byte runs use the default (mmap) only.
    const COUNTS = [1, 2, 3, 1, 2, 3, 1, 2, 3, 2, 1, 1];
    const layouts = ['one segment', 'last batch alone in its segment'] as const;
    const stops = ['clean', 'unclean, recovery point 0', 'unclean, recovery point at the end'] as const;
    for (const layout of io === 'mmap' ? layouts : []) {
      for (const indexIntervalBytes of [0, 1 << 20]) {
        it(`a tail torn at every byte of the last two batches recovers the last whole batch (${layout}, index.interval.bytes ${indexIntervalBytes})`, () => {
          const cfg = { io, indexIntervalBytes, segmentIndexBytes: 4096, logger: quiet };
          for (const stop of stops) {
            const dir = path.join(testRoot('torn-every'), 't-0');
            const log = PartitionLog.open(dir, cfg);
            const batches: { bytes: Buffer; seg: bigint; pos: number; end: bigint }[] = [];
            for (const [i, n] of COUNTS.entries()) {
              if (layout !== 'one segment' && i === COUNTS.length - 1) log.roll();
              const b = makeBatch(
                Array.from({ length: n }, (_, j) => ({ key: Buffer.from([i, j]), value: Buffer.alloc(4, i) })),
                { baseTimestamp: BigInt(1000 + i) },
              );
              const r = log.append(b);
              const segs = log.segmentBaseOffsets();
              batches.push({
                bytes: Buffer.from(b),
                seg: segs[segs.length - 1],
                pos: r.position,
                end: r.lastOffset + 1n,
              });
            }
            const leoBefore = log.logEndOffset;
            if (stop === 'clean') log.close();
            else log.flush();
            const [a, b] = batches.slice(-2);
            // Cut points: every byte position inside the last two batches (the log keeps what is before it).
            const cuts: { batch: number; keepInBatch: number }[] = [];
            for (let k = 0; k < a.bytes.length; k++) cuts.push({ batch: batches.length - 2, keepInBatch: k });
            for (let k = 0; k < b.bytes.length; k++) cuts.push({ batch: batches.length - 1, keepInBatch: k });
            for (const cut of cuts) {
              const copy = path.join(testRoot('torn-cut'), 't-0');
              fs.cpSync(dir, copy, { recursive: true });
              const torn = batches[cut.batch];
              fs.truncateSync(segmentLog(copy, torn.seg), torn.pos + cut.keepInBatch);
              // Everything after the cut is lost, later segments included.
              for (const later of new Set(batches.slice(cut.batch + 1).map((x) => x.seg))) {
                if (later !== torn.seg) {
                  for (const suffix of ['.log', '.index', '.timeindex']) {
                    fs.rmSync(segmentLog(copy, later).replace(/\.log$/, suffix), { force: true });
                  }
                }
              }
              const kept = batches.slice(0, cut.batch);
              const leo = kept[kept.length - 1].end;
              const where = `${stop}, cut at byte ${cut.keepInBatch} of batch ${cut.batch}`;
              const reopened = PartitionLog.open(
                copy,
                cfg,
                stop === 'clean'
                  ? { hadCleanShutdown: true }
                  : { hadCleanShutdown: false, recoveryPoint: stop === 'unclean, recovery point 0' ? 0n : leoBefore },
              );
              expect(reopened.logEndOffset, where).toBe(leo);
              expect(collect(reopened).equals(Buffer.concat(kept.map((x) => x.bytes))), where).toBe(true);
              const added = makeBatch([{ value: Buffer.from('next') }], { baseTimestamp: 5000n });
              expect(reopened.append(added).firstOffset, where).toBe(leo);
              reopened.close();
              // Checked whole (CRCs and offset order) as after a crash: nothing cut, nothing reused.
              const warnings: string[] = [];
              const third = PartitionLog.open(copy, { ...cfg, logger: { ...quiet, warn: (w) => warnings.push(w) } });
              expect(warnings, where).toEqual([]);
              expect(third.logEndOffset, where).toBe(leo + 1n);
              expect(collect(third).equals(Buffer.concat([...kept.map((x) => x.bytes), added])), where).toBe(true);
              third.close();
              fs.rmSync(path.dirname(copy), { recursive: true, force: true });
            }
            if (stop !== 'clean') log.close();
          }
        });
      }
    }
  });
}
