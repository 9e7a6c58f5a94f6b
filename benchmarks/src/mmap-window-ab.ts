// Two Sluice builds side by side on the same data: the raw-protocol fetch of 1,000 and 6 partitions (as the
// ceiling phase's rows: 1 KiB records, 32 MiB and 128 MiB) and a raw produce to 6 partitions, alternating
// (A, B, B, A, …) on the same data directory, medians. Each broker runs under node --trace-gc: the
// mark-compacts during each fetch are counted from its log, and its peak file-backed RSS sampled.
//   npm run build && npx tsx --conditions=sluice-source benchmarks/src/mmap-window-ab.ts <cli A> <cli B> [rounds]
// (a cli is a build's apps/broker/dist/cli.js, a bundle with the packages in it: a copy of apps/broker/dist
// made before a change is the "before" build).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka } from '@sluice/client';
import { rawProtocol } from './generators.js';
import { freePorts } from './ports.js';
import { cpuSeconds, RssSampler, waitForBroker } from './proc.js';

const [cliA, cliB] = [process.argv[2], process.argv[3]];
if (!cliA || !cliB) throw new Error('usage: mmap-window-ab.ts <cli A> <cli B> [rounds]');
const rounds = Number(process.argv[4] ?? 3);
const KiB = 1024;
const work = mkdtempSync(join(tmpdir(), 'sluice-mmap-ab-'));
const data = join(work, 'data');
const CASES = [
  { topic: 'f1000', partitions: 1000, bytes: 32 << 20 },
  { topic: 'f6', partitions: 6, bytes: 128 << 20 },
];

interface Running {
  child: ChildProcess;
  port: number;
  logPath: string;
}

async function start(cli: string, tag: string): Promise<Running> {
  const [port] = await freePorts(1);
  const logPath = join(work, `${tag}-${port}.log`);
  const log = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    ['--trace-gc', cli, 'broker', '--host', '127.0.0.1', '--port', String(port), '--data-dir', data],
    { stdio: ['ignore', log, log], env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  await waitForBroker(port, 120_000);
  return { child, port, logPath };
}

async function stop(r: Running): Promise<void> {
  const gone = new Promise<void>((res) => r.child.once('exit', () => res()));
  r.child.kill('SIGTERM');
  await gone;
}

const markCompacts = (logPath: string) => (readFileSync(logPath, 'utf8').match(/Mark-Compact/g) ?? []).length;

async function createTopic(port: number, name: string, partitions: number): Promise<void> {
  const admin = new Kafka({ brokers: [`127.0.0.1:${port}`] }).admin();
  await admin.createTopics([{ name, numPartitions: partitions, replicationFactor: 1 }]);
  await admin.close();
}

// The data both builds read: written once, by build A.
{
  mkdirSync(data, { recursive: true });
  const b = await start(cliA, 'fill');
  for (const c of CASES) {
    await createTopic(b.port, c.topic, c.partitions);
    await rawProtocol({
      mode: 'produce',
      port: b.port,
      topic: c.topic,
      partitions: c.partitions,
      size: KiB,
      bytes: c.bytes,
    });
  }
  await stop(b);
}

type Row = { rate: number; cpuPerGiB: number; mc?: number; rssFile?: number };
const results = new Map<string, Row[]>();
const push = (k: string, r: Row) => results.set(k, [...(results.get(k) ?? []), r]);

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
  for (const which of order) {
    const b = await start(which === 'A' ? cliA : cliB, `${which}${round}`);
    try {
      for (const c of CASES) {
        const rss = new RssSampler(b.child.pid as number, 100);
        const mc0 = markCompacts(b.logPath);
        const cpu0 = cpuSeconds(b.child.pid as number) ?? 0;
        const m = await rawProtocol({
          mode: 'fetch',
          port: b.port,
          topic: c.topic,
          partitions: c.partitions,
          size: KiB,
          bytes: c.bytes,
        });
        const cpu = (cpuSeconds(b.child.pid as number) ?? cpu0) - cpu0;
        rss.stop();
        const row = {
          rate: m.recordsPerSec,
          cpuPerGiB: cpu / ((m.records * KiB) / 2 ** 30),
          mc: markCompacts(b.logPath) - mc0,
          rssFile: rss.peakSplit.file,
        };
        push(`${which} fetch ${c.partitions} p`, row);
        process.stderr.write(
          `round ${round + 1} ${which} fetch ${c.partitions} p: ${Math.round(row.rate).toLocaleString('en-US')} rec/s, ${row.cpuPerGiB.toFixed(2)} CPU s/GiB, ${row.mc} mark-compacts, RssFile ${row.rssFile.toFixed(0)} MiB\n`,
        );
      }
      const topic = `p6-${which}-${round}`;
      await createTopic(b.port, topic, 6);
      const cpu0 = cpuSeconds(b.child.pid as number) ?? 0;
      const m = await rawProtocol({ mode: 'produce', port: b.port, topic, partitions: 6, size: KiB, bytes: 128 << 20 });
      const cpu = (cpuSeconds(b.child.pid as number) ?? cpu0) - cpu0;
      const row = { rate: m.recordsPerSec, cpuPerGiB: cpu / ((m.records * KiB) / 2 ** 30) };
      push(`${which} produce 6 p`, row);
      process.stderr.write(
        `round ${round + 1} ${which} produce 6 p: ${Math.round(row.rate).toLocaleString('en-US')} rec/s, ${row.cpuPerGiB.toFixed(2)} CPU s/GiB\n`,
      );
    } finally {
      await stop(b);
    }
  }
}
rmSync(work, { recursive: true, force: true });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [k, rows] of [...results].sort()) {
  const f = (pick: (r: Row) => number | undefined, d = 2) => {
    const xs = rows.map(pick).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs).toFixed(d) : '-';
  };
  console.log(
    `${k}: ${f((r) => r.rate, 0)} rec/s, ${f((r) => r.cpuPerGiB)} CPU s/GiB, ${f((r) => r.mc, 0)} mark-compacts, RssFile ${f((r) => r.rssFile, 0)} MiB (median of ${rows.length})`,
  );
}
process.exit(0);
