// Throughput and end-to-end lag of the mirror between two Sluice brokers on loopback, at-least-once
// and exactly-once side by side in one run (trials alternate, medians reported). Each broker runs in
// its own process; the mirror and the load run here.
// - throughput: a backlog of RECORDS records (VALUE_BYTES each, 6 partitions) copied from a cold
//   start (topic creation included) until the target's end offsets hold them all (MB/s of key+value
//   bytes, records/s);
// - lag: with the mirror caught up, RATE records/s produced for LAG_SECONDS, each record's
//   time from its CreateTime on the source to a consumer reading it on the target (read_committed
//   for exactly-once, where a record shows once its transaction commits: every offset.flush.interval.ms).
// Run: npm run build && npm run bench -w @sluice/mirror   (MIRROR_BENCH_RECORDS / _TRIALS to change the size)
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, Consumer, Producer, topic } from '@sluice/client';
import { MirrorMaker, parseMirrorConfig } from '../src/index.js';

const RECORDS = Number(process.env.MIRROR_BENCH_RECORDS ?? 100_000);
const TRIALS = Number(process.env.MIRROR_BENCH_TRIALS ?? 3);
const PARTITIONS = 6;
const VALUE_BYTES = 512;
const RATE = 2000;
const LAG_SECONDS = 5;
const FLUSH_MS = 1000;
const KEY_BYTES = 8;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

const cli = fileURLToPath(new URL('../../../apps/broker/dist/cli.js', import.meta.url));
const dirs: string[] = [];
const procs: ChildProcess[] = [];

async function broker(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-mirror-bench-'));
  dirs.push(dataDir);
  const port = await freePort();
  procs.push(
    spawn(process.execPath, [cli, 'broker', '--port', String(port), '--data-dir', dataDir, '-o', 'log.level=warn'], {
      stdio: 'ignore',
    }),
  );
  const bootstrap = `127.0.0.1:${port}`;
  const admin = new Admin({ brokers: [bootstrap] });
  await until(
    'a broker',
    async () => {
      await admin.listTopics();
      return true;
    },
    30_000,
    100,
  );
  await admin.close();
  return bootstrap;
}

async function endTotal(admin: Admin, name: string, isolation: 'read_uncommitted' | 'read_committed'): Promise<bigint> {
  if (!(await admin.listTopics()).includes(name)) return 0n;
  const tps = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: name, partition }));
  let n = 0n;
  for (const e of await admin.listOffsets(tps, 'latest', isolation)) n += e.offset;
  return n;
}

async function produce(bootstrap: string, name: string, count: number, ratePerSecond?: number): Promise<void> {
  const producer = new Producer({ brokers: [bootstrap] }, { lingerMs: 5, acks: 'all' });
  const t = topic(name);
  const value = Buffer.alloc(VALUE_BYTES, 120);
  const sends: Promise<unknown>[] = [];
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const key = Buffer.alloc(KEY_BYTES);
    key.writeUInt32BE(i);
    sends.push(producer.send(t, { key, value, partition: i % PARTITIONS }));
    if (ratePerSecond !== undefined && i % 20 === 19) {
      const due = t0 + ((i + 1) * 1000) / ratePerSecond;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    if (sends.length >= 5000) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await producer.close();
}

interface Trial {
  records: number;
  seconds: number;
  lagMs: number[];
}

/** One trial: alias `S<n>` makes fresh remote, positions and offset-sync names on the same clusters. */
async function trial(n: number, exactlyOnce: boolean, source: string, target: string): Promise<Trial> {
  const alias = `S${n}`;
  const mirror = new MirrorMaker(
    parseMirrorConfig({
      clusters: `${alias}, T`,
      [`${alias}.bootstrap.servers`]: source,
      'T.bootstrap.servers': target,
      [`${alias}->T.enabled`]: 'true',
      [`${alias}->T.topics`]: 'bench',
      'T.exactly.once.source.support': exactlyOnce ? 'enabled' : 'disabled',
      'offset.flush.interval.ms': String(FLUSH_MS),
      'emit.checkpoints.enabled': 'false',
      'sync.topic.configs.enabled': 'false',
    }),
  );
  const targetAdmin = new Admin({ brokers: [target] });
  const remote = `${alias}.bench`;
  const isolation = exactlyOnce ? 'read_committed' : 'read_uncommitted';
  const sourceAdmin = new Admin({ brokers: [source] });
  const records = await endTotal(sourceAdmin, 'bench', 'read_uncommitted');
  await sourceAdmin.close();
  const t0 = performance.now();
  await mirror.start();
  await until('the backlog copied', async () => (await endTotal(targetAdmin, remote, isolation)) >= records, 600_000);
  const seconds = (performance.now() - t0) / 1000;

  // Lag: a consumer on the target from its current end, while records are produced at RATE.
  const lagMs: number[] = [];
  const consumer = new Consumer({ brokers: [target] }, { isolationLevel: isolation, maxWaitMs: 20 });
  const rt = topic(remote);
  const ends = await targetAdmin.listOffsets(
    Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: remote, partition })),
    'latest',
    isolation,
  );
  await consumer.assign(ends.map((e) => ({ topic: rt, partition: e.partition, offset: e.offset })));
  const total = RATE * LAG_SECONDS;
  const run = consumer.run(rt, (records) => {
    const now = Date.now();
    for (const r of records) lagMs.push(now - Number(r.timestamp));
  });
  await produce(source, 'bench', total, RATE);
  await until('the lag records', async () => lagMs.length >= total, 60_000);
  await consumer.close();
  await run.catch(() => {});
  await mirror.stop();
  await targetAdmin.close();
  return { records: Number(records), seconds, lagMs };
}

try {
  const [source, target] = await Promise.all([broker(), broker()]);
  const admin = new Admin({ brokers: [source] });
  await admin.createTopics([{ name: 'bench', numPartitions: PARTITIONS }]);
  await admin.close();
  await produce(source, 'bench', RECORDS);
  const results = { 'at-least-once': [] as Trial[], 'exactly-once': [] as Trial[] };
  let n = 0;
  for (let i = 0; i < TRIALS; i++) {
    for (const mode of i % 2 === 0 ? [false, true] : [true, false]) {
      // Each trial copies the backlog plus the lag records of the trials before it.
      results[mode ? 'exactly-once' : 'at-least-once'].push(await trial(n++, mode, source, target));
    }
  }
  console.log(
    `sluice mirror, Sluice -> Sluice on loopback: ${RECORDS} records of ${VALUE_BYTES} B on ${PARTITIONS} partitions ` +
      `(backlog; later trials copy the earlier trials' lag records too), ${TRIALS} trials per mode; ` +
      `lag at ${RATE} records/s for ${LAG_SECONDS} s, offset.flush.interval.ms=${FLUSH_MS}\n`,
  );
  console.log('| mode | MB/s (median) | records/s | lag p50 ms | lag p99 ms | lag max ms |\n|---|---|---|---|---|---|');
  for (const [mode, trials] of Object.entries(results)) {
    const perSecond = median(trials.map((t) => t.records / t.seconds));
    const lags = trials.flatMap((t) => t.lagMs);
    console.log(
      `| ${mode} | ${((perSecond * (VALUE_BYTES + KEY_BYTES)) / 1e6).toFixed(1)} | ${Math.round(perSecond)} | ${quantile(lags, 0.5)} | ${quantile(lags, 0.99)} | ${Math.max(...lags)} |`,
    );
  }
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : null)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
