import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type RunningBroker, startBroker } from '@sluice/broker';

// Starting and stopping the two brokers the conformance suite compares: Apache Kafka through
// scripts/reference-kafka (installed into its cache on first use) and Sluice in this process.

const run = promisify(execFile);
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');

/** Broker properties both brokers get, so that defaults the suite depends on agree. */
export const COMMON_PROPS: Readonly<Record<string, string>> = {
  'auto.create.topics.enable': 'true',
  'num.partitions': '1',
  'default.replication.factor': '1',
  // Group flows must not wait for more members to arrive; one offsets partition keeps Kafka's start quick.
  'group.initial.rebalance.delay.ms': '0',
  'offsets.topic.num.partitions': '1',
};

export interface BrokerUnderTest {
  readonly kind: 'kafka' | 'sluice';
  readonly port: number;
  readonly bootstrap: string;
  readonly nodeId: number;
  /** Kafka's broker dir (server.properties, data/) or Sluice's data dir. */
  readonly dir: string;
  stop(): Promise<void>;
}

export function requireJava(): void {
  const ok = (cmd: string, arg: string) => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
  // The conformance suite is opt-in and needs Java; say so plainly rather than passing vacuously.
  if (!ok('java', '-version') || !ok('mvn', '-v')) {
    throw new Error('the conformance suite needs `java` (17+) and `mvn` on PATH');
  }
}

export async function freePort(avoid: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const p = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(p));
      });
    });
    if (!avoid.includes(port)) return port;
  }
  throw new Error('no free port');
}

export function referenceKafka(args: string[], options: { input?: string; timeoutMs?: number } = {}) {
  return run('bash', [script, ...args], {
    cwd: repoRoot,
    timeout: options.timeoutMs ?? 280_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * Starts a fresh single-node Kafka on free loopback ports in a new temp dir. A port found free can be
 * taken by another process (an outgoing connection's ephemeral port) before Kafka binds it, so a start
 * that fails is tried again on new ports, a bounded number of times; the last error is thrown.
 */
export async function startKafka(extra: Record<string, string> = {}): Promise<BrokerUnderTest> {
  requireJava();
  const sets = Object.entries({ ...COMMON_PROPS, ...extra }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const attempts = 3;
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-conformance-kafka-'));
    const port = await freePort();
    const controllerPort = await freePort([port]);
    const where = ['--port', String(port), '--dir', dir];
    try {
      await referenceKafka(['start', ...where, '--controller-port', String(controllerPort), '--fresh', ...sets]);
      return kafkaUnderTest(port, dir, where);
    } catch (err) {
      await referenceKafka(['stop', ...where]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= attempts) throw err;
    }
  }
}

function kafkaUnderTest(port: number, dir: string, where: string[]): BrokerUnderTest {
  return {
    kind: 'kafka',
    port,
    bootstrap: `127.0.0.1:${port}`,
    nodeId: 1,
    dir,
    stop: async () => {
      await referenceKafka(['stop', ...where]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts Sluice in this process on an ephemeral port with a temp data dir. */
export async function startSluice(
  extra: Record<string, string> = {},
): Promise<BrokerUnderTest & { broker: RunningBroker }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-conformance-sluice-'));
  const broker = await startBroker({
    props: { ...COMMON_PROPS, 'node.id': '1', 'log.level': 'warn', 'log.dirs': dataDir, ...extra },
  });
  let stopped = false;
  return {
    kind: 'sluice',
    port: broker.port,
    bootstrap: `127.0.0.1:${broker.port}`,
    nodeId: broker.context.nodeId,
    dir: dataDir,
    broker,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A broker of a multi-node cluster under test: its own port and directory; `stop` stops that one broker. */
export interface ClusterUnderTest {
  readonly kind: 'kafka' | 'sluice';
  readonly brokers: readonly BrokerUnderTest[];
  stop(): Promise<void>;
}

/**
 * Starts a fresh `nodes`-node KRaft Kafka on loopback: every node is broker and controller (combined mode),
 * the voters are all of them, every node directory is formatted with one cluster id, and the nodes start
 * together (a quorum needs a majority up). Node ids are 1..nodes.
 */
export async function startKafkaCluster(nodes = 3, extra: Record<string, string> = {}): Promise<ClusterUnderTest> {
  requireJava();
  const taken: number[] = [];
  const spec: { nodeId: number; port: number; controllerPort: number; dir: string }[] = [];
  for (let nodeId = 1; nodeId <= nodes; nodeId++) {
    const port = await freePort(taken);
    taken.push(port);
    const controllerPort = await freePort(taken);
    taken.push(controllerPort);
    spec.push({ nodeId, port, controllerPort, dir: mkdtempSync(join(tmpdir(), `sluice-conformance-kafka${nodeId}-`)) });
  }
  const voters = spec.map((s) => `${s.nodeId}@127.0.0.1:${s.controllerPort}`).join(',');
  // One cluster id for every node's dir (reference-kafka.sh formats with a fresh one of its own otherwise).
  const clusterId = (await referenceKafka(['cluster-id'])).stdout.trim();
  const sets = Object.entries({ ...COMMON_PROPS, ...extra }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const where = (s: (typeof spec)[number]) => ['--port', String(s.port), '--dir', s.dir];
  const stopAll = () =>
    Promise.allSettled(
      spec.map(async (s) => {
        await referenceKafka(['stop', ...where(s)]);
        rmSync(s.dir, { recursive: true, force: true });
      }),
    );
  try {
    await Promise.all(
      spec.map((s) =>
        referenceKafka([
          'start',
          ...where(s),
          '--controller-port',
          String(s.controllerPort),
          '--node-id',
          String(s.nodeId),
          '--voters',
          voters,
          '--cluster-id',
          clusterId,
          ...sets,
        ]),
      ),
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    kind: 'kafka',
    brokers: spec.map((s) => ({
      kind: 'kafka' as const,
      port: s.port,
      bootstrap: `127.0.0.1:${s.port}`,
      nodeId: s.nodeId,
      dir: s.dir,
      stop: async () => {
        await referenceKafka(['stop', ...where(s)]);
      },
    })),
    stop: async () => {
      await stopAll();
    },
  };
}

/** Starts a `nodes`-broker Sluice cluster in this process on its own etcd (node ids 1..nodes). */
export async function startSluiceCluster(nodes = 3, extra: Record<string, string> = {}): Promise<ClusterUnderTest> {
  const { LocalEtcd } = await import('@sluice/cluster');
  const etcd = await LocalEtcd.start({ members: 1 });
  const running: { broker: RunningBroker; dir: string }[] = [];
  try {
    for (let nodeId = 1; nodeId <= nodes; nodeId++) {
      const dir = mkdtempSync(join(tmpdir(), `sluice-conformance-sluice${nodeId}-`));
      const broker = await startBroker({
        props: {
          ...COMMON_PROPS,
          'node.id': String(nodeId),
          'metadata.etcd.endpoints': etcd.endpoints.join(','),
          listeners: 'PLAINTEXT://127.0.0.1:0',
          'log.level': 'warn',
          'log.dirs': dir,
          ...extra,
        },
      });
      running.push({ broker, dir });
    }
  } catch (err) {
    for (const r of running) await r.broker.stop();
    await etcd.stop();
    throw err;
  }
  return {
    kind: 'sluice',
    brokers: running.map(({ broker, dir }) => ({
      kind: 'sluice' as const,
      port: broker.port,
      bootstrap: `127.0.0.1:${broker.port}`,
      nodeId: broker.context.nodeId,
      dir,
      stop: () => broker.stop(),
    })),
    stop: async () => {
      for (const r of running) {
        await r.broker.stop();
        rmSync(r.dir, { recursive: true, force: true });
      }
      await etcd.stop();
    },
  };
}
