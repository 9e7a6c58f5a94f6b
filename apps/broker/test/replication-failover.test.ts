// Replication end to end: three broker processes and etcd on loopback, a topic with replication
// factor 3 and min.insync.replicas=2, an idempotent acks=all producer writing numbered records
// while the partition's leader is SIGKILLed. Every acknowledged record must then be readable from
// the new leader exactly once and in order, and the surviving replicas must hold the same records.

import { LocalEtcd } from '@sluice/cluster';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, sleep, spawnBroker } from './helpers.js';

const TOPIC = 'acked';
const RECORDS = 600;

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('replication across a leader SIGKILL (RF=3, acks=all, idempotent)', { timeout: 120_000 }, () => {
  let etcd: LocalEtcd;
  const brokers = new Map<number, BrokerProcess>();

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    await Promise.all(
      [1, 2, 3].map(async (nodeId) => {
        const b = await spawnBroker({
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
      }),
    );
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

  it('loses no acknowledged record and duplicates none when the leader dies mid-stream', async () => {
    const kafka = kafkaVia();
    const admin = kafka.admin();
    await admin.connect();
    await until('three brokers in the cluster', async () => (await admin.describeCluster()).brokers.length === 3);
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
    const partitionInfo = async () => (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0].partitions[0];
    await until('every replica in the ISR', async () => (await partitionInfo()).isr.length === 3);
    const { leader, replicas } = await partitionInfo();
    expect([...replicas].sort()).toEqual([1, 2, 3]);
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const acked: number[] = [];
    let killed = false;
    // Bounded: RECORDS sends of 10 records each at most.
    for (let n = 0; n < RECORDS; n += 10) {
      const values = Array.from({ length: 10 }, (_, i) => n + i);
      await producer.send({ topic: TOPIC, acks: -1, messages: values.map((v) => ({ value: String(v) })) });
      acked.push(...values);
      if (!killed && n >= RECORDS / 3) {
        killed = true;
        await brokers.get(leader)!.kill('SIGKILL');
      }
    }
    await producer.disconnect();
    expect(acked.length).toBe(RECORDS);

    // A new leader from the ISR serves every acknowledged record, once, in order.
    const survivors = kafkaVia([leader]);
    const survivorAdmin = survivors.admin();
    await survivorAdmin.connect();
    const after = (await survivorAdmin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0].partitions[0];
    expect(after.leader).not.toBe(leader);
    expect(after.isr).not.toContain(leader);
    await survivorAdmin.disconnect();

    const consumer = survivors.consumer({ groupId: 'replication-check' });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    const seen: number[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(Number(message.value!.toString()));
      },
    });
    await until('every acknowledged record consumed', () => seen.length >= RECORDS, 60_000);
    await sleep(500);
    await consumer.disconnect();
    expect(seen).toEqual(acked);
  });
});
