// The nemesis: one fault at a time, chosen at random (seeded), each undone before the next, with a
// quiet spell in between. Faults: SIGKILL a broker and start it again; SIGSTOP a partition leader
// for longer than the broker session timeout, then SIGCONT; cut replica fetching between two
// brokers for longer than replica.lag.time.max.ms; restart an etcd member; and compounds: a clean
// restart (SIGTERM, leadership moved first), two brokers killed in turn (the second as soon as the
// first is back, before it caught up), and a leader killed while replication between the other two is
// cut (its partitions wait for the cut to heal: availability is lost, no acknowledged record may be),
// a leader whose replication to both followers is cut, and such a leader killed before its ISR shrinks.

import { sleep } from '../../apps/broker/test/helpers.js';
import type { ChaosCluster } from './cluster.js';

export type FaultKind =
  | 'kill'
  | 'pause-leader'
  | 'cut-replication'
  | 'etcd-restart'
  | 'clean-restart'
  | 'kill-two-in-turn'
  | 'cut-then-kill-leader'
  | 'isolate-leader-replication'
  | 'isolate-then-kill-leader';

export interface Fault {
  kind: FaultKind;
  target: string;
  atMs: number;
  heldMs: number;
}

/** mulberry32: a small seeded generator, so a run can be repeated with CHAOS_SEED. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface NemesisOptions {
  topic: string;
  seed: number;
  /** The broker session timeout: a pause lasts longer than this. */
  sessionTimeoutMs: number;
  /** replica.lag.time.max.ms: a cut lasts longer than this. */
  replicaLagMs: number;
  quietMs?: number;
}

export class Nemesis {
  readonly faults: Fault[] = [];
  private stopped = false;
  private readonly random: () => number;
  private running: Promise<void> | null = null;
  private readonly started = Date.now();

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly options: NemesisOptions,
  ) {
    this.random = seeded(options.seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.random() * xs.length)];
  }

  /** The current leader of a random partition of the topic, or a random broker when metadata cannot say. */
  private async someLeader(): Promise<number> {
    const admin = this.cluster.kafka('chaos-nemesis').admin();
    try {
      const [t] = await admin.describeTopics([this.options.topic]);
      const leaders = t.partitions.map((p) => p.leader).filter((l) => l >= 0);
      if (leaders.length > 0) return this.pick(leaders);
    } catch {
      // fall through
    } finally {
      await admin.close().catch(() => {});
    }
    return this.pick([...this.cluster.nodes.keys()]);
  }

  async inject(kind: FaultKind): Promise<void> {
    const c = this.cluster;
    const brokers = [...c.nodes.keys()];
    const atMs = Date.now() - this.started;
    const begin = Date.now();
    let target = '';
    switch (kind) {
      case 'kill': {
        const id = this.pick(brokers);
        target = `broker ${id}`;
        await c.stopBroker(id, 'SIGKILL');
        await sleep(1000 + this.random() * 4000);
        await c.startBroker(id);
        break;
      }
      case 'pause-leader': {
        const id = await this.someLeader();
        target = `broker ${id}`;
        c.pause(id);
        await sleep(this.options.sessionTimeoutMs + 1000 + this.random() * 2000);
        c.resume(id);
        break;
      }
      case 'cut-replication': {
        const a = this.pick(brokers);
        const b = this.pick(brokers.filter((x) => x !== a));
        target = `brokers ${a}<->${b}`;
        c.cutReplication(a, b);
        await sleep(this.options.replicaLagMs + 2000 + this.random() * 3000);
        c.restoreReplication();
        break;
      }
      case 'clean-restart': {
        const id = this.pick(brokers);
        target = `broker ${id}`;
        await c.stopBroker(id, 'SIGTERM');
        await c.startBroker(id);
        break;
      }
      case 'kill-two-in-turn': {
        const a = this.pick(brokers);
        const b = this.pick(brokers.filter((x) => x !== a));
        target = `brokers ${a} then ${b}`;
        await c.stopBroker(a, 'SIGKILL');
        await sleep(1000 + this.random() * 2000);
        await c.startBroker(a);
        await c.stopBroker(b, 'SIGKILL');
        await sleep(1000 + this.random() * 2000);
        await c.startBroker(b);
        break;
      }
      case 'cut-then-kill-leader': {
        const leader = await this.someLeader();
        const [a, b] = brokers.filter((x) => x !== leader);
        target = `brokers ${a}<->${b} cut, leader ${leader} killed`;
        c.cutReplication(a, b);
        await sleep(1000 + this.random() * 3000);
        await c.stopBroker(leader, 'SIGKILL');
        await sleep(2000 + this.random() * 3000);
        c.restoreReplication();
        await sleep(this.random() * 2000);
        await c.startBroker(leader);
        break;
      }
      case 'isolate-leader-replication': {
        // The leader keeps etcd and its clients but no follower reaches it: the ISR shrinks to it,
        // below min.insync.replicas, and writes must be refused, never acknowledged.
        const leader = await this.someLeader();
        target = `leader ${leader} cut from both followers`;
        for (const other of brokers) if (other !== leader) c.cutReplication(leader, other);
        await sleep(this.options.replicaLagMs + 2000 + this.random() * 3000);
        c.restoreReplication();
        break;
      }
      case 'isolate-then-kill-leader': {
        // Cut off from both followers, the leader must acknowledge nothing; killed before the ISR
        // shrinks, a follower takes over without whatever only the old leader had.
        const leader = await this.someLeader();
        target = `leader ${leader} cut from both followers, then killed`;
        for (const other of brokers) if (other !== leader) c.cutReplication(leader, other);
        await sleep(1000 + this.random() * (this.options.replicaLagMs - 2000));
        await c.stopBroker(leader, 'SIGKILL');
        c.restoreReplication();
        await sleep(1000 + this.random() * 2000);
        await c.startBroker(leader);
        break;
      }
      case 'etcd-restart': {
        const i = Math.floor(this.random() * c.etcd.endpoints.length);
        target = `etcd member ${i}`;
        await c.etcd.stopMember(i, 'SIGKILL');
        await sleep(1000 + this.random() * 2000);
        await c.etcd.startMember(i);
        break;
      }
    }
    this.faults.push({ kind, target, atMs, heldMs: Date.now() - begin });
  }

  /** Injects faults (of `only` kinds when given) until `stop()`, each undone before a quiet spell and the next. */
  start(only?: readonly FaultKind[]): void {
    const all: FaultKind[] = [
      'kill',
      'pause-leader',
      'cut-replication',
      'etcd-restart',
      'clean-restart',
      'kill-two-in-turn',
      'cut-then-kill-leader',
      'isolate-leader-replication',
      'isolate-then-kill-leader',
    ];
    const kinds = only && only.length > 0 ? all.filter((k) => only.includes(k)) : all;
    if (kinds.length === 0) throw new Error(`no known fault among ${only?.join(',')}`);
    this.running = (async () => {
      while (!this.stopped) {
        await this.inject(this.pick(kinds));
        const quiet = this.options.quietMs ?? 3000;
        for (let waited = 0; waited < quiet && !this.stopped; waited += 250) await sleep(250);
      }
    })();
  }

  /** Stops after the fault in progress is undone. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
