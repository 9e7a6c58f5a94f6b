import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { readOffsetCheckpoint } from './checkpoint.js';
import { LogManager, RECOVERY_POINT_CHECKPOINT } from './log-manager.js';
import { makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

afterAll(removeTestRoots);
afterEach(() => {
  vi.restoreAllMocks();
});
const quiet = { info() {}, warn() {}, error() {} };

describe('maintenance checkpoints', () => {
  it('are written without a synchronous fsync on the event loop', async () => {
    const root = testRoot('ckpt-bg');
    const m = LogManager.open(root, { io: 'fd', logger: quiet });
    const log = m.getOrCreate('orders', 0);
    log.append(makeValueBatch(3, 10));
    log.flush();
    const fsync = vi.spyOn(fs, 'fsyncSync');
    const fdatasync = vi.spyOn(fs, 'fdatasyncSync');
    const done = m.runMaintenance();
    expect(fsync).not.toHaveBeenCalled();
    expect(fdatasync).not.toHaveBeenCalled();
    await done;
    expect(fsync).not.toHaveBeenCalled();
    expect(readOffsetCheckpoint(path.join(root, RECOVERY_POINT_CHECKPOINT)).get('orders-0')).toBe(3n);
    m.close();
  });

  it('a background write that started before a synchronous one does not replace it', async () => {
    const root = testRoot('ckpt-bg-race');
    const m = LogManager.open(root, { io: 'fd', logger: quiet });
    const log = m.getOrCreate('orders', 0);
    log.append(makeValueBatch(3, 10));
    log.flush();
    const background = m.runMaintenance();
    // Newer state, checkpointed synchronously (as close() or a topic deletion does) while the background write runs.
    log.append(makeValueBatch(2, 10));
    log.flush();
    m.checkpoint();
    await background;
    const file = path.join(root, RECOVERY_POINT_CHECKPOINT);
    expect(readOffsetCheckpoint(file).get('orders-0')).toBe(5n);
    expect(fs.readdirSync(root).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // And the next round still sees what is on disk: nothing to rewrite.
    const ino = fs.statSync(file).ino;
    await m.runMaintenance();
    expect(fs.statSync(file).ino).toBe(ino);
    m.close();
  });
});
