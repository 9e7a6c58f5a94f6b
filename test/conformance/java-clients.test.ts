import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeGroupsApi,
  FetchApi,
  iterateBatches,
  ListOffsetsApi,
  MetadataApi,
  OffsetFetchApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, requireJava, startSluice } from './brokers.js';
import { WireClient } from './wire-client.js';

// Apache Kafka's own command-line tools (Java clients) against Sluice: console producer and consumer (by
// partition and through a group), the verifiable producer and consumer, kafka-consumer-groups, the producer
// performance tool, and the dump-log tool on Sluice's segments.
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
              highWatermark: 0x7fffffffffffffffn,
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The tools' JSON event lines (VerifiableProducer, VerifiableConsumer). */
function jsonEvents(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A group's committed offset for partition 0 of `topic`, read with OffsetFetch. */
async function committed(groupId: string, topic: string) {
  const r = await client.send(OffsetFetchApi, 8, {
    ...OffsetFetchApi.request.defaults(),
    groups: [
      {
        groupId,
        memberId: null,
        memberEpoch: -1,
        topics: [{ name: topic, topicId: ZERO_UUID, partitionIndexes: [0] }],
      },
    ],
    requireStable: true,
  });
  const p = r.groups[0]?.topics[0]?.partitions[0];
  return { errorCode: r.groups[0]?.errorCode ?? -2, offset: p?.committedOffset };
}

/** A group's state after its members' last requests (Sluice answers at once; bounded poll all the same). */
async function groupState(groupId: string): Promise<string> {
  let state = '';
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    const r = await client.send(DescribeGroupsApi, 5, { groups: [groupId], includeAuthorizedOperations: false });
    state = r.groups[0]?.groupState ?? '';
    if (state === 'Empty') break;
    await sleep(100);
  }
  return state;
}

async function latestOffset(topic: string): Promise<bigint> {
  const r = await client.send(ListOffsetsApi, 7, {
    replicaId: -1,
    isolationLevel: 0,
    timeoutMs: 10_000,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
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
    // Partition 0 directly, without a group (the next test reads through one).
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

  it('console consumer in a group reads from the beginning and commits its position', async () => {
    const consumed = await runClass([
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      '--bootstrap-server',
      sluice.bootstrap,
      '--topic',
      'console-rt',
      '--group',
      'console-group',
      '--from-beginning',
      '--max-messages',
      String(lines.length),
      '--timeout-ms',
      '30000',
    ]);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trimEnd().split('\n')).toEqual(lines);
    // The consumer commits on close (auto-commit): the group's position is the end of the partition.
    expect(await committed('console-group', 'console-rt')).toEqual({ errorCode: 0, offset: BigInt(lines.length) });
    expect(await groupState('console-group')).toBe('Empty');
  });

  it('verifiable consumer in a group reads every record the verifiable producer wrote, once, and commits', async () => {
    const n = 2000;
    const r = await runClass([
      'org.apache.kafka.tools.VerifiableConsumer',
      '--bootstrap-server',
      sluice.bootstrap,
      '--topic',
      'verifiable',
      '--group-id',
      'verifiable-group',
      '--max-messages',
      String(n),
      '--reset-policy',
      'earliest',
      '--verbose',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const events = jsonEvents(r.stdout);
    const records = events.filter((e) => e.name === 'record_data');
    const stored = await readValues('verifiable');
    expect(records).toHaveLength(n);
    expect(new Set(records.map((e) => e.value)).size).toBe(n);
    for (const e of records) expect(stored[e.offset as number]).toBe(e.value);
    const consumed = events.filter((e) => e.name === 'records_consumed');
    expect(consumed.reduce((sum, e) => sum + (e.count as number), 0)).toBe(n);
    const commits = events.filter((e) => e.name === 'offsets_committed');
    expect(commits.length).toBeGreaterThan(0);
    expect(commits.filter((e) => e.success !== true)).toEqual([]);
    const last = (commits.at(-1)!.offsets as { partition: number; offset: number }[]).find((o) => o.partition === 0);
    expect(last?.offset).toBe(n);
    expect(events.map((e) => e.name)).toContain('partitions_assigned');
    // Kafka 4.4's tool prints shutdown_requested (from its shutdown hook) after shutdown_complete, against
    // Kafka itself too; nothing else may follow the clean shutdown.
    expect(
      events
        .map((e) => e.name)
        .filter((name) => name !== 'shutdown_requested')
        .at(-1),
    ).toBe('shutdown_complete');
    expect(await committed('verifiable-group', 'verifiable')).toEqual({ errorCode: 0, offset: BigInt(n) });

    // kafka-consumer-groups --describe: the committed position, the log end and no lag.
    const described = await runClass([
      'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
      '--bootstrap-server',
      sluice.bootstrap,
      '--describe',
      '--group',
      'verifiable-group',
    ]);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stderr).toMatch(/Consumer group 'verifiable-group' has no active members/);
    expect(described.stdout).toMatch(new RegExp(`^verifiable-group\\s+verifiable\\s+0\\s+${n}\\s+${n}\\s+0\\s`, 'm'));
  });

  it('kafka-consumer-groups describes a live group: its member, assignment and state', async () => {
    // A consumer that keeps running (it asks for more records than there are) until it is stopped.
    const child = spawn(
      'bash',
      [
        script,
        'run-class',
        'org.apache.kafka.tools.VerifiableConsumer',
        '--bootstrap-server',
        sluice.bootstrap,
        '--topic',
        'verifiable',
        '--group-id',
        'live-group',
        '--max-messages',
        '1000000',
        '--reset-policy',
        'earliest',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        if (out.length < 1024 * 1024) out += d.toString('utf8');
      });
      const assigned = Date.now() + 30_000;
      while (!out.includes('"partitions_assigned"') && Date.now() < assigned) await sleep(100);
      expect(out).toContain('"partitions_assigned"');
      const tool = (...args: string[]) =>
        runClass([
          'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
          '--bootstrap-server',
          sluice.bootstrap,
          '--describe',
          '--group',
          'live-group',
          ...args,
        ]);
      const members = await tool('--members');
      expect(members.code, members.stderr).toBe(0);
      // GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS: one member holding the topic's one partition.
      const rows = members.stdout.split('\n').filter((l) => l.startsWith('live-group '));
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatch(
        /^live-group\s+consumer-live-group-\S+\s+\/127\.0\.0\.1\s+consumer-live-group-\S+\s+1\s*$/,
      );
      const state = await tool('--state');
      expect(state.code, state.stderr).toBe(0);
      // GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS
      expect(state.stdout).toMatch(
        new RegExp(`^live-group\\s+127\\.0\\.0\\.1:${sluice.port}\\s+\\(1\\)\\s+range\\s+Stable\\s+1\\s*$`, 'm'),
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('close', resolve)));
    }
    // Stopped, the consumer left the group.
    expect(await groupState('live-group')).toBe('Empty');
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
      'org.apache.kafka.tools.DumpLogSegments',
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
    const perf = await runClass(['org.apache.kafka.tools.DumpLogSegments', '--files', perfLog, '--deep-iteration']);
    expect(perf.code, perf.stderr).toBe(0);
    const lastOffsets = [...perf.stdout.matchAll(/lastOffset: (\d+)/g)].map((m) => Number(m[1]));
    expect(lastOffsets.at(-1)).toBe(49_999);

    for (const ext of ['.index', '.timeindex']) {
      const file = perfLog.replace(/\.log$/, ext);
      expect(existsSync(file), file).toBe(true);
      const idx = await runClass(['org.apache.kafka.tools.DumpLogSegments', '--files', file]);
      expect(idx.code, idx.stderr).toBe(0);
      // Kafka checks every index entry against the log and reports mismatches.
      expect(idx.stdout).toMatch(ext === '.index' ? /offset: \d+ position: \d+/ : /timestamp: \d+ offset: \d+/);
      expect(idx.stdout).not.toMatch(/Mismatches|mismatch|not the last|corrupt|exception/i);
    }
    rmSync(sluice.dir, { recursive: true, force: true });
  });
});
