import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FetchApi, iterateBatches, ListOffsetsApi, MetadataApi } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, requireJava, startSluice } from './brokers.js';
import { WireClient } from './wire-client.js';

// Apache Kafka's own command-line tools (Java clients) against Sluice: console producer and consumer,
// the verifiable producer, the producer performance tool, and the dump-log tool on Sluice's segments.
// Run with `npm run test:conformance`.

const script = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Kafka class through the reference script (installs Kafka first when the cache is cold). */
function runClass(args: string[], input?: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, 'run-class', ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} did not finish within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 32 * 1024 * 1024) stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1024 * 1024) stderr += d.toString('utf8');
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

let sluice: BrokerUnderTest & { broker: { stop(): Promise<void> } };
let client: WireClient;

beforeAll(async () => {
  requireJava();
  sluice = await startSluice();
  client = await WireClient.connect(sluice.port, 'sluice');
});

afterAll(async () => {
  client?.close();
  await sluice?.stop();
});

/** Every record value of partition 0, read with raw fetches up to the high watermark (bounded). */
async function readValues(topic: string): Promise<string[]> {
  const md = await client.send(MetadataApi, 12, {
    topics: [{ topicId: ZERO_UUID, name: topic }],
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
  const topicId = md.topics[0]!.topicId;
  const out: string[] = [];
  let offset = 0n;
  for (let round = 0; round < 10_000; round++) {
    const res = await client.send(FetchApi, 17, {
      ...FetchApi.request.defaults(),
      maxBytes: 4 * 1024 * 1024,
      topics: [
        {
          topic: '',
          topicId,
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: -1,
              fetchOffset: offset,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: 4 * 1024 * 1024,
              replicaDirectoryId: ZERO_UUID,
            },
          ],
        },
      ],
    });
    const p = res.responses[0]!.partitions[0]!;
    if (p.errorCode !== 0) throw new Error(`fetch error ${p.errorCode}`);
    for (const b of iterateBatches(p.records ?? Buffer.alloc(0))) {
      for (const r of b.records()) {
        if (r.offset < offset) continue;
        out.push(r.value?.toString('utf8') ?? '');
        offset = r.offset + 1n;
      }
    }
    if (offset >= p.highWatermark) return out;
  }
  throw new Error('partition not read to its end');
}

async function latestOffset(topic: string): Promise<bigint> {
  const r = await client.send(ListOffsetsApi, 7, {
    replicaId: -1,
    isolationLevel: 0,
    timeoutMs: 10_000,
    topics: [
      { name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }] },
    ],
  });
  return r.topics[0]!.partitions[0]!.offset;
}

describe('Kafka tools against Sluice', () => {
  const lines = Array.from({ length: 20 }, (_, i) => `line ${i} ${'x'.repeat(i)}`);

  it('console producer → console consumer round trip', async () => {
    const produced = await runClass(
      ['org.apache.kafka.tools.ConsoleProducer', '--bootstrap-server', sluice.bootstrap, '--topic', 'console-rt'],
      `${lines.join('\n')}\n`,
    );
    expect(produced.code, produced.stderr).toBe(0);
    // No consumer groups in Sluice yet: read partition 0 directly, which needs no group coordinator.
    const consumed = await runClass([
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      '--bootstrap-server',
      sluice.bootstrap,
      '--topic',
      'console-rt',
      '--partition',
      '0',
      '--offset',
      'earliest',
      '--max-messages',
      String(lines.length),
      '--timeout-ms',
      '30000',
    ]);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trimEnd().split('\n')).toEqual(lines);
  });

  it('verifiable producer with acks=all: every acknowledged record stored once, none lost', async () => {
    const n = 2000;
    const r = await runClass([
      'org.apache.kafka.tools.VerifiableProducer',
      '--bootstrap-server',
      sluice.bootstrap,
      '--topic',
      'verifiable',
      '--max-messages',
      String(n),
      '--acks',
      '-1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { name: string; value?: string; offset?: number; sent?: number; acked?: number });
    const acked = events.filter((e) => e.name === 'producer_send_success');
    const errors = events.filter((e) => e.name === 'producer_send_error');
    const summary = events.find((e) => e.name === 'tool_data');
    expect(errors).toEqual([]);
    expect(acked).toHaveLength(n);
    expect(summary).toMatchObject({ sent: n, acked: n });
    const stored = await readValues('verifiable');
    expect(stored).toHaveLength(n);
    expect(new Set(stored).size).toBe(n);
    expect(new Set(stored)).toEqual(new Set(acked.map((e) => e.value)));
    // Offsets the producer was told are where the values are.
    for (const e of acked.slice(0, 50)) expect(stored[e.offset!]).toBe(e.value);
  });

  it('producer performance tool completes 50k records', async () => {
    const n = 50_000;
    const r = await runClass([
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      'perf',
      '--num-records',
      String(n),
      '--record-size',
      '100',
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${sluice.bootstrap}`,
      'acks=1',
      'linger.ms=5',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const final = r.stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(final).toMatch(new RegExp(`^${n} records sent, [0-9.]+ records/sec`));
    console.log(`ProducerPerformance against Sluice: ${final}`);
    expect(await latestOffset('perf')).toBe(BigInt(n));
  });

  it("Kafka's DumpLogSegments reads Sluice segments and their indexes", async () => {
    // Stopped, so that the active segments' indexes are flushed and trimmed as Kafka expects.
    client.close();
    await sluice.broker.stop();
    const dir = (topic: string) => join(sluice.dir, `${topic}-0`);
    const segment = (topic: string, ext: string) => {
      const f = readdirSync(dir(topic)).find((x) => x.endsWith(ext));
      if (!f) throw new Error(`no ${ext} file in ${dir(topic)}: ${readdirSync(dir(topic)).join(', ')}`);
      return join(dir(topic), f);
    };
    const log = await runClass([
      'kafka.tools.DumpLogSegments',
      '--files',
      segment('console-rt', '.log'),
      '--deep-iteration',
      '--print-data-log',
    ]);
    expect(log.code, log.stderr).toBe(0);
    const payloads = [...log.stdout.matchAll(/payload: (.*)$/gm)].map((m) => m[1]);
    expect(payloads).toEqual(lines);
    expect(log.stdout).not.toMatch(/corrupt|invalid|exception/i);

    const perfLog = segment('perf', '.log');
    const perf = await runClass(['kafka.tools.DumpLogSegments', '--files', perfLog, '--deep-iteration']);
    expect(perf.code, perf.stderr).toBe(0);
    const lastOffsets = [...perf.stdout.matchAll(/lastOffset: (\d+)/g)].map((m) => Number(m[1]));
    expect(lastOffsets.at(-1)).toBe(49_999);

    for (const ext of ['.index', '.timeindex']) {
      const file = perfLog.replace(/\.log$/, ext);
      expect(existsSync(file), file).toBe(true);
      const idx = await runClass(['kafka.tools.DumpLogSegments', '--files', file]);
      expect(idx.code, idx.stderr).toBe(0);
      // Kafka checks every index entry against the log and reports mismatches.
      expect(idx.stdout).toMatch(ext === '.index' ? /offset: \d+ position: \d+/ : /timestamp: \d+ offset: \d+/);
      expect(idx.stdout).not.toMatch(/Mismatches|mismatch|not the last|corrupt|exception/i);
    }
    rmSync(sluice.dir, { recursive: true, force: true });
  });
});
