// Unmodified clients across a partition leader kill: three `sluice broker` processes on a local etcd, a topic
// with replication factor 3 and min.insync.replicas=2 per client; each client produces numbered records with
// acks=all (idempotent) while the test SIGKILLs the partition's leader — Java (the reference Kafka's
// VerifiableProducer), librdkafka (confluent-kafka) and kafka-python (test/conformance/clients/python/
// failover_produce.py), franz-go (clients/go/failover.go) — those three then read the records back with their
// own consumer — and kafkajs (in this process). A kafkajs
// consumer group reads the topic through the kill too. Every client must see its sends succeed (the
// failover costs only retriable errors, which the clients retry) and every acknowledged record must be
// read back exactly once.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalEtcd } from '@sluice/cluster';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, requireJava } from './brokers.js';

const clientsDir = join(repoRoot, 'test', 'conformance', 'clients');
const cli = join(repoRoot, 'apps', 'broker', 'src', 'cli.ts');
const referenceKafka = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');
const COUNT = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Broker {
  child: ChildProcess;
  port: number;
  dataDir: string;
}

let etcd: LocalEtcd;
const brokers = new Map<number, Broker>();
let python: string;
let franz: string;

/** `sluice broker` as a process (from the sources), resolved with its port once it logs 'listening'. */
function startBroker(nodeId: number, dataDir: string): Promise<Broker> {
  const overrides = {
    'node.id': String(nodeId),
    'metadata.etcd.endpoints': etcd.endpoints.join(','),
    'broker.session.timeout.ms': '3000',
    'replica.lag.time.max.ms': '6000',
    'offsets.topic.num.partitions': '3',
    'group.initial.rebalance.delay.ms': '0',
  };
  const args = ['--conditions=sluice-source', '--import', 'tsx', cli, 'broker', '--port', '0', '--data-dir', dataDir];
  for (const [k, v] of Object.entries(overrides)) args.push('--override', `${k}=${v}`);
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr?.on('data', (d) => {
    out = (out + d).slice(-16_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker ${nodeId} did not listen: ${out}`)), 60_000);
    let pending = '';
    child.stdout?.on('data', (d) => {
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = /"msg":"listening".*?"port":(\d+)|"port":(\d+).*?"msg":"listening"/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ child, port: Number(m[1] ?? m[2]), dataDir });
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`broker ${nodeId} exited with ${code}: ${out}`)));
  });
}

const bootstrap = () => [...brokers.values()].map((b) => `127.0.0.1:${b.port}`);
const kafkaClient = (id: string) =>
  new kafkajs.Kafka({
    clientId: id,
    brokers: bootstrap(),
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
  });

/** The leader of partition 0 of `topic`, as the cluster's Metadata names it. */
async function leaderOf(topic: string): Promise<number> {
  const admin = kafkaClient('leader-of').admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions[0].leader;
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  requireJava();
  etcd = await LocalEtcd.start({ members: 1 });
  const setup = new Promise<string>((resolve, reject) =>
    execFile('bash', [join(clientsDir, 'setup.sh')], { timeout: 280_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`clients/setup.sh failed: ${stderr.slice(-4000)}`)) : resolve(stdout),
    ),
  );
  const started = await Promise.all(
    [1, 2, 3].map((id) => startBroker(id, mkdtempSync(join(tmpdir(), `sluice-repl-clients-${id}-`)))),
  );
  for (const [i, b] of started.entries()) brokers.set(i + 1, b);
  const paths = await setup;
  python = /^python=(.*)$/m.exec(paths)![1];
  franz = /^franz=(.*)$/m.exec(paths)![1];
}, 300_000);

afterAll(async () => {
  for (const b of brokers.values()) b.child.kill('SIGKILL');
  await etcd?.stop();
});

/**
 * One client's run: a fresh RF=3 topic, a kafkajs group consumer reading it throughout, `produce` started;
 * once `acked()` passes a third of COUNT the leader is SIGKILLed; after `produce` settles the broker
 * comes back on its data. Returns the acknowledged values, the failed sends, and what the group read.
 */
async function throughLeaderKill(
  topic: string,
  produce: (onAcked: (n: number) => void) => Promise<{ acked: string[]; errors: string[]; consumed?: string[] }>,
) {
  const admin = kafkaClient('admin').admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic, numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] },
    ],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const read = new Set<string>();
  let readTwice = 0;
  const consumer = kafkaClient('reader').consumer({ groupId: `${topic}-kafkajs`, sessionTimeout: 10_000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const v = String(message.value);
      if (read.has(v)) readTwice++;
      read.add(v);
    },
  });
  let killed: number | null = null;
  let killing: Promise<void> | null = null;
  const onAcked = (n: number) => {
    if (killing !== null || n < COUNT / 3) return;
    killing = leaderOf(topic).then((leader) => {
      killed = leader;
      brokers.get(leader)!.child.kill('SIGKILL');
    });
  };
  const result = await produce(onAcked);
  await killing;
  expect(killed, 'the leader was killed mid-run').not.toBeNull();
  const dead = brokers.get(killed!)!;
  brokers.set(killed!, await startBroker(killed!, dead.dataDir));
  // kafkajs finds the new leader (and maybe a new coordinator) by itself: on a loaded machine that took over 60 s.
  const deadline = Date.now() + 150_000;
  while (result.acked.some((v) => !read.has(v)) && Date.now() < deadline) await sleep(200);
  await consumer.disconnect();
  return { ...result, read, readTwice, stored: await readAll(topic, result.acked.length) };
}

/** Every value in partition 0 of `topic` in offset order, read by a fresh group (stops at `atLeast` or after 60 s). */
async function readAll(topic: string, atLeast: number): Promise<string[]> {
  const values: string[] = [];
  const consumer = kafkaClient('check').consumer({ groupId: `${topic}-check` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      values.push(String(message.value));
    },
  });
  const deadline = Date.now() + 60_000;
  while (values.length < atLeast && Date.now() < deadline) await sleep(200);
  // A moment more, to see duplicates past the count.
  await sleep(1000);
  await consumer.disconnect();
  return values;
}

/** Runs a client program, calling `onAcked` on each "acked <n>" line; its last line is its JSON result. */
function runProgram(cmd: string, args: string[], onAcked: (n: number) => void) {
  return new Promise<{ acked: string[]; errors: string[]; consumed?: string[] }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: clientsDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.stdout?.on('data', (d) => {
      out += d;
      for (const m of String(d).matchAll(/^acked (\d+)$/gm)) onAcked(Number(m[1]));
    });
    child.stderr?.on('data', (d) => {
      err = (err + d).slice(-8000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${cmd} exited ${code} without a result:\n${out.slice(-3000)}\n${err}`));
      }
    });
  });
}

/** VerifiableProducer's client config: idempotent, retrying until delivery.timeout.ms. */
function javaConfig(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sluice-repl-java-')), 'producer.properties');
  writeFileSync(file, 'enable.idempotence=true\nretries=2147483647\ndelivery.timeout.ms=120000\n');
  return file;
}

function expectNoneLost(r: Awaited<ReturnType<typeof throughLeaderKill>>) {
  const acked = new Set(r.acked);
  // All facts at once, so that a failure shows which of them broke.
  const facts = {
    errors: r.errors,
    acked: r.acked.length,
    ackedDistinct: acked.size,
    // What a kafkajs group reading through the kill missed.
    missedByGroup: r.acked.filter((v) => !r.read.has(v)).length,
    // The partition holds each acknowledged record once (idempotent producers: no duplicate from a retry).
    stored: r.stored.length,
    storedAcked: new Set(r.stored.filter((v) => acked.has(v))).size,
    // The client's own consumer, after the kill (not every client's run has one).
    consumed: r.consumed?.length ?? COUNT,
    consumedAcked: r.consumed ? new Set(r.consumed.filter((v) => acked.has(v))).size : COUNT,
  };
  expect(facts).toEqual({
    errors: [],
    acked: COUNT,
    ackedDistinct: COUNT,
    missedByGroup: 0,
    stored: COUNT,
    storedAcked: COUNT,
    consumed: COUNT,
    consumedAcked: COUNT,
  });
}

describe('unmodified clients through a SIGKILL of the partition leader (RF=3, min.insync.replicas=2, acks=all)', () => {
  it('Java VerifiableProducer (idempotent)', { timeout: 300_000 }, async () => {
    const r = await throughLeaderKill('fo-java', async (onAcked) => {
      const child = spawn(
        'bash',
        [
          referenceKafka,
          'run-class',
          'org.apache.kafka.tools.VerifiableProducer',
          '--bootstrap-server',
          bootstrap().join(','),
          '--topic',
          'fo-java',
          '--max-messages',
          String(COUNT),
          '--throughput',
          '200',
          '--acks',
          '-1',
          // The tool sets retries=0 unless told otherwise (as Kafka's system tests do for idempotent runs).
          '--command-config',
          javaConfig(),
        ],
        { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const acked: string[] = [];
      const errors: string[] = [];
      let pending = '';
      child.stdout?.on('data', (d) => {
        pending += d;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.startsWith('{')) continue;
          const e = JSON.parse(line) as { name: string; value?: string; exception?: string; message?: string };
          if (e.name === 'producer_send_success') {
            acked.push(e.value!);
            onAcked(acked.length);
          } else if (e.name === 'producer_send_error') errors.push(`${e.value}: ${e.exception} ${e.message}`);
        }
      });
      await new Promise((resolve) => child.once('exit', resolve));
      return { acked, errors };
    });
    expectNoneLost(r);
  });

  for (const client of ['confluent', 'kafka-python']) {
    it(
      `${client === 'confluent' ? 'confluent-kafka (librdkafka)' : 'kafka-python'} (idempotent), then reads them back`,
      {
        timeout: 300_000,
      },
      async () => {
        const topic = `fo-${client}`;
        const r = await throughLeaderKill(topic, (onAcked) =>
          runProgram(
            python,
            [join(clientsDir, 'python', 'failover_produce.py'), client, bootstrap().join(','), topic, String(COUNT)],
            onAcked,
          ),
        );
        expectNoneLost(r);
      },
    );
  }

  it('franz-go (idempotent), then reads them back', { timeout: 300_000 }, async () => {
    const r = await throughLeaderKill('fo-franz', (onAcked) =>
      runProgram(franz, [bootstrap().join(','), 'failover', 'fo-franz', String(COUNT)], onAcked),
    );
    expectNoneLost(r);
  });

  it('kafkajs (idempotent)', { timeout: 300_000 }, async () => {
    const r = await throughLeaderKill('fo-kafkajs', async (onAcked) => {
      const producer = kafkaClient('producer').producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const acked: string[] = [];
      const errors: string[] = [];
      for (let n = 0; n < COUNT; n += 10) {
        const batch = Array.from({ length: 10 }, (_, i) => String(n + i));
        try {
          await producer.send({ topic: 'fo-kafkajs', acks: -1, messages: batch.map((value) => ({ value })) });
          acked.push(...batch);
          onAcked(acked.length);
        } catch (err) {
          errors.push(`${batch[0]}..: ${(err as Error).message}`);
        }
        await sleep(20);
      }
      await producer.disconnect();
      return { acked, errors };
    });
    expectNoneLost(r);
  });
});
