// Replication end to end: three broker processes and etcd on loopback, a topic with replication
// factor 3 and min.insync.replicas=2, an idempotent acks=all producer writing numbered records
// while the partition's leader is SIGKILLed. Every acknowledged record must then be readable from
// the new leader exactly once and in order, and the surviving replicas must hold the same records.

import { EtcdMetadataStore, LocalEtcd } from '@sluice/cluster';
import { FetchApi } from '@sluice/protocol';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BrokerProcess,
  decodeRecords,
  fetchRequest,
  RawClient,
  readPartition,
  sleep,
  spawnBroker,
} from './helpers.js';

const TOPIC = 'acked';
const RECORDS = 600;

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('replication across leader failures (RF=3, acks=all, idempotent)', { timeout: 180_000 }, () => {
  let etcd: LocalEtcd;
  const brokers = new Map<number, BrokerProcess>();
  const dataDirs = new Map<number, string>();
  const acked: number[] = [];

  const start = async (nodeId: number) => {
    const b = await spawnBroker({
      dataDir: dataDirs.get(nodeId),
      overrides: {
        'node.id': String(nodeId),
        'metadata.etcd.endpoints': etcd.endpoints.join(','),
        'broker.session.timeout.ms': '3000',
        'replica.lag.time.max.ms': '6000',
        'offsets.topic.num.partitions': '3',
      },
      timeoutMs: 60_000,
    });
    brokers.set(nodeId, b);
    dataDirs.set(nodeId, b.dataDir);
  };

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    await Promise.all([1, 2, 3].map(start));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...brokers.values()].map((b) => b.kill('SIGKILL')));
    await etcd?.stop();
  });

  const kafkaVia = (exclude: number[] = []) =>
    new Kafka({
      clientId: 'replication-failover',
      brokers: [...brokers.entries()].filter(([id]) => !exclude.includes(id)).map(([, b]) => b.bootstrap),
      logLevel: logLevel.NOTHING,
      retry: { retries: 40, initialRetryTime: 100, maxRetryTime: 1000 },
    });

  const partitionInfo = async (exclude: number[] = []) => {
    const admin = kafkaVia(exclude).admin();
    await admin.connect();
    try {
      return (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0].partitions[0];
    } finally {
      await admin.disconnect();
    }
  };

  /** Produces the next `count` numbered records, acks=all, idempotent; `midway` runs after a third of them. */
  const produce = async (count: number, exclude: number[], midway: () => Promise<void>) => {
    const producer = kafkaVia(exclude).producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const first = acked.length;
    let done = false;
    // Bounded: count / 10 sends.
    for (let n = first; n < first + count; n += 10) {
      const values = Array.from({ length: 10 }, (_, i) => n + i);
      await producer.send({ topic: TOPIC, acks: -1, messages: values.map((v) => ({ value: String(v) })) });
      acked.push(...values);
      if (!done && n >= first + count / 3) {
        done = true;
        await midway();
      }
    }
    await producer.disconnect();
  };

  /**
   * The partition as its current leader serves it to consumers (up to the high watermark, which
   * the new leader moves once its followers fetch), read with plain Fetch requests: no consumer
   * group, whose coordinator may be on the stopped broker.
   */
  const readAll = async (exclude: number[]) => {
    let seen: number[] = [];
    await until(
      'every acknowledged record readable from the leader',
      async () => {
        const { leader } = await partitionInfo(exclude);
        const client = await RawClient.connect(brokers.get(leader)!.port);
        try {
          seen = (await readPartition(client, TOPIC, 0)).map((r) => Number(r.value!.toString()));
        } finally {
          client.close();
        }
        return seen.length >= acked.length;
      },
      60_000,
    );
    return seen;
  };

  it('a clean stop of the leader moves leadership first: no acknowledged record lost or duplicated', async () => {
    const admin = kafkaVia().admin();
    await admin.connect();
    await until('three brokers in the cluster', async () => (await admin.describeCluster()).brokers.length === 3);
    const { clusterId } = await admin.describeCluster();
    await admin.createTopics({
      topics: [
        {
          topic: TOPIC,
          numPartitions: 1,
          replicationFactor: 3,
          configEntries: [{ name: 'min.insync.replicas', value: '2' }],
        },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    await until('every replica in the ISR', async () => (await partitionInfo()).isr.length === 3);
    const { leader, replicas } = await partitionInfo();
    expect([...replicas].sort()).toEqual([1, 2, 3]);

    // The order of what the cluster saw: the leadership must move before the broker leaves.
    const watcher = await EtcdMetadataStore.open({ endpoints: etcd.endpoints, clusterId: clusterId! });
    const events: string[] = [];
    watcher.onChange((changes) => {
      for (const c of changes) {
        if (c.type === 'broker' && c.nodeId === leader && !c.after) events.push('unregistered');
        if (c.type === 'partition' && c.before?.leader === leader && c.after?.leader !== leader) events.push('moved');
      }
    });
    try {
      await produce(RECORDS, [], async () => {
        expect(await brokers.get(leader)!.kill('SIGTERM')).toBe(0);
      });
    } finally {
      await watcher.close();
    }
    expect(events).toEqual(['moved', 'unregistered']);
    const after = await partitionInfo([leader]);
    expect(after.leader).not.toBe(leader);
    expect(await readAll([leader])).toEqual(acked);

    // The stopped broker comes back as a follower, catches up, and rejoins the ISR.
    await start(leader);
    await until('the restarted broker back in the ISR', async () => (await partitionInfo()).isr.length === 3, 60_000);

    // KIP-392: a v11+ consumer may read from a follower, up to the follower's high watermark.
    const client = await RawClient.connect(brokers.get(leader)!.port);
    try {
      await until('the follower serving everything acknowledged', async () => {
        const p = (await client.send(FetchApi, 12, fetchRequest(TOPIC, [{ partition: 0, fetchOffset: 0n }])))
          .responses[0].partitions[0];
        expect(p.errorCode).toBe(0);
        return (await decodeRecords(0, p.records)).length === acked.length;
      });
    } finally {
      client.close();
    }
  });

  it('a SIGKILLed leader: every acknowledged record is readable from the new leader exactly once, in order', async () => {
    const { leader } = await partitionInfo();
    await produce(RECORDS, [], async () => {
      await brokers.get(leader)!.kill('SIGKILL');
    });
    expect(acked.length).toBe(2 * RECORDS);
    const after = await partitionInfo([leader]);
    expect(after.leader).not.toBe(leader);
    expect(after.isr).not.toContain(leader);
    expect(await readAll([leader])).toEqual(acked);
  });
});
