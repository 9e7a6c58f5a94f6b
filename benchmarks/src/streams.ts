// Stream processing, @sluice/streams against Kafka Streams 4.4.0 (Java), the same topologies (WordCount, and
// a tumbling-window count suppressed until each window closes) on
// the same broker (the reference Kafka 4.4.0) and machine, alternating per trial. Each engine runs as its
// own process on a fresh application id over the same prefilled input; it is timed from the moment it
// reports its tasks running until its group has committed the whole input and the whole repartition topic.
// CPU is the engine process's utime + stime over that span. Both write every count update (Kafka Streams'
// record cache is off: @sluice/streams has none), both commit every second. End-to-end latency: WordCount on
// a fresh, empty input fed lines of one new word each at a fixed rate; each line is timed from its send until
// its word's first count is read from the output topic.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, Kafka, Producer, serde, topic } from '@sluice/client';
import type { Broker } from './brokers.js';
import { cpuSeconds, sleep } from './proc.js';
import type { Row } from './report.js';
import { percentile } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const JAVA_APP = join(ROOT, 'scripts/reference-kafka/streams/streams-app.sh');
const NODE_APP = fileURLToPath(new URL('./streams-app.ts', import.meta.url));
const PARTITIONS = 4;
const COMMIT_MS = 1000;
const WORDS = Array.from({ length: 1000 }, (_, i) => `w${i.toString(36)}`);
/** The windowed count: 1-minute windows, 5 s grace, over events 10 ms apart in event time. */
const WINDOW_MS = 60_000;
const GRACE_MS = 5_000;
const EVENT_STEP_MS = 10;

interface Scenario {
  id: 'wordcount' | 'windowed';
  input: string;
  /** Java app mode and its extra arguments after the output topic; the same for the Node app. */
  extra: string[];
  /** The repartition topic, drained too (WordCount regroups by word). */
  repartition?: (appId: string) => string;
}
const SCENARIOS: Scenario[] = [
  { id: 'wordcount', input: 'streams-lines', extra: [], repartition: (appId) => `${appId}-counts-repartition` },
  { id: 'windowed', input: 'streams-events', extra: [`${WINDOW_MS}`, `${GRACE_MS}`] },
];

export interface StreamsPhaseContext {
  quick: boolean;
  trials: number;
  /** Input lines (records); each holds 4 words. */
  records: number;
  kafka: () => Promise<Broker>;
  row: (id: string, init: Omit<Row, 'id' | 'sluice' | 'kafka' | 'details'>) => Row;
  attempt: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>;
  log: (s: string) => void;
}

type Engine = 'sluice' | 'kafka';

/** Resolves kafka-streams and compiles the Java app (once; cached outside the repository). */
async function installJavaApp(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn('bash', [JAVA_APP, 'install'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr?.on('data', (d) => {
      err = (err + String(d)).slice(-2000);
    });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`streams-app.sh install: ${code} ${err}`))));
  });
}

function startEngine(engine: Engine, sc: Scenario, bootstrap: string, appId: string, output: string, dir: string) {
  const input = sc.input;
  const proc: ChildProcess =
    engine === 'kafka'
      ? spawn(
          'bash',
          [JAVA_APP, 'run', sc.id, bootstrap, appId, 'at_least_once', `${COMMIT_MS}`, input, output, ...sc.extra],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            // Kafka Streams' state dir goes under java.io.tmpdir: the trial's own dir.
            env: { ...process.env, SLUICE_KAFKA_STREAMS_HEAP_OPTS: `-Xms256m -Xmx512m -Djava.io.tmpdir=${dir}` },
          },
        )
      : spawn(
          process.execPath,
          [
            '--conditions=sluice-source',
            '--import',
            'tsx/esm',
            NODE_APP,
            bootstrap,
            appId,
            `${COMMIT_MS}`,
            input,
            output,
            dir,
            ...(sc.id === 'windowed' ? ['windowed', ...sc.extra] : []),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT },
        );
  let err = '';
  proc.stderr?.on('data', (d) => {
    err = (err + String(d)).slice(-2000);
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const running = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${engine} did not report RUNNING in 120 s: ${err}`)), 120_000);
    proc.stdout?.on('data', (d) => {
      if (String(d).includes('RUNNING')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${engine} exited with ${code}: ${err}`));
    });
  });
  return {
    pid: () => proc.pid ?? -1,
    running,
    async stop() {
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls until the group has committed every partition of the input, then of the repartition topic, to its end. */
async function drained(admin: Admin, appId: string, sc: Scenario, deadlineMs: number): Promise<number> {
  const parts = (t: string) => Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: t, partition }));
  const inputEnds = await admin.listOffsets(parts(sc.input));
  for (;;) {
    const committed = await admin.fetchGroupOffsets(appId);
    const at = (t: string, p: number) => committed.find((c) => c.topic === t && c.partition === p)?.offset ?? 0n;
    if (inputEnds.every((e) => at(sc.input, e.partition) >= e.offset)) {
      if (sc.repartition === undefined) return performance.now();
      const repartition = sc.repartition(appId);
      const repEnds = await admin.listOffsets(parts(repartition));
      if (repEnds.every((e) => at(repartition, e.partition) >= e.offset)) return performance.now();
    }
    if (performance.now() > deadlineMs) throw new Error(`${appId} did not drain its input in time`);
    await sleep(50);
  }
}

/** The same input for both engines: lines of 4 words (WordCount); word-keyed events 10 ms apart (windowed). */
async function prefill(bootstrap: string, n: number): Promise<void> {
  const producer = new Producer({ brokers: [bootstrap] }, { lingerMs: 5 });
  const lines = topic('streams-lines', { key: serde.nullable(serde.string()), value: serde.string() });
  const events = topic('streams-events', { key: serde.string(), value: serde.string() });
  let seed = 1;
  const word = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return WORDS[seed % WORDS.length];
  };
  const start = Date.now() - n * EVENT_STEP_MS;
  for (let i = 0; i < n; i += 5000) {
    const sends: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + 5000); j++) {
      sends.push(producer.send(lines, { key: `line-${j}`, value: `${word()} ${word()} ${word()} ${word()}` }));
      sends.push(producer.send(events, { key: word(), value: 'x', timestamp: start + j * EVENT_STEP_MS }));
    }
    await Promise.all(sends);
  }
  await producer.close();
}

/**
 * WordCount's end-to-end latency on an engine started on empty topics: `rate` lines a second for `seconds`, each
 * one new word, timed from send until the word's count is read back. Returns the latencies seen (ms) and how many
 * lines were sent; a line whose count did not come back within 60 s is missing from the latencies.
 */
async function wordcountLatency(
  engine: Engine,
  bootstrap: string,
  admin: Admin,
  appId: string,
  work: string,
  rate: number,
  seconds: number,
): Promise<{ latencies: number[]; sent: number }> {
  const input = `${appId}-in`;
  const output = `${appId}-out`;
  await admin.createTopics([input, output].map((name) => ({ name, numPartitions: PARTITIONS, replicationFactor: 1 })));
  const dir = mkdtempSync(join(work, `${engine}-latency-`));
  const app = startEngine(engine, { ...SCENARIOS[0], input }, bootstrap, appId, output, dir);
  const consumer = new Kafka({ brokers: [bootstrap], clientId: 'bench-streams-latency' }).consumer({
    autoOffsetReset: 'earliest',
    autoCommit: false,
  });
  const producer = new Producer({ brokers: [bootstrap] }, { lingerMs: 0 });
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const n = Math.round(rate * seconds);
  try {
    await app.running;
    const reading = consumer.run(topic(output, { key: serde.string(), value: serde.bytes() }), (batch) => {
      const now = performance.now();
      for (const r of batch) {
        const t = sentAt.get(r.key);
        if (t === undefined) continue;
        latencies.push(now - t);
        sentAt.delete(r.key);
      }
    });
    reading.catch(() => {});
    const lines = topic(input, { key: serde.nullable(serde.string()), value: serde.string() });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const word = `u${i}`;
      sentAt.set(word, performance.now());
      producer.send(lines, { key: null, value: word }).catch(() => sentAt.delete(word));
    }
    // Bounded: what has not come back 60 s after the last send counts as missing.
    const deadline = performance.now() + 60_000;
    while (latencies.length < n && performance.now() < deadline) await sleep(50);
    return { latencies, sent: n };
  } finally {
    await Promise.race([consumer.close(), sleep(5000)]);
    await producer.close();
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function streamsPhase(ctx: StreamsPhaseContext): Promise<void> {
  const n = ctx.records;
  const engines = '(Sluice: @sluice/streams; Kafka: Kafka Streams 4.4.0; both on a Kafka 4.4.0 broker)';
  const labels: Record<Scenario['id'], string> = {
    wordcount: `WordCount, ${n.toLocaleString('en-US')} lines × 4 words, ${PARTITIONS} p ${engines}`,
    windowed: `windowed count (1 min tumbling, 5 s grace, suppressed), ${n.toLocaleString('en-US')} events, ${WORDS.length} keys, ${PARTITIONS} p ${engines}`,
  };
  const rows = Object.fromEntries(
    SCENARIOS.map((sc) => [
      sc.id,
      {
        rate: ctx.row(`streams/${sc.id}`, {
          kind: 'streams',
          label: labels[sc.id],
          unit: 'rec/s',
          higherIsBetter: true,
        }),
        cpu: ctx.row(`streams/${sc.id}-cpu`, {
          kind: 'streams',
          label: `${labels[sc.id]}: engine CPU per 1M input records`,
          unit: 'CPU s',
          higherIsBetter: false,
        }),
      },
    ]),
  );
  const latencyRate = ctx.quick ? 100 : 200;
  const latencySeconds = ctx.quick ? 5 : 15;
  const latencyLabel = (p: string) =>
    `WordCount end-to-end latency ${p}, send → count read back, ${latencyRate} lines/s for ${latencySeconds} s ${engines}`;
  const latencyRows = {
    p50: ctx.row('streams/wordcount-latency-p50', {
      kind: 'streams',
      label: latencyLabel('p50'),
      unit: 'ms',
      higherIsBetter: false,
    }),
    p99: ctx.row('streams/wordcount-latency-p99', {
      kind: 'streams',
      label: latencyLabel('p99'),
      unit: 'ms',
      higherIsBetter: false,
    }),
  };
  await ctx.attempt('streams: kafka-streams install', installJavaApp);
  const broker = await ctx.kafka();
  const work = mkdtempSync(join(tmpdir(), 'sluice-bench-streams-'));
  try {
    await broker.start(join(work, 'broker'), { 'group.initial.rebalance.delay.ms': '0' });
    const bootstrap = `127.0.0.1:${broker.port}`;
    const admin = new Admin({ brokers: [bootstrap] });
    try {
      await admin.createTopics(
        SCENARIOS.map((sc) => ({ name: sc.input, numPartitions: PARTITIONS, replicationFactor: 1 })),
      );
      await prefill(bootstrap, n);
      for (let trial = 1; trial <= ctx.trials; trial++) {
        const order: Engine[] = trial % 2 === 1 ? ['sluice', 'kafka'] : ['kafka', 'sluice'];
        for (const sc of SCENARIOS)
          for (const engine of order) {
            await ctx.attempt(`streams ${sc.id} ${engine} t${trial}`, async () => {
              const appId = `${sc.id}-${engine}-${trial}`;
              const output = `${appId}-out`;
              await admin.createTopics([{ name: output, numPartitions: PARTITIONS, replicationFactor: 1 }]);
              const dir = mkdtempSync(join(work, `${engine}-`));
              const app = startEngine(engine, sc, bootstrap, appId, output, dir);
              try {
                await app.running;
                const t0 = performance.now();
                const cpu0 = cpuSeconds(app.pid()) ?? Number.NaN;
                // Bounded: 2 min plus 2 ms a record (a loaded machine runs far below either engine's pace).
                const t1 = await drained(admin, appId, sc, t0 + 120_000 + n * 2);
                const cpu1 = cpuSeconds(app.pid()) ?? Number.NaN;
                const secs = (t1 - t0) / 1000;
                rows[sc.id].rate[engine].push(n / secs);
                rows[sc.id].cpu[engine].push(((cpu1 - cpu0) / n) * 1_000_000);
                ctx.log(
                  `streams ${sc.id} ${engine} t${trial}: ${Math.round(n / secs).toLocaleString('en-US')} rec/s, ${(cpu1 - cpu0).toFixed(1)} CPU s over ${secs.toFixed(1)} s`,
                );
              } finally {
                await app.stop();
                rmSync(dir, { recursive: true, force: true });
              }
            });
          }
        for (const engine of order) {
          await ctx.attempt(`streams latency ${engine} t${trial}`, async () => {
            const r = await wordcountLatency(
              engine,
              bootstrap,
              admin,
              `latency-${engine}-${trial}`,
              work,
              latencyRate,
              latencySeconds,
            );
            if (r.latencies.length < r.sent) {
              throw new Error(`${r.sent - r.latencies.length} of ${r.sent} counts did not come back within 60 s`);
            }
            const sorted = Float64Array.from(r.latencies).sort();
            latencyRows.p50[engine].push(percentile(sorted, 0.5));
            latencyRows.p99[engine].push(percentile(sorted, 0.99));
            ctx.log(
              `streams latency ${engine} t${trial}: p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms over ${r.sent} lines`,
            );
          });
        }
      }
    } finally {
      await admin.close();
    }
  } finally {
    await broker.stop().catch(() => broker.kill());
    rmSync(work, { recursive: true, force: true });
  }
}
