// Restart after SIGKILL, on its own and repeatable: builds (once) a fixture data directory of N partitions
// with a few records each, written by an idempotent producer and left by a SIGKILL, then starts a Sluice
// broker on fresh copies of it and times each stage. For profiling and before/after comparisons of the
// recovery path, without the crash phase's fill each time (a fill of 10,000 partitions takes minutes).
//
//   npx tsx --conditions=sluice-source benchmarks/src/restart-crash.ts --partitions 2000 --fixture /tmp/fx-2000
//   ... --trials 3                       three restarts, each on a fresh copy; medians printed
//   ... --profile /tmp/prof              the restarts run under node --cpu-prof (written at a clean stop)
//   ... --cli /path/to/apps/broker/dist/cli.js   another build of the broker (a before/after pair)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, topic } from '@sluice/client';
import { SluiceBroker } from './brokers.js';
import { freePorts } from './ports.js';
import { peakRssMiB, sleep } from './proc.js';

const { values: args } = parseArgs({
  options: {
    partitions: { type: 'string', default: '1000' },
    fixture: { type: 'string' },
    trials: { type: 'string', default: '1' },
    profile: { type: 'string' },
    cli: { type: 'string' },
    records: { type: 'string', default: '3' },
  },
});
const N = Number(args.partitions);
const TRIALS = Number(args.trials);
const RECORDS = Number(args.records);
if (!Number.isInteger(N) || N < 1 || N > 20_000) throw new Error('--partitions: 1–20000');
if (!Number.isInteger(TRIALS) || TRIALS < 1 || TRIALS > 20) throw new Error('--trials: 1–20');
if (!Number.isInteger(RECORDS) || RECORDS < 1 || RECORDS > 1000) throw new Error('--records: 1–1000');
const FIXTURE = args.fixture ?? join(tmpdir(), `sluice-restart-fixture-${N}`);
const PER_TOPIC = 5000;
const DEADLINE_MS = 600_000;
const topics = Array.from({ length: Math.ceil(N / PER_TOPIC) }, (_, i) => ({
  name: `crash-${i}`,
  numPartitions: Math.min(PER_TOPIC, N - i * PER_TOPIC),
}));
const tps = topics.flatMap((t) =>
  Array.from({ length: t.numPartitions }, (_, partition) => ({ topic: t.name, partition })),
);

/** Polls `check` (errors count as not yet) until it passes; resolves with performance.now() then. */
async function until(what: string, check: () => Promise<boolean>): Promise<number> {
  const end = performance.now() + DEADLINE_MS;
  while (performance.now() < end) {
    try {
      if (await check()) return performance.now();
    } catch {}
    await sleep(50);
  }
  throw new Error(`${what}: not within ${DEADLINE_MS} ms`);
}

async function buildFixture(): Promise<void> {
  const [port] = await freePorts(1);
  const b = new SluiceBroker(port);
  b.startTimeoutMs = DEADLINE_MS;
  // Built beside and renamed when done, so a failed build leaves no fixture to be mistaken for one.
  const building = `${FIXTURE}.building`;
  rmSync(building, { recursive: true, force: true });
  await b.start(building);
  const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'restart-fixture' });
  const admin = kafka.admin();
  try {
    for (const t of topics) {
      try {
        await admin.createTopics([{ ...t, replicationFactor: 1 }]);
      } catch (e) {
        // A create of thousands can outlast the request timeout; the client's retry then finds it made.
        if (!/^topic |TOPIC_ALREADY_EXISTS/.test((e as Error).message)) throw e;
      }
    }
    await until('topics ready', async () => {
      const infos = await admin.describeTopics(topics.map((t) => t.name));
      return topics.every(
        (t) => infos.find((i) => i.name === t.name)?.partitions.filter((p) => p.leader >= 0).length === t.numPartitions,
      );
    });
    // Idempotent, as Java clients are by default: the restart has producer state to rebuild.
    const producer = kafka.producer({ acks: 'all', idempotent: true });
    const value = Buffer.alloc(100, 'x');
    try {
      for (let r = 0; r < RECORDS; r++) {
        const pending: Promise<unknown>[] = [];
        for (const tp of tps) pending.push(producer.send(topic(tp.topic), { value, partition: tp.partition }));
        await Promise.all(pending);
      }
    } finally {
      await producer.close();
    }
  } finally {
    await admin.close();
    await b.kill();
  }
  renameSync(building, FIXTURE);
  console.log(`fixture: ${N} partitions × ${RECORDS} records, SIGKILLed, in ${FIXTURE}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function restartOnce(trial: number): Promise<{ answers: number; readable: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-restart-'));
  try {
    execFileSync('cp', ['-a', join(FIXTURE, 'data'), join(dir, 'data')]);
    const [port] = await freePorts(1);
    const b = new SluiceBroker(port, args.profile, [], args.cli);
    b.startTimeoutMs = DEADLINE_MS;
    b.stopTimeoutMs = DEADLINE_MS;
    const t0 = performance.now();
    const answers = await b.start(dir);
    const admin = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'restart-check', retries: 0 }).admin();
    try {
      const readable = await until('ListOffsets', async () =>
        (await admin.listOffsets(tps, 'latest')).every((o) => o.offset >= BigInt(RECORDS)),
      );
      const rss = peakRssMiB(b.pid()) ?? Number.NaN;
      const r = { answers, readable: (readable - t0) / 1000, rss };
      console.log(
        `trial ${trial}: answers ${r.answers.toFixed(2)} s, readable ${r.readable.toFixed(2)} s, peak RSS ${rss.toFixed(0)} MiB`,
      );
      return r;
    } finally {
      await admin.close();
      // A clean stop writes the CPU profile; otherwise SIGKILL is enough.
      if (args.profile) await b.stop();
      else await b.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!existsSync(join(FIXTURE, 'data'))) await buildFixture();
const runs = [];
for (let t = 1; t <= TRIALS; t++) runs.push(await restartOnce(t));
console.log(
  `${N} partitions, ${TRIALS} trial(s): median answers ${median(runs.map((r) => r.answers)).toFixed(2)} s, readable ${median(runs.map((r) => r.readable)).toFixed(2)} s`,
);
