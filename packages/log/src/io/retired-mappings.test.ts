import fs from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { cleanLog } from '../cleaner.js';
import { PartitionLog } from '../partition-log.js';
import { applyRetention } from '../retention.js';
import { makeBatch, makeValueBatch } from '../test-batch.js';
import { removeTestRoots, testRoot } from '../test-dirs.js';
import { RETIRED_HOLD_MS, retired, ViewLease } from './retired-mappings.js';

afterAll(removeTestRoots);
const quiet = { info() {}, warn() {}, error() {} };

/** Lines of /proc/self/maps that map a file under `dir`. */
function mappingsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));
}

/** Waits (bounded) until nothing under `dir` is mapped; returns what is still mapped. */
async function mappingsGone(dir: string, withinMs = 3000): Promise<string[]> {
  const until = Date.now() + withinMs;
  let left = mappingsUnder(dir);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    left = mappingsUnder(dir);
  }
  return left;
}

/**
 * Promotes what is alive now to V8's old generation, as the mappings of a broker that has run a
 * while are: a young mapping could go in any scavenge, an old one waits for a full GC.
 */
function ageLiveObjects(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function filledLog(name: string, segmentBytes = 20_000): PartitionLog {
  const dir = path.join(testRoot(name), 't-0');
  const log = PartitionLog.open(dir, { io: 'mmap', logger: quiet, segmentBytes });
  for (let i = 0; i < 10; i++) log.append(makeValueBatch(5, 4000, 0x61 + i));
  log.highWatermark = log.logEndOffset;
  return log;
}

/** Reads the whole log once under `lease` (or none), as a Fetch does, and returns a copy of the bytes. */
function readAll(log: PartitionLog, lease?: ViewLease): { views: Buffer[]; copy: Buffer } {
  const views: Buffer[] = [];
  for (let off = log.logStartOffset; off < log.logEndOffset; ) {
    const r = log.read(off, 1 << 20, log.logEndOffset, lease);
    if (r.records.length === 0) break;
    views.push(r.records);
    let at = 0;
    while (at < r.records.length) {
      off = r.records.readBigInt64BE(at) + BigInt(r.records.readInt32BE(at + 23)) + 1n;
      at += r.records.readInt32BE(at + 8) + 12;
    }
  }
  return { views, copy: Buffer.concat(views) };
}

// /proc/self/maps tells what is mapped: Linux only.
describe.runIf(process.platform === 'linux')('mappings of deleted segments are freed promptly', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('topic deletion with no read in flight: the mappings go at once', async () => {
    const log = filledLog('unmap-delete');
    readAll(log);
    ageLiveObjects();
    expect(mappingsUnder(log.dir).length).toBeGreaterThan(0);
    log.delete();
    expect(await mappingsGone(log.dir)).toEqual([]);
  });

  it('topic deletion with a response in flight: kept while leased, whole bytes, freed on release', async () => {
    const log = filledLog('unmap-lease');
    const lease = new ViewLease();
    let read: { views: Buffer[]; copy: Buffer } | null = readAll(log, lease);
    expect(lease.size).toBeGreaterThan(0);
    log.delete();
    expect(fs.existsSync(log.dir)).toBe(false);
    // Well past the GC interval: the leased mapping must still be there, with its bytes.
    await sleep(400);
    expect(mappingsUnder(log.dir).length).toBeGreaterThan(0);
    expect(Buffer.concat(read.views).equals(read.copy)).toBe(true);
    expect(read.copy.length).toBe(10 * read.copy.readInt32BE(8) + 120);
    read = null;
    lease.release();
    expect(await mappingsGone(log.dir)).toEqual([]);
  });

  it('retention and DeleteRecords: the deleted segments are unmapped, the rest stays', async () => {
    const log = filledLog('unmap-retention');
    const firstSegment = path.join(log.dir, '00000000000000000000.log');
    readAll(log);
    ageLiveObjects();
    expect(mappingsUnder(firstSegment).length).toBe(1);
    log.deleteRecords(10n);
    expect(await mappingsGone(firstSegment)).toEqual([]);
    // A retention round deleting all but the active segment.
    const c = log.config;
    readAll(log);
    ageLiveObjects();
    const before = log.segmentCount;
    expect(applyRetention(log, c.now() + 30 * 24 * 3600_000)).toBeGreaterThan(0);
    expect(log.segmentCount).toBeLessThan(before);
    const left = await mappingsGone(log.dir);
    // Only the active segment (never deleted) may remain mapped.
    for (const l of left) expect(l).toContain(`${log.segmentBaseOffsets().at(-1)!.toString().padStart(20, '0')}.log`);
    log.close();
  });

  it('a compaction swap unmaps the replaced segment file', async () => {
    const dir = path.join(testRoot('unmap-compact'), 't-0');
    const log = PartitionLog.open(dir, {
      io: 'mmap',
      logger: quiet,
      segmentBytes: 2000,
      cleanupPolicy: 'compact',
      minCleanableDirtyRatio: 0,
    });
    for (let i = 0; i < 40; i++) {
      log.append(makeBatch([{ key: Buffer.from(`k${i % 3}`), value: Buffer.alloc(200, 0x61 + (i % 26)) }]));
    }
    log.highWatermark = log.logEndOffset;
    readAll(log);
    ageLiveObjects();
    const inodesBefore = new Set(mappingsUnder(dir).map((l) => l.split(/\s+/)[4]));
    expect(inodesBefore.size).toBeGreaterThan(1);
    const r = await cleanLog(log);
    expect(r?.segmentsCleaned).toBeGreaterThan(0);
    // No mapping of any replaced inode is left; none of the new files was mapped by the cleaner.
    const until = Date.now() + 3000;
    let stale = mappingsUnder(dir).filter((l) => l.includes('(deleted)'));
    while (stale.length > 0 && Date.now() < until) {
      await sleep(20);
      stale = mappingsUnder(dir).filter((l) => l.includes('(deleted)'));
    }
    expect(stale).toEqual([]);
    log.close();
  });

  it('a lease never released is revoked at the bound and the mapping freed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const log = filledLog('unmap-bound');
    const lease = new ViewLease();
    let revoked = 0;
    let read: { views: Buffer[] } | null = readAll(log, lease);
    lease.onRevoke = () => {
      revoked++;
      // The owner drops its views when revoked (the broker closes the connection).
      read = null;
    };
    log.delete();
    vi.advanceTimersByTime(RETIRED_HOLD_MS - 1000);
    expect(revoked).toBe(0);
    expect(read !== null).toBe(true);
    vi.advanceTimersByTime(2000);
    expect(revoked).toBe(1);
    expect(read === null).toBe(true);
    vi.useRealTimers();
    expect(await mappingsGone(log.dir)).toEqual([]);
    expect(retired.pending).toBe(0);
  });
});
