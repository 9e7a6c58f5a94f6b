// unclean.leader.election.enable end to end: both replicas of a partition die, the one that was out
// of the ISR comes back first and is elected (unclean), then the old leader returns as a follower,
// drops the tail the new leader never had (diverging epoch, KIP-320) and ends byte-identical.

import { join } from 'node:path';
import { LocalEtcd } from '@sluice/cluster';
import { PartitionLog } from '@sluice/log';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, RawClient, readPartition, sleep, spawnBroker } from './helpers.js';

const TOPIC = 'unclean';

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await ok()) return;
    } catch {
      // not there yet (a broker starting, a leader moving)
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('unclean leader election (RF=2)', { timeout: 180_000 }, () => {
  let etcd: LocalEtcd;
  const brokers = new Map<number, BrokerProcess>();
  const dataDirs = new Map<number, string>();

  const start = async (nodeId: number) => {
    const b = await spawnBroker({
      dataDir: dataDirs.get(nodeId),
      overrides: {
        'node.id': String(nodeId),
        'metadata.etcd.endpoints': etcd.endpoints.join(','),
        'broker.session.timeout.ms': '3000',
        'offsets.topic.num.partitions': '1',
      },
      timeoutMs: 60_000,
    });
    brokers.set(nodeId, b);
    dataDirs.set(nodeId, b.dataDir);
  };
  const kill = async (nodeId: number) => {
    await brokers.get(nodeId)!.kill('SIGKILL');
    brokers.delete(nodeId);
  };
  const kafka = () =>
    new Kafka({
      clientId: 'unclean',
      brokers: [...brokers.values()].map((b) => b.bootstrap),
      logLevel: logLevel.NOTHING,
      retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  const partitionInfo = async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      return (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0].partitions[0];
    } finally {
      await admin.disconnect();
    }
  };
  const produce = async (value: string, acks: number) => {
    const producer = kafka().producer();
    await producer.connect();
    try {
      await producer.send({ topic: TOPIC, acks, messages: [{ value }] });
    } finally {
      await producer.disconnect();
    }
  };
  const values = async (nodeId: number) => {
    const client = await RawClient.connect(brokers.get(nodeId)!.port);
    try {
      return (await readPartition(client, TOPIC, 0)).map((r) => r.value!.toString());
    } finally {
      client.close();
    }
  };

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    await Promise.all([1, 2].map(start));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...brokers.values()].map((b) => b.kill('SIGKILL')));
    await etcd?.stop();
  });

  it('elects the out-of-sync replica, and the old leader truncates to it when it returns', async () => {
    const admin = kafka().admin();
    await admin.connect();
    await until('two brokers', async () => (await admin.describeCluster()).brokers.length === 2);
    await admin.createTopics({
      topics: [
        {
          topic: TOPIC,
          numPartitions: 1,
          replicationFactor: 2,
          configEntries: [{ name: 'unclean.leader.election.enable', value: 'true' }],
        },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    await until('both in the ISR', async () => (await partitionInfo()).isr.length === 2);
    const { leader } = await partitionInfo();
    const other = leader === 1 ? 2 : 1;
    await produce('a', -1);

    // The follower dies and leaves the ISR; the leader alone takes 'b'.
    await kill(other);
    await until('the ISR down to the leader', async () => (await partitionInfo()).isr.length === 1);
    await produce('b', 1);
    expect(await values(leader)).toEqual(['a', 'b']);

    // The leader dies too; the replica without 'b' comes back and is elected, uncleanly.
    await kill(leader);
    await start(other);
    await until('the out-of-sync replica leads', async () => (await partitionInfo()).leader === other);
    await produce('c', 1);
    expect(await values(other)).toEqual(['a', 'c']);

    // The old leader returns as a follower: 'b' is dropped, 'c' replicated, it rejoins the ISR.
    await start(leader);
    await until('both in the ISR again', async () => (await partitionInfo()).isr.length === 2, 60_000);
    await Promise.all([...brokers.keys()].map((id) => brokers.get(id)!.kill('SIGTERM')));
    brokers.clear();
    const logs = [leader, other].map((id) => PartitionLog.open(join(dataDirs.get(id)!, `${TOPIC}-0`)));
    const [a, b] = logs.map((l) => Buffer.from(l.read(0n, 1 << 20).records));
    for (const l of logs) l.close();
    expect(a.length).toBeGreaterThan(0);
    expect(Buffer.compare(a, b)).toBe(0);
  });
});
