// Sluice against the reference Apache Kafka on the same machine, in the same run, alternating trials.
//
//   npm run bench                       the default selection (about 20 min on a quiet machine: throughput,
//                                       ceiling, latency, startup, replicated, profile, clients), writes
//                                       benchmarks/results/ and BENCHMARKS.md
//   npm run bench -- --full             every phase (adds crash with 1,000 and 10,000 partitions, compaction,
//                                       scale, cluster; 45 min or more)
//   npm run bench -- --quick            smoke run (one trial, tiny counts, every phase); exits 1
//                                       when any scenario produced no numbers
//   npm run bench -- --trials 5 --profile /tmp/prof    (Sluice under node --cpu-prof)
//   npm run bench -- --quick --only crash,compaction    only these phases (throughput, ceiling, latency,
//                                       startup, crash, compaction, scale, cluster, replicated, profile, clients, groups,
//                                       security, streams, transactions); results go
//                                       to benchmarks/results/only, never to BENCHMARKS.md, and the smoke check
//                                       covers only their rows
//   npm run bench -- --producers 3      the @sluice/client and rdkafka_performance rows run 3 generator processes at once
//                                       (default: 2 for @sluice/client, 1 for rdkafka_performance)
//   npm run bench -- --only crash --crash-partitions 10000    the crash phase at these partition counts only
//   npm run bench -- --only latency --latency-max 157900    the latency rows at fractions of this rate (records/s)
//   npm run bench -- --cost-matrix      the ceiling phase's full cost matrix (100 B/1 KiB × none/lz4 × acks=1/all ×
//                                       1/6/1000 partitions) instead of its default subset
//   npm run bench -- --only streams     WordCount and a windowed count (throughput; WordCount end-to-end latency),
//                                       @sluice/streams against Kafka Streams 4.4.0
//                                       on one Kafka broker (--streams-records N, 100,000 by default; not in --quick
//                                       unless named by --only)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigResource, Kafka, topic } from '@sluice/client';
import { type Broker, ensureKafkaInstalled, KafkaBroker, SluiceBroker } from './brokers.js';
import { type ClientsResult, clientsMarkdown, clientsMissing, runClients } from './clients.js';
import { createReplicatedTopic, type SluiceCluster, startSluiceCluster } from './cluster.js';
import {
  type Acks,
  type Codec,
  ensureRdkafkaPerf,
  type Generator,
  kafkaConsumerPerf,
  kafkaEndToEnd,
  kafkaProducerPerf,
  type Measurement,
  type ProduceSpec,
  type RawGenConfig,
  rawProtocol,
  rdkafkaProducerPerf,
  sluiceClient,
  together,
} from './generators.js';
import { groupsPhase } from './groups.js';
import { startKafkaCluster } from './kafka-cluster.js';
import { sluiceLatency } from './latency-gen.js';
import { diskWrite, type Limit, loopbackTcp } from './limits.js';
import { freePorts } from './ports.js';
import { cpuSeconds, loadAverage, peakRssMiB, RssSampler, rssMiB, run, sleep } from './proc.js';
import { profileMarkdown, summarizeProfiles } from './profile-summary.js';
import { machineInfo, type Report, type Row, rowsWithoutNumbers, writeOutputs } from './report.js';
import { securityPhase } from './security.js';
import { scrapeStalls, stallsBetween, stallsText } from './stalls.js';
import { streamsPhase } from './streams.js';
import { transactionsPhase } from './transactions.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    trials: { type: 'string' },
    profile: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
    producers: { type: 'string' },
    'cost-matrix': { type: 'boolean', default: false },
    // Input records of each streams scenario (default 100,000; --quick 5,000).
    'streams-records': { type: 'string' },
    full: { type: 'boolean', default: false },
    // The crash phase's partition counts, e.g. --crash-partitions 10000 (default 1000,10000; quick 100).
    'crash-partitions': { type: 'string' },
    // The latency rows' maximum (records/s) when the ceiling phase does not run, e.g. --only latency --latency-max 157900.
    'latency-max': { type: 'string' },
    // Re-renders the table, charts and BENCHMARKS.md from a run's JSON without running anything.
    from: { type: 'string' },
  },
});
const QUICK = args.quick === true;
const TRIALS = Number(args.trials ?? (QUICK ? 1 : 3));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PHASES = [
  'throughput',
  'ceiling',
  'latency',
  'startup',
  'crash',
  'compaction',
  'scale',
  'cluster',
  'replicated',
  'profile',
  'clients',
  'groups',
  'security',
  'streams',
  'transactions',
] as const;
const PRODUCERS = Math.max(1, Math.min(16, Number(args.producers ?? 1)));
// @sluice/client's produce rows run 2 client processes by default: one sat at a full core while either
// broker idled (its rows measured the client). --producers N sets it, for rdkafka_performance too.
const SLUICE_CLIENT_PRODUCERS = args.producers === undefined ? 2 : PRODUCERS;
const producersOf = (g: Generator) =>
  g === 'sluice-client' ? SLUICE_CLIENT_PRODUCERS : g === 'rdkafka' ? PRODUCERS : 1;
const ONLY = args.only?.split(',').map((x) => x.trim()) ?? [];
for (const p of ONLY)
  if (!(PHASES as readonly string[]).includes(p)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);
// The default run: the headline rows (the replicated RF=3 line among them) in about 20 minutes; the long phases (Kafka's restart after SIGKILL with
// 10,000 partitions alone can take 5 minutes a trial) run with --full, --only or in the quick smoke run.
const DEFAULT_PHASES: ReadonlyArray<(typeof PHASES)[number]> = [
  'throughput',
  'ceiling',
  'latency',
  'startup',
  'replicated',
  'profile',
  'clients',
];
const FULL = args.full === true || QUICK;
const runs = (phase: (typeof PHASES)[number]) =>
  ONLY.length ? ONLY.includes(phase) : FULL || DEFAULT_PHASES.includes(phase);
const OUT = args.out ?? join(ROOT, 'benchmarks/results', ONLY.length ? 'only' : QUICK ? 'quick' : '');
const started = performance.now();
let step = 0;
function log(s: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${t}s #${++step}] ${s}\n`);
}

// ------------------------------------------------------------------------------------------- scenarios

interface ProduceScenario extends Omit<ProduceSpec, 'topic' | 'throughput'> {
  generator: Generator;
  partitions: number;
}

const KiB = 1024;
const recordsFor = (size: number) => (QUICK ? (size >= KiB ? 5_000 : 20_000) : size >= KiB ? 40_000 : 200_000);

function produceScenarios(generators: readonly Generator[]): ProduceScenario[] {
  const out: ProduceScenario[] = [];
  // rdkafka_performance sends 40,000 records of 1 KiB in well under 0.1 s: its fixed start-up (connect,
  // metadata, InitProducerId) then weighs more than either broker, so its rows send ten times as many.
  const add = (generator: Generator, size: number, partitions: number, acks: Acks, codec: Codec) =>
    out.push({
      generator,
      size,
      partitions,
      acks,
      codec,
      // @sluice/client: each of its processes sends as many as one did alone (its window stays as long).
      records:
        recordsFor(size) *
        (generator === 'rdkafka' && !QUICK ? 10 : generator === 'sluice-client' ? producersOf(generator) : 1),
    });
  if (QUICK) {
    for (const g of generators) add(g, KiB, 6, '1', 'none');
    return out;
  }
  // The full matrix with the industry-standard tool; a representative subset with the others.
  for (const size of [100, KiB])
    for (const p of [1, 6])
      for (const acks of ['1', 'all'] as const)
        for (const codec of ['none', 'lz4'] as const) add('kafka-perf', size, p, acks, codec);
  for (const g of generators.filter((g) => g !== 'kafka-perf')) {
    add(g, 100, 6, '1', 'none');
    add(g, KiB, 6, '1', 'none');
    add(g, KiB, 6, 'all', 'none');
    add(g, KiB, 1, 'all', 'lz4');
  }
  return out;
}

const sizeLabel = (n: number) => (n >= KiB ? `${n / KiB} KiB` : `${n} B`);
const produceLabel = (s: ProduceScenario) =>
  `produce ${sizeLabel(s.size)}, ${s.partitions} p, acks=${s.acks}, ${s.codec === 'none' ? 'uncompressed' : s.codec}`;
const topicOf = (s: ProduceScenario) => `p-${s.generator}-${s.size}-${s.partitions}-${s.acks}-${s.codec}`;

// The consumer rows read what a ProducerPerformance row wrote (1 KiB, 6 partitions, acks=1, uncompressed).
const CONSUME_SOURCE: ProduceScenario = {
  generator: 'kafka-perf',
  size: KiB,
  partitions: 6,
  acks: '1',
  codec: 'none',
  records: recordsFor(KiB),
};
// The latency rows: 1 KiB, 6 partitions, acks=all, at fixed fractions of the lower of the two brokers' maxima.
const LATENCY_SOURCE: ProduceScenario = QUICK
  ? CONSUME_SOURCE
  : { generator: 'kafka-perf', size: KiB, partitions: 6, acks: 'all', codec: 'none', records: recordsFor(KiB) };
const LATENCY_FRACTIONS = QUICK ? [0.5] : [0.1, 0.5, 0.8];
const LATENCY_SECONDS = QUICK ? 2 : 6;

// ------------------------------------------------------------------------------------------- bookkeeping

const rows = new Map<string, Row>();
const errors: string[] = [];

function row(id: string, init: Omit<Row, 'id' | 'sluice' | 'kafka' | 'details'>): Row {
  let r = rows.get(id);
  if (!r) {
    r = { id, ...init, sluice: [], kafka: [], details: { sluice: [], kafka: [] } };
    rows.set(id, r);
  }
  return r;
}

async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    const msg = `${what}: ${(e as Error).message.split('\n').slice(0, 4).join(' | ')}`;
    errors.push(msg);
    log(`ERROR ${msg}`);
    return undefined;
  }
}

/** Runs one load against one broker, with its CPU time and RSS sampled around it. */
async function measured(
  b: Broker,
  fn: () => Promise<Measurement>,
): Promise<Measurement & { cpuSec: number; rssPeakMiB: number; rssMedianMiB: number }> {
  const pid = b.pid();
  const cpu0 = cpuSeconds(pid) ?? 0;
  const sampler = new RssSampler(pid, 100);
  try {
    const m = await fn();
    const cpu1 = cpuSeconds(pid) ?? cpu0;
    const s = sampler.stop().sort((a, b) => a - b);
    return { ...m, cpuSec: cpu1 - cpu0, rssPeakMiB: s[s.length - 1] ?? 0, rssMedianMiB: s[s.length >> 1] ?? 0 };
  } finally {
    sampler.stop();
  }
}

async function createTopics(
  port: number,
  topics: Array<{ name: string; numPartitions: number; configs?: Record<string, string> }>,
  readyMs = 120_000,
): Promise<void> {
  const admin = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-admin' }).admin();
  try {
    // Kafka accepts large creates, but batches keep each request small.
    for (let i = 0; i < topics.length; i += 50) {
      const batch = topics.slice(i, i + 50);
      try {
        await admin.createTopics(batch.map((t) => ({ ...t, replicationFactor: 1 })));
      } catch (e) {
        // Created, but the client's short wait for the new topics' metadata ran out (a busy Kafka
        // takes seconds to show them): wait longer, as partitionsReady does.
        // Or the create took longer than the request timeout and the client's retry found it made
        // (topics here are always new, so an existing one is this run's).
        if (!/^topic |TOPIC_ALREADY_EXISTS/.test((e as Error).message)) throw e;
        for (const t of batch) await partitionsReady(port, t.name, t.numPartitions, readyMs);
      }
    }
  } finally {
    await admin.close();
  }
}

// ------------------------------------------------------------------------------------------- phases

const work = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
let trialDirSeq = 0;
const freshDir = (b: Broker) => join(work, `${b.name}-${++trialDirSeq}`);

/** Both brokers on ports picked free now (never fixed ones: another broker there would be measured instead). */
async function brokers(): Promise<Broker[]> {
  const [sluicePort, kafkaPort, controllerPort] = await freePorts(3);
  return [new SluiceBroker(sluicePort, args.profile), new KafkaBroker(kafkaPort, controllerPort)];
}

async function throughputPhase(
  scenarios: ProduceScenario[],
  rdkafka: string | undefined,
  withSluiceClient: boolean,
): Promise<void> {
  for (let t = 1; t <= TRIALS; t++) {
    const bs = await brokers();
    const rss = new Map<string, RssSampler>();
    try {
      // Both brokers run for the whole trial on fresh dirs; each load alternates between them.
      for (const b of bs) {
        const s = await b.start(freshDir(b));
        log(`trial ${t}/${TRIALS}: ${b.name} started in ${s.toFixed(2)} s (fresh dir)`);
        const topics = new Map([...scenarios, CONSUME_SOURCE].map((sc) => [topicOf(sc), sc.partitions]));
        await createTopics(
          b.port,
          [...topics].map(([name, numPartitions]) => ({ name, numPartitions })),
        );
        await sleep(500);
        row('cost-rss-idle', {
          kind: 'cost',
          label: 'resident memory, idle after start',
          unit: 'MiB',
          higherIsBetter: false,
        })[b.name].push(rssMiB(b.pid()) ?? Number.NaN);
        rss.set(b.name, new RssSampler(b.pid(), 250));
      }
      const allProduce = [...scenarios];
      if (!allProduce.some((s) => topicOf(s) === topicOf(CONSUME_SOURCE))) allProduce.push(CONSUME_SOURCE);
      for (const sc of allProduce) {
        const procs = producersOf(sc.generator) > 1 ? ` (${producersOf(sc.generator)} generator processes)` : '';
        const r = row(`produce/${sc.generator}/${topicOf(sc)}`, {
          kind: 'produce',
          label: `${produceLabel(sc)}${procs}`,
          generator: sc.generator,
          unit: 'rec/s',
          higherIsBetter: true,
          size: sc.size,
        });
        for (const b of bs) {
          const spec: ProduceSpec = { ...sc, topic: topicOf(sc), throughput: -1 };
          const m = await attempt(`${r.label} [${sc.generator}] on ${b.name}`, () =>
            measured(b, () => {
              if (sc.generator === 'kafka-perf') return kafkaProducerPerf(b.port, spec);
              if (sc.generator === 'rdkafka')
                return together(
                  PRODUCERS,
                  (_, records) => rdkafkaProducerPerf(rdkafka!, b.port, { ...spec, records }),
                  sc.records,
                );
              return together(
                SLUICE_CLIENT_PRODUCERS,
                (_, records, barrier) =>
                  sluiceClient({
                    mode: 'produce',
                    port: b.port,
                    topic: spec.topic,
                    records,
                    size: sc.size,
                    acks: sc.acks,
                    codec: sc.codec,
                    barrier,
                  }),
                sc.records,
                { barrier: true },
              );
            }),
          );
          if (!m) continue;
          r[b.name].push(m.recordsPerSec);
          r.details[b.name].push(m);
          log(
            `${r.label} [${sc.generator}] ${b.name} t${t}: ${Math.round(m.recordsPerSec).toLocaleString('en-US')} rec/s, ${m.mibPerSec.toFixed(1)} MiB/s`,
          );
          if (topicOf(sc) === topicOf(CONSUME_SOURCE)) {
            const c = row('cost-cpu-produce', {
              kind: 'cost',
              label: `broker CPU per GiB produced (${CONSUME_SOURCE.size} B records, ProducerPerformance)`,
              unit: 'CPU s/GiB',
              higherIsBetter: false,
            });
            c[b.name].push(m.cpuSec / ((m.records * sc.size) / 2 ** 30));
          }
        }
      }
      // Consumers read the topic ProducerPerformance filled above.
      const consumers: Array<'kafka-perf' | 'sluice-client'> = withSluiceClient
        ? ['kafka-perf', 'sluice-client']
        : ['kafka-perf'];
      for (const g of consumers) {
        const src = CONSUME_SOURCE;
        const r = row(`consume/${g}`, {
          kind: 'consume',
          label: `consume ${sizeLabel(src.size)}, ${src.partitions} p`,
          generator: g,
          unit: 'rec/s',
          higherIsBetter: true,
          size: src.size,
        });
        for (const b of bs) {
          const m = await attempt(`${r.label} [${g}] on ${b.name}`, () =>
            measured(b, () =>
              g === 'kafka-perf'
                ? kafkaConsumerPerf(b.port, topicOf(src), src.records, src.size, `bench-${t}-${Date.now()}`)
                : sluiceClient({
                    mode: 'consume',
                    port: b.port,
                    topic: topicOf(src),
                    records: src.records,
                    size: src.size,
                  }),
            ),
          );
          if (!m) continue;
          r[b.name].push(m.recordsPerSec);
          r.details[b.name].push(m);
          log(
            `${r.label} [${g}] ${b.name} t${t}: ${Math.round(m.recordsPerSec).toLocaleString('en-US')} rec/s, ${m.mibPerSec.toFixed(1)} MiB/s`,
          );
          if (g === 'kafka-perf') {
            const c = row('cost-cpu-consume', {
              kind: 'cost',
              label: `broker CPU per GiB consumed (${src.size} B records, ConsumerPerformance)`,
              unit: 'CPU s/GiB',
              higherIsBetter: false,
            });
            c[b.name].push(m.cpuSec / ((m.records * src.size) / 2 ** 30));
          }
        }
      }
    } finally {
      for (const b of bs) {
        const s = rss
          .get(b.name)
          ?.stop()
          .sort((x, y) => x - y);
        if (s?.length) {
          row('cost-rss-peak', {
            kind: 'cost',
            label: 'resident memory under load, peak',
            unit: 'MiB',
            higherIsBetter: false,
          })[b.name].push(s[s.length - 1]);
          row('cost-rss-median', {
            kind: 'cost',
            label: 'resident memory under load, median',
            unit: 'MiB',
            higherIsBetter: false,
          })[b.name].push(s[s.length >> 1]);
        }
        await attempt(`stop ${b.name}`, () => b.stop());
      }
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
    }
  }
}

async function latencyPhase(): Promise<void> {
  // The brokers' maxima: their ceiling with the raw-protocol generator for the same shape when the ceiling
  // phase ran (ProducerPerformance's own maximum is the tool's, not the broker's), else ProducerPerformance's.
  const ceiling = rows.get(
    `produce/raw/${costTopic({ size: LATENCY_SOURCE.size, codec: LATENCY_SOURCE.codec, acks: LATENCY_SOURCE.acks, partitions: LATENCY_SOURCE.partitions })}`,
  );
  const src = ceiling?.sluice.length ? ceiling : rows.get(`produce/kafka-perf/${topicOf(LATENCY_SOURCE)}`);
  const sm = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : undefined);
  const maxima = args['latency-max']
    ? [Number(args['latency-max'])]
    : [sm(src?.sluice ?? []), sm(src?.kafka ?? [])].filter((x): x is number => x !== undefined);
  if (maxima.length === 0) {
    errors.push('latency: no measured maximum to take fractions of');
    return;
  }
  const max = Math.min(...maxima);
  for (let t = 1; t <= TRIALS; t++) {
    const bs = await brokers();
    // Sluice's event-loop delay and GC pauses over each row, from its metrics endpoint (see stalls.ts).
    const [metricsPort] = await freePorts(1);
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    try {
      for (const b of bs) {
        await b.start(
          freshDir(b),
          b.name === 'sluice' ? { 'metrics.port': String(metricsPort), 'metrics.host': '127.0.0.1' } : {},
        );
        await createTopics(b.port, [
          { name: 'lat', numPartitions: LATENCY_SOURCE.partitions },
          { name: 'e2e', numPartitions: 1 },
        ]);
      }
      for (const f of LATENCY_FRACTIONS) {
        const rate = Math.max(100, Math.round(max * f));
        const label = `latency ${sizeLabel(LATENCY_SOURCE.size)}, ${LATENCY_SOURCE.partitions} p, acks=all at ${Math.round(f * 100)}% of max (${rate.toLocaleString('en-US')} rec/s)`;
        // ProducerPerformance (the rows kept from earlier runs), then @sluice/client timing each record: on a
        // 2-core machine the JVM tool takes ~1.5 cores at 50–80% of the maximum and its own queueing is most
        // of its p99, so the lighter generator's rows say more about the brokers.
        for (const gen of ['kafka-perf', 'sluice-client'] as const) {
          for (const b of bs) {
            const records = Math.min(rate * LATENCY_SECONDS, 1_000_000);
            const spec: ProduceSpec = { ...LATENCY_SOURCE, topic: 'lat', records, throughput: rate };
            const load = () =>
              gen === 'kafka-perf'
                ? kafkaProducerPerf(b.port, spec)
                : sluiceLatency({
                    mode: 'steady',
                    port: b.port,
                    topic: 'lat',
                    records,
                    size: spec.size,
                    acks: 'all',
                    rate,
                    keys: 100_000,
                    // 1 s of the schedule first, not counted; one process per 40,000 rec/s (latency-gen.ts).
                    warmupSeconds: 1,
                  });
            const before =
              b.name === 'sluice' ? await attempt('sluice metrics', () => scrapeStalls(metricsUrl)) : undefined;
            const m = await attempt(`${label} (${gen}) on ${b.name}`, () => measured(b, load));
            if (!m?.latencyMs) continue;
            const after = before && (await attempt('sluice metrics', () => scrapeStalls(metricsUrl)));
            const stalls = before && after ? stallsBetween(before, after) : undefined;
            if (stalls) m.extra = { ...m.extra, ...stalls };
            for (const [p, v] of [
              ['p50', m.latencyMs.p50],
              ['p99', m.latencyMs.p99],
              ['p99.9', m.latencyMs.p999],
            ] as const) {
              const r = row(`${gen === 'kafka-perf' ? 'latency' : 'latency-client'}/${f}/${p}`, {
                kind: 'latency',
                label: `${label} ${p}`,
                generator: gen,
                unit: 'ms',
                higherIsBetter: false,
                fraction: f,
                percentile: p,
              });
              r[b.name].push(v ?? Number.NaN);
              r.details[b.name].push(m);
            }
            log(
              `${label} (${gen}) ${b.name} t${t}: p50 ${m.latencyMs.p50?.toFixed(1)} ms, p99 ${m.latencyMs.p99?.toFixed(1)} ms, p99.9 ${m.latencyMs.p999?.toFixed(1)} ms (achieved ${Math.round(m.recordsPerSec)} rec/s)${stalls ? `; ${stallsText(stalls)}` : ''}`,
            );
          }
        }
      }
      // End to end (produce → consume), one record at a time, with Kafka's EndToEndLatency tool.
      const e2eRecords = QUICK ? 200 : 2000;
      for (const b of bs) {
        const m = await attempt(`end-to-end latency on ${b.name}`, () =>
          measured(b, () => kafkaEndToEnd(b.port, 'e2e', e2eRecords, LATENCY_SOURCE.size)),
        );
        if (!m?.latencyMs) continue;
        for (const [p, v] of [
          ['p50', m.latencyMs.p50],
          ['p99', m.latencyMs.p99],
          ['p99.9', m.latencyMs.p999],
        ] as const) {
          const r = row(`e2e/${p}`, {
            kind: 'latency',
            label: `end-to-end ${sizeLabel(LATENCY_SOURCE.size)}, one at a time, acks=all ${p}`,
            generator: 'kafka-e2e',
            unit: 'ms',
            higherIsBetter: false,
            percentile: p,
          });
          r[b.name].push(v ?? Number.NaN);
          r.details[b.name].push(m);
        }
        log(
          `end-to-end ${b.name} t${t}: p50 ${m.latencyMs.p50} ms, p99 ${m.latencyMs.p99} ms, p99.9 ${m.latencyMs.p999} ms`,
        );
      }
    } finally {
      for (const b of bs) await attempt(`stop ${b.name}`, () => b.stop());
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
    }
  }
}

/** Waits until a fresh client sees every partition of `topic` with a leader. */
async function partitionsReady(port: number, topic: string, count: number, deadlineMs: number): Promise<number> {
  const until = performance.now() + deadlineMs;
  const admin = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-ready', retries: 0 }).admin();
  try {
    while (performance.now() < until) {
      try {
        const [info] = await admin.describeTopics([topic]);
        if (
          info &&
          info.partitions.length === count &&
          info.partitions.every((p) => p.leader >= 0 && p.errorCode === 0)
        )
          return performance.now();
      } catch {}
      await sleep(20);
    }
  } finally {
    await admin.close();
  }
  throw new Error(`${topic} not ready within ${deadlineMs} ms`);
}

async function startupPhase(): Promise<void> {
  const trials = TRIALS;
  for (let t = 1; t <= trials; t++) {
    for (const b of await brokers()) {
      const dir = freshDir(b);
      await attempt(`start-up of ${b.name}`, async () => {
        try {
          // The first start formats Kafka's dir (kafka-storage format); time the second, on the formatted empty dir.
          await b.start(dir);
          await b.stop();
          const s = await b.start(dir);
          row('cost-startup', {
            kind: 'cost',
            label: 'start-up, empty data dir (spawn → ApiVersions answers)',
            unit: 's',
            higherIsBetter: false,
          })[b.name].push(s);
          const N = 1000;
          await createTopics(b.port, [{ name: 'many', numPartitions: N }]);
          await partitionsReady(b.port, 'many', N, 120_000);
          await b.stop();
          const t0 = performance.now();
          const answered = await b.start(dir);
          const ready = await partitionsReady(b.port, 'many', N, 120_000);
          row('cost-restart', {
            kind: 'cost',
            label: 'restart with 1,000 partitions (spawn → ApiVersions answers)',
            unit: 's',
            higherIsBetter: false,
          })[b.name].push(answered);
          row('cost-restart-ready', {
            kind: 'cost',
            label: 'restart with 1,000 partitions (spawn → all 1,000 leaders in Metadata)',
            unit: 's',
            higherIsBetter: false,
          })[b.name].push((ready - t0) / 1000);
          log(
            `start-up ${b.name} t${t}: ${s.toFixed(2)} s; restart with ${N} partitions: answers ${answered.toFixed(2)} s, ready ${((ready - t0) / 1000).toFixed(2)} s`,
          );
        } finally {
          await b.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }
}

// Restart after a crash: N partitions with a few records each, SIGKILL, start again. Unlike the clean
// restart above, the broker finds no clean-shutdown marker and must recover its logs.
const CRASH_PARTITIONS = args['crash-partitions']
  ? args['crash-partitions'].split(',').map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1 || n > 20_000) throw new Error(`--crash-partitions: ${x} is not 1–20000`);
      return n;
    })
  : QUICK
    ? [100]
    : [1000, 10_000];
const CRASH_RECORDS_PER_PARTITION = 3;
// A restart that needs more than this is recorded as a failure rather than left to take the machine.
const CRASH_DEADLINE_MS = QUICK ? 60_000 : 300_000;
const CRASH_RSS_LIMIT_MIB = 8192;

/** Writes `perPartition` small records to every partition of `topicName` (acks=all) and waits for all acks. */
async function fillPartitions(port: number, topicName: string, partitions: number, perPartition: number) {
  const producer = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-fill' }).producer({
    acks: 'all',
    idempotent: false,
  });
  const t = topic(topicName);
  const value = Buffer.alloc(100, 'x');
  try {
    const WINDOW = 20_000; // outstanding sends at most
    let pending: Promise<unknown>[] = [];
    for (let p = 0; p < partitions; p++)
      for (let i = 0; i < perPartition; i++) {
        pending.push(producer.send(t, { value, partition: p }));
        if (pending.length >= WINDOW) {
          await Promise.all(pending);
          pending = [];
        }
      }
    await Promise.all(pending);
  } finally {
    await producer.close();
  }
}

/**
 * Polls until `check` passes, with the broker's RSS bounded; resolves with performance.now() at success.
 * Errors from `check` (a broker still recovering) count as not yet.
 */
async function until(what: string, pid: number, deadlineMs: number, check: () => Promise<boolean>): Promise<number> {
  const end = performance.now() + deadlineMs;
  while (performance.now() < end) {
    const rss = rssMiB(pid);
    if (rss === undefined) throw new Error(`${what}: the broker (pid ${pid}) exited`);
    if (rss > CRASH_RSS_LIMIT_MIB)
      throw new Error(`${what}: gave up at ${rss.toFixed(0)} MiB resident (limit ${CRASH_RSS_LIMIT_MIB} MiB)`);
    try {
      if (await check()) return performance.now();
    } catch {}
    await sleep(50);
  }
  throw new Error(`${what}: not within ${deadlineMs} ms`);
}

/** Kafka's controller refuses a request of more than 10,000 records (a topic and its partitions): topics of at most this many. */
const CRASH_PARTITIONS_PER_TOPIC = 5000;
/** Notes a phase adds to the report (a timed-out case, say). */
const phaseNotes: string[] = [];

async function crashRestartPhase(): Promise<void> {
  for (let t = 1; t <= TRIALS; t++)
    for (const N of CRASH_PARTITIONS)
      for (const b of await brokers()) {
        const dir = freshDir(b);
        const label = `restart after SIGKILL with ${N.toLocaleString('en-US')} partitions`;
        // Made before the attempt, so a broker that fails leaves an empty row the smoke check reports.
        const cost = (id: string, what: string, unit: string) =>
          row(`crash-restart/${N}/${id}`, { kind: 'cost', label: `${label}: ${what}`, unit, higherIsBetter: false });
        const answersRow = cost('answers', 'spawn → ApiVersions answers', 's');
        const metadataRow = cost('metadata', `spawn → all ${N.toLocaleString('en-US')} leaders in Metadata`, 's');
        const readableRow = cost('readable', 'spawn → every partition lists its records', 's');
        const rssRow = cost('rss', 'peak resident memory until readable', 'MiB');
        const topics = Array.from({ length: Math.ceil(N / CRASH_PARTITIONS_PER_TOPIC) }, (_, i) => ({
          name: `crash-${i}`,
          numPartitions: Math.min(CRASH_PARTITIONS_PER_TOPIC, N - i * CRASH_PARTITIONS_PER_TOPIC),
        }));
        await attempt(`${label} on ${b.name}`, async () => {
          try {
            await b.start(dir);
            // One request per topic: Kafka's 10,000-record limit counts every topic of a request.
            for (const tp of topics) await createTopics(b.port, [tp], CRASH_DEADLINE_MS);
            for (const tp of topics) {
              await partitionsReady(b.port, tp.name, tp.numPartitions, CRASH_DEADLINE_MS);
              await fillPartitions(b.port, tp.name, tp.numPartitions, CRASH_RECORDS_PER_PARTITION);
            }
            await b.kill();
            // One deadline for the whole restart; a stage not reached by then is recorded at the deadline
            // (a lower bound) with a note, so a slow broker shows as "more than" rather than as a gap.
            const t0 = performance.now();
            const left = () => Math.max(1, CRASH_DEADLINE_MS - (performance.now() - t0));
            const stages: Array<[Row, string]> = [
              [answersRow, 'answer ApiVersions'],
              [metadataRow, 'list every leader in Metadata'],
              [readableRow, "list every partition's records"],
            ];
            const reached: number[] = [];
            let pid: number | undefined;
            const startTimeout = b.startTimeoutMs;
            b.startTimeoutMs = CRASH_DEADLINE_MS;
            const client = new Kafka({ brokers: [`127.0.0.1:${b.port}`], clientId: 'bench-crash', retries: 0 });
            const admin = client.admin();
            const tps = topics.flatMap((tp) =>
              Array.from({ length: tp.numPartitions }, (_, partition) => ({ topic: tp.name, partition })),
            );
            try {
              reached.push(await b.start(dir));
              pid = b.pid();
              const metadata = await until(`${label}: Metadata`, pid, left(), async () => {
                const infos = await admin.describeTopics(topics.map((tp) => tp.name));
                return topics.every((tp) => {
                  const info = infos.find((i) => i.name === tp.name);
                  return (
                    info?.partitions.length === tp.numPartitions &&
                    info.partitions.every((p) => p.leader >= 0 && p.errorCode === 0)
                  );
                });
              });
              reached.push((metadata - t0) / 1000);
              // Readable: every partition answers ListOffsets with the records written before the kill.
              const readable = await until(`${label}: ListOffsets`, pid, left(), async () =>
                (await admin.listOffsets(tps, 'latest')).every((o) => o.offset >= BigInt(CRASH_RECORDS_PER_PARTITION)),
              );
              reached.push((readable - t0) / 1000);
            } catch (e) {
              if (!/not within|ApiVersions|did not answer|timed out/i.test((e as Error).message)) throw e;
              const stage = stages[reached.length];
              phaseNotes.push(
                `${label}, ${b.name}, trial ${t}: did not ${stage[1]} within ${CRASH_DEADLINE_MS / 1000} s of the restart; the deadline is recorded as its figure and as that of every later stage (a lower bound).`,
              );
              log(`${label} ${b.name} t${t}: timed out before it could ${stage[1]}`);
              while (reached.length < stages.length) reached.push(CRASH_DEADLINE_MS / 1000);
            } finally {
              b.startTimeoutMs = startTimeout;
              await admin.close();
            }
            const peak = (pid !== undefined ? peakRssMiB(pid) : undefined) ?? Number.NaN;
            for (const [i, [r]] of stages.entries()) r[b.name].push(reached[i]);
            rssRow[b.name].push(peak);
            log(
              `${label} ${b.name} t${t}: answers ${reached[0].toFixed(2)} s, Metadata ${reached[1].toFixed(2)} s, readable ${reached[2].toFixed(2)} s, peak RSS ${peak.toFixed(0)} MiB`,
            );
          } finally {
            await b.kill();
            rmSync(dir, { recursive: true, force: true });
          }
        });
      }
}

// Produce latency while the log cleaner works: a topic filled with overwrites of a few keys in 1 MiB
// segments, a steady keyed producer timed send → ack, first while the topic's policy is delete (nothing
// to clean), then after switching it to compact (the cleaner rewrites the backlog beside the producer).
const COMPACT_PREFILL_MIB = QUICK ? 32 : 256;
const COMPACT_KEYS = 1000;
const COMPACT_RATE = 1000; // rec/s offered by the timed producer
const COMPACT_WINDOW_S = QUICK ? 10 : 20; // both brokers look for cleanable logs every 5 s
const COMPACT_VALUE = KiB;

/** Bytes of a partition's live segment files (`*.log`; Kafka keeps replaced ones as `*.log.deleted` for a while). */
function segmentBytes(partitionDir: string): number {
  let total = 0;
  for (const f of readdirSync(partitionDir)) if (f.endsWith('.log')) total += statSync(join(partitionDir, f)).size;
  return total;
}

async function prefillKeys(port: number, topicName: string, mib: number): Promise<void> {
  const producer = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-prefill' }).producer({
    acks: 1,
    idempotent: false,
    batchSize: 256 * KiB,
  });
  const t = topic(topicName);
  const value = Buffer.alloc(COMPACT_VALUE, 'p');
  try {
    let pending: Promise<unknown>[] = [];
    for (let i = 0; i < (mib * 1024 * 1024) / COMPACT_VALUE; i++) {
      pending.push(producer.send(t, { key: Buffer.from(`k${i % COMPACT_KEYS}`), value }));
      if (pending.length >= 16_384) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
  } finally {
    await producer.close();
  }
}

async function compactionPhase(): Promise<void> {
  const label = (cleaning: boolean) =>
    `produce p99, ${COMPACT_RATE.toLocaleString('en-US')} keyed rec/s of ${sizeLabel(COMPACT_VALUE)}, acks=all, ${cleaning ? `while the cleaner compacts ${COMPACT_PREFILL_MIB} MiB of overwrites` : 'same topic, nothing to clean'}`;
  const rowOf = (cleaning: boolean) =>
    row(`compaction/${cleaning ? 'cleaning' : 'idle'}/p99`, {
      kind: 'latency',
      label: label(cleaning),
      generator: 'sluice-client',
      unit: 'ms',
      higherIsBetter: false,
    });
  const idleRow = rowOf(false);
  const cleaningRow = rowOf(true);
  const records = COMPACT_RATE * COMPACT_WINDOW_S;
  for (let t = 1; t <= TRIALS; t++)
    for (const b of await brokers()) {
      const dir = freshDir(b);
      await attempt(`produce latency during compaction on ${b.name}`, async () => {
        try {
          // Kafka's cleaner looks for work every 15 s by default; Sluice's maintenance every 5 s. Same here.
          await b.start(dir, b.name === 'kafka' ? { 'log.cleaner.backoff.ms': '5000' } : {});
          await createTopics(b.port, [
            {
              name: 'compact',
              numPartitions: 1,
              configs: {
                'cleanup.policy': 'delete',
                'segment.bytes': String(1 << 20),
                'min.cleanable.dirty.ratio': '0.01',
              },
            },
          ]);
          await prefillKeys(b.port, 'compact', COMPACT_PREFILL_MIB);
          const steady = () =>
            measured(b, () =>
              sluiceClient({
                mode: 'steady',
                port: b.port,
                topic: 'compact',
                records,
                size: COMPACT_VALUE,
                acks: 'all',
                rate: COMPACT_RATE,
                keys: COMPACT_KEYS,
              }),
            );
          const idle = await steady();
          const partitionDir = join(dir, 'data', 'compact-0');
          const before = segmentBytes(partitionDir);
          const admin = new Kafka({ brokers: [`127.0.0.1:${b.port}`], clientId: 'bench-admin' }).admin();
          try {
            await admin.incrementalAlterConfigs(ConfigResource.TOPIC, 'compact', [
              { name: 'cleanup.policy', value: 'compact' },
            ]);
          } finally {
            await admin.close();
          }
          const cleaning = await steady();
          const after = segmentBytes(partitionDir);
          // The row means something only if the cleaner did shrink the log during the window.
          if (!(after < before / 2))
            throw new Error(`the cleaner did not compact within ${COMPACT_WINDOW_S} s (${before} → ${after} bytes)`);
          idleRow[b.name].push(idle.latencyMs?.p99 ?? Number.NaN);
          idleRow.details[b.name].push(idle);
          cleaningRow[b.name].push(cleaning.latencyMs?.p99 ?? Number.NaN);
          cleaningRow.details[b.name].push({
            ...cleaning,
            extra: { segmentBytesBefore: before, segmentBytesAfter: after },
          });
          log(
            `compaction ${b.name} t${t}: produce p99 ${idle.latencyMs?.p99?.toFixed(1)} ms without cleaning, ${cleaning.latencyMs?.p99?.toFixed(1)} ms while cleaning (max ${cleaning.latencyMs?.max?.toFixed(0)} ms); log ${(before / 2 ** 20).toFixed(0)} → ${(after / 2 ** 20).toFixed(1)} MiB`,
          );
        } finally {
          await b.kill();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
}

// Scale at rest: many idle partitions (memory, CPU while nothing happens), then a large consumer group
// (time to settle with one owner per partition, broker memory with the group in place).
const IDLE_PARTITIONS = QUICK ? 600 : 6000;
const IDLE_WINDOW_S = QUICK ? 3 : 20;
const GROUP_MEMBERS = QUICK ? 20 : 100;
const GROUP_PARTITIONS = GROUP_MEMBERS * 2;

async function scalePhase(): Promise<void> {
  const cost = (id: string, label: string, unit: string) =>
    row(`scale/${id}`, { kind: 'cost', label, unit, higherIsBetter: false });
  const n = (x: number) => x.toLocaleString('en-US');
  const idleRss = cost('idle-rss', `resident memory, ${n(IDLE_PARTITIONS)} idle partitions`, 'MiB');
  const idleCpu = cost('idle-cpu', `broker CPU, ${n(IDLE_PARTITIONS)} idle partitions (% of one core)`, '%');
  const groupJoin = cost(
    'group-join',
    `consumer group of ${GROUP_MEMBERS} on ${GROUP_PARTITIONS} partitions: start → one owner per partition`,
    's',
  );
  const groupRss = cost('group-rss', `resident memory, with the ${GROUP_MEMBERS}-member group in place`, 'MiB');
  for (let t = 1; t <= TRIALS; t++)
    for (const b of await brokers()) {
      const dir = freshDir(b);
      await attempt(`scale on ${b.name}`, async () => {
        try {
          await b.start(dir);
          // Topics of 100 partitions, as an application would have them.
          const topics = Array.from({ length: Math.ceil(IDLE_PARTITIONS / 100) }, (_, i) => ({
            name: `idle-${i}`,
            numPartitions: Math.min(100, IDLE_PARTITIONS - i * 100),
          }));
          await createTopics(b.port, topics);
          for (const tp of topics) await partitionsReady(b.port, tp.name, tp.numPartitions, 120_000);
          await sleep(QUICK ? 2000 : 15_000); // creation's garbage and background work settle
          const cpu0 = cpuSeconds(b.pid()) ?? Number.NaN;
          await sleep(IDLE_WINDOW_S * 1000);
          const cpu = (((cpuSeconds(b.pid()) ?? Number.NaN) - cpu0) / IDLE_WINDOW_S) * 100;
          const rss = rssMiB(b.pid()) ?? Number.NaN;
          idleRss[b.name].push(rss);
          idleCpu[b.name].push(cpu);
          log(
            `scale ${b.name} t${t}: ${n(IDLE_PARTITIONS)} idle partitions: ${rss.toFixed(0)} MiB, CPU ${cpu.toFixed(1)}%`,
          );

          await createTopics(b.port, [{ name: 'wide', numPartitions: GROUP_PARTITIONS }]);
          await partitionsReady(b.port, 'wide', GROUP_PARTITIONS, 120_000);
          const kafka = new Kafka({ brokers: [`127.0.0.1:${b.port}`], clientId: 'bench-group' });
          const consumers = Array.from({ length: GROUP_MEMBERS }, () => kafka.consumer({ groupId: 'bench-wide' }));
          const t0 = performance.now();
          const runs = consumers.map((c) => c.run(topic('wide'), () => {}).catch((e: unknown) => e));
          try {
            const settled = () => {
              const gens = new Set(consumers.map((c) => c.groupMetadata()?.generationId ?? -1));
              const owned = new Set(consumers.flatMap((c) => c.assignment().map((tp) => tp.partition)));
              const count = consumers.reduce((k, c) => k + c.assignment().length, 0);
              return gens.size === 1 && !gens.has(-1) && owned.size === GROUP_PARTITIONS && count === GROUP_PARTITIONS;
            };
            const joined = await until(`${GROUP_MEMBERS}-member group`, b.pid(), 120_000, async () => settled());
            await sleep(2000);
            const rssGroup = rssMiB(b.pid()) ?? Number.NaN;
            groupJoin[b.name].push((joined - t0) / 1000);
            groupRss[b.name].push(rssGroup);
            log(
              `scale ${b.name} t${t}: ${GROUP_MEMBERS}-member group settled in ${((joined - t0) / 1000).toFixed(1)} s; ${rssGroup.toFixed(0)} MiB`,
            );
          } finally {
            await Promise.all(consumers.map((c) => Promise.race([c.close(), sleep(10_000)])));
            await Promise.race([Promise.all(runs), sleep(10_000)]);
          }
        } finally {
          await b.kill();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
}

// One broker against a 3-broker cluster of processes on the same machine (its own etcd), same load:
// @sluice/client producing 1 KiB records to 6 partitions with acks=all, to one broker, to the cluster
// with RF=1, and to the cluster with RF=3 (min.insync.replicas=2, every replica in the ISR first). The
// cost is the summed utime+stime of every broker process over the load, per GiB produced, and etcd's.
const CLUSTER_BROKERS = 3;
const CLUSTER_PARTITIONS = 6;
const CLUSTER_RECORDS = QUICK ? 2_000 : 40_000;

type ClusterSetup = 'single' | 'rf1' | 'rf3';
const CLUSTER_SETUPS: ReadonlyArray<{ id: ClusterSetup; label: string; rf: number }> = [
  { id: 'single', label: 'one broker', rf: 1 },
  { id: 'rf1', label: `${CLUSTER_BROKERS}-broker cluster, RF=1`, rf: 1 },
  { id: 'rf3', label: `${CLUSTER_BROKERS}-broker cluster, RF=3, min.insync.replicas=2`, rf: 3 },
];

async function clusterPhase(): Promise<void> {
  const load = `produce ${sizeLabel(KiB)}, ${CLUSTER_PARTITIONS} p, acks=all`;
  const rowsOf = (s: (typeof CLUSTER_SETUPS)[number]) => ({
    rate: row(`cluster/${s.id}/produce`, {
      kind: 'cluster',
      label: `${load}: ${s.label}`,
      generator: 'sluice-client',
      unit: 'rec/s',
      higherIsBetter: true,
      size: KiB,
      baseline: s.id === 'single' ? undefined : 'cluster/single/produce',
    }),
    cpu: row(`cluster/${s.id}/cpu`, {
      kind: 'cluster',
      label: `broker CPU per GiB produced (all broker processes): ${s.label}`,
      unit: 'CPU s/GiB',
      higherIsBetter: false,
      baseline: s.id === 'single' ? undefined : 'cluster/single/cpu',
    }),
    etcd:
      s.id === 'single'
        ? undefined
        : row(`cluster/${s.id}/etcd`, {
            kind: 'cluster',
            label: `etcd CPU per GiB produced: ${s.label}`,
            unit: 'CPU s/GiB',
            higherIsBetter: false,
          }),
  });
  // Made before any attempt, so a setup that fails leaves empty rows the smoke check reports.
  const rowsBySetup = new Map(CLUSTER_SETUPS.map((s) => [s.id, rowsOf(s)]));
  const measure = async (
    s: (typeof CLUSTER_SETUPS)[number],
    t: number,
    port: number,
    pids: number[],
    etcdPid?: number,
  ) => {
    const topicName = `cluster-${s.id}`;
    const sum = (ps: number[]) =>
      ps.reduce((a, p) => {
        const c = cpuSeconds(p);
        if (c === undefined) throw new Error(`${s.label}: process ${p} is gone`);
        return a + c;
      }, 0);
    const cpu0 = sum(pids);
    const etcd0 = etcdPid === undefined ? 0 : sum([etcdPid]);
    const m = await sluiceClient({
      mode: 'produce',
      port,
      topic: topicName,
      records: CLUSTER_RECORDS,
      size: KiB,
      acks: 'all',
      codec: 'none',
    });
    const cpu = sum(pids) - cpu0;
    const etcdCpu = etcdPid === undefined ? 0 : sum([etcdPid]) - etcd0;
    const gib = (m.records * KiB) / 2 ** 30;
    const r = rowsBySetup.get(s.id)!;
    r.rate.sluice.push(m.recordsPerSec);
    r.rate.details.sluice.push({ ...m, extra: { brokerCpuSec: cpu, etcdCpuSec: etcdCpu, brokers: pids.length } });
    r.cpu.sluice.push(cpu / gib);
    r.etcd?.sluice.push(etcdCpu / gib);
    log(
      `cluster ${s.label} t${t}: ${Math.round(m.recordsPerSec).toLocaleString('en-US')} rec/s, ${m.mibPerSec.toFixed(1)} MiB/s; brokers ${cpu.toFixed(2)} CPU s (${(cpu / gib).toFixed(1)} s/GiB)${etcdPid === undefined ? '' : `, etcd ${etcdCpu.toFixed(2)} CPU s`}`,
    );
  };
  for (let t = 1; t <= TRIALS; t++) {
    const single = CLUSTER_SETUPS[0];
    await attempt(`cluster row, ${single.label}`, async () => {
      const [port] = await freePorts(1);
      const b = new SluiceBroker(port, args.profile);
      const dir = join(work, `cluster-single-${++trialDirSeq}`);
      try {
        await b.start(dir);
        await createTopics(port, [{ name: `cluster-${single.id}`, numPartitions: CLUSTER_PARTITIONS }]);
        await measure(single, t, port, [b.pid()]);
      } finally {
        await b.kill();
        rmSync(dir, { recursive: true, force: true });
      }
    });
    const dir = join(work, `cluster-${++trialDirSeq}`);
    let cluster: SluiceCluster | undefined;
    try {
      cluster = await attempt(`cluster row: start etcd and ${CLUSTER_BROKERS} brokers`, () =>
        startSluiceCluster(dir, CLUSTER_BROKERS),
      );
      const c = cluster;
      if (!c) continue;
      const port = c.brokers[0].port;
      const pids = c.brokers.map((b) => b.pid());
      log(`cluster t${t}: etcd and ${CLUSTER_BROKERS} brokers up (ports ${c.brokers.map((b) => b.port).join(', ')})`);
      for (const s of CLUSTER_SETUPS.slice(1))
        await attempt(`cluster row, ${s.label}`, async () => {
          await createReplicatedTopic(
            port,
            `cluster-${s.id}`,
            CLUSTER_PARTITIONS,
            s.rf,
            s.rf > 1 ? { 'min.insync.replicas': '2' } : {},
          );
          await measure(s, t, port, pids, c.etcdPid);
        });
    } finally {
      await attempt('cluster row: stop the cluster', async () => cluster?.stop());
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// The ceiling: the raw-protocol generator (pre-built batches, many requests in flight, next to no client
// cost) against both brokers, produce and then fetch of what was produced, each with the broker's CPU per
// GiB (the cost table) and its peak resident memory split into file-backed and anonymous parts.
interface CostCase {
  size: number;
  codec: Codec;
  acks: Acks;
  partitions: number;
}
const COST_MATRIX: CostCase[] = [100, KiB].flatMap((size) =>
  (['none', 'lz4'] as const).flatMap((codec) =>
    (['1', 'all'] as const).flatMap((acks) => [1, 6, 1000].map((partitions) => ({ size, codec, acks, partitions }))),
  ),
);
const COST_CASES: CostCase[] = QUICK
  ? [{ size: KiB, codec: 'none', acks: '1', partitions: 6 }]
  : args['cost-matrix']
    ? COST_MATRIX
    : [
        { size: 100, codec: 'none', acks: '1', partitions: 6 },
        { size: KiB, codec: 'none', acks: '1', partitions: 6 },
        { size: KiB, codec: 'none', acks: 'all', partitions: 6 },
        { size: KiB, codec: 'lz4', acks: '1', partitions: 6 },
        { size: KiB, codec: 'none', acks: '1', partitions: 1 },
        { size: KiB, codec: 'none', acks: '1', partitions: 1000 },
      ];
// Enough for a few seconds a load at this machine's rates; 1,000 partitions a quarter (Kafka takes ~4 k
// records/s there while it creates each partition's segment files).
const rawBytes = (size: number, partitions = 6) =>
  ((QUICK ? 8 : size >= KiB ? 128 : 32) * 2 ** 20) / (partitions >= 1000 && !QUICK ? 4 : 1);
// Each raw load lasts at least this long: produce sends its bytes and goes on until then, fetch reads for
// this long (a partition read to its end again from offset 0). The bytes alone took 0.03–0.4 s on Sluice
// (1,000 partitions: 27 ms, and half the partitions got no batch), where connecting and the first round
// trips weighed in the rate and in the CPU per GiB.
const RAW_SECONDS = QUICK ? 0.5 : 1;
const costLabel = (c: CostCase) =>
  `${sizeLabel(c.size)}, ${c.partitions} p, acks=${c.acks}, ${c.codec === 'none' ? 'uncompressed' : c.codec}`;
const costTopic = (c: CostCase) => `raw-${c.size}-${c.partitions}-${c.acks}-${c.codec}`;

async function ceilingPhase(): Promise<void> {
  for (let t = 1; t <= TRIALS; t++) {
    const bs = await brokers();
    const rss = new Map<string, RssSampler>();
    try {
      for (const b of bs) {
        await b.start(freshDir(b));
        await createTopics(
          b.port,
          COST_CASES.map((c) => ({ name: costTopic(c), numPartitions: c.partitions })),
        );
        for (const c of COST_CASES) await partitionsReady(b.port, costTopic(c), c.partitions, 120_000);
        // A warm-up load first (a JVM compiles its hot paths under load; a server runs warm).
        await createTopics(b.port, [{ name: 'raw-warmup', numPartitions: 6 }]);
        await partitionsReady(b.port, 'raw-warmup', 6, 120_000);
        await rawProtocol({
          mode: 'produce',
          port: b.port,
          topic: 'raw-warmup',
          partitions: 6,
          size: KiB,
          bytes: (QUICK ? 4 : 64) * 2 ** 20,
        });
        // And a warm-up fetch of it: the fetch rows are timed now, and a JVM that has served no Fetch yet
        // compiles that path inside the first of them (seen under load: Kafka's 1 KiB, 6 p fetch at 0.27 M rec/s
        // right after a start, 0.4–0.9 M rec/s on one that had served fetches).
        await rawProtocol({
          mode: 'fetch',
          port: b.port,
          topic: 'raw-warmup',
          partitions: 6,
          size: KiB,
          bytes: 1,
          seconds: QUICK ? 0.5 : 2,
        });
        rss.set(b.name, new RssSampler(b.pid(), 250));
      }
      for (const c of COST_CASES) {
        const base: Omit<RawGenConfig, 'mode' | 'port'> = {
          topic: costTopic(c),
          partitions: c.partitions,
          size: c.size,
          bytes: rawBytes(c.size, c.partitions),
          acks: c.acks,
          codec: c.codec,
        };
        for (const mode of ['produce', 'fetch'] as const) {
          // Reading back is the same whatever acks wrote it: fetch only after the acks=1 load.
          if (mode === 'fetch' && c.acks !== '1') continue;
          const kind = mode === 'produce' ? 'produce' : 'consume';
          const r = row(`${kind}/raw/${costTopic(c)}`, {
            kind,
            label: `${kind} ${costLabel(c)}, broker's ceiling`,
            generator: 'raw',
            unit: 'rec/s',
            higherIsBetter: true,
            size: c.size,
          });
          const cost = row(`cost/${kind}/${costTopic(c)}`, {
            kind: 'cost',
            label: `broker CPU per GiB ${mode === 'produce' ? 'produced' : 'consumed'} (${costLabel(c)}, raw protocol)`,
            unit: 'CPU s/GiB',
            higherIsBetter: false,
          });
          for (const b of bs) {
            const m = await attempt(`${r.label} on ${b.name}`, () =>
              measured(b, () => rawProtocol({ ...base, mode, port: b.port, seconds: RAW_SECONDS })),
            );
            if (!m) continue;
            r[b.name].push(m.recordsPerSec);
            r.details[b.name].push(m);
            cost[b.name].push(m.cpuSec / ((m.records * c.size) / 2 ** 30));
            log(
              `${r.label} ${b.name} t${t}: ${Math.round(m.recordsPerSec).toLocaleString('en-US')} rec/s, ${m.mibPerSec.toFixed(1)} MiB/s; broker ${(m.cpuSec / ((m.records * c.size) / 2 ** 30)).toFixed(2)} CPU s/GiB; generator ${m.generator?.maxCores.toFixed(2)} cores`,
            );
          }
        }
      }
    } finally {
      for (const b of bs) {
        const s = rss.get(b.name);
        if (s) {
          s.stop();
          for (const part of ['file', 'anon'] as const)
            row(`ceiling/rss-${part}`, {
              kind: 'cost',
              label: `resident memory under the raw-protocol load, peak ${part === 'file' ? 'file-backed (RssFile)' : 'anonymous (RssAnon)'}`,
              unit: 'MiB',
              higherIsBetter: false,
            })[b.name].push(s.peakSplit[part]);
        }
        await attempt(`stop ${b.name}`, () => b.stop());
      }
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
    }
  }
}

// A CPU profile of the Sluice broker at its ceiling: one broker under node --cpu-prof through the raw
// produce load, a second (on the same data, restarted under the profiler) through the raw fetch of it;
// top self-time frames and the GC share go to profile-<stamp>.md beside the results.
const PROFILE_CASE: CostCase = { size: KiB, codec: 'none', acks: '1', partitions: 6 };
const profileSections: string[] = [];

async function profilePhase(): Promise<void> {
  const [port] = await freePorts(1);
  const dir = join(work, `profile-${++trialDirSeq}`);
  const base = {
    topic: costTopic(PROFILE_CASE),
    partitions: PROFILE_CASE.partitions,
    size: PROFILE_CASE.size,
    bytes: rawBytes(PROFILE_CASE.size) * (QUICK ? 1 : 2),
    acks: PROFILE_CASE.acks,
    codec: PROFILE_CASE.codec,
  };
  for (const mode of ['produce', 'fetch'] as const) {
    const profDir = join(work, `cpuprofile-${mode}`);
    mkdirSync(profDir, { recursive: true });
    const b = new SluiceBroker(port, profDir);
    let window: { fromUs: number; toUs: number } | undefined;
    await attempt(`profile under ${mode}`, async () => {
      await b.start(dir);
      try {
        if (mode === 'produce') await createTopics(port, [{ name: base.topic, numPartitions: base.partitions }]);
        const m = await rawProtocol({ ...base, mode, port, seconds: RAW_SECONDS });
        // The load's own window (the generator's start-up and the broker's left out), on the profiler's clock.
        const toUs = Number(process.hrtime.bigint() / 1000n);
        window = { fromUs: toUs - m.seconds * 1e6, toUs };
        log(`profile ${mode}: ${Math.round(m.recordsPerSec).toLocaleString('en-US')} rec/s under --cpu-prof`);
      } finally {
        await b.stop(); // a clean exit writes the profile
      }
      const s = summarizeProfiles(profDir, 20, window);
      if (s.totalUs === 0) throw new Error(`no profile samples in ${profDir}`);
      profileSections.push(
        profileMarkdown(
          `Sluice broker, raw-protocol ${mode} of ${sizeLabel(base.size)} records to ${base.partitions} partitions at its ceiling`,
          s,
        ),
      );
    });
  }
  rmSync(dir, { recursive: true, force: true });
}

// Replicated rows (#12): a 3-broker Sluice cluster (etcd) against a 3-node KRaft Apache Kafka on the same
// machine, both up for the whole trial and loaded one at a time, both with a 6-partition topic at RF=3 and
// min.insync.replicas=2, acks=all. Throughput from @sluice/client at full speed; p99 send→ack at a fixed
// offered load of half the lower of the two maxima of this trial; produce→consume p99 from Kafka's
// EndToEndLatency on a 1-partition RF=3 topic; summed RSS peaks and CPU per GiB of every process of the
// cluster (Sluice's etcd included; Kafka's controllers run inside its nodes).
const REPLICATED_RECORDS = QUICK ? 2_000 : 40_000;
const REPLICATED_E2E = QUICK ? 100 : 2_000;

async function replicatedPhase(): Promise<void> {
  const label = `${sizeLabel(KiB)}, ${CLUSTER_PARTITIONS} p`;
  const rows = {
    produce: row('replicated/produce', {
      kind: 'replicated',
      label: `produce ${label}, full speed`,
      generator: 'sluice-client',
      unit: 'rec/s',
      higherIsBetter: true,
      size: KiB,
    }),
    p99: row('replicated/p99', {
      kind: 'replicated',
      label: `p99 send→ack at 50% of the lower maximum (${label})`,
      generator: 'sluice-client',
      unit: 'ms',
      higherIsBetter: false,
    }),
    e2e: row('replicated/e2e-p99', {
      kind: 'replicated',
      label: 'p99 produce→consume, one record at a time (1 p)',
      generator: 'kafka-e2e',
      unit: 'ms',
      higherIsBetter: false,
    }),
    rss: row('replicated/rss', {
      kind: 'replicated',
      label: 'resident memory of the whole cluster under load, sum of peaks',
      unit: 'MiB',
      higherIsBetter: false,
    }),
    cpu: row('replicated/cpu', {
      kind: 'replicated',
      label: 'CPU per GiB produced, whole cluster',
      unit: 'CPU s/GiB',
      higherIsBetter: false,
    }),
  };
  const topicConfigs = { 'min.insync.replicas': '2' };
  for (let t = 1; t <= TRIALS; t++) {
    const maxima = new Map<'sluice' | 'kafka', number>();
    const clusters: Array<{
      name: 'sluice' | 'kafka';
      start: (dir: string) => Promise<{ port: number; pids: number[]; stop: () => Promise<void> }>;
    }> = [
      {
        name: 'sluice',
        start: async (dir) => {
          const c = await startSluiceCluster(dir, CLUSTER_BROKERS);
          return { port: c.brokers[0].port, pids: [...c.brokers.map((b) => b.pid()), c.etcdPid], stop: c.stop };
        },
      },
      {
        name: 'kafka',
        start: async (dir) => {
          const c = await startKafkaCluster(dir, CLUSTER_BROKERS);
          return { port: c.ports[0], pids: c.pids(), stop: c.stop };
        },
      },
    ];
    const running = new Map<string, { port: number; pids: number[]; stop: () => Promise<void> }>();
    try {
      // Both clusters up for the whole trial (one starts per trial, not per row); each load runs on one
      // of them while the other idles: throughput on both first, then the fixed-load rows at a rate
      // both sustain.
      for (const c of clusters)
        await attempt(`replicated rows: start the ${c.name} cluster`, async () => {
          const cl = await c.start(join(work, `replicated-${c.name}-${++trialDirSeq}`));
          try {
            for (const [name, partitions] of [
              ['rep', CLUSTER_PARTITIONS],
              ['rep-lat', CLUSTER_PARTITIONS],
              ['rep-e2e', 1],
            ] as const)
              await createReplicatedTopic(cl.port, name, partitions, 3, topicConfigs, 120_000);
          } catch (e) {
            // Never measured without its RF=3 topics (a produce would auto-create one at RF=1).
            await cl.stop();
            throw e;
          }
          running.set(c.name, cl);
          log(`replicated t${t}: ${c.name} cluster up, topics at RF=3 with every replica in the ISR`);
        });
      for (const c of clusters) {
        const cl = running.get(c.name);
        if (!cl) continue;
        await attempt(`replicated throughput, ${c.name} cluster`, async () => {
          const samplers = cl.pids.map((p) => new RssSampler(p, 250));
          const sum = () => cl.pids.reduce((a, p) => a + (cpuSeconds(p) ?? Number.NaN), 0);
          const cpu0 = sum();
          const m = await sluiceClient({
            mode: 'produce',
            port: cl.port,
            topic: 'rep',
            records: REPLICATED_RECORDS,
            size: KiB,
            acks: 'all',
            codec: 'none',
          });
          const cpu = sum() - cpu0;
          const peaks = samplers.map((s) => Math.max(...s.stop(), 0));
          rows.produce[c.name].push(m.recordsPerSec);
          rows.produce.details[c.name].push({ ...m, cpuSec: cpu });
          rows.cpu[c.name].push(cpu / ((m.records * KiB) / 2 ** 30));
          rows.rss[c.name].push(peaks.reduce((a, x) => a + x, 0));
          maxima.set(c.name, m.recordsPerSec);
          log(
            `replicated ${c.name} t${t}: ${Math.round(m.recordsPerSec).toLocaleString('en-US')} rec/s (generator ${m.generator?.maxCores.toFixed(2)} cores); cluster ${cpu.toFixed(1)} CPU s (${(cpu / ((m.records * KiB) / 2 ** 30)).toFixed(1)} s/GiB), RSS ${peaks.map((x) => x.toFixed(0)).join('+')} MiB`,
          );
        });
      }
      const lower = Math.min(...maxima.values());
      if (maxima.size < clusters.length || !Number.isFinite(lower)) continue;
      const rate = Math.max(100, Math.round(lower * 0.5));
      for (const c of clusters) {
        const cl = running.get(c.name);
        if (!cl) continue;
        await attempt(`replicated latency, ${c.name} cluster`, async () => {
          const m = await sluiceClient({
            mode: 'steady',
            port: cl.port,
            topic: 'rep-lat',
            records: Math.round(rate * (QUICK ? 1 : 5)),
            size: KiB,
            acks: 'all',
            rate,
            keys: 1000,
          });
          rows.p99[c.name].push(m.latencyMs?.p99 ?? Number.NaN);
          rows.p99.details[c.name].push({ ...m, extra: { offeredRecordsPerSec: rate } });
          const e = await kafkaEndToEnd(cl.port, 'rep-e2e', REPLICATED_E2E, KiB);
          rows.e2e[c.name].push(e.latencyMs?.p99 ?? Number.NaN);
          rows.e2e.details[c.name].push(e);
          log(
            `replicated ${c.name} t${t}: p99 send→ack ${m.latencyMs?.p99?.toFixed(1)} ms at ${rate} rec/s; produce→consume p99 ${e.latencyMs?.p99?.toFixed(1)} ms`,
          );
        });
      }
    } finally {
      for (const cl of running.values()) await attempt('stop a replicated cluster', () => cl.stop());
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
    }
  }
}

async function limitsPhase(): Promise<Record<string, Limit>> {
  log('limits: loopback TCP with iperf3');
  const tcp = await attempt('iperf3', () => loopbackTcp(QUICK ? 2 : 5, log));
  log(`limits: loopback TCP ${tcp?.value?.toFixed(0) ?? tcp?.note} MiB/s; sequential write with fdatasync (dd)`);
  const disk = await attempt('dd', () => diskWrite(QUICK ? 256 : 1024));
  log(`limits: disk ${disk?.value?.toFixed(0) ?? disk?.note} MiB/s`);
  return {
    loopbackTcp: tcp ?? { unit: 'MiB/s', note: 'failed' },
    diskFdatasync: disk ?? { unit: 'MiB/s', note: 'failed' },
  };
}

// Clients: @sluice/client, kafkajs, @platformatic/kafka and librdkafka against one Sluice broker (clients.ts).
let clientsResult: ClientsResult | undefined;
async function clientsPhase(): Promise<void> {
  const [port] = await freePorts(1);
  const b = new SluiceBroker(port);
  const dir = freshDir(b);
  await attempt('clients', async () => {
    try {
      await b.start(dir);
      clientsResult = await runClients({
        quick: QUICK,
        trials: TRIALS,
        port,
        brokerPid: () => b.pid(),
        createTopic: (name, numPartitions) => createTopics(port, [{ name, numPartitions }]),
        // In this process (a child's start-up would cost the quick run seconds); outside every timing.
        fill: async (name, records, size) => {
          const producer = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-fill' }).producer({ acks: 1 });
          const t = topic(name);
          const value = Buffer.alloc(size, 'x');
          try {
            for (let i = 0; i < records; i += 10_000)
              await Promise.all(
                Array.from({ length: Math.min(10_000, records - i) }, () => producer.send(t, { value })),
              );
          } finally {
            await producer.close();
          }
        },
        log,
        attempt,
      });
    } finally {
      await b.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// ------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  log(
    `${QUICK ? 'quick' : FULL ? 'full' : ONLY.length ? 'selected' : 'default'} run, ${TRIALS} trial(s), load average ${loadAverage().join(' ')}`,
  );
  if (PHASES.some((p) => p !== 'cluster' && p !== 'profile' && p !== 'clients' && runs(p)))
    await ensureKafkaInstalled();
  const loadBefore = loadAverage();
  const limits: Record<string, Limit> = runs('throughput')
    ? await limitsPhase()
    : {
        loopbackTcp: { unit: 'MiB/s', note: 'not run (--only)' },
        diskFdatasync: { unit: 'MiB/s', note: 'not run (--only)' },
      };
  const rdkafka = runs('throughput') ? await attempt('rdkafka_performance', () => ensureRdkafkaPerf(log)) : undefined;
  const notes: string[] = phaseNotes;
  const generators: Generator[] = ['kafka-perf'];
  if (rdkafka) generators.push('rdkafka');
  else if (runs('throughput'))
    notes.push('rdkafka_performance unavailable (node-rdkafka build failed or disabled): its rows are missing.');
  generators.push('sluice-client');
  const scenarios = produceScenarios(generators);
  log(`${scenarios.length} producer scenarios × ${TRIALS} trial(s) × 2 brokers`);
  const phaseRuns: Record<(typeof PHASES)[number], () => Promise<void>> = {
    throughput: () => throughputPhase(scenarios, rdkafka, true),
    ceiling: ceilingPhase,
    latency: latencyPhase,
    startup: startupPhase,
    crash: crashRestartPhase,
    compaction: compactionPhase,
    scale: scalePhase,
    cluster: clusterPhase,
    replicated: replicatedPhase,
    profile: profilePhase,
    clients: clientsPhase,
    // Rebalance times and share-group consume; in a --quick run only when named (it takes more than 20 s).
    groups: async () => {
      if (!QUICK || ONLY.includes('groups'))
        await groupsPhase({ quick: QUICK, trials: TRIALS, brokers, freshDir, row, attempt, createTopics, log });
    },
    // Twelve JVM tool runs a trial: not in the --quick smoke unless asked for (--only security).
    security: async () => {
      if (!QUICK || ONLY.includes('security'))
        await securityPhase({ trials: TRIALS, quick: QUICK, work, log, row, attempt });
    },
    // Two engines' start-up alone exceeds the smoke run's budget: in --quick only when asked for by --only.
    streams: async () => {
      if (!QUICK || ONLY.includes('streams'))
        await streamsPhase({
          quick: QUICK,
          trials: TRIALS,
          records: Number(args['streams-records'] ?? (QUICK ? 5_000 : 100_000)),
          kafka: async () => {
            const [port, controllerPort] = await freePorts(2);
            return new KafkaBroker(port, controllerPort);
          },
          row,
          attempt,
          log,
        });
    },
    // Not in the --quick smoke unless asked for: Kafka's start alone takes longer than the row is worth there.
    transactions: async () => {
      if (!QUICK || ONLY.includes('transactions'))
        await transactionsPhase({
          quick: QUICK,
          trials: TRIALS,
          row,
          attempt,
          brokers,
          freshDir,
          createTopics,
          log,
          cleanup: (d) => rmSync(d, { recursive: true, force: true }),
        });
    },
  };
  // Minutes per phase, so the next choice of the default selection starts from measured durations.
  const phaseMinutes: Record<string, number> = {};
  for (const p of PHASES) {
    if (!runs(p)) continue;
    const t0 = performance.now();
    await phaseRuns[p]();
    phaseMinutes[p] = Number(((performance.now() - t0) / 60_000).toFixed(2));
  }
  log(`minutes per phase: ${JSON.stringify(phaseMinutes)}`);
  const loadAfter = loadAverage();
  const uptime = (await run('uptime', [], { timeoutMs: 5000 })).stdout.trim();
  const report: Report = {
    startedAt: new Date(Date.now() - (performance.now() - started)).toISOString(),
    seconds: (performance.now() - started) / 1000,
    quick: QUICK,
    trials: TRIALS,
    machine: await machineInfo(),
    load: { before: loadBefore, after: loadAfter, uptime },
    limits,
    rows: [...rows.values()],
    errors,
    notes,
    phaseMinutes,
    ...(clientsResult ? { clients: clientsResult, sections: [clientsMarkdown(clientsResult)] } : {}),
  };
  const files = writeOutputs(report, OUT, !QUICK && ONLY.length === 0 ? join(ROOT, 'BENCHMARKS.md') : undefined);
  if (profileSections.length) {
    const p = join(OUT, `profile-${report.startedAt.replace(/[:.]/g, '-')}.md`);
    writeFileSync(
      p,
      `# CPU profile of the Sluice broker at its ceiling\n\nRun of ${report.startedAt} (\`npm run bench${QUICK ? ' -- --quick' : ''}\`, profile phase); self time by frame from \`node --cpu-prof\` on the broker process.\n\n${profileSections.join('\n')}`,
    );
    files.push(p);
  }
  log(`wrote ${files.join(', ')}`);
  rmSync(work, { recursive: true, force: true });

  // The smoke check: every scenario produced numbers for both brokers (never how fast).
  const empty = rowsWithoutNumbers(report.rows);
  const kinds = new Set(report.rows.map((r) => r.kind));
  const missingKinds = ONLY.length
    ? []
    : (['produce', 'consume', 'latency', 'cost', 'cluster', 'replicated'] as const)
        .filter((k) => (k !== 'cluster' && k !== 'replicated') || runs(k))
        .filter((k) => !kinds.has(k));
  const missingProfile = runs('profile') && profileSections.length < 2;
  const missingClients = runs('clients') ? (clientsResult ? clientsMissing(clientsResult) : ['the whole phase']) : [];
  for (const c of missingClients) log(`CHECK FAILED: no client numbers for ${c}`);
  if (missingProfile) log('CHECK FAILED: the profile phase wrote no profile summary');
  const missingLimits = Object.entries(limits).filter(([, l]) => runs('throughput') && l.value === undefined);
  const generatorsSeen = new Set(report.rows.filter((r) => r.kind === 'produce').map((r) => r.generator));
  const missingGenerators = generators.filter((g) => runs('throughput') && !generatorsSeen.has(g));
  for (const r of empty) log(`CHECK FAILED: no numbers for ${r.label} [${r.generator ?? ''}]`);
  for (const k of missingKinds) log(`CHECK FAILED: no ${k} rows`);
  for (const [k, l] of missingLimits) log(`CHECK FAILED: limit ${k} missing (${l.note})`);
  for (const g of missingGenerators) log(`CHECK FAILED: no producer row for ${g}`);
  const ok =
    empty.length === 0 &&
    missingKinds.length === 0 &&
    missingLimits.length === 0 &&
    missingGenerators.length === 0 &&
    missingClients.length === 0 &&
    !missingProfile;
  log(`${ok ? 'OK' : 'FAILED'}: ${report.rows.length} rows, ${errors.length} error(s), ${report.seconds.toFixed(0)} s`);
  return ok ? 0 : 1;
}

if (args.from) {
  const rep = JSON.parse(readFileSync(args.from, 'utf8')) as Report;
  writeOutputs(rep, dirname(args.from), rep.quick ? undefined : join(ROOT, 'BENCHMARKS.md'));
  process.exit(0);
}
process.exitCode = await main().catch((e) => {
  log(`FATAL ${(e as Error).stack}`);
  return 2;
});
// Clients may hold timers; the run is over.
process.exit(process.exitCode);
