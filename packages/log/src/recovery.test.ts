import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { PartitionLog } from './partition-log.js';
import { collectBatches as collect, makeBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(() => {
  removeTestRoots();
});

/** Byte positions inside a batch that no checksum covers (base offset, leader epoch), as in Kafka. */
function uncovered(posInBatch: number): boolean {
  return posInBatch < 8 || (posInBatch >= 12 && posInBatch < 16);
}

for (const io of ['fd', 'mmap'] as const) {
  describe(`torn writes (${io})`, () => {
    it('recovery keeps exactly the valid prefix after truncation or flipped bytes', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 3, maxLength: 30 }),
          fc.boolean(),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), {
            minLength: 1,
            maxLength: 4,
          }),
          fc.boolean(),
          fc.boolean(),
          (sizes, truncate, whichSegment, where, flips, closeCleanly, preallocate) => {
            const root = testRoot('torn');
            const dir = path.join(root, 'torn-0');
            const cfg = {
              io,
              segmentBytes: 2048,
              indexIntervalBytes: 200,
              // Preallocated: the active segment's file is 2048 bytes of batches and zeros when not closed.
              preallocate,
              logger: { info() {}, warn() {}, error() {} },
            };
            const log = PartitionLog.open(dir, cfg);
            const batches: { seg: bigint; pos: number; bytes: Buffer }[] = [];
            for (const [i, n] of sizes.entries()) {
              const b = makeBatch([{ key: Buffer.from([i]), value: Buffer.alloc(n, i) }], { baseTimestamp: BigInt(i) });
              const r = log.append(b);
              const segs = log.segmentBaseOffsets();
              batches.push({ seg: segs[segs.length - 1], pos: r.position, bytes: Buffer.from(b) });
            }
            if (closeCleanly) log.close();
            const segs = log.segmentBaseOffsets();
            const target = segs[Math.min(segs.length - 1, Math.floor(whichSegment * segs.length))];
            const inTarget = batches.filter((b) => b.seg === target);
            const file = path.join(dir, `${target.toString().padStart(20, '0')}.log`);
            const validEnd =
              inTarget.length === 0
                ? 0
                : inTarget[inTarget.length - 1].pos + inTarget[inTarget.length - 1].bytes.length;
            let firstBad = validEnd;
            if (truncate) {
              firstBad = Math.floor(where * validEnd);
              fs.truncateSync(file, firstBad);
            } else {
              const data = fs.readFileSync(file);
              const tailFrom = Math.floor(where * validEnd);
              // Net change per byte: two flips of one byte with one mask cancel out and damage nothing.
              const xor = new Map<number, number>();
              for (const [f, mask] of flips) {
                const p = tailFrom + Math.floor(f * (validEnd - tailFrom));
                if (p >= validEnd) continue;
                const owner = inTarget.find((b) => b.pos <= p && p < b.pos + b.bytes.length)!;
                if (uncovered(p - owner.pos)) continue;
                data[p] ^= mask;
                xor.set(p, (xor.get(p) ?? 0) ^ mask);
              }
              for (const [p, net] of xor) if (net !== 0) firstBad = Math.min(firstBad, p);
              fs.writeFileSync(file, data);
            }
            // A cut exactly at a batch boundary leaves a shorter but valid segment: later ones stay.
            const atBoundary = firstBad === 0 || inTarget.some((b) => b.pos + b.bytes.length === firstBad);
            const cut = firstBad < validEnd && !atBoundary;
            const keep = batches.filter(
              (b) =>
                b.seg < target || (b.seg === target && b.pos + b.bytes.length <= firstBad) || (!cut && b.seg > target),
            );
            // A cut in the middle of a batch also drops everything after it, in later segments too.
            const warnings: string[] = [];
            const again = PartitionLog.open(dir, {
              ...cfg,
              logger: { info() {}, warn: (m) => warnings.push(m), error() {} },
            });
            try {
              expect(collect(again).equals(Buffer.concat(keep.map((b) => b.bytes)))).toBe(true);
              const leo = keep.length === 0 ? 0n : BigInt(batches.indexOf(keep[keep.length - 1]) + 1);
              expect(again.logEndOffset).toBe(leo);
              if (cut) expect(warnings.join('\n')).toMatch(/recovery truncated .*\.log at byte/);
              // A second open finds nothing more to cut.
              again.close();
              const third = PartitionLog.open(dir, cfg);
              expect(third.logEndOffset).toBe(leo);
              third.close();
            } finally {
              again.close();
            }
          },
        ),
        { numRuns: Number(process.env.LOG_TORN_RUNS ?? 60) },
      );
    });
  });
}
