// Unmodified clients against a 3-broker Sluice cluster of processes (`sluice cluster up --brokers 3`: its own
// etcd and three broker processes on loopback): Kafka's own admin tools (kafka-cluster, kafka-topics with a
// replica assignment and --describe, kafka-leader-election, kafka-reassign-partitions; all Java AdminClient),
// kafkajs, and the client-matrix programs — franz-go, librdkafka (confluent-kafka-python) and kafka-python — which
// create a 3-partition topic (placement gives each broker one partition to lead), produce keyed records with
// every codec, consume them in a two-member group that commits, and check every record.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceKafka, repoRoot, requireJava } from './brokers.js';

const clientsDir = join(repoRoot, 'test', 'conformance', 'clients');
const cli = join(repoRoot, 'apps', 'broker', 'src', 'cli.ts');

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
    execFile(
      cmd,
      args,
      { cwd: clientsDir, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** A Kafka tool class (the class behind a bin/*.sh script) against the cluster; its stdout. */
async function tool(cls: string, ...args: string[]): Promise<string> {
  const { stdout } = await referenceKafka(['run-class', cls, ...args, '--bootstrap-server', bootstrap[0]], {
    timeoutMs: 60_000,
  });
  return stdout;
}

let cluster: ChildProcess;
let dir: string;
let bootstrap: string[];
let programs: { franz: string; python: string };

beforeAll(async () => {
  requireJava();
  dir = mkdtempSync(join(tmpdir(), 'sluice-cluster-clients-'));
  cluster = spawn(
    process.execPath,
    [
      '--conditions=sluice-source',
      '--import',
      'tsx',
      cli,
      'cluster',
      'up',
      '--brokers',
      '3',
      '--port',
      '0',
      '--dir',
      dir,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  cluster.stderr?.on('data', (d) => {
    err += d;
  });
  const up = new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no bootstrap line; stdout=${out} stderr=${err}`)), 90_000);
    cluster.stdout?.on('data', (d) => {
      out += d;
      const m = /^bootstrap: (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].split(','));
      }
    });
    cluster.once('exit', (code) => reject(new Error(`cluster up exited with ${code}: ${err}`)));
  });
  const [setup, addresses] = await Promise.all([run('bash', [join(clientsDir, 'setup.sh')], 280_000), up]);
  bootstrap = addresses;
  if (setup.code !== 0) throw new Error(`clients/setup.sh failed (exit ${setup.code}):\n${setup.stderr.slice(-4000)}`);
  const paths = Object.fromEntries(
    setup.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string]),
  );
  programs = { franz: paths.franz, python: paths.python };
  // Every broker sees the other two before the clients start (registration travels through etcd's watch).
  for (let i = 0; ; i++) {
    const endpoints = await tool('org.apache.kafka.tools.ClusterTool', 'list-endpoints').catch(() => '');
    if ((endpoints.match(/unfenced\s+broker/g) ?? []).length === 3) break;
    if (i >= 20) throw new Error(`the cluster did not list 3 brokers:\n${endpoints}`);
    await new Promise((r) => setTimeout(r, 500));
  }
});

afterAll(async () => {
  if (cluster && cluster.exitCode === null) {
    const exited = new Promise((r) => cluster.once('exit', r));
    cluster.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    if (cluster.exitCode === null) cluster.kill('SIGKILL');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Kafka's admin tools (Java AdminClient) against 3 Sluice brokers", () => {
  it('kafka-cluster list-endpoints: three unfenced brokers at their own ports', async () => {
    const out = await tool('org.apache.kafka.tools.ClusterTool', 'list-endpoints');
    const rows = out
      .split('\n')
      .filter((l) => /^\d/.test(l))
      .map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => [r[0], `${r[1]}:${r[2]}`, r[4]])).toEqual(
      bootstrap.map((address, i) => [String(i + 1), address, 'unfenced']),
    );
  });

  it('kafka-topics --create --replica-assignment puts partitions where asked; --describe shows them', async () => {
    const created = await tool(
      'org.apache.kafka.tools.TopicCommand',
      '--create',
      '--topic',
      'assigned',
      '--replica-assignment',
      '3,1,2,3,1,2',
    );
    expect(created).toContain('Created topic assigned.');
    const described = await tool('org.apache.kafka.tools.TopicCommand', '--describe', '--topic', 'assigned');
    expect(described).toMatch(/PartitionCount: 6\tReplicationFactor: 1/);
    const partitions = [...described.matchAll(/Partition: (\d+)\tLeader: (\d+)\tReplicas: (\d+)\tIsr: (\d+)/g)].map(
      (m) => m.slice(1).map(Number),
    );
    expect(partitions).toEqual([3, 1, 2, 3, 1, 2].map((b, p) => [p, b, b, b]));
    const refused = await tool(
      'org.apache.kafka.tools.TopicCommand',
      '--create',
      '--topic',
      'refused',
      '--replica-assignment',
      '1,4',
    ).catch((e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`);
    expect(refused).toMatch(/InvalidReplicaAssignmentException|no such broker is registered/);
  });

  it('kafka-leader-election: nothing to elect where the preferred replicas lead', async () => {
    const preferred = await tool(
      'org.apache.kafka.tools.LeaderElectionCommand',
      '--election-type',
      'PREFERRED',
      '--topic',
      'assigned',
      '--partition',
      '1',
    );
    expect(preferred).toContain('Valid replica already elected for partitions assigned-1');
    const unclean = await tool(
      'org.apache.kafka.tools.LeaderElectionCommand',
      '--election-type',
      'UNCLEAN',
      '--all-topic-partitions',
    );
    expect(unclean).not.toMatch(/Error|failed/i);
  });

  it('kafka-reassign-partitions: execute a move, verify it completes (the new replica catches up), list', async () => {
    const file = join(dir, 'move.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      file,
      JSON.stringify({ version: 1, partitions: [{ topic: 'assigned', partition: 0, replicas: [2] }] }),
    );
    const started = await tool(
      'org.apache.kafka.tools.reassign.ReassignPartitionsCommand',
      '--execute',
      '--reassignment-json-file',
      file,
    );
    expect(started).toContain('Successfully started partition reassignment for assigned-0');
    // The added replica fetches from the leader, joins the ISR, and the controller drops the old one.
    let verified = '';
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      verified = await tool(
        'org.apache.kafka.tools.reassign.ReassignPartitionsCommand',
        '--verify',
        '--reassignment-json-file',
        file,
      );
      if (verified.includes('Reassignment of partition assigned-0 is completed')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(verified).toContain('Reassignment of partition assigned-0 is completed');
    expect(await tool('org.apache.kafka.tools.reassign.ReassignPartitionsCommand', '--list')).toContain(
      'No partition reassignments found.',
    );
  });
});

describe.each([
  ['franz-go', () => [programs.franz, []] as const],
  [
    'confluent-kafka (librdkafka)',
    () => [programs.python, [join(clientsDir, 'python', 'matrix_confluent.py')]] as const,
  ],
  ['kafka-python', () => [programs.python, [join(clientsDir, 'python', 'matrix_kafka_python.py')]] as const],
])('%s against 3 Sluice brokers', (name, program) => {
  it('round-trips every codec over partitions led by different brokers, through a two-member group', async () => {
    const [cmd, args] = program();
    // Bootstrapped through one broker (a different one per client): the others come from Metadata.
    const index = ['franz-go', 'confluent-kafka (librdkafka)', 'kafka-python'].indexOf(name);
    const r = await run(cmd, [...args, bootstrap[index], 'roundtrip'], 120_000);
    const context = `${name} exited ${r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(result.errors, context).toEqual([]);
    expect(r.code, context).toBe(0);
    expect(result.ok).toBe(true);
    expect(result.consumed).toBe(15_000);
    expect(result.group).toMatchObject({ state: 'Stable', members: 2, assigned: [0, 1, 2] });
    expect(result.committed).toEqual(result.endOffsets);
  });
});

describe('kafkajs against 3 Sluice brokers', () => {
  it('a 12-partition topic spread 4/4/4; keyed records land on their leaders and come back through a group', async () => {
    const kafka = new kafkajs.Kafka({
      clientId: 'cluster-clients',
      brokers: [bootstrap[2]],
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId: 'cluster-kafkajs' });
    try {
      expect(await admin.createTopics({ topics: [{ topic: 'kjs', numPartitions: 12 }], waitForLeaders: true })).toBe(
        true,
      );
      const meta = await admin.fetchTopicMetadata({ topics: ['kjs'] });
      const leaders = meta.topics[0].partitions.map((p) => p.leader);
      for (const id of [1, 2, 3]) expect(leaders.filter((l) => l === id)).toHaveLength(4);
      await producer.connect();
      const sent = await producer.send({
        topic: 'kjs',
        messages: Array.from({ length: 240 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
      });
      expect(sent.every((r) => r.errorCode === 0)).toBe(true);
      // Every partition got records (keys hash over all 12), so every broker took writes it leads.
      expect(new Set(sent.map((r) => r.partition)).size).toBe(12);
      await consumer.connect();
      await consumer.subscribe({ topic: 'kjs', fromBeginning: true });
      const seen = new Map<string, number>();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consumed ${seen.size} of 240`)), 60_000);
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            seen.set(String(message.key), partition);
            if (seen.size === 240) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
      expect(seen.size).toBe(240);
    } finally {
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
    }
  });
});
