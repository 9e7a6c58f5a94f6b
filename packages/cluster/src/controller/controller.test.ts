import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EtcdMetadataStore } from '../etcd/etcd-store.js';
import { LocalEtcd } from '../etcd/local-etcd.js';
import { NO_LEADER } from '../model.js';
import { ClusterController } from './controller.js';

// Three brokers (three stores) on one real etcd; each runs a ClusterController, one is active.
const TTL_S = 2;
let etcd: LocalEtcd;
beforeAll(async () => {
  etcd = await LocalEtcd.start();
});
afterAll(async () => {
  await etcd?.stop();
});

interface Broker {
  store: EtcdMetadataStore;
  controller: ClusterController;
}
const running: Broker[] = [];
afterEach(async () => {
  for (const b of running.splice(0)) {
    await b.controller.stop();
    await b.store.close();
  }
});

async function startBroker(
  cluster: string,
  nodeId: number,
  options: { leaderRebalanceIntervalMs?: number } = {},
): Promise<Broker> {
  const store = await EtcdMetadataStore.open({
    endpoints: etcd.endpoints,
    clusterId: cluster,
    leaseTtlSeconds: TTL_S,
    requestTimeoutMs: 1500,
  });
  await store.registerBroker({ nodeId, incarnationId: randomUUID(), listeners: [], rack: `rack-${nodeId}` });
  const controller = new ClusterController(store, nodeId, { retryMs: 100, ...options });
  controller.start();
  const broker = { store, controller };
  running.push(broker);
  return broker;
}

/** A broker dies: no resignation, no deregistration; its lease runs out. */
async function kill(broker: Broker): Promise<void> {
  running.splice(running.indexOf(broker), 1);
  await broker.controller.stop().catch(() => {});
  await broker.store.close();
}

async function eventually(check: () => boolean, ms: number, what: string): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

describe('ClusterController', () => {
  it('places a topic over three brokers, takes leaderships from a dead broker and gives them back when it returns', async () => {
    const cluster = `ctl-${Date.now()}`;
    const brokers = [await startBroker(cluster, 1), await startBroker(cluster, 2), await startBroker(cluster, 3)];
    await eventually(() => brokers.some((b) => b.controller.isActive), 10_000, 'a controller is elected');
    const active = brokers.find((b) => b.controller.isActive)!;
    await eventually(() => active.store.image.brokers.size === 3, 10_000, 'three brokers registered');

    await expect(
      active.controller.createTopic({ name: 'x', partitions: 1, replicationFactor: 4 }),
    ).rejects.toMatchObject({ errorName: 'INVALID_REPLICATION_FACTOR' });
    const topic = await active.controller.createTopic({ name: 'orders', partitions: 12, replicationFactor: 1 });
    const leaders = () => active.store.image.partitionsOf(topic.topicId).map((p) => p.leader);
    for (const id of [1, 2, 3]) expect(leaders().filter((l) => l === id)).toHaveLength(4);

    // A broker that is not the controller dies: its RF=1 partitions are left without a leader.
    const victim = brokers.find((b) => b !== active)!;
    const victimId = victim.store.localRegistration!.nodeId;
    const led = active.store.image
      .partitionsOf(topic.topicId)
      .filter((p) => p.leader === victimId)
      .map((p) => p.partition);
    await kill(victim);
    await eventually(
      () => led.every((p) => active.store.image.partition(topic.topicId, p)?.leader === NO_LEADER),
      TTL_S * 1000 + 4000,
      'no leader',
    );
    for (const p of led)
      expect(active.store.image.partition(topic.topicId, p)).toMatchObject({ isr: [victimId], leaderEpoch: 1 });

    // It comes back (a new process, a new broker epoch): it leads them again.
    await startBroker(cluster, victimId);
    await eventually(
      () => led.every((p) => active.store.image.partition(topic.topicId, p)?.leader === victimId),
      5000,
      'leaders back',
    );
    for (const p of led) expect(active.store.image.partition(topic.topicId, p)?.leaderEpoch).toBe(2);
  });

  it('moves leadership over to the ISR on RF=3 and survives the controller dying', async () => {
    const cluster = `ctl3-${Date.now()}`;
    const brokers = [await startBroker(cluster, 1), await startBroker(cluster, 2), await startBroker(cluster, 3)];
    await eventually(() => brokers.some((b) => b.controller.isActive), 10_000, 'a controller is elected');
    const first = brokers.find((b) => b.controller.isActive)!;
    await eventually(() => first.store.image.brokers.size === 3, 10_000, 'three brokers registered');
    const topic = await first.controller.createTopic({ name: 'replicated', partitions: 6, replicationFactor: 3 });
    for (const p of first.store.image.partitionsOf(topic.topicId)) expect(new Set(p.replicas).size).toBe(3);

    // Controlled shutdown of another broker: its leaderships move and it leaves the ISRs before it stops.
    const leaving = brokers.find((b) => b !== first)!;
    const leavingReg = leaving.store.localRegistration!;
    await leaving.store.setControlledShutdown(leavingReg.nodeId, leavingReg.brokerEpoch, true);
    await eventually(
      () =>
        first.store.image
          .partitionsOf(topic.topicId)
          .every((p) => p.leader !== leavingReg.nodeId && !p.isr.includes(leavingReg.nodeId)),
      5000,
      'leaderships moved off the broker in controlled shutdown',
    );
    // Its broker epoch is unchanged: it is still registered, only no longer a leader candidate.
    expect(first.store.image.brokers.get(leavingReg.nodeId)).toMatchObject({
      brokerEpoch: leavingReg.brokerEpoch,
      inControlledShutdown: true,
    });
    await leaving.store.setControlledShutdown(leavingReg.nodeId, leavingReg.brokerEpoch, false);

    const deadId = first.store.localRegistration!.nodeId;
    await kill(first);
    const t0 = Date.now();
    const survivors = brokers.filter((b) => b !== first);
    await eventually(() => survivors.some((b) => b.controller.isActive), TTL_S * 1000 + 4000, 'a new controller');
    const takeoverMs = Date.now() - t0;
    const next = survivors.find((b) => b.controller.isActive)!;
    await eventually(
      () =>
        next.store.image
          .partitionsOf(topic.topicId)
          .every((p) => p.leader !== deadId && p.leader !== NO_LEADER && !p.isr.includes(deadId)),
      5000,
      'leaders moved to the ISR',
    );
    // The new controller creates topics (RF 3 no longer fits on two brokers).
    await expect(
      next.controller.createTopic({ name: 'after', partitions: 2, replicationFactor: 3 }),
    ).rejects.toMatchObject({ errorName: 'INVALID_REPLICATION_FACTOR' });
    await next.controller.createTopic({ name: 'after', partitions: 2, replicationFactor: 2 });
    expect(next.store.image.topics.has('after')).toBe(true);
    expect(takeoverMs).toBeLessThan(TTL_S * 1000 + 4000);
  });

  it('with auto.leader.rebalance.enable moves leadership back to live preferred replicas every interval', async () => {
    for (const interval of [undefined, 150]) {
      const cluster = `ctl-rebalance-${interval}-${Date.now()}`;
      const options = { leaderRebalanceIntervalMs: interval };
      const brokers = [await startBroker(cluster, 1, options), await startBroker(cluster, 2, options)];
      await eventually(() => brokers.some((b) => b.controller.isActive), 10_000, 'a controller is elected');
      const active = brokers.find((b) => b.controller.isActive)!;
      await eventually(() => active.store.image.brokers.size === 2, 10_000, 'two brokers registered');
      const topic = await active.controller.createTopic({
        name: 'imbalanced',
        assignments: [
          [1, 2],
          [2, 1],
        ],
      });
      // Leadership away from the preferred replica while it stays in the ISR (as after a restart).
      const records = active.store.image.partitionsOf(topic.topicId);
      await active.store.alterPartitions(
        records.map((p) => ({
          expectedPartitionEpoch: p.partitionEpoch,
          next: { ...p, leader: p.replicas[1], leaderEpoch: p.leaderEpoch + 1, partitionEpoch: p.partitionEpoch + 1 },
        })),
        active.controller.fence!,
      );
      const leaders = () => active.store.image.partitionsOf(topic.topicId).map((p) => p.leader);
      if (interval === undefined) {
        await new Promise((r) => setTimeout(r, 600));
        expect(leaders()).toEqual([2, 1]);
      } else {
        await eventually(() => leaders().join() === '1,2', 10_000, 'leaders back on the preferred replicas');
      }
      for (const b of running.splice(0)) {
        await b.controller.stop();
        await b.store.close();
      }
    }
  });
});
