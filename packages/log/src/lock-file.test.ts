import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from './lock-file.js';
import { LogManager } from './log-manager.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Bundled once so the child starts fast; under the package so that fs-ext resolves from node_modules.
const bundleDir = path.join(here, '..', 'node_modules', '.cache', `lock-${process.pid}`);
const child = path.join(bundleDir, 'child.mjs');
const quiet = { info() {}, warn() {}, error() {} };
const children: ChildProcess[] = [];

beforeAll(() => {
  fs.mkdirSync(bundleDir, { recursive: true });
  buildSync({
    entryPoints: [path.join(here, 'test-lock-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: child,
    external: ['fs-ext'],
    logLevel: 'error',
  });
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(bundleDir, { recursive: true, force: true });
  removeTestRoots();
});

/** Starts a process that takes the lock of `dir`; resolves once it holds it. */
function holder(dir: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, [child, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(p);
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`lock holder did not start: ${err}`)), 20_000);
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) {
        clearTimeout(timer);
        resolve(p);
      }
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lock holder exited (${code}): ${err}`));
    });
  });
}

function exited(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) resolve();
    else p.on('exit', () => resolve());
  });
}

describe('the data directory lock', () => {
  it('is not blocked by a lock file naming a live process that holds no lock (a reused pid)', () => {
    // In a container the broker is pid 1: after a SIGKILL the new broker is pid 1 again, and so
    // alive. The parent of this test stands for any live, unrelated process.
    for (const pid of [1, process.ppid, process.pid]) {
      const root = testRoot('lock-pid');
      fs.writeFileSync(path.join(root, LOCK_FILE), `${pid}\n`);
      const m = LogManager.open(root, { logger: quiet });
      expect(fs.readFileSync(path.join(root, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
      m.close();
    }
  });

  it('blocks while another live process holds it, naming that process, and not once it was SIGKILLed', async () => {
    const root = testRoot('lock-held');
    const p = await holder(root);
    expect(() => lockDataDir(root)).toThrow(
      new RegExp(`data directory .* is already in use by process ${p.pid} \\(it holds the lock on .*\\.lock\\)`),
    );
    expect(() => LogManager.open(root, { logger: quiet })).toThrow(/already in use by process/);
    p.kill('SIGKILL');
    await exited(p);
    const release = lockDataDir(root);
    // Held by this process now: a second taker here is refused as well.
    expect(() => lockDataDir(root)).toThrow(/already in use by process/);
    release();
    release();
    lockDataDir(root)();
  });

  it('is free again once its holder released it and exited', async () => {
    const root = testRoot('lock-exit');
    const p = await holder(root);
    p.stdin!.end();
    await exited(p);
    expect(p.exitCode).toBe(0);
    const m = LogManager.open(root, { logger: quiet });
    m.close();
  });
});
