// Unmodified third-party clients against Sluice and, to prove the scenario itself right, against Apache
// Kafka: franz-go (kgo + kadm), kafka-python, and librdkafka through confluent-kafka-python. Each program
// (clients/go/main.go, clients/python/matrix_*.py) creates a 3-partition topic with its admin API, produces
// 3,000 keyed records with headers per codec (none, gzip, snappy, lz4, zstd; acks=all, idempotent),
// consumes them back in a two-member group that commits, checks partition/offset/key/value/headers and
// per-partition order, describes the group and its committed offsets, deletes the topic, and prints JSON.
// A second check reads back the batches each client stored, one topic per client, and asserts each batch has
// the codec the client was asked for — an older librdkafka (confluent-kafka 2.6.1) included, which silently
// stopped compressing when ApiVersions did not list Produce from v0 as Kafka 4.x does (KAFKA-18659).
// clients/setup.sh installs the clients outside the repo on first use (needs go and python3).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { CompressionType, FetchApi, iterateBatches } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, startKafka, startSluice } from './brokers.js';
import { WireClient } from './wire-client.js';

const clientsDir = join(repoRoot, 'test', 'conformance', 'clients');
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const PER_CODEC = 3000;
const PARTITIONS = 3;
/** Records a codec in the `codecs` scenario. */
const CODECS_PER_CODEC = 200;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    // No __pycache__ in the repository.
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
    execFile(
      cmd,
      args,
      { cwd: clientsDir, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface MatrixResult {
  client: string;
  ok: boolean;
  topic: string;
  produced: Record<string, number>;
  consumed: number;
  redelivered: number;
  group: { state?: string; protocolType?: string; members?: number; assigned?: number[] };
  committed: Record<string, number | null>;
  endOffsets: Record<string, number | null>;
  errors: string[];
  elapsedMs: number;
}

let programs: { franz: string; python: string; legacy: string };
let sluice: BrokerUnderTest;
let kafka: BrokerUnderTest;

beforeAll(async () => {
  // Setup (a cold install builds the Go program and a venv) while Kafka starts.
  const [setup, k, s] = await Promise.all([
    run('bash', [join(clientsDir, 'setup.sh')], 280_000),
    startKafka(),
    startSluice(),
  ]);
  kafka = k;
  sluice = s;
  if (setup.code !== 0) throw new Error(`clients/setup.sh failed (exit ${setup.code}):\n${setup.stderr.slice(-4000)}`);
  const paths = Object.fromEntries(
    setup.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string]),
  );
  if (!paths.franz || !paths.python || !paths.legacy) {
    throw new Error(`clients/setup.sh printed no paths:\n${setup.stdout}`);
  }
  programs = { franz: paths.franz, python: paths.python, legacy: paths.legacy };
});

afterAll(async () => {
  await Promise.all([sluice?.stop(), kafka?.stop()]);
});

type Scenario = 'roundtrip' | 'codecs';
const clients = {
  'franz-go': (bootstrap: string, scenario: Scenario) => [programs.franz, [bootstrap, scenario]] as const,
  'kafka-python': (bootstrap: string, scenario: Scenario) =>
    [programs.python, [join(clientsDir, 'python', 'matrix_kafka_python.py'), bootstrap, scenario]] as const,
  'confluent-kafka (librdkafka)': (bootstrap: string, scenario: Scenario) =>
    [programs.python, [join(clientsDir, 'python', 'matrix_confluent.py'), bootstrap, scenario]] as const,
};
/** Only the codecs check: a librdkafka from before its fix for brokers that list Produce from v3. */
const codecClients = {
  ...clients,
  'confluent-kafka 2.6.1 (older librdkafka)': (bootstrap: string, scenario: Scenario) =>
    [programs.legacy, [join(clientsDir, 'python', 'matrix_confluent.py'), bootstrap, scenario]] as const,
};

/** Results by client, then broker, for the cross-broker comparison. */
const results = new Map<string, Partial<Record<'kafka' | 'sluice', MatrixResult>>>();

async function runProgram(
  name: keyof typeof codecClients,
  broker: BrokerUnderTest,
  scenario: Scenario,
): Promise<{ result: MatrixResult; context: string; code: number | null }> {
  const [cmd, args] = codecClients[name](broker.bootstrap, scenario);
  const r = await run(cmd, [...args], 100_000);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: MatrixResult | undefined;
  try {
    parsed = JSON.parse(last) as MatrixResult;
  } catch {
    parsed = undefined;
  }
  const context = `${name} against ${broker.kind} exited ${r.code}\nstdout: ${r.stdout.slice(-4000)}\nstderr: ${r.stderr.slice(-4000)}`;
  if (!parsed) throw new Error(`no JSON result: ${context}`);
  expect(parsed.errors, context).toEqual([]);
  expect(r.code, context).toBe(0);
  return { result: parsed, context, code: r.code };
}

async function runClient(name: keyof typeof clients, broker: BrokerUnderTest): Promise<MatrixResult> {
  const { result: parsed } = await runProgram(name, broker, 'roundtrip');
  expect(parsed.ok).toBe(true);
  expect(parsed.produced).toEqual(Object.fromEntries(CODECS.map((c) => [c, PER_CODEC])));
  expect(parsed.consumed).toBe(CODECS.length * PER_CODEC);
  expect(parsed.group).toMatchObject({ state: 'Stable', protocolType: 'consumer', members: 2, assigned: [0, 1, 2] });
  const ends = Object.values(parsed.endOffsets).map(Number);
  expect(ends).toHaveLength(PARTITIONS);
  expect(ends.reduce((a, b) => a + b, 0)).toBe(CODECS.length * PER_CODEC);
  expect(parsed.committed).toEqual(parsed.endOffsets);
  const entry = results.get(name) ?? {};
  entry[broker.kind] = parsed;
  results.set(name, entry);
  return parsed;
}

describe.each(Object.keys(clients) as (keyof typeof clients)[])('%s', (name) => {
  it('round-trips every codec through a two-member group against Apache Kafka', async () => {
    await runClient(name, kafka);
  });

  it('round-trips every codec through a two-member group against Sluice', async () => {
    await runClient(name, sluice);
  });

  it('lands every key on the same partition with both brokers (the client partitions; the brokers agree)', () => {
    const both = results.get(name);
    if (!both?.kafka || !both.sluice) throw new Error(`${name} did not complete against both brokers`);
    expect(both.sluice.endOffsets).toEqual(both.kafka.endOffsets);
  });
});

/** Per codec (the `codec` header the programs put on every record): records and batches stored, and any batch
 * whose compression is not that codec. Reads partitions 0-2 of `topic` to their high watermarks (bounded). */
async function storedCodecs(broker: BrokerUnderTest, topic: string) {
  const client = await WireClient.connect(broker.port, broker.kind);
  const seen: Record<string, { records: number; batches: number }> = {};
  const wrong: string[] = [];
  try {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      let offset = 0n;
      for (let round = 0; ; round++) {
        if (round >= 1000) throw new Error(`${topic}/${partition} not read to its end`);
        const res = await client.send(FetchApi, 12, {
          ...FetchApi.request.defaults(),
          maxWaitMs: 0,
          maxBytes: 8 * 1024 * 1024,
          topics: [
            {
              ...FetchApi.request.defaults().topics[0],
              topic,
              partitions: [
                {
                  partition,
                  currentLeaderEpoch: -1,
                  fetchOffset: offset,
                  lastFetchedEpoch: -1,
                  logStartOffset: -1n,
                  partitionMaxBytes: 8 * 1024 * 1024,
                  replicaDirectoryId: '00000000-0000-0000-0000-000000000000',
                  highWatermark: 0x7fffffffffffffffn,
                },
              ],
            },
          ],
        });
        const p = res.responses[0]?.partitions[0];
        if (!p || p.errorCode !== 0)
          throw new Error(`${broker.kind} fetch ${topic}/${partition}: error ${p?.errorCode}`);
        if (offset >= p.highWatermark) break;
        for (const batch of iterateBatches(p.records ?? Buffer.alloc(0))) {
          const codecs = new Set<string>();
          let count = 0;
          for (const r of await batch.decompressedRecords()) {
            codecs.add(r.headers.find((h) => h.key === 'codec')?.value?.toString('utf8') ?? '?');
            count++;
          }
          const [codec = '?'] = codecs;
          const want = CompressionType[(codec[0]?.toUpperCase() + codec.slice(1)) as keyof typeof CompressionType];
          if (codecs.size !== 1 || batch.compression !== want) {
            wrong.push(
              `${partition}@${batch.baseOffset}: records of ${[...codecs]} in a batch of codec ${batch.compression}`,
            );
          }
          const entry = seen[codec] ?? { records: 0, batches: 0 };
          entry.records += count;
          entry.batches++;
          seen[codec] = entry;
          offset = batch.nextOffset;
        }
      }
    }
  } finally {
    client.close();
  }
  return { seen, wrong };
}

describe.each(Object.keys(codecClients) as (keyof typeof codecClients)[])('%s', (name) => {
  it.each(['kafka', 'sluice'] as const)('stores every codec as asked against %s', async (kind) => {
    const broker = kind === 'kafka' ? kafka : sluice;
    const { result, context } = await runProgram(name, broker, 'codecs');
    const { seen, wrong } = await storedCodecs(broker, result.topic);
    expect(wrong, context).toEqual([]);
    expect(Object.fromEntries(Object.entries(seen).map(([c, e]) => [c, e.records]))).toEqual(
      Object.fromEntries(CODECS.map((c) => [c, CODECS_PER_CODEC])),
    );
  });
});
