import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PartitionLog } from './partition-log.js';
import { collectBatches, makeBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(() => {
  removeTestRoots();
});

const quiet = { info() {}, warn() {}, error() {} };
const SEGMENT = 64 * 1024;
const logFile = (dir: string, base = 0n) => path.join(dir, `${base.toString().padStart(20, '0')}.log`);
const batch = (i: number) => makeBatch([{ value: Buffer.alloc(300, i) }], { baseTimestamp: BigInt(i) });

for (const io of ['fd', 'mmap'] as const) {
  describe(`preallocate (${io})`, () => {
    it('sets the active log file to segment.bytes on the first append and trims it on close', () => {
      const dir = path.join(testRoot('prealloc'), 't-0');
      const log = PartitionLog.open(dir, { io, segmentBytes: SEGMENT, preallocate: true, logger: quiet });
      // Opening touches nothing: an idle partition is not preallocated.
      expect(fs.statSync(logFile(dir)).size).toBe(0);
      const written: Buffer[] = [];
      for (let i = 0; i < 5; i++) {
        const b = batch(i);
        log.append(b); // assigns the offset in place
        written.push(Buffer.from(b));
      }
      expect(fs.statSync(logFile(dir)).size).toBe(SEGMENT);
      // Reads stop at the data, never at the file's end.
      expect(collectBatches(log).equals(Buffer.concat(written))).toBe(true);
      log.close();
      expect(fs.statSync(logFile(dir)).size).toBe(Buffer.concat(written).length);
    });

    it('keeps every appended record through a crash (no close) and preallocates again after a restart', () => {
      const dir = path.join(testRoot('prealloc'), 't-0');
      const cfg = { io, segmentBytes: SEGMENT, preallocate: true, logger: quiet };
      const log = PartitionLog.open(dir, cfg);
      const written: Buffer[] = [];
      for (let i = 0; i < 20; i++) {
        const b = batch(i);
        log.append(b); // assigns the offset in place
        written.push(Buffer.from(b));
      }
      // No close: the file is left at segment.bytes, its tail zeros, as a SIGKILL leaves it.
      const warnings: string[] = [];
      const again = PartitionLog.open(dir, { ...cfg, logger: { ...quiet, warn: (m) => warnings.push(m) } });
      try {
        expect(again.logEndOffset).toBe(20n);
        expect(collectBatches(again).equals(Buffer.concat(written))).toBe(true);
        // Free space, not a torn write: nothing reported as truncated.
        expect(warnings.join('\n')).not.toMatch(/truncated/);
        const next = batch(20);
        expect(again.append(next).firstOffset).toBe(20n);
        expect(fs.statSync(logFile(dir)).size).toBe(SEGMENT);
        expect(collectBatches(again).equals(Buffer.concat([...written, next]))).toBe(true);
      } finally {
        again.close();
        log.close();
      }
    });

    it('rolls into a new preallocated segment and leaves the old one trimmed', () => {
      const dir = path.join(testRoot('prealloc'), 't-0');
      const log = PartitionLog.open(dir, { io, segmentBytes: 4096, preallocate: true, logger: quiet });
      const written: Buffer[] = [];
      for (let i = 0; i < 30; i++) {
        const b = batch(i);
        log.append(b); // assigns the offset in place
        written.push(Buffer.from(b));
      }
      const bases = log.segmentBaseOffsets();
      expect(bases.length).toBeGreaterThan(1);
      // Each rolled segment's file ends exactly at the end of its last batch: no zeros left.
      for (const b of bases.slice(0, -1)) {
        const data = fs.readFileSync(logFile(dir, b));
        let at = 0;
        while (at + 12 <= data.length && data.readInt32BE(at + 8) > 0) at += data.readInt32BE(at + 8) + 12;
        expect(at).toBe(data.length);
      }
      expect(fs.statSync(logFile(dir, bases[bases.length - 1])).size).toBe(4096);
      expect(collectBatches(log).equals(Buffer.concat(written))).toBe(true);
      log.close();
    });

    it('a truncation (follower) shrinks the file; the next append preallocates it again', () => {
      const dir = path.join(testRoot('prealloc'), 't-0');
      const log = PartitionLog.open(dir, { io, segmentBytes: SEGMENT, preallocate: true, logger: quiet });
      for (let i = 0; i < 5; i++) log.append(batch(i));
      expect(log.truncateTo(3n)).toBe(true);
      expect(log.logEndOffset).toBe(3n);
      expect(fs.statSync(logFile(dir)).size).toBeLessThan(SEGMENT);
      expect(log.append(batch(9)).firstOffset).toBe(3n);
      expect(fs.statSync(logFile(dir)).size).toBe(SEGMENT);
      log.close();
    });

    it('without preallocate (the default) the file grows with the data', () => {
      const dir = path.join(testRoot('prealloc'), 't-0');
      const log = PartitionLog.open(dir, { io, segmentBytes: SEGMENT, logger: quiet });
      const b = batch(0);
      log.append(b);
      expect(fs.statSync(logFile(dir)).size).toBe(b.length);
      log.close();
    });
  });
}
