// The broker's fetch cost, two Sluice builds side by side on the same data: the raw-protocol fetch (as the
// ceiling phase's consume rows: 100 B and 1 KiB records, 1, 6 and 1,000 partitions) with loads long enough
// that the generator's start-up weighs little in the broker's CPU per GiB; rounds alternate (A, B, B, A, …)
// on one data directory written once by build A; medians. With --prof DIR each build's broker also runs
// under node --cpu-prof (one profile per round in DIR/A and DIR/B; read with profile-top.ts). With --gc each
// broker runs under node --trace-gc and every fetch row counts the mark-compacts it caused; --produce adds a
// raw produce of 128 MiB of 1 KiB records to a fresh 6-partition topic each round.
//   npm run build && npx tsx --conditions=sluice-source benchmarks/src/fetch-cost-ab.ts <cli A> <cli B> [rounds] [--prof DIR] [--cases 1k6,100b6,1k1,1k1000] [--a-config k=v] [--b-config k=v] [--gc] [--produce]
// (a cli is a build's apps/broker/dist/cli.js, a bundle with the packages in it. The "before" build is a copy
// made before a change: `mkdir -p apps/broker/.ab/before && cp -r apps/broker/dist apps/broker/package.json
// apps/broker/.ab/before/` — inside the repository so that it finds node_modules, with the package.json its
// version is read from; then apps/broker/.ab/before/dist/cli.js).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka } from '@sluice/client';
import { SluiceBroker } from './brokers.js';
import { rawProtocol } from './generators.js';
import { freePorts } from './ports.js';
import { cpuSeconds, RssSampler } from './proc.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    prof: { type: 'string' },
    cases: { type: 'string' },
    'a-config': { type: 'string', multiple: true },
    'b-config': { type: 'string', multiple: true },
    gc: { type: 'boolean', default: false },
    produce: { type: 'boolean', default: false },
  },
});
const [cliA, cliB] = positionals;
if (!cliA || !cliB) throw new Error('usage: fetch-cost-ab.ts <cli A> <cli B> [rounds] [--prof DIR] [--cases …]');
const rounds = Number(positionals[2] ?? 3);
const MiB = 1 << 20;
const ALL_CASES = {
  '1k6': { topic: 'f-1k-6', size: 1024, partitions: 6, bytes: 512 * MiB },
  '100b6': { topic: 'f-100-6', size: 100, partitions: 6, bytes: 128 * MiB },
  '1k1': { topic: 'f-1k-1', size: 1024, partitions: 1, bytes: 512 * MiB },
  '1k1000': { topic: 'f-1k-1000', size: 1024, partitions: 1000, bytes: 64 * MiB },
} as const;
type CaseName = keyof typeof ALL_CASES;
const names = (values.cases ?? '1k6,100b6,1k1,1k1000').split(',') as CaseName[];
for (const n of names) if (!(n in ALL_CASES)) throw new Error(`unknown case ${n}`);
const CASES = names.map((n) => ALL_CASES[n]);
// --b-config key=value: a broker config of build B's broker only (e.g. log.io=fd); --a-config, build A's.
const configOf = (kvs: string[] | undefined) =>
  Object.fromEntries((kvs ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const configA = configOf(values['a-config']);
const configB = configOf(values['b-config']);
const work = mkdtempSync(join(tmpdir(), 'sluice-fetch-ab-'));
const brokerDir = join(work, 'broker');

/** One build's broker on the shared data directory (`work/broker/data`), its log in `work`. */
async function start(cli: string, profDir?: string, config: Record<string, string> = {}): Promise<SluiceBroker> {
  const [port] = await freePorts(1);
  const b = new SluiceBroker(port, profDir, [], cli);
  b.startTimeoutMs = 120_000;
  if (values.gc) b.nodeArgs = ['--trace-gc'];
  await b.start(brokerDir, config);
  return b;
}

/** Mark-compacts the broker has logged so far (--trace-gc). */
const markCompacts = (b: SluiceBroker) =>
  (readFileSync(b.logFile as string, 'utf8').match(/Mark-Compact/g) ?? []).length;

{
  const b = await start(cliA);
  const admin = new Kafka({ brokers: [`127.0.0.1:${b.port}`] }).admin();
  for (const c of CASES) {
    await admin.createTopics([{ name: c.topic, numPartitions: c.partitions, replicationFactor: 1 }]);
    await rawProtocol({
      mode: 'produce',
      port: b.port,
      topic: c.topic,
      partitions: c.partitions,
      size: c.size,
      bytes: c.bytes,
    });
  }
  await admin.close();
  await b.stop();
}

type Row = { rate: number; cpuPerGiB: number; rssFile?: number; rssAnon?: number; markCompacts?: number };
const results = new Map<string, Row[]>();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
/** Medians of the rows' figures; a figure no row has is left out. */
function describe(rows: Row[]): string {
  const f = (pick: (r: Row) => number | undefined, d: number) => {
    const xs = rows.map(pick).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs).toFixed(d) : undefined;
  };
  const parts = [`${f((r) => r.rate, 0)} rec/s`, `${f((r) => r.cpuPerGiB, 2)} CPU s/GiB`];
  const rssFile = f((r) => r.rssFile, 0);
  if (rssFile !== undefined) parts.push(`RssFile ${rssFile} MiB`, `RssAnon ${f((r) => r.rssAnon, 0)} MiB`);
  const mc = f((r) => r.markCompacts, 0);
  if (mc !== undefined) parts.push(`${mc} mark-compacts`);
  return parts.join(', ');
}
const push = (k: string, r: Row) => results.set(k, [...(results.get(k) ?? []), r]);

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
  for (const which of order) {
    const profDir = values.prof === undefined ? undefined : join(values.prof, which);
    const b = await start(which === 'A' ? cliA : cliB, profDir, which === 'B' ? configB : configA);
    try {
      // A short warm-up read: the fetch path compiled before the measured loads, as in a running broker.
      const w = CASES[0];
      await rawProtocol({
        mode: 'fetch',
        port: b.port,
        topic: w.topic,
        partitions: w.partitions,
        size: w.size,
        bytes: w.bytes,
      });
      for (const c of CASES) {
        const pid = b.pid();
        const rss = new RssSampler(pid, 100);
        const cpu0 = cpuSeconds(pid) ?? 0;
        const mc0 = values.gc ? markCompacts(b) : 0;
        const m = await rawProtocol({
          mode: 'fetch',
          port: b.port,
          topic: c.topic,
          partitions: c.partitions,
          size: c.size,
          bytes: c.bytes,
        });
        const cpu = (cpuSeconds(pid) ?? cpu0) - cpu0;
        rss.stop();
        const row = {
          rate: m.recordsPerSec,
          cpuPerGiB: cpu / ((m.records * c.size) / 2 ** 30),
          rssFile: rss.peakSplit.file,
          rssAnon: rss.peakSplit.anon,
          markCompacts: values.gc ? markCompacts(b) - mc0 : undefined,
        };
        const key = `fetch ${c.size} B ${c.partitions} p ${which}`;
        push(key, row);
        process.stderr.write(`round ${round + 1} ${key}: ${describe([row])}\n`);
      }
      if (values.produce) {
        const topic = `p6-${which}-${round}`;
        const admin = new Kafka({ brokers: [`127.0.0.1:${b.port}`] }).admin();
        await admin.createTopics([{ name: topic, numPartitions: 6, replicationFactor: 1 }]);
        await admin.close();
        const pid = b.pid();
        const cpu0 = cpuSeconds(pid) ?? 0;
        const m = await rawProtocol({
          mode: 'produce',
          port: b.port,
          topic,
          partitions: 6,
          size: 1024,
          bytes: 128 * MiB,
        });
        const cpu = (cpuSeconds(pid) ?? cpu0) - cpu0;
        const row = { rate: m.recordsPerSec, cpuPerGiB: cpu / ((m.records * 1024) / 2 ** 30) };
        const key = `produce 1024 B 6 p ${which}`;
        push(key, row);
        process.stderr.write(`round ${round + 1} ${key}: ${describe([row])}\n`);
      }
    } finally {
      await b.stop();
    }
  }
}
rmSync(work, { recursive: true, force: true });
for (const [k, rows] of [...results].sort()) {
  console.log(
    `${k}: ${describe(rows)} (median of ${rows.length}: ${rows.map((r) => r.cpuPerGiB.toFixed(2)).join(' ')})`,
  );
}
process.exit(0);
