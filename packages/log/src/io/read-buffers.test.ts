import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { removeTestRoots, testRoot } from '../test-dirs.js';
import { FdFile } from './fd.js';
import { IDLE_TRIM_MS, MAX_FREE_BYTES, ReadBuffers, readBytesInFlight, SLAB_BYTES } from './read-buffers.js';
import { ViewLease } from './retired-mappings.js';

afterAll(removeTestRoots);

const KiB = 1 << 10;

function fileOf(bytes: number): { file: FdFile; content: Buffer } {
  const content = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) content[i] = (i * 13 + (i >>> 10)) & 0xff;
  const p = path.join(testRoot('read-buffers'), 'f.log');
  fs.writeFileSync(p, content);
  return { file: new FdFile(p, { create: false }), content };
}

describe('fd reads under a lease', () => {
  it('reuse the buffer of a released lease, with the right bytes', () => {
    const { file, content } = fileOf(512 * KiB);
    const first = new ViewLease();
    const a = file.read(1000, 100 * KiB, first);
    expect(a.equals(content.subarray(1000, 1000 + 100 * KiB))).toBe(true);
    // Held: the next read gets a buffer of its own.
    const second = new ViewLease();
    const b = file.read(5000, 100 * KiB, second);
    expect(b.buffer).not.toBe(a.buffer);
    expect(a.equals(content.subarray(1000, 1000 + 100 * KiB))).toBe(true);
    // Reads under one lease share its slab, one after the other.
    const a2 = file.read(300 * KiB, 200 * KiB, first);
    expect(a2.buffer).toBe(a.buffer);
    expect(a2.byteOffset).toBe(a.byteOffset + 100 * KiB);
    expect(a2.equals(content.subarray(300 * KiB, 500 * KiB))).toBe(true);
    expect(a.equals(content.subarray(1000, 1000 + 100 * KiB))).toBe(true);
    first.release();
    const third = new ViewLease();
    const c = file.read(7000, 90 * KiB, third);
    // The released lease's slab, now showing the new read.
    expect(c.buffer).toBe(a.buffer);
    expect(c.equals(content.subarray(7000, 7000 + 90 * KiB))).toBe(true);
    expect(b.equals(content.subarray(5000, 5000 + 100 * KiB))).toBe(true);
    second.release();
    third.release();
    file.close();
  });

  it('are fresh Buffers without a lease, after the lease was released, and at the end of the file', () => {
    const { file, content } = fileOf(256 * KiB);
    const lease = new ViewLease();
    const a = file.read(0, 64 * KiB, lease);
    lease.release();
    const plain = file.read(0, 64 * KiB);
    expect(plain.buffer).not.toBe(a.buffer);
    // A released lease lends nothing: the buffer is not taken back a second time.
    const late = file.read(0, 64 * KiB, lease);
    const other = new ViewLease();
    const next = file.read(0, 64 * KiB, other);
    expect(next.buffer).toBe(a.buffer);
    expect(late.buffer).not.toBe(next.buffer);
    // Short at the end of the file: only the bytes there.
    const tail = file.read(200 * KiB, 100 * KiB, other);
    expect(tail.length).toBe(56 * KiB);
    expect(tail.equals(content.subarray(200 * KiB))).toBe(true);
    other.release();
    file.close();
  });
});

describe('ReadBuffers', () => {
  it('keeps at most MAX_FREE_BYTES of slabs free', () => {
    const pool = new ReadBuffers();
    const taken = Array.from({ length: MAX_FREE_BYTES / SLAB_BYTES + 2 }, () => pool.take());
    expect(taken.every((b) => b.length === SLAB_BYTES)).toBe(true);
    for (const b of taken) pool.give(b);
    expect(pool.freeByteCount).toBe(MAX_FREE_BYTES);
    expect(taken).toContain(pool.take());
    expect(pool.freeByteCount).toBe(MAX_FREE_BYTES - SLAB_BYTES);
  });

  it('lets the free slabs go after IDLE_TRIM_MS without a take', () => {
    vi.useFakeTimers();
    try {
      const pool = new ReadBuffers();
      let now = 0;
      pool.now = () => now;
      const slabs = [pool.take(), pool.take()];
      for (const b of slabs) pool.give(b);
      now = IDLE_TRIM_MS - 1000;
      vi.advanceTimersByTime(IDLE_TRIM_MS - 1000);
      // Still in use: kept.
      pool.give(pool.take());
      now = IDLE_TRIM_MS;
      vi.advanceTimersByTime(1000);
      expect(pool.freeByteCount).toBe(2 * SLAB_BYTES);
      now = 2 * IDLE_TRIM_MS;
      vi.advanceTimersByTime(IDLE_TRIM_MS);
      expect(pool.freeByteCount).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives a read longer than a slab a Buffer of its own', () => {
    const lease = new ViewLease();
    const own = lease.borrow(SLAB_BYTES + 1);
    expect(own?.length).toBe(SLAB_BYTES + 1);
    expect(lease.borrow(SLAB_BYTES)?.length).toBe(SLAB_BYTES);
    expect(lease.borrow(SLAB_BYTES)?.buffer).not.toBe(own?.buffer);
    lease.release();
    expect(lease.borrow(10)).toBeNull();
  });

  it('counts what leases hold, slabs and reads of their own, until they are released', () => {
    const before = readBytesInFlight();
    const a = new ViewLease();
    const b = new ViewLease();
    a.borrow(100 * KiB);
    a.borrow(100 * KiB);
    expect(readBytesInFlight() - before).toBe(SLAB_BYTES);
    b.borrow(SLAB_BYTES + 10);
    b.borrow(10);
    expect(readBytesInFlight() - before).toBe(2 * SLAB_BYTES + SLAB_BYTES + 10);
    a.release();
    expect(readBytesInFlight() - before).toBe(SLAB_BYTES + SLAB_BYTES + 10);
    b.release();
    b.release();
    expect(readBytesInFlight()).toBe(before);
  });
});
