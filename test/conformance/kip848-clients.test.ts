import { type ChildProcessByStdio, execFile, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Admin, Producer, serde, topic as typedTopic } from '@sluice/client';
import { ConsumerGroupDescribeApi, CreateTopicsApi, DescribeGroupsApi, OffsetFetchApi } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, requireJava, startKafka, startSluice } from './brokers.js';
import { WireClient } from './wire-client.js';

// KIP-848 consumer groups (group.protocol=consumer) driven by real clients against Sluice: Apache Kafka
// 4.4's own KafkaConsumer (through its console consumer, three members joining and one leaving while
// records arrive: every record consumed exactly once, commits kept), and franz-go's own kgo group tests
// with their 848 variants (they skip themselves unless the broker serves ConsumerGroupHeartbeat v1),
// and a mixed group (group.protocol=classic and =consumer members; KIP-848's online upgrade and downgrade).
// Run with `npm run test:conformance`.

const script = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');
const goDir = join(repoRoot, 'test', 'conformance', 'clients', 'go');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Kafka's console producer (killed after 250 s), fed `key:value` lines by the test: `write(from, to)` sends the
 * keys from..to with themselves as values (keyed, so they spread over the partitions); `end()` closes its input.
 */
function consoleProducer(bootstrap: string, topic: string) {
  const child = spawn(
    'bash',
    [
      script,
      'run-class',
      'org.apache.kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      bootstrap,
      '--topic',
      topic,
      '--property',
      'parse.key=true',
      '--property',
      'key.separator=:',
    ],
    { cwd: repoRoot, stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString('utf8');
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), 250_000);
  const producer = new Promise<Run>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(kill);
      resolve({ code, stdout: '', stderr });
    }),
  );
  const write = (from: number, to: number) => {
    let lines = '';
    for (let i = from; i <= to; i++) lines += `${i}:${i}\n`;
    child.stdin.write(lines);
  };
  return { write, end: () => child.stdin.end(), producer };
}

/** Runs a command to its end (killed after `timeoutMs`), collecting bounded output. */
function run(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? repoRoot,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
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
    child.stdin.end(opts.input ?? '');
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a described KIP-848 member holds at least one partition. */
const holds = (m: { assignment: { topicPartitions: { partitions: number[] }[] } }) =>
  m.assignment.topicPartitions.some((tp) => tp.partitions.length > 0);

let sluice: BrokerUnderTest & { broker: { stop(): Promise<void> } };
let client: WireClient;

beforeAll(async () => {
  requireJava();
  // A short heartbeat interval keeps reconciliation (one interval per step) quick in the test.
  sluice = await startSluice({
    'group.consumer.heartbeat.interval.ms': '1000',
    'group.consumer.session.timeout.ms': '10000',
  });
  client = await WireClient.connect(sluice.port, 'sluice');
});

afterAll(async () => {
  client?.close();
  await sluice?.stop();
});

describe('KIP-848 consumer groups with real clients', () => {
  it("Kafka 4.4's KafkaConsumer (group.protocol=consumer): three members join, one leaves, each record once, commits kept", async () => {
    const topic = 'kip848-java';
    const created = await client.send(CreateTopicsApi, 7, {
      topics: [{ name: topic, numPartitions: 6, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(created.topics[0]?.errorCode).toBe(0);
    const n = 6000;
    const bootstrap = sluice.bootstrap;
    const joined = async (clientId: string): Promise<boolean> => {
      const d = await client.send(ConsumerGroupDescribeApi, 1, {
        groupIds: ['kip848-java-group'],
        includeAuthorizedOperations: false,
      });
      const g = d.groups[0];
      return g?.groupState === 'Stable' && g.members.some((m) => m.clientId === clientId && holds(m));
    };
    /**
     * Waits (bounded) until a member has joined and holds partitions, the group Stable: JVM start-up times
     * vary a lot on a busy machine. Records written before that could land on partitions the older members
     * still held and consumed until they revoked them, leaving the new member none (it then timed out).
     */
    const untilJoined = async (clientId: string) => {
      for (let i = 0; i < 1200 && !(await joined(clientId)); i++) await sleep(100);
      expect(await joined(clientId), `${clientId} joined and holds partitions`).toBe(true);
    };
    const consumer = (id: string, extra: string[]) =>
      run(
        'bash',
        [
          script,
          'run-class',
          'org.apache.kafka.tools.consumer.ConsoleConsumer',
          '--bootstrap-server',
          bootstrap,
          '--topic',
          topic,
          '--group',
          'kip848-java-group',
          '--from-beginning',
          '--timeout-ms',
          // A member exits after this long without a record: 30 s was too short on a loaded machine.
          '60000',
          '--consumer-property',
          'group.protocol=consumer',
          '--consumer-property',
          `client.id=${id}`,
          ...extra,
        ],
        { timeoutMs: 250_000 },
      );
    // One producer whose input the test writes in three parts, each after a member joined (JVM start-up
    // times vary a lot on a busy machine, so the steps wait for the group, not for the clock).
    const { write, end, producer } = consoleProducer(bootstrap, topic);
    const c1 = consumer('c1', []);
    await untilJoined('c1');
    write(1, 2000);
    // c2 leaves after 500 records (a clean leave: it commits and sends epoch -1).
    const c2 = consumer('c2', ['--max-messages', '500']);
    await untilJoined('c2');
    write(2001, 4000);
    const c3 = consumer('c3', []);
    await untilJoined('c3');
    write(4001, n);
    end();
    const runs = await Promise.all([producer, c1, c2, c3]);
    expect(runs[0].code, runs[0].stderr.slice(-2000)).toBe(0);
    const values = runs.slice(1).map((r) => r.stdout.split('\n').filter((l) => /^\d+$/.test(l)));
    // Every member got records: the group really shared the partitions.
    const counts = values.map((v) => v.length);
    for (const [i, v] of values.entries())
      expect(v.length, `c${i + 1} of ${counts}: ${runs[i + 1].stderr.slice(-1500)}`).toBeGreaterThan(0);
    const all = values.flat();
    expect(new Set(all).size).toBe(n);
    expect(all.length).toBe(n);
    // The group's commits reach the end of every partition.
    const fetched = await client.send(OffsetFetchApi, 9, {
      ...OffsetFetchApi.request.defaults(),
      groups: [{ groupId: 'kip848-java-group', memberId: null, memberEpoch: -1, topics: null }],
      requireStable: false,
    });
    const committed =
      fetched.groups[0]?.topics.flatMap((t) => t.partitions.map((p) => Number(p.committedOffset))) ?? [];
    expect(committed.reduce((a, b) => a + b, 0)).toBe(n);
    const described = await client.send(ConsumerGroupDescribeApi, 1, {
      groupIds: ['kip848-java-group'],
      includeAuthorizedOperations: false,
    });
    expect(described.groups[0]).toMatchObject({ errorCode: 0, groupState: 'Empty' });
    expect(described.groups[0]?.groupEpoch).toBeGreaterThanOrEqual(6);
  }, 400_000);

  it("Kafka 4.4's KafkaConsumer, group.protocol=classic and =consumer in one group: it converts and back, each record once", async () => {
    const topic = 'kip848-mixed-java';
    const group = 'kip848-mixed-java-group';
    const created = await client.send(CreateTopicsApi, 7, {
      topics: [{ name: topic, numPartitions: 6, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(created.topics[0]?.errorCode).toBe(0);
    const n = 6000;
    const consumerGroup = () =>
      client.send(ConsumerGroupDescribeApi, 1, { groupIds: [group], includeAuthorizedOperations: false });
    const classicGroup = () =>
      client.send(DescribeGroupsApi, 5, { groups: [group], includeAuthorizedOperations: false });
    /** Bounded wait for a condition on the group (JVM start-up times vary a lot on a busy machine). */
    const until = async (what: string, ok: () => Promise<boolean>) => {
      for (let i = 0; i < 1200 && !(await ok()); i++) await sleep(100);
      expect(await ok(), what).toBe(true);
    };
    const consumer = (id: string, protocol: 'classic' | 'consumer', extra: string[]) =>
      run(
        'bash',
        [
          script,
          'run-class',
          'org.apache.kafka.tools.consumer.ConsoleConsumer',
          '--bootstrap-server',
          sluice.bootstrap,
          '--topic',
          topic,
          '--group',
          group,
          '--from-beginning',
          '--timeout-ms',
          '60000',
          '--consumer-property',
          `group.protocol=${protocol}`,
          '--consumer-property',
          `client.id=${id}`,
          ...extra,
        ],
        { timeoutMs: 250_000 },
      );
    const { write, end, producer } = consoleProducer(sluice.bootstrap, topic);
    // A classic member forms a classic group.
    const classic = consumer('classic-1', 'classic', []);
    await until('the classic group is Stable', async () => (await classicGroup()).groups[0]?.groupState === 'Stable');
    write(1, 2000);
    // A KIP-848 member joins: the group becomes a consumer group with both members; it leaves after 500 records.
    // The next records are written only once both members hold their partitions (group Stable). Before that,
    // the eager classic member still owns every partition until its next heartbeat tells it to rejoin, and
    // consumes (and commits) whatever lands on the partitions that then move: written earlier, those records
    // never reached the new member, which then waited for records the test wrote only after it had exited.
    const modern = consumer('consumer-1', 'consumer', ['--max-messages', '500']);
    await until('the group converted, both members hold partitions', async () => {
      const g = (await consumerGroup()).groups[0];
      return g?.errorCode === 0 && g.groupState === 'Stable' && g.members.length === 2 && g.members.every(holds);
    });
    write(2001, 4000);
    const modernRun = await modern;
    // Its leave turns the group back into a classic group.
    await until('the group is classic again', async () => (await consumerGroup()).groups[0]?.errorCode !== 0);
    write(4001, n);
    end();
    const runs = await Promise.all([producer, classic]);
    expect(runs[0].code, runs[0].stderr.slice(-2000)).toBe(0);
    const lines = (r: Run) => r.stdout.split('\n').filter((l) => /^\d+$/.test(l));
    const fromClassic = lines(runs[1]);
    const fromModern = lines(modernRun);
    expect(fromModern.length, modernRun.stderr.slice(-1500)).toBe(500);
    expect(fromClassic.length, runs[1].stderr.slice(-1500)).toBeGreaterThan(0);
    const all = [...fromClassic, ...fromModern];
    expect(new Set(all).size).toBe(n);
    expect(all.length).toBe(n);
    const fetched = await client.send(OffsetFetchApi, 9, {
      ...OffsetFetchApi.request.defaults(),
      groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics: null }],
      requireStable: false,
    });
    const committed =
      fetched.groups[0]?.topics.flatMap((t) => t.partitions.map((p) => Number(p.committedOffset))) ?? [];
    expect(committed.reduce((a, b) => a + b, 0)).toBe(n);
  }, 400_000);

  it("franz-go's kgo group tests, 848 variants included, pass against Sluice", async () => {
    const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: process.env.GOPROXY ?? 'off' };
    const dir = spawnSync('go', ['list', '-m', '-f', '{{.Dir}}', 'github.com/twmb/franz-go'], {
      cwd: goDir,
      env,
      encoding: 'utf8',
    });
    expect(dir.status, `go list failed (run test/conformance/clients/setup.sh first): ${dir.stderr}`).toBe(0);
    const r = await run(
      'go',
      ['test', '-count=1', '-v', '-run', '^(TestGroupETL|TestGroupSimple|Test848RegexBrokerResolves)$', './pkg/kgo'],
      {
        cwd: dir.stdout.trim(),
        env: { ...env, KGO_SEEDS: sluice.bootstrap, KGO_TEST_RF: '1', KGO_TEST_RECORDS: '20000' },
        timeoutMs: 170_000,
      },
    );
    const lines = r.stdout.split('\n');
    expect(
      r.code,
      lines
        .filter((l) => /--- FAIL|panic|_test\.go/.test(l))
        .slice(-40)
        .join('\n'),
    ).toBe(0);
    // The 848 variants ran (a broker without ConsumerGroupHeartbeat v1 would have them skipped).
    for (const name of [
      'TestGroupETL/range/848',
      'TestGroupETL/sticky/848',
      'TestGroupETL/sticky/848/static',
      'TestGroupSimple/848',
      'Test848RegexBrokerResolves',
    ]) {
      expect(
        lines.some((l) => l.includes(`--- PASS: ${name} `)),
        name,
      ).toBe(true);
    }
  });
});

// librdkafka (confluent-kafka-python 2.16.1, clients/python/kip848_confluent.py) with group.protocol=consumer.
// Three members of one group on a 6-partition topic while 3,000 records arrive in three parts: m1 joins, m2
// and m3 join, m3 is SIGKILLed after it read records, m2 leaves (SIGTERM: close, commit, epoch -1), and m1
// reads the rest once m3's session timed out. What is asserted:
// - every record is read at least once, and every member read some;
// - a record read twice was read by the killed m3, on a partition at an offset at or after the last commit m3
//   saw acknowledged for it (so: only records m3 had not committed when killed come again; nothing read by the
//   members that joined or left cleanly comes twice);
// - the group's committed offsets reach the end of every partition.
// The same runs against Apache Kafka 4.4 as the oracle.

const python = join(process.env.HOME ?? '', '.cache', 'sluice', 'py-clients', 'bin', 'python');
const member848 = join(repoRoot, 'test', 'conformance', 'clients', 'python', 'kip848_confluent.py');

interface RdMember {
  id: string;
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** `partition:offset` → value of each record read. */
  read: Array<[string, number]>;
  /** The last acknowledged commit per partition. */
  commits: Map<number, number>;
  stderr: string;
  exited: Promise<number | null>;
}

function startRdMember(bootstrap: string, topic: string, group: string, id: string): RdMember {
  const child = spawn(python, [member848, bootstrap, topic, group, id], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const m: RdMember = { id, child, read: [], commits: new Map(), stderr: '', exited: Promise.resolve(null) };
  let rest = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      const f = l.split(' ');
      if (f[0] === 'R' && m.read.length < 100_000) m.read.push([`${f[1]}:${f[2]}`, Number(f[3])]);
      else if (f[0] === 'C') m.commits.set(Number(f[1]), Number(f[2]));
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    if (m.stderr.length < 64 * 1024) m.stderr += d.toString('utf8');
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), 280_000);
  m.exited = new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(kill);
      resolve(code);
    }),
  );
  return m;
}

async function rdUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function librdkafkaGroup(broker: BrokerUnderTest, wire: WireClient): Promise<void> {
  const topic = `kip848-rdkafka-${process.pid}`;
  const group = `${topic}-group`;
  const admin = new Admin({ brokers: [broker.bootstrap] });
  await admin.createTopics([{ name: topic, numPartitions: 6 }]);
  const t = typedTopic(topic, { key: serde.string(), value: serde.string() });
  const produce = async (from: number, to: number) => {
    const p = new Producer({ brokers: [broker.bootstrap] });
    const sends: Promise<unknown>[] = [];
    for (let i = from; i <= to; i++) sends.push(p.send(t, { key: `${i}`, value: `${i}` }));
    await Promise.all(sends);
    await p.close();
  };
  const joined = async (clientId: string): Promise<boolean> => {
    const d = await wire.send(ConsumerGroupDescribeApi, 1, { groupIds: [group], includeAuthorizedOperations: false });
    return (
      d.groups[0]?.members.some((m) => m.clientId === clientId && m.assignment.topicPartitions.length > 0) ?? false
    );
  };
  const members: RdMember[] = [];
  try {
    await produce(1, 1000);
    const m1 = startRdMember(broker.bootstrap, topic, group, 'm1');
    members.push(m1);
    await rdUntil(() => m1.read.length > 0, 'm1 to read');
    const m2 = startRdMember(broker.bootstrap, topic, group, 'm2');
    const m3 = startRdMember(broker.bootstrap, topic, group, 'm3');
    members.push(m2, m3);
    await rdUntil(async () => (await joined('m2')) && (await joined('m3')), 'm2 and m3 to own partitions');
    await produce(1001, 2000);
    await rdUntil(() => m2.read.length > 0 && m3.read.length > 0, 'm2 and m3 to read');
    m3.child.kill('SIGKILL');
    await m3.exited;
    m2.child.kill('SIGTERM');
    expect(await m2.exited, m2.stderr.slice(-2000)).toBe(0);
    await produce(2001, 3000);
    const values = () => new Set(members.flatMap((m) => m.read.map(([, v]) => v)));
    await rdUntil(() => values().size >= 3000, "every record (m3's partitions after its session timeout)");
    m1.child.kill('SIGTERM');
    expect(await m1.exited, m1.stderr.slice(-2000)).toBe(0);

    expect(values().size).toBe(3000);
    for (const m of members) expect(m.read.length, `${m.id} read records`).toBeGreaterThan(0);
    const byM3 = new Set(m3.read.map(([k]) => k));
    const seen = new Set<string>();
    const twice: string[] = [];
    for (const [k] of members.flatMap((m) => m.read)) {
      if (seen.has(k)) twice.push(k);
      seen.add(k);
    }
    for (const k of twice) {
      const [p, o] = k.split(':').map(Number);
      expect(byM3.has(k), `${k} read twice, not by the killed member`).toBe(true);
      expect(o, `${k} read twice though m3 had committed past it`).toBeGreaterThanOrEqual(m3.commits.get(p) ?? -1);
    }
    const committed = await admin.fetchGroupOffsets(group);
    expect(committed.reduce((s, o) => s + Number(o.offset), 0)).toBe(3000);
    console.info(
      `librdkafka group on ${broker.kind}: read ${members.map((m) => `${m.id} ${m.read.length}`).join(', ')}; ` +
        `${twice.length} read twice (all uncommitted by the killed m3)`,
    );
  } finally {
    for (const m of members) m.child.kill('SIGKILL');
    await Promise.all(members.map((m) => m.exited));
    await admin.close();
  }
}

const rdSetup = () =>
  new Promise<void>((resolve, reject) =>
    execFile(
      'bash',
      [join(repoRoot, 'test', 'conformance', 'clients', 'setup.sh')],
      { timeout: 280_000 },
      (err, _o, e) => (err ? reject(new Error(`clients/setup.sh failed: ${e.slice(-4000)}`)) : resolve()),
    ),
  );

describe('librdkafka consumers with group.protocol=consumer', () => {
  beforeAll(rdSetup, 300_000);

  it('on Sluice: joins, a leave, a SIGKILLed member; each record once unless uncommitted by the killed one; commits kept', async () => {
    await librdkafkaGroup(sluice, client);
  }, 300_000);

  it('on Apache Kafka 4.4 (the oracle): the same', async () => {
    const kafka = await startKafka({
      'group.consumer.min.heartbeat.interval.ms': '1000',
      'group.consumer.heartbeat.interval.ms': '1000',
      'group.consumer.min.session.timeout.ms': '6000',
      'group.consumer.session.timeout.ms': '10000',
    });
    const wire = await WireClient.connect(kafka.port, 'kafka');
    try {
      await librdkafkaGroup(kafka, wire);
    } finally {
      wire.close();
      await kafka.stop();
    }
  }, 400_000);
});
