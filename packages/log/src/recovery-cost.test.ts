import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { fdIo } from './io/fd.js';
import { MmapFile } from './io/mmap.js';
import { OffsetIndex } from './offset-index.js';
import { PartitionLog } from './partition-log.js';
import { makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';
import { TimeIndex } from './time-index.js';

afterAll(() => {
  removeTestRoots();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const quiet = { info() {}, warn() {}, error() {} };

/** Counts what the file system calls below `run` do. */
function fileCalls<T>(run: () => T): {
  result: T;
  readBytes: number;
  writeBytes: number;
  truncates: number;
  syncs: number;
  opens: number;
  existsChecks: number;
} {
  let readBytes = 0;
  let writeBytes = 0;
  let truncates = 0;
  let syncs = 0;
  let opens = 0;
  let existsChecks = 0;
  const open = fs.openSync;
  vi.spyOn(fs, 'openSync').mockImplementation((...args: Parameters<typeof fs.openSync>) => {
    opens++;
    return (open as (...a: unknown[]) => number)(...args);
  });
  const exists = fs.existsSync;
  vi.spyOn(fs, 'existsSync').mockImplementation((p) => {
    existsChecks++;
    return exists(p);
  });
  const read = fs.readSync;
  const write = fs.writeSync;
  vi.spyOn(fs, 'readSync').mockImplementation((...args: Parameters<typeof fs.readSync>) => {
    const n = (read as (...a: unknown[]) => number)(...args);
    readBytes += n;
    return n;
  });
  vi.spyOn(fs, 'writeSync').mockImplementation((...args: Parameters<typeof fs.writeSync>) => {
    const n = (write as (...a: unknown[]) => number)(...args);
    writeBytes += n;
    return n;
  });
  const truncate = fs.ftruncateSync;
  vi.spyOn(fs, 'ftruncateSync').mockImplementation((fd, len) => {
    truncates++;
    truncate(fd, len);
  });
  for (const name of ['fsyncSync', 'fdatasyncSync'] as const) {
    const sync = fs[name];
    vi.spyOn(fs, name).mockImplementation((fd) => {
      syncs++;
      sync(fd);
    });
  }
  try {
    const result = run();
    return { result, readBytes, writeBytes, truncates, syncs, opens, existsChecks };
  } finally {
    vi.restoreAllMocks();
  }
}

for (const io of ['fd', 'mmap'] as const) {
  describe(`the cost of a restart after a crash (${io})`, () => {
    it('touches a few KiB of the preallocated 10 MiB index files, keeps a few KiB of them in memory, maps no log', () => {
      const dir = path.join(testRoot('recovery-cost'), 'cost-0');
      // The default segment.index.bytes: both indexes of the active segment are 10 MiB files.
      const crashed = PartitionLog.open(dir, { io, logger: quiet });
      for (let i = 0; i < 20; i++) crashed.append(makeValueBatch(5, 1000));
      crashed.flush();
      const indexBytes = fs.statSync(path.join(dir, '00000000000000000000.index')).size;
      expect(indexBytes).toBe(10 << 20);
      const logBytes = fs.statSync(path.join(dir, '00000000000000000000.log')).size;
      // Opened again while the first is still open: the files are exactly as a SIGKILL leaves them.
      let views = 0;
      const calls = fileCalls(() => {
        // A view of the log (mmap) maps a window of the file: V8 external memory per partition.
        const view = MmapFile.prototype.read;
        vi.spyOn(MmapFile.prototype, 'read').mockImplementation(function (this: MmapFile, position, length) {
          views++;
          return view.call(this, position, length);
        });
        return PartitionLog.open(dir, { io, logger: quiet }, { hadCleanShutdown: false, recoveryPoint: 0n });
      });
      const log = calls.result;
      try {
        expect(log.logEndOffset).toBe(100n);
        // Before: both index files read whole (20 MiB), zeroed by truncation, grown again, fsynced.
        // The log itself is read once (its CRCs are checked); of the indexes, a few slots.
        expect(calls.readBytes).toBeLessThan(logBytes + 64 * 1024);
        expect(calls.writeBytes).toBeLessThan(64 * 1024);
        expect(calls.truncates).toBe(0);
        expect(calls.syncs).toBe(0);
        // Each file is opened a few times, not once per read: the log once; each index to size it, once
        // for all the reads that find its entries, once to zero them and once to write the rebuilt
        // ones. Thousands of partitions make every open count. (No existence check before an open:
        // O_CREAT does that.)
        expect(calls.opens).toBeLessThanOrEqual(9);
        expect(calls.existsChecks).toBeLessThanOrEqual(1);
        expect(views).toBe(0);
        let held = 0;
        for (const seg of log.segmentList()) held += seg.index.mem.length + seg.timeIndex.mem.length;
        expect(held).toBeLessThanOrEqual(4096);
        // What it rebuilt is what was there: offsets find their batches.
        for (let o = 0n; o < 100n; o += 7n) expect(log.read(o, 1).firstBatchOffset).toBe(o - (o % 5n));
        expect(log.segmentList()[0].index.entries).toBe(crashed.segmentList()[0].index.entries);
      } finally {
        log.close();
        crashed.close();
      }
    });

    it('finds the entries of a preallocated index that ends in zeros', () => {
      const dir = path.join(testRoot('recovery-cost'), 'zeros-0');
      const log = PartitionLog.open(dir, { io, indexIntervalBytes: 0, logger: quiet });
      try {
        for (let i = 0; i < 1200; i++) log.append(makeValueBatch(1, 10, 0x61, BigInt(i + 1)));
        log.flush();
        const seg = log.segmentList()[0];
        expect(fs.statSync(seg.index.path).size).toBe(10 << 20);
        // (A lone first entry (0, 0) reads as none, as it always did: position 0 is where a scan starts anyway.)
        // Past the first 4 KiB read at once (512 and 341 slots), a binary search finds the end.
        for (const entries of [1200, 1199, 700, 513, 512, 342, 300, 3, 2]) {
          fs.truncateSync(seg.index.path, entries * 8);
          fs.truncateSync(seg.index.path, 10 << 20);
          fs.truncateSync(seg.timeIndex.path, entries * 12);
          fs.truncateSync(seg.timeIndex.path, 10485756);
          const index = new OffsetIndex(fdIo, seg.index.path, 10 << 20);
          const time = new TimeIndex(fdIo, seg.timeIndex.path, 10 << 20);
          expect(index.entries).toBe(entries);
          expect(time.entries).toBe(entries);
          expect(index.relOffsetAt(entries - 1)).toBe(entries - 1);
          expect(time.timestampAt(entries - 1)).toBe(BigInt(entries));
          index.close();
          time.close();
        }
      } finally {
        log.close();
      }
    });
  });
}
