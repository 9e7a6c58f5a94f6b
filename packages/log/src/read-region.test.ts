import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { FdFile } from './io/fd.js';
import { FileRegion } from './io/file-region.js';
import { RETIRED_HOLD_MS, ViewLease } from './io/retired-mappings.js';
import { PartitionLog } from './partition-log.js';
import { makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
afterEach(() => {
  vi.useRealTimers();
});
const quiet = { info() {}, warn() {}, error() {} };

/** The bytes a region stands for, read from its descriptor. */
function bytesOf(region: FileRegion): Buffer {
  const out = Buffer.alloc(region.size);
  expect(fs.readSync(region.fd, out, 0, region.size, region.position)).toBe(region.size);
  return out;
}

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

describe('reads as file regions (log.io=fd, for sendfile)', () => {
  it('property: a region (or, under regionMinBytes, a copy) covers exactly the batches read() returns', () => {
    let n = 0;
    fc.assert(
      fc.property(
        fc.array(fc.record({ count: fc.integer({ min: 1, max: 4 }), valueBytes: fc.integer({ min: 1, max: 3000 }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 64, max: 8000 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 60_000 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 40_000 }),
        (batches, indexIntervalBytes, fromPick, toPick, maxBytes, minOneBatch, regionMinBytes) => {
          const dir = path.join(testRoot('region-prop'), `t-${n++}`);
          const log = PartitionLog.open(dir, { io: 'fd', logger: quiet, indexIntervalBytes });
          try {
            for (const [i, b] of batches.entries()) log.append(makeValueBatch(b.count, b.valueBytes, 0x41 + (i % 50)));
            const end = Number(log.logEndOffset);
            const from = BigInt(fromPick % end);
            const upTo = from + 1n + BigInt(toPick % (end - Number(from)));
            const expected = log.read(from, maxBytes, upTo, undefined, minOneBatch).records;
            const lease = new ViewLease();
            const got = log.read(from, maxBytes, upTo, lease, minOneBatch, 1).records as Uint8Array;
            if (expected.length === 0) expect(got.length).toBe(0);
            else {
              expect(got).toBeInstanceOf(FileRegion);
              expect(bytesOf(got as FileRegion).equals(expected)).toBe(true);
            }
            // With a higher threshold a shorter range is read and copied instead: the same bytes.
            const either = log.read(from, maxBytes, upTo, lease, minOneBatch, regionMinBytes).records as Uint8Array;
            if (expected.length > 0 && expected.length >= regionMinBytes) {
              expect(bytesOf(either as FileRegion).equals(expected)).toBe(true);
            } else {
              expect(either).not.toBeInstanceOf(FileRegion);
              expect(Buffer.from(either).equals(expected)).toBe(true);
            }
            lease.release();
          } finally {
            log.close();
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('reads (copies) a range shorter than regionMinBytes, and never makes regions with mmap', () => {
    for (const io of ['fd', 'mmap'] as const) {
      const log = PartitionLog.open(path.join(testRoot(`region-small-${io}`), 't-0'), { io, logger: quiet });
      for (let i = 0; i < 4; i++) log.append(makeValueBatch(5, 1000, 0x61 + i));
      const expected = Buffer.from(log.read(0n, 1 << 20).records);
      const lease = new ViewLease();
      const small = log.read(0n, 1 << 20, log.logEndOffset, lease, true, expected.length + 1).records as Uint8Array;
      expect(small).not.toBeInstanceOf(FileRegion);
      expect(Buffer.from(small).equals(expected)).toBe(true);
      const large = log.read(0n, 1 << 20, log.logEndOffset, lease, true, 1).records as Uint8Array;
      if (io === 'fd') expect(bytesOf(large as FileRegion).equals(expected)).toBe(true);
      else expect(large).not.toBeInstanceOf(FileRegion);
      lease.release();
      log.close();
    }
  });

  it('keeps a deleted segment open until the lease that sends from it is released', () => {
    const log = PartitionLog.open(path.join(testRoot('region-delete'), 't-0'), {
      io: 'fd',
      logger: quiet,
      segmentBytes: 20_000,
    });
    for (let i = 0; i < 12; i++) log.append(makeValueBatch(5, 1000, 0x61 + i));
    expect(log.segmentCount).toBeGreaterThan(2);
    const lease = new ViewLease();
    const region = log.read(0n, 1 << 20, log.logEndOffset, lease, true, 1).records as unknown as FileRegion;
    const expected = bytesOf(region);
    log.highWatermark = log.logEndOffset;
    log.deleteRecords(log.logEndOffset);
    // The file is gone from the directory, its bytes still there for the response.
    expect(fs.existsSync(path.join(log.dir, '00000000000000000000.log'))).toBe(false);
    expect(isOpen(region.fd)).toBe(true);
    expect(bytesOf(region).equals(expected)).toBe(true);
    lease.release();
    expect(isOpen(region.fd)).toBe(false);
    log.close();
  });
});

describe('FdFile.pin', () => {
  const file = (name: string) => {
    const p = path.join(testRoot('pin'), name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    const f = new FdFile(p, { create: true });
    f.write(Buffer.alloc(100, 1), 0);
    return f;
  };

  it('a close while pinned waits for every lease', () => {
    const f = file('a.log');
    const a = new ViewLease();
    const b = new ViewLease();
    const fd = f.pin(a) as number;
    expect(f.pin(b)).toBe(fd);
    f.close();
    expect(isOpen(fd)).toBe(true);
    a.release();
    expect(isOpen(fd)).toBe(true);
    b.release();
    expect(isOpen(fd)).toBe(false);
    expect(f.pinCount).toBe(0);
  });

  it('gives no descriptor once closed or closing, nor to a released lease', () => {
    const f = file('b.log');
    const released = new ViewLease();
    released.release();
    expect(f.pin(released)).toBeNull();
    const a = new ViewLease();
    f.pin(a);
    f.close();
    expect(f.pin(new ViewLease())).toBeNull();
    a.release();
    expect(f.pin(new ViewLease())).toBeNull();
  });

  it('revokes a lease still held RETIRED_HOLD_MS after the close, then closes', () => {
    vi.useFakeTimers();
    const f = file('c.log');
    const lease = new ViewLease();
    let revoked = 0;
    lease.onRevoke = () => {
      revoked++;
      lease.release();
    };
    const fd = f.pin(lease) as number;
    f.close();
    vi.advanceTimersByTime(RETIRED_HOLD_MS - 1);
    expect(revoked).toBe(0);
    expect(isOpen(fd)).toBe(true);
    vi.advanceTimersByTime(1);
    expect(revoked).toBe(1);
    expect(isOpen(fd)).toBe(false);
  });

  it('a stand-in has its range as its length and holds no bytes', () => {
    const r = new FileRegion(3, 10, 5000);
    expect(r.length).toBe(5000);
    expect(r.byteLength).toBe(0);
  });
});
