// A Sluice cluster for fault injection: broker processes (the built `sluice broker`) on a 3-member
// etcd of their own, every port a free loopback one. Each broker keeps its client port, its
// replication port and its data directory across restarts, so clients' bootstrap lists and the
// replica fetchers' proxies stay valid while brokers are killed and started again.

import { Kafka } from '@sluice/client';
import { LocalEtcd } from '@sluice/cluster';
import { type BrokerProcess, freePort, sleep, spawnBroker, tempDir } from '../../apps/broker/test/helpers.js';
import { ReplicationProxy } from './replication-proxy.js';

export interface ChaosNode {
  readonly nodeId: number;
  readonly clientPort: number;
  readonly replicationPort: number;
  readonly proxy: ReplicationProxy;
  readonly dataDir: string;
  process: BrokerProcess | null;
  paused: boolean;
  /** The end of the previous processes' output (bounded), for a failing run's report. */
  earlierOutput: string;
}

export interface ChaosClusterOptions {
  brokers?: number;
  etcdMembers?: number;
  /** More broker settings (Kafka's names). */
  overrides?: Record<string, string>;
}

/** What every chaos broker runs with: short timeouts, so faults are detected within seconds. */
export const CHAOS_BROKER_SETTINGS: Readonly<Record<string, string>> = {
  'broker.session.timeout.ms': '3000',
  'replica.lag.time.max.ms': '5000',
  'offsets.topic.num.partitions': '3',
  'group.initial.rebalance.delay.ms': '0',
};

export class ChaosCluster {
  private constructor(
    readonly etcd: LocalEtcd,
    readonly nodes: Map<number, ChaosNode>,
    private readonly overrides: Record<string, string>,
  ) {}

  static async start(options: ChaosClusterOptions = {}): Promise<ChaosCluster> {
    const etcd = await LocalEtcd.start({ members: options.etcdMembers ?? 3 });
    const nodes = new Map<number, ChaosNode>();
    const taken: number[] = [];
    const port = async () => {
      for (;;) {
        const p = await freePort();
        if (!taken.includes(p)) {
          taken.push(p);
          return p;
        }
      }
    };
    for (let nodeId = 1; nodeId <= (options.brokers ?? 3); nodeId++) {
      const replicationPort = await port();
      nodes.set(nodeId, {
        nodeId,
        clientPort: await port(),
        replicationPort,
        proxy: await ReplicationProxy.start(() => replicationPort),
        dataDir: tempDir(`sluice-chaos-${nodeId}-`),
        process: null,
        paused: false,
        earlierOutput: '',
      });
    }
    const cluster = new ChaosCluster(etcd, nodes, { ...CHAOS_BROKER_SETTINGS, ...options.overrides });
    await Promise.all([...nodes.keys()].map((id) => cluster.startBroker(id)));
    return cluster;
  }

  get bootstrap(): string[] {
    return [...this.nodes.values()].map((n) => `127.0.0.1:${n.clientPort}`);
  }

  kafka(clientId: string): Kafka {
    return new Kafka({ brokers: this.bootstrap, clientId, requestTimeoutMs: 10_000, retries: 20 });
  }

  node(nodeId: number): ChaosNode {
    const n = this.nodes.get(nodeId);
    if (!n) throw new Error(`no broker ${nodeId}`);
    return n;
  }

  isUp(nodeId: number): boolean {
    const n = this.node(nodeId);
    return n.process !== null && !n.paused;
  }

  /**
   * Starts broker `nodeId` on its ports and data. Clients connect to PLAINTEXT; the first advertised
   * listener, which replica fetchers use, is the REPLICATION listener behind its proxy.
   */
  async startBroker(nodeId: number): Promise<void> {
    const n = this.node(nodeId);
    if (n.process) return;
    // A port just freed by a killed broker can be briefly taken by someone's outgoing connection.
    for (let attempt = 1; ; attempt++) {
      try {
        n.process = await spawnBroker({
          built: true,
          dataDir: n.dataDir,
          timeoutMs: 60_000,
          args: ['--port', String(n.clientPort)],
          overrides: {
            'node.id': String(nodeId),
            'metadata.etcd.endpoints': this.etcd.endpoints.join(','),
            listeners: `PLAINTEXT://127.0.0.1:${n.clientPort},REPLICATION://127.0.0.1:${n.replicationPort}`,
            'advertised.listeners': `REPLICATION://127.0.0.1:${n.proxy.port},PLAINTEXT://127.0.0.1:${n.clientPort}`,
            'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT',
            ...this.overrides,
          },
        });
        n.paused = false;
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(1000);
      }
    }
  }

  /** SIGKILL (a crash) or SIGTERM (a clean shutdown, leadership moved first); waits for the exit. */
  async stopBroker(nodeId: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null> {
    const n = this.node(nodeId);
    const p = n.process;
    if (!p) return null;
    if (n.paused) p.child.kill('SIGCONT');
    n.process = null;
    n.paused = false;
    const code = await p.kill(signal);
    n.earlierOutput = `${n.earlierOutput}${p.output()}\n--- exit ${code ?? signal}\n`.slice(-32 * 1024);
    return code;
  }

  /** The last `chars` of every broker's output, earlier processes included. */
  outputs(chars = 8 * 1024): string {
    return [...this.nodes.values()]
      .map((n) => `=== broker ${n.nodeId}\n${`${n.earlierOutput}${n.process?.output() ?? ''}`.slice(-chars)}`)
      .join('\n');
  }

  pause(nodeId: number): void {
    const n = this.node(nodeId);
    if (!n.process || n.paused) return;
    n.process.child.kill('SIGSTOP');
    n.paused = true;
  }

  resume(nodeId: number): void {
    const n = this.node(nodeId);
    if (!n.process || !n.paused) return;
    n.process.child.kill('SIGCONT');
    n.paused = false;
  }

  /** Cuts replica fetching between `a` and `b`, both ways; clients and etcd are untouched. */
  cutReplication(a: number, b: number): void {
    this.node(a).proxy.cutFollower(b);
    this.node(b).proxy.cutFollower(a);
  }

  restoreReplication(): void {
    for (const n of this.nodes.values()) n.proxy.restoreAll();
  }

  /** Everything back: paused brokers continued, stopped ones started, cuts healed, etcd members up. */
  async heal(): Promise<void> {
    this.restoreReplication();
    for (const n of this.nodes.values()) this.resume(n.nodeId);
    await this.etcd.startAll();
    for (const n of this.nodes.values()) await this.startBroker(n.nodeId);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes.values()) {
      await this.stopBroker(n.nodeId, 'SIGKILL').catch(() => {});
      await n.proxy.close();
    }
    await this.etcd.stop();
  }
}
