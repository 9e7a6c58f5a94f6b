import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ATTRIBUTES_OFFSET, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD } from './batch.js';
import { MmapFile } from './io/mmap.js';
import { PartitionLog } from './partition-log.js';
import { makeBatch, makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
afterEach(() => {
  vi.restoreAllMocks();
});
const quiet = { info() {}, warn() {}, error() {} };

interface Seen {
  base: bigint;
  size: number;
  whole: boolean;
}

describe('PartitionLog.forEachBatch', () => {
  it('walks every batch from an offset across segments by positional reads, a big batch whole only when asked', () => {
    const dir = path.join(testRoot('for-each-batch'), 'w-0');
    // Small segments: the walk crosses several of them.
    const log = PartitionLog.open(dir, { io: 'mmap', logger: quiet, segmentBytes: 4096, maxMessageBytes: 4 << 20 });
    const big = makeValueBatch(2, 700 * 1024); // 1.4 MiB: more than the walk's 1 MiB chunk
    // The control flag, which the test's wholeIf asks for.
    const marked = makeBatch([{ value: Buffer.alloc(1200 * 1024) }], { attributes: 0x20 });
    const sizes: number[] = [];
    for (let i = 0; i < 30; i++) {
      const b = i === 10 ? big : i === 20 ? marked : makeValueBatch(3, 100);
      sizes.push(b.length);
      log.append(Buffer.from(b), {});
    }
    expect(log.segmentCount).toBeGreaterThan(3);
    let views = 0;
    const view = MmapFile.prototype.read;
    vi.spyOn(MmapFile.prototype, 'read').mockImplementation(function (this: MmapFile, position, length, lease) {
      views++;
      return view.call(this, position, length, lease);
    });
    const walk = (from: bigint): Seen[] => {
      const seen: Seen[] = [];
      log.forEachBatch(
        from,
        (data, at, size) => {
          expect(data.readInt32BE(at + 8) + LOG_OVERHEAD).toBe(size);
          seen.push({ base: data.readBigInt64BE(at), size, whole: data.length >= at + size });
        },
        (header, at) => (header.readInt16BE(at + ATTRIBUTES_OFFSET) & 0x20) !== 0,
      );
      return seen;
    };
    const all = walk(0n);
    expect(all.map((s) => s.base)).toEqual(
      Array.from({ length: 30 }, (_, i) => BigInt(i * 3 - (i > 10 ? 1 : 0) - (i > 20 ? 2 : 0))),
    );
    expect(all.map((s) => s.size)).toEqual(sizes);
    // Whole where it fits or was asked for; the big data batch only as its header.
    expect(all.filter((s) => !s.whole).map((s) => s.base)).toEqual([30n]);
    // From an offset inside the log: from the batch holding it (offset 64 is in the batch at 63).
    const later = walk(64n);
    expect(later[0].base).toBe(63n);
    expect(later.length).toBe(30 - 22);
    expect(walk(log.logEndOffset)).toEqual([]);
    expect(views).toBe(0);
    log.close();
  });

  it('hands a header-only batch at least the batch header', () => {
    const dir = path.join(testRoot('for-each-batch'), 'h-0');
    const log = PartitionLog.open(dir, { io: 'fd', logger: quiet, maxMessageBytes: 4 << 20 });
    log.append(makeValueBatch(1, 10));
    log.append(makeValueBatch(1, 2 << 20));
    const heads: number[] = [];
    log.forEachBatch(
      1n,
      (data, at) => heads.push(data.length - at),
      () => false,
    );
    expect(heads.length).toBe(1);
    expect(heads[0]).toBeGreaterThanOrEqual(RECORD_BATCH_OVERHEAD);
    log.close();
  });
});
