// Results of a run: the JSON record, the Markdown table, the SVG charts, and BENCHMARKS.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import type { Limit } from './limits.js';
import { run } from './proc.js';
import { fmt, type Summary, summarize } from './stats.js';
import { barChart } from './svg.js';

export interface Row {
  id: string;
  /** cluster: Sluice only, one broker against a cluster of Sluice processes (see `baseline`). */
  /** streams: @sluice/streams in the Sluice column, Kafka Streams in the Kafka column, on one broker. */
  kind: 'produce' | 'consume' | 'latency' | 'cost' | 'cluster' | 'replicated' | 'streams';
  label: string;
  generator?: string;
  unit: string;
  higherIsBetter: boolean;
  /** Record size, for throughput rows (MiB/s = rec/s × size). */
  size?: number;
  fraction?: number;
  percentile?: string;
  /** Cluster rows: the id of the one-broker row this one is compared with. */
  baseline?: string;
  sluice: number[];
  kafka: number[];
  details: { sluice: unknown[]; kafka: unknown[] };
}

export interface Report {
  startedAt: string;
  seconds: number;
  quick: boolean;
  trials: number;
  machine: Record<string, string | number>;
  load: { before: number[]; after: number[]; uptime: string };
  limits: Record<string, Limit>;
  rows: Row[];
  errors: string[];
  notes: string[];
  /** Wall minutes of each phase that ran. */
  phaseMinutes?: Record<string, number>;
  /** Markdown sections after the table (the clients phase's), and the data behind them. */
  sections?: string[];
  clients?: unknown;
  /** Where the time goes where Sluice falls short (CPU profile), added by hand after the run. */
  profileNote?: string;
}

export async function machineInfo(): Promise<Record<string, string | number>> {
  const sh = async (c: string) => (await run('sh', ['-c', c], { timeoutMs: 10_000 })).stdout.trim();
  return {
    nproc: Number(await sh('nproc')),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    freeG: await sh('free -g | sed -n 2p'),
    kernel: await sh('uname -sr'),
    node: process.version,
    java: await sh('java -version 2>&1 | head -1'),
    kafka: process.env.SLUICE_KAFKA_VERSION ?? '4.4.0',
  };
}

const GENERATORS: Record<string, string> = {
  'kafka-perf': 'ProducerPerformance / ConsumerPerformance',
  rdkafka: 'rdkafka_performance',
  'sluice-client': '@sluice/client',
  'kafka-e2e': 'EndToEndLatency',
  raw: 'raw protocol (pre-built batches)',
};

const MiB = 2 ** 20;
const range = (s: Summary | undefined, scale = 1) =>
  s
    ? s.n > 1
      ? `${fmt(s.median * scale)} (${fmt(s.min * scale)}–${fmt(s.max * scale)})`
      : fmt(s.median * scale)
    : '–';

function limitFor(r: Row, limits: Record<string, Limit>): number | undefined {
  const tcp = limits.loopbackTcp?.value;
  const disk = limits.diskFdatasync?.value;
  if (r.kind === 'consume') return tcp;
  if (r.kind === 'produce') return tcp !== undefined && disk !== undefined ? Math.min(tcp, disk) : (tcp ?? disk);
  return undefined;
}

const KIND_ORDER = ['produce', 'consume', 'latency', 'cost', 'cluster', 'replicated'];

/** What one throughput trial records beside its rate (bench.ts `measured`). */
interface TrialCpu {
  cpuSec?: number;
  /** The generator's measured window (the broker's cores are over it: it idles while a generator starts). */
  seconds?: number;
  generator?: { cpuSec: number; wallSec: number; maxCores: number; processes: number };
}

/** A generator process at or above this many cores while the broker was below it: the generator was the limit. */
export const BOUND_CORES = 0.9;
/** Generator processes and broker together at or above this share of the machine's cores: the machine was full. */
export const MACHINE_FULL = 0.9;

/**
 * Cores used by the generator (its busiest process, and all its processes together) and the broker over
 * one trial; undefined without the readings.
 */
export function trialCores(d: unknown): { generator: number; generatorTotal: number; broker: number } | undefined {
  const t = d as TrialCpu;
  const window = t?.seconds ?? t?.generator?.wallSec ?? 0;
  if (!t?.generator || t.cpuSec === undefined || !(window > 0)) return undefined;
  const total = t.generator.wallSec > 0 ? t.generator.cpuSec / t.generator.wallSec : t.generator.maxCores;
  return {
    generator: t.generator.maxCores,
    generatorTotal: Math.max(total, t.generator.maxCores),
    broker: t.cpuSec / window,
  };
}

/**
 * One trial measured the generator when the broker had idle time (< 0.9 core) and either one generator
 * process was at ≥ 0.9 core (a Node generator is one busy thread), or the generator processes together
 * with the broker held ≥ 90% of the machine's cores (`--producers N` spreads one generator over N
 * processes: none of them full, but the machine was, and not by the broker).
 */
export function generatorBoundTrial(
  t: { generator: number; generatorTotal: number; broker: number },
  machineCores?: number,
): boolean {
  if (t.broker >= BOUND_CORES) return false;
  if (t.generator >= BOUND_CORES) return true;
  return machineCores !== undefined && machineCores > 0 && t.generatorTotal + t.broker >= MACHINE_FULL * machineCores;
}

/**
 * A throughput row is generator-bound when, for either broker, most of its trials are (the ratio compares
 * the two figures, so one broker's figure limited by the generator makes the row measure the generator);
 * broker-bound otherwise; undefined when no trial has the CPU readings.
 */
export function boundOf(r: Row, machineCores?: number): 'broker' | 'generator' | undefined {
  const sides = [r.details.sluice, r.details.kafka].map((d) => d.map(trialCores).filter((x) => x !== undefined));
  if (sides.every((s) => s.length === 0)) return undefined;
  const bound = (s: (typeof sides)[number]) =>
    s.length > 0 && s.filter((t) => generatorBoundTrial(t, machineCores)).length * 2 > s.length;
  return sides.some(bound) ? 'generator' : 'broker';
}

/** Below this share of its offered rate a latency row is short of it (see shortOfRate). */
const SHORT_OF_RATE = 0.9;

/** A latency row's offered rate, from its label ("… (83,887 rec/s)"); undefined for other rows. */
function offeredRate(r: Row): number | undefined {
  const m = r.kind === 'latency' ? /\(([\d,]+) rec\/s\)/.exec(r.label) : null;
  return m ? Number(m[1].replaceAll(',', '')) : undefined;
}

/**
 * A latency row whose generator could not offer the rate it was asked for on either broker (median
 * achieved rate below 90% of it): its percentiles measure the generator's queue, not the broker.
 */
export function shortOfRate(r: Row): boolean {
  const rate = offeredRate(r);
  if (rate === undefined) return false;
  const achieved = (details: unknown[]) =>
    median(
      details
        .map((d) => (d as { recordsPerSec?: number } | undefined)?.recordsPerSec)
        .filter((x): x is number => typeof x === 'number' && Number.isFinite(x)),
    );
  return [r.details.sluice, r.details.kafka].some((d) => {
    const a = achieved(d);
    return a !== undefined && a < SHORT_OF_RATE * rate;
  });
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : undefined);

/** "0.95 / 0.40" cores (generator's busiest process / broker), medians over trials of one broker; "0.70 (Σ 1.40) / 0.40" with several generator processes. */
export function coresOf(details: unknown[]): string {
  const t = details.map(trialCores).filter((x) => x !== undefined);
  const g = median(t.map((x) => x.generator));
  const total = median(t.map((x) => x.generatorTotal));
  const b = median(t.map((x) => x.broker));
  if (g === undefined || b === undefined || total === undefined) return '–';
  return `${g.toFixed(2)}${total > g + 0.005 && processesOf(details) > 1 ? ` (Σ ${total.toFixed(2)})` : ''} / ${b.toFixed(2)}`;
}

const processesOf = (details: unknown[]) =>
  Math.max(0, ...details.map((d) => (d as TrialCpu | undefined)?.generator?.processes ?? 0));

/** The machine's cores as the report recorded them (`nproc`), for the machine-full check. */
export const machineCores = (rep: Report) => Number(rep.machine.nproc) || undefined;

/** Rows grouped by kind (their creation order interleaves them), stable within a kind. */
export function ordered(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
}

/** Throughput rows by what limited them, each group its own table with the CPU of generator and broker. */
export function boundTables(rep: Report): string | undefined {
  const cores = machineCores(rep);
  const rows = ordered(rep.rows).filter((r) => (r.kind === 'produce' || r.kind === 'consume') && boundOf(r, cores));
  if (rows.length === 0) return undefined;
  const out: string[] = [];
  for (const [which, title] of [
    [
      'broker',
      'Broker-bound throughput (no generator process at ≥ 90% of a core, nor generator and broker at ≥ 90% of the machine, while the broker idled; on a shared machine neither may reach a full core: see the cores columns)',
    ],
    [
      'generator',
      'Generator-bound throughput (for either broker, most trials had a generator process at ≥ 90% of a core, or generator and broker at ≥ 90% of the machine, while the broker idled: these rows measure the generator)',
    ],
  ] as const) {
    const mine = rows.filter((r) => boundOf(r, cores) === which);
    if (mine.length === 0) continue;
    out.push(`**${title}**`, '');
    out.push(
      '| scenario | generator | Sluice | Kafka | Sluice/Kafka | cores gen / broker, Sluice | cores gen / broker, Kafka |',
    );
    out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of mine) {
      const s = summarize(r.sluice);
      const k = summarize(r.kafka);
      const ratio = s && k && k.median !== 0 ? `${(s.median / k.median).toFixed(2)}×` : '–';
      const gen = r.generator ? (GENERATORS[r.generator] ?? r.generator) : '';
      const mib = (x: Summary | undefined) => (x ? ` · ${fmt((x.median * (r.size ?? 0)) / MiB)} MiB/s` : '');
      out.push(
        `| ${r.label} | ${gen} | ${range(s)} rec/s${mib(s)} | ${range(k)} rec/s${mib(k)} | ${ratio} | ${coresOf(r.details.sluice)} | ${coresOf(r.details.kafka)} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

/** Sluice against Kafka, same rows in both (the replicated rows: a 3-broker cluster of each). */
function replicatedTable(rep: Report): string | undefined {
  const rows = rep.rows.filter((r) => r.kind === 'replicated');
  if (rows.length === 0) return undefined;
  const out = [
    '| 3 brokers, RF=3, acks=all | generator | Sluice cluster | Kafka cluster | Sluice/Kafka |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const s = summarize(r.sluice);
    const k = summarize(r.kafka);
    const ratio = s && k && k.median !== 0 ? `${(s.median / k.median).toFixed(2)}×` : '–';
    const gen = r.generator ? (GENERATORS[r.generator] ?? r.generator) : '';
    out.push(`| ${r.label} | ${gen} | ${range(s)} ${r.unit} | ${range(k)} ${r.unit} | ${ratio} |`);
  }
  return `${out.join('\n')}\n`;
}

export function markdownTable(rep: Report): string {
  const out: string[] = [];
  out.push('| scenario | generator | Sluice | Kafka | Sluice/Kafka | limit |');
  out.push('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of ordered(rep.rows)) {
    if (r.kind === 'cluster' || r.kind === 'replicated') continue;
    const s = summarize(r.sluice);
    const k = summarize(r.kafka);
    const ratio = s && k && k.median !== 0 ? `${(s.median / k.median).toFixed(2)}×` : '–';
    const gen = r.generator ? (GENERATORS[r.generator] ?? r.generator) : '';
    if (r.size !== undefined) {
      // Throughput: records/s, and MiB/s beside it so it reads against the physical limit.
      const lim = limitFor(r, rep.limits);
      const mib = (x: Summary | undefined) => (x ? ` · ${fmt((x.median * (r.size ?? 0)) / MiB)} MiB/s` : '');
      const pct = s && lim ? ` (Sluice at ${(((s.median * (r.size ?? 0)) / MiB / lim) * 100).toFixed(0)}%)` : '';
      out.push(
        `| ${r.label} | ${gen} | ${range(s)} rec/s${mib(s)} | ${range(k)} rec/s${mib(k)} | ${ratio} | ${lim ? `${fmt(lim)} MiB/s${pct}` : '–'} |`,
      );
    } else {
      out.push(`| ${r.label} | ${gen} | ${range(s)} ${r.unit} | ${range(k)} ${r.unit} | ${ratio} | – |`);
    }
  }
  for (const [name, l] of Object.entries(rep.limits)) {
    const what =
      name === 'loopbackTcp'
        ? 'machine: loopback TCP, one stream (iperf3)'
        : 'machine: sequential write + fdatasync (dd, 1 MiB blocks)';
    out.push(`| ${what} | | | | | ${l.value !== undefined ? `${fmt(l.value)} ${l.unit}` : `n/a: ${l.note}`} |`);
  }
  const cluster = clusterTable(rep);
  const bound = boundTables(rep);
  const replicated = replicatedTable(rep);
  return `${out.join('\n')}\n${cluster ? `\n${cluster}` : ''}${bound ? `\n${bound}` : ''}${replicated ? `\n${replicated}` : ''}`;
}

/** Rows the smoke check fails: no numbers for a broker that ran (cluster rows are Sluice only). */
export function rowsWithoutNumbers(rows: readonly Row[]): Row[] {
  const none = (xs: number[]) => xs.filter(Number.isFinite).length === 0;
  return rows.filter((r) => none(r.sluice) || (r.kind !== 'cluster' && none(r.kafka)));
}

/** One Sluice broker against a cluster of Sluice processes, same load: its own table (no Kafka column). */
export function clusterTable(rep: Report): string | undefined {
  const rows = rep.rows.filter((r) => r.kind === 'cluster');
  if (rows.length === 0) return undefined;
  const byId = new Map(rep.rows.map((r) => [r.id, r]));
  const out = [
    '| cluster scenario (Sluice only) | generator | Sluice | against one broker |',
    '| --- | --- | ---: | ---: |',
  ];
  for (const r of rows) {
    const s = summarize(r.sluice);
    const base = r.baseline ? summarize(byId.get(r.baseline)?.sluice ?? []) : undefined;
    const ratio = s && base && base.median !== 0 ? `${(s.median / base.median).toFixed(2)}×` : '–';
    const gen = r.generator ? (GENERATORS[r.generator] ?? r.generator) : '';
    const mib = s && r.size !== undefined ? ` · ${fmt((s.median * r.size) / MiB)} MiB/s` : '';
    out.push(`| ${r.label} | ${gen} | ${range(s)} ${r.unit}${mib} | ${ratio} |`);
  }
  return `${out.join('\n')}\n`;
}

const COLORS = { Sluice: '#1f77b4', Kafka: '#d62728' };

function chart(
  title: string,
  unit: string,
  rows: Row[],
  label: (r: Row) => string,
  scale: (r: Row) => number = () => 1,
): string {
  const sc = (xs: number[], f: number) => summarize(xs.map((x) => x * f));
  return barChart({
    title,
    unit,
    colors: COLORS,
    rows: rows.map((r) => ({
      label: label(r),
      bars: [
        { series: 'Sluice', value: sc(r.sluice, scale(r)) },
        { series: 'Kafka', value: sc(r.kafka, scale(r)) },
      ],
    })),
  });
}

const short = (r: Row) =>
  `${r.label.replace(/^(produce|consume) /, '')} · ${r.generator === 'kafka-perf' ? 'Kafka tool' : r.generator === 'rdkafka' ? 'librdkafka' : '@sluice/client'}`;

/** Writes <out>/<stamp>.json and .md, <out>/latest.md and the SVGs; rewrites BENCHMARKS.md when given. */
export function writeOutputs(rep: Report, outDir: string, benchmarksMd?: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const stamp = rep.startedAt.replace(/[:.]/g, '-');
  const files: string[] = [];
  const write = (name: string, text: string) => {
    const p = join(outDir, name);
    writeFileSync(p, text);
    files.push(p);
    return p;
  };
  write(`${stamp}.json`, `${JSON.stringify(rep, null, 1)}\n`);
  const table = [markdownTable(rep), ...(rep.sections ?? [])].join('\n');
  write(`${stamp}.md`, table);
  write('latest.md', table);
  const produce = rep.rows.filter((r) => r.kind === 'produce');
  const consume = rep.rows.filter((r) => r.kind === 'consume');
  const latency = rep.rows.filter((r) => r.kind === 'latency');
  const mib = (r: Row) => (r.size ?? 0) / MiB;
  const svgs = {
    produce: write(
      'produce-throughput.svg',
      chart('Producer throughput (median, whiskers min–max)', 'MiB/s', produce, short, mib),
    ),
    produceRecords: write(
      'produce-records.svg',
      chart('Producer throughput (median, whiskers min–max)', 'records/s', produce, short),
    ),
    consume: write(
      'consume-throughput.svg',
      chart('Consumer throughput (median, whiskers min–max)', 'MiB/s', consume, short, mib),
    ),
    latency: write(
      'latency.svg',
      chart('Latency percentiles (median over trials)', 'ms', latency, (r) =>
        r.label
          .replace(/^latency /, '')
          .replace(/ \(.*\)/, '')
          .replace(/, one at a time/, ''),
      ),
    ),
    cost: write(
      'cost.svg',
      chart(
        'Broker cost (lower is better)',
        'MiB, CPU s/GiB, s',
        rep.rows.filter((r) => r.kind === 'cost'),
        (r) => `${r.label.replace(/ \(.*\)/, '')} [${r.unit}]`,
      ),
    ),
  };
  if (benchmarksMd) {
    const rel = (p: string) => relative(join(benchmarksMd, '..'), p);
    writeFileSync(
      benchmarksMd,
      benchmarksText(
        rep,
        table,
        Object.fromEntries(Object.entries(svgs).map(([k, v]) => [k, rel(v)])),
        rel(join(outDir, `${stamp}.json`)),
      ),
    );
    files.push(benchmarksMd);
  }
  return files;
}

/** "; left out, short of their offered rate: …" for the latency headline, or nothing. */
function shortNote(rep: Report): string {
  const short = rep.rows.filter((r) => r.kind === 'latency' && r.percentile === 'p99' && shortOfRate(r));
  return short.length === 0
    ? ''
    : ` (left out: ${short.map((r) => `${r.label.replace(/ p99$/, '')} [${r.generator ?? '?'}]`).join('; ')} — the generator could not offer the rate)`;
}

function ratioOf(rep: Report, pred: (r: Row) => boolean): string {
  const rs = rep.rows
    .filter(pred)
    .map((r) => {
      const s = summarize(r.sluice);
      const k = summarize(r.kafka);
      return s && k && k.median ? s.median / k.median : undefined;
    })
    .filter((x): x is number => x !== undefined);
  if (rs.length === 0) return '–';
  const lo = Math.min(...rs);
  const hi = Math.max(...rs);
  return lo === hi ? `${lo.toFixed(2)}×` : `${lo.toFixed(2)}×–${hi.toFixed(2)}×`;
}

/** Cluster rows of one metric against their one-broker row: "RF=1 ×; RF=3 ×". */
function clusterRatio(rep: Report, metric: 'produce' | 'cpu'): string {
  const median = (id: string) => summarize(rep.rows.find((r) => r.id === id)?.sluice ?? [])?.median;
  const base = median(`cluster/single/${metric}`);
  const of = (setup: string) => {
    const v = median(`cluster/${setup}/${metric}`);
    return v !== undefined && base ? `${(v / base).toFixed(2)}×` : '–';
  };
  return `${of('rf1')}; ${of('rf3')}`;
}

function benchmarksText(rep: Report, table: string, svg: Record<string, string>, json: string): string {
  const m = rep.machine;
  // Other work before the run started (the 1-minute average then); the run itself loads every core, so the
  // averages taken after it, or over 5 and 15 minutes, say nothing about other work.
  const loaded = (rep.load.before[0] ?? 0) >= Number(m.nproc);
  const headline = [
    `- producer throughput, Sluice/Kafka, broker-bound rows only: ${ratioOf(rep, (r) => r.kind === 'produce' && boundOf(r, machineCores(rep)) === 'broker')} (goal ≥ 1.2×)`,
    `- consumer throughput, Sluice/Kafka, broker-bound rows only: ${ratioOf(rep, (r) => r.kind === 'consume' && boundOf(r, machineCores(rep)) === 'broker')} (goal ≥ 1.2×)`,
    `- broker CPU per GiB, Sluice/Kafka (raw-protocol cost table): produce ${ratioOf(rep, (r) => r.id.startsWith('cost/produce/'))} (goal ≤ 0.4×), consume ${ratioOf(rep, (r) => r.id.startsWith('cost/consume/'))} (goal ≤ 0.15×)`,
    `- 3 brokers RF=3 acks=all, Sluice cluster / Kafka cluster: throughput ${ratioOf(rep, (r) => r.id === 'replicated/produce')} (goal ≥ 1.2×), p99 send→ack ${ratioOf(rep, (r) => r.id === 'replicated/p99')} (goal ≤ 0.5×)`,
    `- p99 latency, Sluice/Kafka: ${ratioOf(rep, (r) => r.kind === 'latency' && r.percentile === 'p99' && r.generator !== 'sluice-client' && !shortOfRate(r))} (goal ≤ 0.5×); with @sluice/client timing each record: ${ratioOf(rep, (r) => r.id.startsWith('latency-client/') && r.percentile === 'p99' && !shortOfRate(r))}${shortNote(rep)}`,
    `- resident memory under load (peak), Sluice/Kafka: ${ratioOf(rep, (r) => r.id === 'cost-rss-peak')} (goal ≤ 0.25×)`,
    `- start-up, Sluice/Kafka: ${ratioOf(rep, (r) => r.id === 'cost-startup')} (goal ≤ 0.1×)`,
    `- 3-broker Sluice cluster against one Sluice broker, same load (RF=1; RF=3): throughput ${clusterRatio(rep, 'produce')}, broker CPU per GiB ${clusterRatio(rep, 'cpu')}`,
  ];
  return `# Benchmarks: Sluice against Apache Kafka

Generated by \`npm run bench\` (benchmarks/, package \`@sluice/benchmarks\`) on ${rep.startedAt}; the run took
${(rep.seconds / 60).toFixed(1)} min. Raw data: [${json}](${json}). Smoke run: \`npm run bench -- --quick\`.

## Headline (ratios of medians)

${headline.join('\n')}

## Method

- **Same machine, same run, alternating.** Every scenario runs against Sluice (\`apps/broker\`, built with
  \`tsc\` and bundled by esbuild into one \`dist/cli-bundle.cjs\` that \`dist/cli.js\` compiles with the build's V8 code cache, run with \`node\`) and against the reference Apache Kafka ${m.kafka} (single-node KRaft, combined
  broker+controller, \`scripts/reference-kafka\`, heap \`-Xms256m -Xmx512m\`, Kafka's G1 flags), one after the
  other: Sluice, Kafka, Sluice, Kafka, … Both brokers use their default durability (no fsync per write).
- **Trials.** ${rep.trials} trial(s). Each trial starts both brokers on fresh, empty data dirs; every load in
  the trial gets its own pre-created topic. Figures are the **median over trials**, with **min–max** in
  brackets and as whiskers on the charts. The ratio column is Sluice's median over Kafka's.
- **Load generators** (each its own process on the same machine, so they compete for the same cores):
  - Kafka's \`ProducerPerformance\` and \`ConsumerPerformance\` (the tools behind \`kafka-producer-perf-test\`
    / \`kafka-consumer-perf-test\`), default client settings except \`acks\` and \`compression.type\`;
    consumer throughput is its \`fetch.nMsg.sec\` (excludes the group join).
  - librdkafka's \`rdkafka_performance\` (built from node-rdkafka 3.6's bundled librdkafka 2.12, outside the
    repository, in \`~/.cache/sluice/rdkafka\`; Debian's librdkafka-dev does not ship it), with
    \`linger.ms=5\`, \`batch.size=1000000\` and a queue that holds a whole run: the tool sets
    \`linger.ms=1000\` itself, so a run that enqueues its records in under a second waited a second for
    its last batches (the ~39 k records/s both brokers once "reached").
  - The raw-protocol generator (\`benchmarks/src/raw-gen.ts\`, the broker bench's RawClient): Produce v9
    requests encoded once (16 KiB batches, up to 16 partitions a request) and sent again and again, 8
    outstanding on each of 4 connections, the row's bytes and for at least 1 s (0.5 s in \`--quick\`);
    Fetch v12 reads the topic back (1 MiB per partition, partitions dealt over the connections, one Fetch
    outstanding on each) for 1 s (0.5 s): a partition read to its end is read again from offset 0, as
    another consumer group would. The bytes alone took 0.03–0.4 s on Sluice, so connecting and the first
    round trips weighed in the rate and the CPU per GiB. Its responses
    land in one buffer per connection and only the batch headers are walked for the next offset (records
    are never decoded), so it costs about 0.2 core at 400 MiB/s. Its rows are each broker's ceiling
    ("broker's ceiling" in the label).
  - \`@sluice/client\` produce rows run 2 client processes at once (one process sat at a full core), each
    sending what one process sent before; \`--producers N\` sets N for them and for
    \`rdkafka_performance\` (1 by default). The @sluice/client processes start their load together (each
    waits at a start barrier until all are up); the rate is all records over the union of the processes'
    windows (the label says how many processes).
- **Generator-bound or broker-bound.** Every throughput trial records the generator's CPU and the
  broker's (utime+stime from \`/proc/<pid>/stat\`): the Node generators measure their own process over the
  load (\`process.cpuUsage\`); the JVM tools and rdkafka_performance are measured whole (bash's \`times\` over
  the process tree, start-up included); the broker's cores are its CPU over the generator's measured
  window. A trial is generator-bound when the broker used < 0.9 core and either its busiest generator
  process used ≥ 0.9 core (judged per process: a Node generator is one busy thread) or the generator
  processes together with the broker used ≥ 90% of the machine's cores (\`nproc\`; with N processes none
  may reach a core while they fill the machine). A row is generator-bound when, for either broker, most of
  its trials are (one side's figure limited by the generator makes the ratio the generator's). Those rows
  measure the generator; the headline ratios use broker-bound rows only. The cores columns give the
  busiest process and, with several, their sum (Σ).
- **Cost table** (ceiling phase, raw-protocol generator, warm brokers: each first takes 64 MiB of 1 KiB
  records and serves 2 s of Fetch of them): broker CPU s per GiB of record
  values produced and fetched, by record size, codec, acks and partition count (the default run has a
  subset; \`--cost-matrix\` runs 100 B/1 KiB × none/lz4 × acks=1/all × 1/6/1000 partitions); peak resident
  memory over that phase split into file-backed (\`RssFile\`) and anonymous (\`RssAnon\`) parts.
- **Replicated** (3 brokers, RF=3, acks=all, \`min.insync.replicas=2\`): a 3-broker Sluice cluster with its
  etcd and a 3-node KRaft Apache Kafka (every node broker+controller) on the same machine, both up for the
  trial, loaded one at a time: \`@sluice/client\` at full speed (40,000 records of 1 KiB, 6 partitions);
  p99 send→ack at a fixed offered load of 50% of the lower of the two maxima; Kafka's \`EndToEndLatency\`
  (produce→consume, 1 partition); resident memory as the sum of every process's peak; CPU per GiB summed
  over every process of the cluster (Sluice's etcd included).
- **Profile** (profile phase): the Sluice broker under \`node --cpu-prof\` through the raw produce and then
  the raw fetch load; \`profile-<run>.md\` beside the results lists the top self-time frames within the load
  window and the garbage collector's share.
  - \`@sluice/client\` (\`benchmarks/src/sluice-gen.ts\`): a producer with up to 16,384 outstanding sends and
    its default batching; a consumer without a group reading every partition from the earliest offset.
- **Latency.** ProducerPerformance with \`--throughput\` fixed at 10%, 50% and 80% of the lower of the two
  brokers' median maxima for the same scenario (1 KiB, 6 partitions, acks=all; the maxima are the raw-protocol
  ceiling rows when the ceiling phase ran, else ProducerPerformance's own), so both brokers carry the
  same offered load; percentiles are send → acknowledgement. Each fraction runs again with @sluice/client
  timing each record (\`benchmarks/src/latency-gen.ts\`): one generator process per 40,000 rec/s, each
  offering its share on its own schedule, all connected before a common start; 1 s of the schedule first,
  not counted; batches up to 128 KiB, no linger. Each record's latency runs from the time it was due on the
  schedule (not the time the generator got to send it, which is later after a late timer or a pause) to its
  acknowledgement; the processes' raw samples are merged into one distribution. A row whose generator achieved less than 90% of the offered rate on either broker
  measures the generator's queue: the headline leaves it out and names it. Kafka's \`EndToEndLatency\` adds
  produce → consume percentiles, one record at a time.
- **Broker cost.** Resident memory is VmRSS from \`/proc/<pid>/status\`, sampled every 250 ms over the
  throughput trial (peak and median) and once idle after start. CPU per GiB is utime+stime from
  \`/proc/<pid>/stat\` of the broker around one load, over the record bytes moved. Start-up is process
  spawn → first ApiVersions answer on an empty data dir (Kafka's dir already formatted, as in a deployment).
  Restart with 1,000 partitions: create a 1,000-partition topic, stop cleanly, time the restart until
  ApiVersions answers and until Metadata shows all 1,000 leaders. Restart after SIGKILL with 1,000 and
  10,000 partitions: write 3 records of 100 B to every partition (acks=all), SIGKILL the broker, time the
  restart until ApiVersions answers, until Metadata shows every leader and until ListOffsets shows every
  partition's records; its memory is the restarted process's peak resident set (VmHWM) by then.
- **Produce latency during compaction.** One partition in 1 MiB segments filled with 256 MiB of 1 KiB
  overwrites of 1,000 keys; \`@sluice/client\` sends 1,000 keyed rec/s (acks=all, no linger) on a fixed
  schedule for 20 s and times each send → ack: first with \`cleanup.policy=delete\` (nothing to clean),
  then again right after switching the topic to \`compact\`, so the cleaner rewrites the backlog beside the
  producer (the row is kept only if the log's \`*.log\` bytes at least halved). Kafka's
  \`log.cleaner.backoff.ms\` is set to 5 s, Sluice's maintenance interval.
- **Scale at rest.** 6,000 partitions in topics of 100, idle: resident memory and the broker's CPU
  (utime+stime over 20 s, as % of one core) after 15 s of settling. Then a consumer group of 100
  \`@sluice/client\` members (default assignors) on a 200-partition topic: time from starting them until
  every partition has exactly one owner in one generation, and the broker's resident memory 2 s later.
- **Cluster.** The same load (\`@sluice/client\`, 1 KiB records, 6 partitions, acks=all) against one Sluice
  broker, then against 3 Sluice broker processes (\`--node-id N --metadata etcd://…\`) with their own
  one-member etcd on the same machine: a topic with RF=1, then one with RF=3 and \`min.insync.replicas=2\`
  (every replica in the ISR before the load). CPU per GiB sums utime+stime of all broker processes over the
  load; etcd's is its own row. The ratio column there is against the one-broker row, not Kafka.
- **Clients** (clients phase): @sluice/client, kafkajs, @platformatic/kafka and librdkafka (node-rdkafka) against
  one Sluice broker, each in its own process through the same produce and consume rows; client CPU is the
  client process's utime+stime, broker CPU the broker's over the same row (see the section's own notes).
- **Selection.** \`npm run bench\` runs the default phases (throughput, ceiling, latency, startup, profile,
  clients); \`--full\` adds crash (1,000 and 10,000 partitions), compaction, scale, cluster and replicated.
  Minutes per phase of this run: ${
    Object.entries(rep.phaseMinutes ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'not recorded'
  }.
- **Machine limits, same run.** Loopback TCP with iperf3 (one stream) and sequential writes of 1 GiB with
  \`dd … conv=fdatasync\`. The limit column is min(TCP, disk) for producer rows and TCP for consumer rows.

## Machine

- ${m.nproc} cores (\`nproc\`), ${m.cpu}; memory (\`free -g\`): \`${m.freeG}\`
- ${m.kernel}; Node ${m.node}; ${m.java}
- Load average (1, 5, 15 min) before: ${rep.load.before.join(', ')}; after: ${rep.load.after.join(', ')}
${loaded ? `- **Shared, loaded machine**: other engineers' builds and tests ran on the same ${m.nproc} cores during this run (load average above), so absolute figures are low and noisy; Sluice and Kafka alternated under the same conditions, which is what the ratios rely on.\n` : ''}
## Results

${table}
${rep.profileNote ? `\n${rep.profileNote}\n` : ''}${rep.errors.length ? `\nErrors during the run (those trials are missing from the medians):\n\n${rep.errors.map((e) => `- ${e}`).join('\n')}\n` : ''}${rep.notes.length ? `\n${rep.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}
## Charts

![producer throughput, MiB/s](${svg.produce})

![producer throughput, records/s](${svg.produceRecords})

![consumer throughput](${svg.consume})

![latency percentiles](${svg.latency})

![broker cost](${svg.cost})
`;
}
