import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PartitionLog } from './partition-log.js';
import { makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
const quiet = { info() {}, warn() {}, error() {} };

// A read's records may sit in a socket's write queue long after the read (the broker sends them
// without a copy), so whatever happens to the log meanwhile must leave their bytes as they were.
for (const io of ['fd', 'mmap'] as const) {
  describe(`records read before a change to the log keep their bytes (${io})`, () => {
    const open = (dir: string) => PartitionLog.open(dir, { io, logger: quiet });

    it('truncation, then appends over the cut bytes', () => {
      const dir = path.join(testRoot('views-truncate'), 't-0');
      const log = open(dir);
      for (let i = 0; i < 10; i++) log.append(makeValueBatch(5, 4000, 0x61 + i));
      const view = log.read(0n, 1 << 20).records;
      const copy = Buffer.from(view);
      expect(log.truncateTo(23n)).toBe(true);
      expect(log.logEndOffset).toBe(20n);
      for (let i = 0; i < 10; i++) log.append(makeValueBatch(5, 4000, 0x30 + i));
      expect(view.equals(copy)).toBe(true);

      // The log itself holds the 4 kept batches, then the new ones, now and after a reopen.
      const batchBytes = copy.length / 10;
      const check = (l: PartitionLog) => {
        const all = l.read(0n, 1 << 20).records;
        expect(all.length).toBe(14 * batchBytes);
        expect(all.subarray(0, 4 * batchBytes).equals(copy.subarray(0, 4 * batchBytes))).toBe(true);
        const firstNew = all.subarray(4 * batchBytes, 5 * batchBytes);
        expect(firstNew.readBigInt64BE(0)).toBe(20n);
        expect(firstNew.includes(Buffer.alloc(100, 0x30))).toBe(true);
        expect(l.logEndOffset).toBe(70n);
      };
      check(log);
      log.close();
      const reopened = open(dir);
      check(reopened);
      reopened.close();
    });

    it('a truncation that cuts no bytes a read has shown changes nothing', () => {
      const log = open(path.join(testRoot('views-tail'), 't-0'));
      for (let i = 0; i < 4; i++) log.append(makeValueBatch(5, 100, 0x61 + i));
      const view = log.read(0n, 1 << 20, 10n).records;
      const copy = Buffer.from(view);
      const files = fs.readdirSync(log.dir).sort();
      log.truncateTo(10n);
      log.append(makeValueBatch(5, 100, 0x7a));
      expect(view.equals(copy)).toBe(true);
      expect(fs.readdirSync(log.dir).sort()).toEqual(files);
      log.close();
    });

    it('deleting the segments (DeleteRecords, retention, topic deletion)', () => {
      const dir = path.join(testRoot('views-delete'), 't-0');
      const log = PartitionLog.open(dir, { io, logger: quiet, segmentBytes: 20_000 });
      for (let i = 0; i < 10; i++) log.append(makeValueBatch(5, 4000, 0x61 + i));
      const view = log.read(0n, 1 << 20).records;
      const copy = Buffer.from(view);
      log.highWatermark = log.logEndOffset;
      log.deleteRecords(log.highWatermark);
      expect(log.segmentCount).toBe(1);
      expect(view.equals(copy)).toBe(true);
      log.delete();
      expect(fs.existsSync(dir)).toBe(false);
      expect(view.equals(copy)).toBe(true);
    });
  });
}
