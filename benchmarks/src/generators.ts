// Load generators: Kafka's ProducerPerformance / ConsumerPerformance / EndToEndLatency, librdkafka's
// rdkafka_performance and the @sluice/client generator (sluice-gen.ts), each run as its own process and
// reduced to one Measurement by parsing its summary output.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { release } from './barrier.js';
import { runKafkaClass } from './brokers.js';
import { type RunResult, run } from './proc.js';

export type Acks = '1' | 'all';
export type Codec = 'none' | 'lz4';
export type Generator = 'kafka-perf' | 'rdkafka' | 'sluice-client' | 'raw';

export interface ProduceSpec {
  topic: string;
  records: number;
  size: number;
  acks: Acks;
  codec: Codec;
  /** Records per second; -1 for as fast as possible. */
  throughput: number;
}

export interface Measurement {
  recordsPerSec: number;
  /** MiB/s of record values (records/s × size). */
  mibPerSec: number;
  records: number;
  seconds: number;
  latencyMs?: { avg?: number; p50?: number; p99?: number; p999?: number; max?: number };
  extra?: Record<string, number>;
  /**
   * The load generator's own cost: the Node generators measure their own process over the load; the JVM
   * tools and rdkafka_performance are measured whole (utime+stime of the process tree over its wall time,
   * start-up included).
   */
  generator?: GeneratorCpu;
  /** The load's window on the wall clock (epoch ms), so several processes' windows can be joined. */
  window?: { startMs: number; endMs: number };
}

export interface GeneratorCpu {
  cpuSec: number;
  wallSec: number;
  processes: number;
  /** The busiest single generator process, in cores (CPU s over its wall s). */
  maxCores: number;
}

function generatorCpu(r: RunResult): GeneratorCpu | undefined {
  if (r.cpuSec === undefined) return undefined;
  return { cpuSec: r.cpuSec, wallSec: r.seconds, processes: 1, maxCores: r.cpuSec / Math.max(r.seconds, 1e-3) };
}

/** `n` generator processes with `records` shared out, started together (see together); their measurements. */
export async function runTogether(
  n: number,
  one: (i: number, records: number, barrier?: string) => Promise<Measurement>,
  records: number,
  opts: { barrier?: boolean } = {},
): Promise<Measurement[]> {
  const share = Math.ceil(records / n);
  const dir = opts.barrier && n > 1 ? mkdtempSync(join(tmpdir(), 'sluice-barrier-')) : undefined;
  try {
    const all = Promise.all(Array.from({ length: n }, (_, i) => one(i, share, dir)));
    if (dir) await release(dir, n, all);
    return await all;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `n` generator processes at once (--producers N), each given its share of the records: the rate is all
 * records over the union of their windows (the longest one's time without them), the CPU is summed, and
 * the busiest process is kept.
 */
export async function together(
  n: number,
  one: (i: number, records: number, barrier?: string) => Promise<Measurement>,
  records: number,
  /** Pass a start barrier (barrier.ts) to every process: for generators that wait at it before their load. */
  opts: { barrier?: boolean } = {},
) {
  const ms = await runTogether(n, one, records, opts);
  if (n === 1) return ms[0];
  const total = ms.reduce((a, m) => a + m.records, 0);
  // Over the union of their windows when they report them: processes start a little apart (each its own
  // tsx start-up), and the longest single window would credit the rate with the time they did not overlap.
  const windows = ms.map((m) => m.window).filter((w) => w !== undefined);
  const seconds =
    windows.length === ms.length
      ? (Math.max(...windows.map((w) => w.endMs)) - Math.min(...windows.map((w) => w.startMs))) / 1000
      : Math.max(...ms.map((m) => m.seconds));
  const mib = ms.reduce((a, m) => a + m.mibPerSec * m.seconds, 0) / seconds;
  const gens = ms.map((m) => m.generator).filter((g): g is GeneratorCpu => g !== undefined);
  return {
    records: total,
    recordsPerSec: total / seconds,
    mibPerSec: mib,
    seconds,
    // No latency: percentiles of several processes do not combine without their samples (latency-gen.ts
    // merges samples for the latency rows); these are throughput rows.
    generator:
      gens.length === ms.length
        ? {
            cpuSec: gens.reduce((a, g) => a + g.cpuSec, 0),
            wallSec: Math.max(seconds, ...gens.map((g) => g.wallSec)),
            processes: gens.reduce((a, g) => a + g.processes, 0),
            maxCores: Math.max(...gens.map((g) => g.maxCores)),
          }
        : undefined,
  } satisfies Measurement;
}

const MiB = 1024 * 1024;
const TIMEOUT = 300_000;

function fail(what: string, r: RunResult): never {
  throw new Error(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).slice(-1200)}`);
}

/** Parses ProducerPerformance's final line: "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, p50 ms 50th, … 99.9th." */
export function parseProducerPerformance(stdout: string, size: number): Measurement {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.includes('99.9th'));
  const m =
    line &&
    /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th/.exec(
      line,
    );
  if (!m) throw new Error(`no ProducerPerformance summary in: ${stdout.slice(-500)}`);
  const records = Number(m[1]);
  const rps = Number(m[2]);
  return {
    records,
    recordsPerSec: rps,
    mibPerSec: (rps * size) / MiB,
    seconds: records / rps,
    latencyMs: { avg: Number(m[4]), max: Number(m[5]), p50: Number(m[6]), p99: Number(m[8]), p999: Number(m[9]) },
  };
}

export async function kafkaProducerPerf(port: number, s: ProduceSpec): Promise<Measurement> {
  const r = await runKafkaClass(
    'org.apache.kafka.tools.ProducerPerformance',
    [
      '--topic',
      s.topic,
      '--num-records',
      String(s.records),
      '--record-size',
      String(s.size),
      '--throughput',
      String(s.throughput),
      '--producer-props',
      `bootstrap.servers=127.0.0.1:${port}`,
      `acks=${s.acks === 'all' ? 'all' : '1'}`,
      `compression.type=${s.codec}`,
    ],
    TIMEOUT,
  );
  if (r.code !== 0) fail('ProducerPerformance', r);
  return { ...parseProducerPerformance(r.stdout, s.size), generator: generatorCpu(r) };
}

/** ConsumerPerformance prints a CSV header and one row; the fetch.* columns exclude the group join. */
export function parseConsumerPerformance(stdout: string, size: number): Measurement {
  const lines = stdout.split('\n').map((l) => l.trim());
  const hi = lines.findIndex((l) => l.startsWith('start.time'));
  if (hi < 0 || !lines[hi + 1]) throw new Error(`no ConsumerPerformance summary in: ${stdout.slice(-500)}`);
  const names = lines[hi].split(',').map((s) => s.trim());
  const values = lines[hi + 1].split(',').map((s) => s.trim());
  const col = (n: string) => {
    const i = names.indexOf(n);
    if (i < 0) throw new Error(`ConsumerPerformance output has no ${n}`);
    return Number(values[i]);
  };
  const records = col('data.consumed.in.nMsg');
  const fetchMs = col('fetch.time.ms');
  const rps = col('fetch.nMsg.sec');
  return {
    records,
    recordsPerSec: rps,
    mibPerSec: (rps * size) / MiB,
    seconds: fetchMs / 1000,
    extra: { rebalanceMs: col('rebalance.time.ms'), totalRecordsPerSec: col('nMsg.sec') },
  };
}

export async function kafkaConsumerPerf(
  port: number,
  topic: string,
  records: number,
  size: number,
  group: string,
  /** A client properties file (security settings), passed as `--command-config`. */
  commandConfig?: string,
): Promise<Measurement> {
  const r = await runKafkaClass(
    'org.apache.kafka.tools.ConsumerPerformance',
    [
      '--bootstrap-server',
      `127.0.0.1:${port}`,
      '--topic',
      topic,
      '--messages',
      String(records),
      '--group',
      group,
      '--timeout',
      '30000',
      ...(commandConfig === undefined ? [] : ['--command-config', commandConfig]),
    ],
    TIMEOUT,
  );
  if (r.code !== 0) fail('ConsumerPerformance', r);
  const m = parseConsumerPerformance(r.stdout, size);
  if (m.records < records) throw new Error(`ConsumerPerformance read ${m.records} of ${records} records`);
  return { ...m, generator: generatorCpu(r) };
}

/** EndToEndLatency: one record at a time, produce → consume; prints "Percentiles: 50th = a, 99th = b, 99.9th = c". */
export function parseEndToEndLatency(stdout: string, records: number): Measurement {
  const avg = /Avg latency: ([\d.]+) ms/.exec(stdout);
  const p = /50th = ([\d.]+), 99th = ([\d.]+), 99.9th = ([\d.]+)/.exec(stdout);
  if (!avg || !p) throw new Error(`no EndToEndLatency summary in: ${stdout.slice(-500)}`);
  const a = Number(avg[1]);
  return {
    records,
    recordsPerSec: 1000 / a,
    mibPerSec: 0,
    seconds: (records * a) / 1000,
    latencyMs: { avg: a, p50: Number(p[1]), p99: Number(p[2]), p999: Number(p[3]) },
  };
}

export async function kafkaEndToEnd(port: number, topic: string, records: number, size: number): Promise<Measurement> {
  const r = await runKafkaClass(
    'org.apache.kafka.tools.EndToEndLatency',
    // 4.1 takes positional arguments: broker_list topic num_messages producer_acks message_size_bytes
    [`127.0.0.1:${port}`, topic, String(records), 'all', String(size)],
    TIMEOUT,
  );
  if (r.code !== 0) fail('EndToEndLatency', r);
  return parseEndToEndLatency(r.stdout, records);
}

// ------------------------------------------------------------------------------------------- librdkafka

const RDKAFKA_DIR = join(homedir(), '.cache/sluice/rdkafka');
export const RDKAFKA_PERF = join(RDKAFKA_DIR, 'node_modules/node-rdkafka/deps/librdkafka/examples/rdkafka_performance');

/**
 * librdkafka's rdkafka_performance: Debian's librdkafka-dev does not ship it; node-rdkafka's bundled
 * librdkafka builds it. Built once into a cache outside the repository (about 2.5–4 min), so the
 * monorepo's lock file and install scripts stay untouched.
 */
export async function ensureRdkafkaPerf(log: (s: string) => void): Promise<string | undefined> {
  if (existsSync(RDKAFKA_PERF)) return RDKAFKA_PERF;
  if (process.env.SLUICE_BENCH_NO_RDKAFKA_BUILD) return undefined;
  log(`building rdkafka_performance (node-rdkafka 3.6 with its bundled librdkafka) in ${RDKAFKA_DIR}`);
  const npm = (args: string[]) => run('npm', args, { cwd: RDKAFKA_DIR, timeoutMs: 900_000 });
  await run('mkdir', ['-p', RDKAFKA_DIR], { timeoutMs: 5000 });
  if (!existsSync(join(RDKAFKA_DIR, 'package.json'))) {
    await run('sh', ['-c', `echo '{"name":"sluice-rdkafka-perf","private":true,"version":"0.0.0"}' > package.json`], {
      cwd: RDKAFKA_DIR,
      timeoutMs: 5000,
    });
  }
  const steps = [
    ['install', 'node-rdkafka@3.6'],
    ['install-scripts', 'approve', 'node-rdkafka'],
    ['rebuild', 'node-rdkafka'],
  ];
  for (const s of steps) {
    const r = await npm(s);
    if (r.code !== 0) {
      log(`npm ${s.join(' ')} failed: ${r.stderr.slice(-300)}`);
      return undefined;
    }
  }
  return existsSync(RDKAFKA_PERF) ? RDKAFKA_PERF : undefined;
}

/** Parses the last "% N messages produced (B bytes), D delivered …, F failed in T ms: X msgs/s and Y MB/s" line. */
export function parseRdkafkaPerformance(out: string, size: number): Measurement {
  const lines = out.split('\n').filter((l) => / messages produced /.test(l) && /msgs\/s/.test(l));
  const last = lines[lines.length - 1];
  const m = last && /(\d+) delivered.*?(\d+) failed\) in (\d+)ms: (\d+) msgs\/s/.exec(last);
  if (!m) throw new Error(`no rdkafka_performance summary in: ${out.slice(-500)}`);
  const delivered = Number(m[1]);
  const failed = Number(m[2]);
  if (failed > 0) throw new Error(`rdkafka_performance: ${failed} deliveries failed`);
  const seconds = Number(m[3]) / 1000;
  const rps = delivered / seconds;
  return { records: delivered, recordsPerSec: rps, mibPerSec: (rps * size) / MiB, seconds };
}

/**
 * librdkafka's batching, set explicitly: rdkafka_performance sets linger.ms=1000 itself (its source, before
 * the -X options apply), so a run that enqueues its records in well under a second waits out that linger
 * for its last batches and reports records / ~1 s: the ~39 k records/s both brokers "reached" with
 * 40,000 records. librdkafka's own default (5 ms) and room for a whole run in its queue let it batch.
 */
export const RDKAFKA_BATCHING: Readonly<Record<string, string>> = {
  'linger.ms': '5',
  'batch.size': '1000000',
  'queue.buffering.max.messages': '1000000',
  'queue.buffering.max.kbytes': '1048576',
};

export async function rdkafkaProducerPerf(bin: string, port: number, s: ProduceSpec): Promise<Measurement> {
  const args = ['-P', '-t', s.topic, '-b', `127.0.0.1:${port}`, '-s', String(s.size), '-c', String(s.records)];
  args.push('-a', s.acks === 'all' ? '-1' : '1', '-X', `compression.codec=${s.codec}`);
  for (const [k, v] of Object.entries(RDKAFKA_BATCHING)) args.push('-X', `${k}=${v}`);
  if (s.throughput > 0) args.push('-r', String(s.throughput));
  const r = await run(bin, args, { timeoutMs: TIMEOUT, cpu: true });
  const out = `${r.stdout}\n${r.stderr}`;
  if (r.code !== 0) fail('rdkafka_performance', r);
  const m = parseRdkafkaPerformance(out, s.size);
  if (m.records < s.records) throw new Error(`rdkafka_performance delivered ${m.records} of ${s.records}`);
  return { ...m, generator: m.generator ?? generatorCpu(r) };
}

// ------------------------------------------------------------------------------------------- @sluice/client

const SLUICE_GEN = fileURLToPath(new URL('./sluice-gen.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

export interface SluiceGenConfig {
  /** steady: `records` keyed records at `rate` per second, each timed send → ack, no batching delay. */
  mode: 'produce' | 'consume' | 'steady';
  port: number;
  topic: string;
  records: number;
  size: number;
  acks?: Acks;
  codec?: Codec;
  /** steady: records per second. */
  rate?: number;
  /** steady: keys cycle through this many distinct values (overwrites, for a compacted topic). */
  keys?: number;
  /** produce, steady: a start barrier directory (barrier.ts), when several processes run at once. */
  barrier?: string;
  /** steady: seconds of the schedule sent first and not counted (the generator's JIT warms up). */
  warmupSeconds?: number;
  /** steady: write each counted record's latency (ms, float64) to this file, for merging across processes. */
  samplesFile?: string;
  /** steady: write a per-record trace (due, send() call, batch closed/sent/acked, callback) to this CSV file. */
  trace?: string;
}

/** @sluice/client in its own Node process (so its CPU is not the harness's); prints one JSON Measurement. */
export async function sluiceClient(cfg: SluiceGenConfig): Promise<Measurement> {
  const r = await run(TSX, ['--conditions=sluice-source', SLUICE_GEN, JSON.stringify(cfg)], {
    timeoutMs: TIMEOUT,
    cpu: true,
  });
  if (r.code !== 0) fail(`@sluice/client ${cfg.mode}`, r);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const m = JSON.parse(line) as Measurement;
  if (m.records < cfg.records) throw new Error(`@sluice/client ${cfg.mode}: ${m.records} of ${cfg.records} records`);
  return { ...m, generator: m.generator ?? generatorCpu(r) };
}

// ------------------------------------------------------------------------------------------- raw protocol

const RAW_GEN = fileURLToPath(new URL('./raw-gen.ts', import.meta.url));

export interface RawGenConfig {
  /** produce: pre-built batches, `inflight` requests outstanding on each of `connections`; fetch: read it all back. */
  mode: 'produce' | 'fetch';
  port: number;
  topic: string;
  partitions: number;
  size: number;
  /** Bytes of record values to move. */
  bytes: number;
  acks?: Acks;
  codec?: Codec;
  connections?: number;
  inflight?: number;
  /**
   * fetch: read for this many seconds, a partition read to its end again from offset 0 (default one pass);
   * produce: send `bytes` and for at least this long (up to 1 GiB).
   */
  seconds?: number;
}

/** Partitions 0..partitions-1 dealt over at most `connections` fetch connections (none left empty). */
export function partitionsOf(partitions: number, connections: number): number[][] {
  const n = Math.max(1, Math.min(connections, partitions));
  return Array.from({ length: n }, (_, c) =>
    Array.from({ length: Math.ceil((partitions - c) / n) }, (_, j) => c + j * n),
  ).filter((ps) => ps.length > 0);
}

/** The raw-protocol generator (raw-gen.ts) in its own process: what a broker can take, with the client adding next to nothing. */
export async function rawProtocol(cfg: RawGenConfig): Promise<Measurement> {
  const r = await run(TSX, ['--conditions=sluice-source', RAW_GEN, JSON.stringify(cfg)], {
    timeoutMs: TIMEOUT,
    cpu: true,
  });
  if (r.code !== 0) fail(`raw protocol ${cfg.mode}`, r);
  const m = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Measurement;
  return { ...m, generator: m.generator ?? generatorCpu(r) };
}
