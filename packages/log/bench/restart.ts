// Restart of a data directory with many partitions after a SIGKILL, against a clean restart of the
// same directory: the time LogManager.open takes and the peak resident memory of the process.
// `npm run bench:restart -w @sluice/log -- <partitions> [rounds]` (default 1000 partitions, 3 rounds).
// Environment: LOG_BENCH_DIR (default os.tmpdir()). Each partition holds one small batch and the
// default segment.index.bytes (10 MiB), as a broker's would. Needs about one open file per
// partition (ulimit -n): a segment holds only its log's descriptor.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LogManager } from '../src/log-manager.js';
import { makeValueBatch } from '../src/test-batch.js';

const quiet = { info() {}, warn() {}, error() {} };
const self = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

interface Measure {
  ms: number;
  /** Peak RSS of the whole process, MiB. */
  peakMiB: number;
  /** RSS just before opening, MiB (the runtime itself). */
  baseMiB: number;
}

async function child(role: string, dir: string, partitions: number): Promise<void> {
  if (role === 'prepare') {
    const m = LogManager.open(dir, { logger: quiet });
    for (let p = 0; p < partitions; p++) m.getOrCreate('restart', p).append(makeValueBatch(10, 100));
    m.checkpoint();
    process.kill(process.pid, 'SIGKILL');
  }
  const baseMiB = process.memoryUsage().rss / MiB;
  const start = process.hrtime.bigint();
  const m = LogManager.open(dir, { logger: quiet });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const peakMiB = process.resourceUsage().maxRSS / 1024;
  const opened = [...m.all()].length;
  if (opened !== partitions) throw new Error(`opened ${opened} of ${partitions} partitions`);
  process.stdout.write(`${JSON.stringify({ ms, peakMiB, baseMiB } satisfies Measure)}\n`);
  // 'killed' leaves the directory as a crash does, so the next round recovers again.
  if (role === 'killed') process.kill(process.pid, 'SIGKILL');
  m.close();
}

function run(role: string, dir: string, partitions: number): Promise<Measure | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, self, role, dir, String(partitions)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.on('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL') return reject(new Error(`${role} child failed (${code ?? signal})`));
      resolve(out.trim() === '' ? null : (JSON.parse(out.trim()) as Measure));
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const [role, dir, n] = process.argv.slice(2);
  if (role === 'prepare' || role === 'killed' || role === 'clean') return child(role, dir, Number(n));
  const partitions = Number(process.argv[2] ?? 1000);
  const rounds = Number(process.argv[3] ?? 3);
  if (!Number.isInteger(partitions) || partitions < 1 || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error('usage: restart.ts [partitions] [rounds]');
  }
  const root = fs.mkdtempSync(path.join(process.env.LOG_BENCH_DIR ?? os.tmpdir(), 'sluice-restart-bench-'));
  try {
    await run('prepare', root, partitions);
    const killed: Measure[] = [];
    const clean: Measure[] = [];
    // Side by side: a restart after SIGKILL, then a clean restart of the same directory.
    for (let r = 0; r < rounds; r++) {
      killed.push((await run('killed', root, partitions))!);
      await run('clean', root, partitions);
      clean.push((await run('clean', root, partitions))!);
      // Leave it as after a crash for the next round.
      await run('killed', root, partitions);
    }
    const row = (name: string, ms: Measure[]) =>
      `${name.padEnd(22)} ${median(ms.map((m) => m.ms))
        .toFixed(0)
        .padStart(8)} ms ${median(ms.map((m) => m.peakMiB))
        .toFixed(0)
        .padStart(8)} MiB peak RSS ${median(ms.map((m) => m.peakMiB - m.baseMiB))
        .toFixed(1)
        .padStart(8)} MiB above start-up`;
    console.log(`restart of ${partitions} partitions (median of ${rounds}, ${process.version}, ${root})`);
    console.log(row('after SIGKILL', killed));
    console.log(row('after a clean stop', clean));
    console.log(
      `after SIGKILL / clean: ${(median(killed.map((m) => m.ms)) / median(clean.map((m) => m.ms))).toFixed(2)}x time`,
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
