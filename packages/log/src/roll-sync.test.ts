import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { PartitionLog } from './partition-log.js';
import { makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
afterEach(() => {
  vi.restoreAllMocks();
});
const quiet = { info() {}, warn() {}, error() {} };

/** Paths of the files each synchronous fsync/fdatasync was asked for (read from /proc while the fd is open). */
function spySyncs(): string[] {
  const synced: string[] = [];
  const note = (fd: number) => synced.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
  const dsync = fs.fdatasyncSync;
  const fsync = fs.fsyncSync;
  vi.spyOn(fs, 'fdatasyncSync').mockImplementation((fd) => {
    note(fd);
    dsync(fd);
  });
  vi.spyOn(fs, 'fsyncSync').mockImplementation((fd) => {
    note(fd);
    fsync(fd);
  });
  return synced;
}

for (const io of ['fd', 'mmap'] as const) {
  describe(`segment roll (${io})`, () => {
    const open = (dir: string, extra = {}) => PartitionLog.open(dir, { io, logger: quiet, ...extra });

    it('syncs the rolled segment off the event loop, then moves the recovery point to its end', async () => {
      const log = open(path.join(testRoot('roll-sync'), 't-0'), { segmentBytes: 400 });
      log.append(makeValueBatch(3, 100));
      const synced = spySyncs();
      // Past segment.bytes: this append rolls.
      log.append(makeValueBatch(3, 100));
      expect(log.segmentList()).toHaveLength(2);
      // No synchronous fsync on the append (the event loop) …
      expect(synced).toEqual([]);
      // … and the recovery point waits for the background sync.
      expect(log.recoveryPoint).toBe(0n);
      await log.rolledSegmentsSynced();
      expect(log.recoveryPoint).toBe(3n);
      expect(synced).toEqual([]);
      log.close();
    });

    it('with flush.messages reached, an append that rolls returns only after the rolled segment is synced', () => {
      const log = open(path.join(testRoot('roll-sync'), 't-1'), { segmentBytes: 400, flushMessages: 4 });
      log.append(makeValueBatch(3, 100));
      const first = log.segmentList()[0].fileName;
      const synced = spySyncs();
      // Rolls, and takes the unflushed count to 6 ≥ 4: the flush (which guards the ack) covers both segments.
      log.append(makeValueBatch(3, 100));
      expect(log.segmentList()).toHaveLength(2);
      expect(synced).toContain(fs.realpathSync(first));
      expect(synced).toContain(fs.realpathSync(log.segmentList()[1].fileName));
      expect(log.recoveryPoint).toBe(log.logEndOffset);
      log.close();
    });

    it('a truncation before the background sync ends keeps the recovery point at or below the log end', async () => {
      const log = open(path.join(testRoot('roll-sync'), 't-2'), { segmentBytes: 400 });
      log.append(makeValueBatch(3, 100));
      log.append(makeValueBatch(3, 100));
      expect(log.segmentList()).toHaveLength(2);
      // Inside the first segment's only batch: the log is cut back to 0.
      log.truncateTo(1n);
      await log.rolledSegmentsSynced();
      expect(log.logEndOffset).toBe(0n);
      expect(log.recoveryPoint).toBe(0n);
      log.close();
    });
  });
}
