// A Sluice cluster of processes for the cluster row: its own one-member etcd (LocalEtcd, free ports,
// a data dir under the run's work dir) and N `sluice broker --node-id i --metadata etcd://…` processes
// on ports picked free. Without etcd the start fails with LocalEtcd's message on how to install it.
import { join } from 'node:path';
import { Kafka } from '@sluice/client';
import { LocalEtcd } from '@sluice/cluster';
import { SluiceBroker } from './brokers.js';
import { freePorts, listenersOf } from './ports.js';
import { sleep } from './proc.js';

export interface SluiceCluster {
  readonly brokers: SluiceBroker[];
  /** The etcd member's pid (found by its client port), for its CPU time. */
  readonly etcdPid: number;
  /** Kills the brokers (the data is thrown away) and stops etcd. */
  stop(): Promise<void>;
}

export async function startSluiceCluster(dir: string, count: number, deadlineMs = 60_000): Promise<SluiceCluster> {
  const etcd = await LocalEtcd.start({ members: 1, dir: join(dir, 'etcd') });
  const brokers: SluiceBroker[] = [];
  const stop = async () => {
    await Promise.all(brokers.map((b) => b.kill()));
    await etcd.stop();
  };
  try {
    const endpoint = etcd.endpoints[0] ?? '';
    const clientPort = Number(new URL(endpoint).port);
    const holders = listenersOf(clientPort);
    if (holders.length !== 1)
      throw new Error(`etcd on port ${clientPort}: expected one listener, found ${holders.length}`);
    const metadata = `etcd://${endpoint.replace(/^https?:\/\//, '')}`;
    const ports = await freePorts(count);
    for (let i = 0; i < count; i++)
      brokers.push(new SluiceBroker(ports[i], undefined, ['--node-id', String(i + 1), '--metadata', metadata]));
    await Promise.all(brokers.map((b, i) => b.start(join(dir, `broker-${i + 1}`))));
    // ApiVersions answers before every broker has registered: wait until the cluster lists all of them.
    const admin = new Kafka({ brokers: [`127.0.0.1:${ports[0]}`], clientId: 'bench-cluster', retries: 0 }).admin();
    try {
      const until = performance.now() + deadlineMs;
      for (;;) {
        const seen = await admin.describeCluster().then(
          (c) => c.brokers.length,
          () => 0,
        );
        if (seen === count) break;
        if (performance.now() > until)
          throw new Error(`cluster: ${seen} of ${count} brokers registered after ${deadlineMs} ms`);
        await sleep(100);
      }
    } finally {
      await admin.close();
    }
    return { brokers, etcdPid: holders[0].pid, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Creates a topic on a cluster and waits until every partition has a leader and its full replica set in
 * the ISR, so that acks=all waits for every replica from the first record on.
 */
export async function createReplicatedTopic(
  port: number,
  name: string,
  partitions: number,
  replicationFactor: number,
  configs: Record<string, string>,
  deadlineMs = 60_000,
): Promise<void> {
  const admin = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-cluster' }).admin();
  try {
    const until = performance.now() + deadlineMs;
    for (;;) {
      const created = await admin.createTopics([{ name, numPartitions: partitions, replicationFactor, configs }]).then(
        () => true,
        (e: Error) => {
          // Created, but the client's own short wait for its metadata ran out: the loop below waits longer.
          if (e.message === `topic ${name}`) return true;
          // A broker's registration lapsed for a moment (a loaded machine delays its heartbeats), or the
          // broker asked answers before its own registration is in (it listens first): retry.
          if (/INVALID_REPLICATION_FACTOR|BROKER_NOT_AVAILABLE/.test(e.message) && performance.now() < until)
            return false;
          throw e;
        },
      );
      if (created) break;
      await sleep(500);
    }
    for (;;) {
      const [info] = await admin.describeTopics([name]).catch(() => []);
      if (
        info?.partitions.length === partitions &&
        info.partitions.every(
          (p) =>
            p.errorCode === 0 &&
            p.leader >= 0 &&
            p.replicas.length === replicationFactor &&
            p.isr.length === replicationFactor,
        )
      )
        return;
      if (performance.now() > until) throw new Error(`${name}: not fully replicated after ${deadlineMs} ms`);
      await sleep(100);
    }
  } finally {
    await admin.close();
  }
}
