import fs from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { PartitionLog } from '../partition-log.js';
import { makeValueBatch } from '../test-batch.js';
import { removeTestRoots, testRoot } from '../test-dirs.js';
import { GROWN_WINDOW_BYTES, MAX_WINDOWS, MIN_WINDOW_BYTES, MmapFile, WINDOW_ALIGN } from './mmap.js';
import { retired, ViewLease } from './retired-mappings.js';

afterAll(removeTestRoots);

const MiB = 1 << 20;

/** Bytes that differ from position to position (and from page to page), so a misplaced view shows. */
function pattern(from: number, length: number, salt = 0): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const at = from + i;
    b[i] = (at * 7 + (at >>> 12) + salt) & 0xff;
  }
  return b;
}

function fileOf(dir: string, name: string, bytes: number): MmapFile {
  const p = path.join(dir, name);
  fs.writeFileSync(p, pattern(0, bytes));
  return new MmapFile(p, { create: false });
}

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Lines of /proc/self/maps that map `file`. */
const mappingsOf = (file: string) =>
  fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(file) || l.endsWith(`${file} (deleted)`));

/** Resident bytes of every mapping of `file` (from /proc/self/smaps: what counts as RssFile). */
function residentOf(file: string): number {
  return residentWhere((l) => l.endsWith(file) || l.endsWith(`${file} (deleted)`));
}

function residentWhere(match: (mapsLine: string) => boolean): number {
  let inFile = false;
  let kib = 0;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = match(line);
    else if (inFile && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
  }
  return kib * 1024;
}

/** Collects until at most `n` mappings of `file` are left (bounded); returns how many are. */
async function mappingsDownTo(file: string, n: number, withinMs = 3000): Promise<number> {
  const until = Date.now() + withinMs;
  for (;;) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    const left = mappingsOf(file).length;
    if (left <= n || Date.now() > until) return left;
  }
}

describe('MmapFile windows', () => {
  it('maps a window around a read, not the file from its start: V8 accounts for the window only', () => {
    const f = fileOf(testRoot('mmap-far'), 'big.log', 16 * MiB);
    const before = process.memoryUsage().external;
    const view = f.read(15 * MiB + 100, 1000);
    const grown = process.memoryUsage().external - before;
    expect(view.equals(pattern(15 * MiB + 100, 1000))).toBe(true);
    // Mapping [0, 16 MiB) counted 16 MiB of external memory.
    expect(grown).toBeLessThan(MiB);
    expect(f.windowStats.bytes).toBe(MIN_WINDOW_BYTES);
    f.close();
  });

  it("many small files (a thousand partitions' tails) each account a small window, not 1 MiB", () => {
    const dir = testRoot('mmap-many');
    const files = Array.from({ length: 200 }, (_, i) => fileOf(dir, `${i}.log`, 32 << 10));
    const before = process.memoryUsage().external;
    for (const f of files) expect(f.read(0, 64 << 10).equals(pattern(0, 32 << 10))).toBe(true);
    const grown = process.memoryUsage().external - before;
    // 200 × 1 MiB before the windows; now 200 × 64 KiB (12.5 MiB).
    expect(grown).toBeLessThan(200 * 2 * MIN_WINDOW_BYTES);
    for (const f of files) {
      expect(f.windowStats).toMatchObject({ count: 1, bytes: MIN_WINDOW_BYTES });
      f.close();
    }
  });

  it('keeps at most MAX_WINDOWS live windows, and their bytes bounded, reading through in order and at random', () => {
    const size = 12 * MiB;
    const f = fileOf(testRoot('mmap-bounded'), 'seg.log', size);
    const bound = MAX_WINDOWS * GROWN_WINDOW_BYTES;
    const before = process.memoryUsage().external;
    let maxLive = 0;
    // In order, as a consumer catching up: 100 KiB fetches.
    for (let at = 0; at < size; at += 100_000) {
      const n = Math.min(100_000, size - at);
      expect(f.read(at, n).equals(pattern(at, n))).toBe(true);
      const s = f.windowStats;
      expect(s.count).toBeLessThanOrEqual(MAX_WINDOWS);
      expect(s.bytes).toBeLessThanOrEqual(bound);
      maxLive = Math.max(maxLive, s.bytes);
    }
    // Reading on doubles the window up to GROWN_WINDOW_BYTES: a sequential reader maps about what it reads.
    expect(maxLive).toBeGreaterThanOrEqual(GROWN_WINDOW_BYTES);
    expect(process.memoryUsage().external - before).toBeLessThan(size + 8 * GROWN_WINDOW_BYTES);
    // At random, as consumers at many offsets.
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 300; i++) {
      const at = next() % size;
      const n = 1 + (next() % (128 << 10));
      const end = Math.min(size, at + n);
      expect(f.read(at, n).equals(pattern(at, end - at))).toBe(true);
      expect(f.windowStats.count).toBeLessThanOrEqual(MAX_WINDOWS);
      expect(f.windowStats.bytes).toBeLessThanOrEqual(bound);
    }
    f.close();
  });

  it('reads across a window boundary, and reads larger than a window, come whole and right', () => {
    const size = 6 * MiB;
    const f = fileOf(testRoot('mmap-cross'), 'seg.log', size);
    expect(f.read(0, 60_000).equals(pattern(0, 60_000))).toBe(true);
    // Past the first window's end: a window covering the whole read.
    for (const at of [WINDOW_ALIGN - 10, 2 * WINDOW_ALIGN - 1, GROWN_WINDOW_BYTES - 3, 3 * GROWN_WINDOW_BYTES - 4096]) {
      expect(f.read(at, 20_000).equals(pattern(at, 20_000))).toBe(true);
    }
    // Larger than any window (a large batch): mapped as one.
    const big = f.read(WINDOW_ALIGN + 5, 3 * MiB);
    expect(big.equals(pattern(WINDOW_ALIGN + 5, 3 * MiB))).toBe(true);
    // Clipped at the end of the file.
    expect(f.read(size - 100, 1000).equals(pattern(size - 100, 100))).toBe(true);
    f.close();
  });

  it('views keep their bytes across appends, window drops and a truncation that replaces the file', () => {
    const dir = testRoot('mmap-stable');
    const f = fileOf(dir, 'seg.log', 4 * MiB);
    const views = [f.read(10, 1000), f.read(2 * MiB + 7, 50_000), f.read(4 * MiB - 300, 300)];
    const copies = views.map((v) => Buffer.from(v));
    // Appends, then enough reads elsewhere to drop every window the views came from.
    f.write(pattern(0, MiB, 99), 4 * MiB);
    for (let i = 0; i < 3 * MAX_WINDOWS; i++) f.read(i * 300_000 + 123, 10_000);
    expect(f.read(4 * MiB + 5, 100).equals(pattern(5, 100, 99))).toBe(true);
    // Cuts below the furthest view: the kept bytes move to a new file, which is then written over.
    f.truncate(1000);
    f.write(Buffer.alloc(3 * MiB, 0xee), 0);
    views.forEach((v, i) => {
      expect(v.equals(copies[i])).toBe(true);
    });
    expect(f.read(0, 2000).equals(Buffer.alloc(2000, 0xee))).toBe(true);
    f.close();
  });

  it('a dropped window leaves no resident pages, even while views of it are held', () => {
    const size = 12 * MiB;
    const f = fileOf(testRoot('mmap-rss'), 'seg.log', size);
    // Held views keep every window mapped until they go; each read touches its pages.
    const views: Buffer[] = [];
    for (let at = 0; at < size; at += 256 << 10) {
      const v = f.read(at, 256 << 10);
      expect(v.equals(pattern(at, v.length))).toBe(true);
      views.push(v);
    }
    expect(f.windowStats.dropped).toBeGreaterThan(0);
    // Only the live windows' pages stay resident (12 MiB were touched).
    expect(residentOf(f.path)).toBeLessThanOrEqual(MAX_WINDOWS * GROWN_WINDOW_BYTES);
    // And the views still show their bytes (faulted back in).
    expect(views[0].equals(pattern(0, 256 << 10))).toBe(true);
    f.close();
  });

  it("a live window's pages go back once the last lease on it is released (a Fetch response written)", () => {
    const f = fileOf(testRoot('mmap-unleased'), 'seg.log', 2 * MiB);
    const a = new ViewLease();
    const b = new ViewLease();
    const v1 = f.read(0, 200_000, a);
    const v2 = f.read(100_000, 100_000, b);
    expect(v1.equals(pattern(0, 200_000))).toBe(true);
    expect(v2.equals(pattern(100_000, 100_000))).toBe(true);
    expect(f.windowStats.count).toBe(1);
    const touched = residentOf(f.path);
    expect(touched).toBeGreaterThanOrEqual(200_000);
    a.release();
    // Still held by b.
    expect(residentOf(f.path)).toBe(touched);
    b.release();
    expect(residentOf(f.path)).toBe(0);
    // The window stays live and its views right.
    expect(f.read(300, 1000).equals(pattern(300, 1000))).toBe(true);
    expect(f.windowStats.count).toBe(1);
    f.close();
  });

  it("a partition log's pages go back when the lease of a Fetch's reads is released", () => {
    const dir = path.join(testRoot('mmap-log-lease'), 't-0');
    const log = PartitionLog.open(dir, { io: 'mmap', logger: { info() {}, warn() {}, error() {} } });
    for (let i = 0; i < 40; i++) log.append(makeValueBatch(16, 1000, 0x61 + (i % 20)));
    log.highWatermark = log.logEndOffset;
    const lease = new ViewLease();
    let bytes = 0;
    for (let off = log.logStartOffset; off < log.logEndOffset; ) {
      const r = log.read(off, 100_000, log.logEndOffset, lease);
      if (r.records.length === 0) break;
      bytes += r.records.length;
      for (let at = 0; at < r.records.length; at += r.records.readInt32BE(at + 8) + 12)
        off = r.records.readBigInt64BE(at) + BigInt(r.records.readInt32BE(at + 23)) + 1n;
    }
    expect(bytes).toBeGreaterThan(500_000);
    const inDir = (l: string) => l.includes(dir);
    expect(residentWhere(inDir)).toBeGreaterThan(400_000);
    lease.release();
    expect(residentWhere(inDir)).toBe(0);
    log.close();
  });

  it('dropped windows are unmapped once collected; a retired file with a leased dropped window keeps only that one', async () => {
    const dir = testRoot('mmap-release');
    const f = fileOf(dir, 'seg.log', 8 * MiB);
    // Under a lease: a view of the first window, which the reads below then drop.
    const lease = new ViewLease();
    let held: Buffer | null = f.read(100, 1000, lease);
    for (let at = 2 * MiB; at < 8 * MiB; at += 200_000) f.read(at, 1000);
    expect(f.windowStats.count).toBe(MAX_WINDOWS);
    expect(f.windowStats.dropped).toBeGreaterThan(0);
    // The dropped windows nobody holds go at the next collections; the leased one and the live ones stay.
    expect(await mappingsDownTo(f.path, MAX_WINDOWS + 1)).toBeLessThanOrEqual(MAX_WINDOWS + 1);
    fs.unlinkSync(f.path);
    f.retire();
    expect(retired.pending).toBeGreaterThan(0);
    // Retired: everything but the leased window goes; it goes once the lease is released.
    expect(await mappingsDownTo(f.path, 1)).toBe(1);
    expect(held.equals(pattern(100, 1000))).toBe(true);
    held = null;
    lease.release();
    expect(await mappingsDownTo(f.path, 0)).toBe(0);
  });
});
