import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  buildRecordBatchSync,
  CreateTopicsApi,
  ListGroupsApi,
  ProduceApi,
  ShareGroupDescribeApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, requireJava, startSluice } from './brokers.js';
import { WireClient } from './wire-client.js';

// KIP-932 share groups driven by Apache Kafka 4.4's own share consumer (kafka-console-share-consumer, the
// class the script runs: org.apache.kafka.tools.consumer.ConsoleShareConsumer) against Sluice: members of one
// share group on one partition, each record delivered to one of them, released records redelivered.
// Run with `npx vitest run -c vitest.conformance.config.ts test/conformance/share-groups.test.ts`.

const script = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');
const goDir = join(repoRoot, 'test', 'conformance', 'clients', 'go');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs: number, cmd = 'bash', cwd = repoRoot, env = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const argv = cmd === 'bash' ? [script, 'run-class', ...args] : args;
    const child = spawn(cmd, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 16 * 1024 * 1024) stdout += d.toString('utf8');
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
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let sluice: BrokerUnderTest & { broker: import('../../apps/broker/src/index.js').RunningBroker };
let client: WireClient;

beforeAll(async () => {
  requireJava();
  sluice = await startSluice({ 'group.share.heartbeat.interval.ms': '1000' });
  client = await WireClient.connect(sluice.port, 'sluice');
});

afterAll(async () => {
  client?.close();
  await sluice?.stop();
});

async function createTopic(name: string): Promise<string> {
  const created = await client.send(CreateTopicsApi, 7, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(created.topics[0]?.errorCode).toBe(0);
  return created.topics[0]?.topicId as string;
}

async function produce(topicId: string, values: string[]): Promise<void> {
  for (let i = 0; i < values.length; i += 500) {
    const records = values.slice(i, i + 500).map((v) => ({ key: null, value: Buffer.from(v) }));
    const res = await client.send(ProduceApi, 13, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: '', topicId, partitionData: [{ index: 0, records: buildRecordBatchSync({ records }) }] }],
    });
    expect(res.responses[0]?.partitionResponses[0]?.errorCode).toBe(0);
  }
}

/** Waits (bounded: JVM start-up varies on a busy machine) until `n` members have joined and fetched. */
async function untilFetching(group: string, topicId: string, n: number): Promise<void> {
  const shares = sluice.broker.context.groups.shareGroups;
  for (let i = 0; i < 1200; i++) {
    const d = await client.send(ShareGroupDescribeApi, 1, { groupIds: [group], includeAuthorizedOperations: false });
    const members = d.groups[0]?.members.length ?? 0;
    if (members >= n && shares?.coordinator.existingSharePartition(group, topicId, 0) !== undefined) return;
    await sleep(100);
  }
  throw new Error(`${n} members of ${group} did not start fetching`);
}

const consoleShareConsumer = (topic: string, group: string, extra: string[]) =>
  run(
    [
      'org.apache.kafka.tools.consumer.ConsoleShareConsumer',
      '--bootstrap-server',
      sluice.bootstrap,
      '--topic',
      topic,
      '--group',
      group,
      '--timeout-ms',
      '15000',
      ...extra,
    ],
    250_000,
  );

describe('KIP-932 share groups with Kafka 4.4 share consumers', () => {
  it('three kafka-console-share-consumers on one partition: every record to exactly one of them', async () => {
    const topic = 'share-console';
    const topicId = await createTopic(topic);
    const n = 3000;
    const consumers = [0, 1, 2].map(() => consoleShareConsumer(topic, 'console-share', []));
    await untilFetching('console-share', topicId, 3);
    const listed = await client.send(ListGroupsApi, 5, { statesFilter: [], typesFilter: ['share'] });
    expect(listed.groups).toEqual([
      expect.objectContaining({
        groupId: 'console-share',
        groupType: 'share',
        protocolType: 'share',
        groupState: 'Stable',
      }),
    ]);
    await produce(
      topicId,
      Array.from({ length: n }, (_, i) => String(i)),
    );
    const runs = await Promise.all(consumers);
    const values = runs.map((r) => r.stdout.split('\n').filter((l) => /^\d+$/.test(l)));
    const all = values.flat();
    expect(new Set(all).size, runs.map((r) => r.stderr.slice(-1500)).join('\n')).toBe(n);
    // Accepted records are never delivered again.
    expect(all.length).toBe(n);
    const busy = values.filter((v) => v.length > 0).length;
    expect(busy, `records per consumer: ${values.map((v) => v.length)}`).toBeGreaterThanOrEqual(2);
    const sp = sluice.broker.context.groups.shareGroups?.coordinator.existingSharePartition(
      'console-share',
      topicId,
      0,
    );
    expect(sp?.startOffset).toBe(BigInt(n));
  }, 300_000);

  it('--release: records come back with growing delivery counts until the limit archives them', async () => {
    const topic = 'share-release';
    const topicId = await createTopic(topic);
    const releasing = consoleShareConsumer(topic, 'release-share', ['--release', '--max-messages', '10']);
    await untilFetching('release-share', topicId, 1);
    await produce(topicId, ['a', 'b']);
    const r = await releasing;
    const got = r.stdout.split('\n').filter((l) => l === 'a' || l === 'b');
    // The default limit (5): each record is delivered five times, then archived.
    expect(got.filter((v) => v === 'a').length, r.stderr.slice(-2000)).toBe(5);
    expect(got.filter((v) => v === 'b').length).toBe(5);
    const sp = sluice.broker.context.groups.shareGroups?.coordinator.existingSharePartition(
      'release-share',
      topicId,
      0,
    );
    expect(sp?.startOffset).toBe(2n);
  }, 300_000);

  it("franz-go's own share-group tests (kgo's ShareGroupETL, AckOnClose, OffsetsAdmin) pass against Sluice", async () => {
    const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: process.env.GOPROXY ?? 'off' };
    const dir = spawnSync('go', ['list', '-m', '-f', '{{.Dir}}', 'github.com/twmb/franz-go'], {
      cwd: goDir,
      env,
      encoding: 'utf8',
    });
    expect(dir.status, `go list failed (run test/conformance/clients/setup.sh first): ${dir.stderr}`).toBe(0);
    const names = ['TestShareGroupETL', 'TestShareGroupAckOnClose', 'TestShareGroupOffsetsAdmin'];
    const r = await run(
      ['test', '-count=1', '-v', '-run', `^(${names.join('|')})$`, './pkg/kgo'],
      200_000,
      'go',
      dir.stdout.trim(),
      { ...env, KGO_SEEDS: sluice.bootstrap, KGO_TEST_RF: '1', KGO_TEST_RECORDS: '5000' },
    );
    const lines = r.stdout.split('\n');
    expect(
      r.code,
      lines
        .filter((l) => /--- FAIL|panic|_test\.go/.test(l))
        .slice(-40)
        .join('\n'),
    ).toBe(0);
    // They ran (they skip themselves on a broker without ShareFetch/ShareAcknowledge v2).
    for (const name of names)
      expect(
        lines.some((l) => l.includes(`--- PASS: ${name} `)),
        name,
      ).toBe(true);
  }, 240_000);
});
