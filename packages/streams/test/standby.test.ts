// Standby replicas and the host of a key, with two instances: one a child process that is SIGKILLed, one
// in this process. The survivor's standby kept the dead instance's store warm from its changelog, so
// taking over restores only the tail (here: nothing), and its store then holds every count. Before the
// kill, both instances know which host (application.server) runs which task and holds which standby.
// Runs the child against the built @sluice/client (dist: `npm run build` first, as `npm test` does).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Admin, serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KafkaStreams } from '../src/index.js';
import { createTopics, produce, type RunningBroker, sluice, stateDir, unique, waitFor } from './helpers.js';
import { countTopology } from './topologies.js';

const CHILD = fileURLToPath(new URL('./standby-child.ts', import.meta.url));
const KEYS = 8;
const PER_KEY = 150;

let broker: RunningBroker;
const children: ChildProcess[] = [];
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await broker?.stop();
});

function startChild(args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx/esm', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let last: Array<{ taskId: string }> = [];
  let buf = '';
  proc.stdout?.on('data', (d) => {
    buf += String(d);
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('METRICS ')) last = JSON.parse(l.slice(8));
  });
  proc.stderr?.on('data', (d) => process.stderr.write(d));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return { proc, tasks: () => last.map((m) => m.taskId), exited };
}

it('a standby keeps the store warm: the survivor takes over with no restore, every count right; hosts are known', async () => {
  const brokers = [broker.bootstrap];
  const input = unique('sb-in');
  const output = unique('sb-out');
  const applicationId = unique('standby');
  await createTopics(brokers, [input, output], 2);
  const admin = new Admin({ brokers });
  const a = startChild([broker.bootstrap, applicationId, input, output, stateDir(), 'host-a:1001', '1']);
  await waitFor('the first instance to run both tasks', () => a.tasks().length === 2, 30_000);

  const { topology, counts } = countTopology(input, output);
  const b = new KafkaStreams(topology, {
    brokers,
    applicationId,
    stateDir: stateDir(),
    applicationServer: 'host-b:1002',
    numStandbyReplicas: 1,
    commitIntervalMs: 100,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
  });
  try {
    await b.start();
    const active = async () => (await b.metrics()).map((m) => m.taskId);
    await waitFor(
      'one active task and one standby on each instance',
      async () => (await active()).length === 1 && a.tasks().length === 1 && b.standbyTasks().length === 1,
      30_000,
    );
    const [mine] = await active();
    const [theirs] = a.tasks();
    expect(b.standbyTasks()[0].taskId).toBe(theirs);

    // Which host holds what, as both instances were told in the assignment.
    const meta = b.metadataForAllStreamsClients().sort((x, y) => x.port - y.port);
    const part = (id: string) => Number(id.split('_')[1]);
    expect(meta).toEqual([
      {
        host: 'host-a',
        port: 1001,
        stateStoreNames: ['counts'],
        topicPartitions: [{ topic: input, partition: part(theirs) }],
        standbyStateStoreNames: ['counts'],
        standbyTopicPartitions: [{ topic: input, partition: part(mine) }],
      },
      {
        host: 'host-b',
        port: 1002,
        stateStoreNames: ['counts'],
        topicPartitions: [{ topic: input, partition: part(mine) }],
        standbyStateStoreNames: ['counts'],
        standbyTopicPartitions: [{ topic: input, partition: part(theirs) }],
      },
    ]);

    const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`);
    await produce(
      brokers,
      topic(input, { key: serde.string(), value: serde.string() }),
      keys.flatMap((key) => Array.from({ length: PER_KEY }, (_, j) => ({ key, value: `v${j}` }))),
    );
    // Each key's host is the one running its partition's task, the other holds its standby; and the
    // partition is where the key's records went.
    const ends = await admin.listOffsets([0, 1].map((partition) => ({ topic: input, partition })));
    for (const key of keys) {
      const q = b.queryMetadataForKey('counts', key, serde.string());
      const owner = q.partition === part(mine) ? { host: 'host-b', port: 1002 } : { host: 'host-a', port: 1001 };
      const other = q.partition === part(mine) ? { host: 'host-a', port: 1001 } : { host: 'host-b', port: 1002 };
      expect(q.activeHost).toEqual(owner);
      expect(q.standbyHosts).toEqual([other]);
    }

    // Everything processed and committed, and the standby has the whole changelog of the other task.
    await waitFor(
      'all input committed',
      async () => {
        const committed = await admin.fetchGroupOffsets(applicationId);
        return ends.every((e) => committed.find((c) => c.partition === e.partition)?.offset === e.offset);
      },
      30_000,
    );
    const changelog = `${applicationId}-counts-changelog`;
    const [theirEnd] = await admin.listOffsets([{ topic: changelog, partition: part(theirs) }]);
    expect(theirEnd.offset).toBeGreaterThan(0n);
    await waitFor(
      'the standby to reach the changelog end',
      () => b.standbyTasks()[0]?.positions[changelog] === theirEnd.offset,
    );

    a.proc.kill('SIGKILL');
    await a.exited;
    await waitFor('the survivor to run both tasks', async () => (await active()).length === 2, 40_000);
    const taken = (await b.metrics()).find((m) => m.taskId === theirs);
    // Without the standby this task restores its whole changelog (theirEnd records).
    expect(taken?.restoreTotal).toBe(0);
    expect(taken?.restored).toBe(0);
    const q = b.query(counts);
    for (const key of keys) expect(q.get(key)).toBe(PER_KEY);
    expect(b.metadataForAllStreamsClients().map((m) => [m.host, m.topicPartitions.length])).toEqual([['host-b', 2]]);
  } finally {
    await b.close();
    await admin.close();
  }
}, 120_000);
