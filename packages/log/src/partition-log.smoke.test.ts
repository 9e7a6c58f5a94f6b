import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PartitionLog } from './partition-log.js';
import { makeValueBatch } from './test-batch.js';

for (const io of ['fd', 'mmap'] as const) {
  describe(`PartitionLog basics (${io})`, () => {
    it('appends, reads, rolls and reopens', () => {
      const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-log-')), 'topic-0');
      const cfg = { io, segmentBytes: 4096, logger: { info() {}, warn() {}, error() {} } };
      const log = PartitionLog.open(dir, cfg);
      const written: Buffer[] = [];
      for (let i = 0; i < 50; i++) {
        const b = makeValueBatch(3, 100, 0x41 + (i % 20), BigInt(1000 + i));
        const r = log.append(b);
        expect(r.firstOffset).toBe(BigInt(i * 3));
        expect(r.lastOffset).toBe(BigInt(i * 3 + 2));
        written.push(Buffer.from(b));
      }
      expect(log.segmentCount).toBeGreaterThan(1);
      const all = Buffer.concat(written);
      const readAll = () => {
        const parts: Buffer[] = [];
        let off = 0n;
        while (off < log.logEndOffset) {
          const r = log.read(off, 1000);
          expect(r.records.length).toBeGreaterThan(0);
          parts.push(Buffer.from(r.records));
          off = r.firstBatchOffset + BigInt(r.records.length / written[0].length) * 3n;
        }
        return Buffer.concat(parts);
      };
      expect(readAll().equals(all)).toBe(true);
      expect(log.read(4n, 1).firstBatchOffset).toBe(3n);
      expect(log.offsetForTimestamp(1010n)?.offset).toBe(30n);
      log.close();
      const again = PartitionLog.open(dir, cfg, { hadCleanShutdown: true });
      expect(again.logEndOffset).toBe(150n);
      const parts: Buffer[] = [];
      let off = 0n;
      while (off < again.logEndOffset) {
        const r = again.read(off, 1000);
        parts.push(Buffer.from(r.records));
        off = r.firstBatchOffset + BigInt(r.records.length / written[0].length) * 3n;
      }
      expect(Buffer.concat(parts).equals(all)).toBe(true);
      again.close();
    });
  });
}
