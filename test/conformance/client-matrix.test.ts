// Unmodified third-party clients against Sluice and, to prove the scenario itself right, against Apache
// Kafka: franz-go (kgo + kadm), kafka-python, and librdkafka through confluent-kafka-python. Each program
// (clients/go/main.go, clients/python/matrix_*.py) creates a 3-partition topic with its admin API, produces
// 3,000 keyed records with headers per codec (none, gzip, snappy, lz4, zstd; acks=all, idempotent),
// consumes them back in a two-member group that commits, checks partition/offset/key/value/headers and
// per-partition order, describes the group and its committed offsets, deletes the topic, and prints JSON.
// clients/setup.sh installs the clients outside the repo on first use (needs go and python3).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, startKafka, startSluice } from './brokers.js';

const clientsDir = join(repoRoot, 'test', 'conformance', 'clients');
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const PER_CODEC = 3000;
const PARTITIONS = 3;

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

let programs: { franz: string; python: string };
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
  if (!paths.franz || !paths.python) throw new Error(`clients/setup.sh printed no paths:\n${setup.stdout}`);
  programs = { franz: paths.franz, python: paths.python };
});

afterAll(async () => {
  await Promise.all([sluice?.stop(), kafka?.stop()]);
});

const clients = {
  'franz-go': (bootstrap: string) => [programs.franz, [bootstrap, 'roundtrip']] as const,
  'kafka-python': (bootstrap: string) =>
    [programs.python, [join(clientsDir, 'python', 'matrix_kafka_python.py'), bootstrap, 'roundtrip']] as const,
  'confluent-kafka (librdkafka)': (bootstrap: string) =>
    [programs.python, [join(clientsDir, 'python', 'matrix_confluent.py'), bootstrap, 'roundtrip']] as const,
};

/** Results by client, then broker, for the cross-broker comparison. */
const results = new Map<string, Partial<Record<'kafka' | 'sluice', MatrixResult>>>();

async function runClient(name: keyof typeof clients, broker: BrokerUnderTest): Promise<MatrixResult> {
  const [cmd, args] = clients[name](broker.bootstrap);
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
