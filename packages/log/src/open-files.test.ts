import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogManager } from './log-manager.js';
import { PartitionLog } from './partition-log.js';
import { makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
const quiet = { info() {}, warn() {}, error() {} };

/** Files under `dir` this process holds open, from /proc/self/fd (Linux). */
function openFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // closed meanwhile (the readdir's own descriptor)
    }
  }
  return out.sort();
}

describe.runIf(process.platform === 'linux')('open files', () => {
  for (const io of ['mmap', 'fd'] as const) {
    it(`a segment holds one descriptor, its log's (${io}), through appends, rolls, flushes and a reopen`, () => {
      const dir = path.join(testRoot('open-files'), 't-0');
      let log = PartitionLog.open(dir, { io, logger: quiet, segmentBytes: 20_000, indexIntervalBytes: 100 });
      for (let i = 0; i < 20; i++) log.append(makeValueBatch(5, 1000, 0x61 + i));
      log.flush();
      log.read(0n, 1 << 20);
      expect(log.segmentCount).toBeGreaterThan(3);
      const logs = (l: PartitionLog) =>
        l.segmentBaseOffsets().map((b) => path.join(dir, `${b.toString().padStart(20, '0')}.log`));
      expect(openFilesUnder(dir)).toEqual(logs(log).sort());
      log.close();
      expect(openFilesUnder(dir)).toEqual([]);
      log = PartitionLog.open(dir, { io, logger: quiet, segmentBytes: 20_000 });
      expect(openFilesUnder(dir)).toEqual(logs(log).sort());
      log.close();
    });
  }

  it('a log that cannot be opened part-way leaves no open file behind', () => {
    const root = testRoot('open-files-fail');
    const m = LogManager.open(root, { logger: quiet });
    const dir = path.join(root, 'bad-0');
    // The leader epoch checkpoint cannot be read (a directory has its name): the first segment's
    // files were created and opened before.
    fs.mkdirSync(path.join(dir, 'leader-epoch-checkpoint'), { recursive: true });
    expect(() => m.getOrCreate('bad', 0)).toThrow(/EISDIR/);
    expect(fs.existsSync(path.join(dir, '00000000000000000000.log'))).toBe(true);
    expect(openFilesUnder(dir)).toEqual([]);
    m.close();
  });
});
