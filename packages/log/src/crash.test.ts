import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogManager } from './log-manager.js';
import { expectedBatch } from './test-crash-batches.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const KILLS_PER_IO = Number(process.env.LOG_CRASH_KILLS ?? 25);
const quiet = { info() {}, warn() {}, error() {} };
// Bundled once so each child starts in tens of milliseconds; placed under the package so that
// native addons resolve from the workspace's node_modules.
const bundleDir = path.join(here, '..', 'node_modules', '.cache', `crash-${process.pid}`);
const child = path.join(bundleDir, 'child.mjs');

beforeAll(() => {
  fs.mkdirSync(bundleDir, { recursive: true });
  buildSync({
    entryPoints: [path.join(here, 'test-crash-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: child,
    conditions: ['sluice-source'],
    external: ['@riaskov/mmap-io', '@node-rs/crc32'],
    logLevel: 'error',
  });
});
afterAll(() => {
  fs.rmSync(bundleDir, { recursive: true, force: true });
  removeTestRoots();
});

function startChild(dataDir: string, io: string): ChildProcess {
  return spawn(process.execPath, [child, dataDir, io], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Lets a started child run, kills it `delayMs` after it opened the log, returns the highest flushed offset it reported. */
function runAndKill(p: ChildProcess, flushMessages: number, delayMs: number): Promise<bigint> {
  p.stdin!.write(`${flushMessages}\n`);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (timer === undefined && out.includes('R ')) timer = setTimeout(() => p.kill('SIGKILL'), delayMs);
    });
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child exited on its own: ${err}`));
      let flushed = -1n;
      for (const m of out.matchAll(/^F (\d+)$/gm)) flushed = BigInt(m[1]);
      resolve(flushed);
    });
  });
}

for (const io of ['fd', 'mmap'] as const) {
  describe(`crash recovery (${io})`, () => {
    it(`keeps a valid prefix holding every flushed offset across ${KILLS_PER_IO} SIGKILLs`, async () => {
      const root = testRoot('crash');
      let lastEnd = 0n;
      let next = startChild(root, io);
      for (let kill = 0; kill < KILLS_PER_IO; kill++) {
        const flushed = await runAndKill(next, 1 + (kill % 7) * 5, Math.floor(Math.random() * 40));
        // The next child loads while this round verifies; it touches nothing before its go.
        next = startChild(root, io);
        const manager = LogManager.open(root, {
          io,
          segmentBytes: 48 * 1024,
          segmentIndexBytes: 1024,
          indexIntervalBytes: 1024,
          logger: quiet,
        });
        const log = manager.get('crash', 0)!;
        expect(log).toBeDefined();
        expect(log.logEndOffset).toBeGreaterThanOrEqual(flushed);
        expect(log.logEndOffset).toBeGreaterThanOrEqual(lastEnd > flushed ? flushed : 0n);
        // Every batch is exactly what the child wrote at that offset, with no gap from 0.
        let off = 0n;
        for (let guard = 0; off < log.logEndOffset && guard < 1_000_000; guard++) {
          const r = log.read(off, 256 * 1024);
          expect(r.records.length).toBeGreaterThan(0);
          let at = 0;
          while (at < r.records.length) {
            const size = r.records.readInt32BE(at + 8) + 12;
            expect(r.records.subarray(at, at + size).equals(expectedBatch(off))).toBe(true);
            off += BigInt(r.records.readInt32BE(at + 23)) + 1n;
            at += size;
          }
        }
        expect(off).toBe(log.logEndOffset);
        lastEnd = log.logEndOffset;
        manager.close();
      }
      next.kill('SIGKILL');
      expect(lastEnd).toBeGreaterThan(0n);
    });
  });
}
