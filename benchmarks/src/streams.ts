// Stream processing, @sluice/streams against Kafka Streams 4.4.0 (Java), the same WordCount topology on
// the same broker (the reference Kafka 4.4.0) and machine, alternating per trial. Each engine runs as its
// own process on a fresh application id over the same prefilled input; it is timed from the moment it
// reports its tasks running until its group has committed the whole input and the whole repartition topic.
// CPU is the engine process's utime + stime over that span. Both write every count update (Kafka Streams'
// record cache is off: @sluice/streams has none), both commit every second.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, Producer, serde, topic } from '@sluice/client';
import type { Broker } from './brokers.js';
import { cpuSeconds, sleep } from './proc.js';
import type { Row } from './report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const JAVA_APP = join(ROOT, 'scripts/reference-kafka/streams/streams-app.sh');
const NODE_APP = fileURLToPath(new URL('./streams-app.ts', import.meta.url));
const PARTITIONS = 4;
const COMMIT_MS = 1000;
const WORDS = Array.from({ length: 1000 }, (_, i) => `w${i.toString(36)}`);

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

function startEngine(engine: Engine, bootstrap: string, appId: string, input: string, output: string, dir: string) {
  const proc: ChildProcess =
    engine === 'kafka'
      ? spawn(
          'bash',
          [JAVA_APP, 'run', 'wordcount', bootstrap, appId, 'at_least_once', `${COMMIT_MS}`, input, output],
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
async function drained(admin: Admin, appId: string, input: string, deadlineMs: number): Promise<number> {
  const repartition = `${appId}-counts-repartition`;
  const parts = (t: string) => Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: t, partition }));
  const inputEnds = await admin.listOffsets(parts(input));
  for (;;) {
    const committed = await admin.fetchGroupOffsets(appId);
    const at = (t: string, p: number) => committed.find((c) => c.topic === t && c.partition === p)?.offset ?? 0n;
    if (inputEnds.every((e) => at(input, e.partition) >= e.offset)) {
      const repEnds = await admin.listOffsets(parts(repartition));
      if (repEnds.every((e) => at(repartition, e.partition) >= e.offset)) return performance.now();
    }
    if (performance.now() > deadlineMs) throw new Error(`${appId} did not drain its input in time`);
    await sleep(50);
  }
}

export async function streamsPhase(ctx: StreamsPhaseContext): Promise<void> {
  const n = ctx.records;
  const label = `WordCount, ${n.toLocaleString('en-US')} lines × 4 words, ${PARTITIONS} p (Sluice: @sluice/streams; Kafka: Kafka Streams 4.4.0; both on a Kafka 4.4.0 broker)`;
  const rate = ctx.row('streams/wordcount', { kind: 'streams', label, unit: 'lines/s', higherIsBetter: true });
  const cpu = ctx.row('streams/wordcount-cpu', {
    kind: 'streams',
    label: `${label}: engine CPU per 1M lines`,
    unit: 'CPU s',
    higherIsBetter: false,
  });
  await ctx.attempt('streams: kafka-streams install', installJavaApp);
  const broker = await ctx.kafka();
  const work = mkdtempSync(join(tmpdir(), 'sluice-bench-streams-'));
  try {
    await broker.start(join(work, 'broker'), { 'group.initial.rebalance.delay.ms': '0' });
    const bootstrap = `127.0.0.1:${broker.port}`;
    const admin = new Admin({ brokers: [bootstrap] });
    try {
      const input = 'streams-lines';
      await admin.createTopics([{ name: input, numPartitions: PARTITIONS, replicationFactor: 1 }]);
      const producer = new Producer({ brokers: [bootstrap] }, { lingerMs: 5 });
      const t = topic(input, { key: serde.nullable(serde.string()), value: serde.string() });
      let seed = 1;
      const word = () => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return WORDS[seed % WORDS.length];
      };
      for (let i = 0; i < n; i += 5000) {
        const batch = Array.from({ length: Math.min(5000, n - i) }, (_, j) => ({
          key: `line-${i + j}`,
          value: `${word()} ${word()} ${word()} ${word()}`,
        }));
        await Promise.all(batch.map((r) => producer.send(t, r)));
      }
      await producer.close();
      for (let trial = 1; trial <= ctx.trials; trial++) {
        const order: Engine[] = trial % 2 === 1 ? ['sluice', 'kafka'] : ['kafka', 'sluice'];
        for (const engine of order) {
          await ctx.attempt(`streams wordcount ${engine} t${trial}`, async () => {
            const appId = `wc-${engine}-${trial}`;
            const output = `${appId}-out`;
            await admin.createTopics([{ name: output, numPartitions: PARTITIONS, replicationFactor: 1 }]);
            const dir = mkdtempSync(join(work, `${engine}-`));
            const app = startEngine(engine, bootstrap, appId, input, output, dir);
            try {
              await app.running;
              const t0 = performance.now();
              const cpu0 = cpuSeconds(app.pid()) ?? Number.NaN;
              // Bounded: 2 min plus 2 ms a line (a loaded machine runs far below either engine's pace).
              const t1 = await drained(admin, appId, input, t0 + 120_000 + n * 2);
              const cpu1 = cpuSeconds(app.pid()) ?? Number.NaN;
              const secs = (t1 - t0) / 1000;
              rate[engine].push(n / secs);
              cpu[engine].push(((cpu1 - cpu0) / n) * 1_000_000);
              ctx.log(
                `streams wordcount ${engine} t${trial}: ${Math.round(n / secs).toLocaleString('en-US')} lines/s, ${(cpu1 - cpu0).toFixed(1)} CPU s over ${secs.toFixed(1)} s`,
              );
            } finally {
              await app.stop();
              rmSync(dir, { recursive: true, force: true });
            }
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
