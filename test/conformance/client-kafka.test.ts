// @sluice/client against Apache Kafka itself: the client is written from the protocol, so it
// must work with the reference broker, not only with Sluice.
import { Admin, ConfigResource, Consumer, Producer, serde, type TopicPartition, topic } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, startKafka } from './brokers.js';
import { waitForLeaders, waitForPartitionsReady } from './scripts.js';
import { WireClient } from './wire-client.js';

let kafka: BrokerUnderTest;
let admin: Admin;
let wire: WireClient;
let seq = 0;
const unique = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  kafka = await startKafka({
    'group.initial.rebalance.delay.ms': '0',
    // KIP-848 groups reconcile one heartbeat at a time: a short interval keeps that case quick.
    'group.consumer.min.heartbeat.interval.ms': '500',
    'group.consumer.heartbeat.interval.ms': '500',
  });
  admin = new Admin({ brokers: [kafka.bootstrap] });
  wire = await WireClient.connect(kafka.port, 'kafka');
});
afterAll(async () => {
  wire?.close();
  await admin?.close();
  await kafka?.stop();
});

/** Waits until Kafka leads every partition of a new topic (its metadata can name the leader a little earlier). */
async function ready(name: string, partitions: number) {
  const side = { broker: kafka, client: wire, connect: () => WireClient.connect(kafka.port, 'kafka') };
  await waitForLeaders(side, name);
  await waitForPartitionsReady(side, name, partitions);
}

interface Item {
  n: number;
}

describe('@sluice/client against Apache Kafka', () => {
  it.each(['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const)('produces and consumes with %s', async (compression) => {
    const name = unique(`client-${compression}`);
    await admin.createTopics([{ name, numPartitions: 3 }]);
    await ready(name, 3);
    const t = topic(name, { key: serde.string(), value: serde.json<Item>() });
    const p = new Producer({ brokers: [kafka.bootstrap] }, { compression });
    const sent = await Promise.all(
      Array.from({ length: 300 }, (_, n) => p.send(t, { key: `k${n % 17}`, value: { n } })),
    );
    await p.close();
    const c = new Consumer({ brokers: [kafka.bootstrap] }, { autoOffsetReset: 'earliest' });
    const got = new Map<number, { partition: number; offset: bigint; key: string }>();
    for await (const r of c.records(t)) {
      got.set(r.value.n, { partition: r.partition, offset: r.offset, key: r.key });
      if (got.size === 300) break;
    }
    await c.close();
    for (let n = 0; n < 300; n++) {
      expect(got.get(n)).toEqual({ partition: sent[n].partition, offset: sent[n].offset, key: `k${n % 17}` });
    }
  });

  it('runs a cooperative-sticky group of two members that commits and leaves cleanly', async () => {
    const name = unique('client-group');
    await admin.createTopics([{ name, numPartitions: 4 }]);
    await ready(name, 4);
    const t = topic(name, { value: serde.int32() });
    const p = new Producer({ brokers: [kafka.bootstrap] });
    await Promise.all(Array.from({ length: 400 }, (_, n) => p.send(t, { value: n, partition: n % 4 })));
    await p.close();
    const groupId = unique('g');
    const seen = new Set<number>();
    const owners = new Map<string, string>();
    const doubles: string[] = [];
    const mk = (id: string) =>
      new Consumer(
        { brokers: [kafka.bootstrap] },
        {
          groupId,
          autoOffsetReset: 'earliest',
          heartbeatIntervalMs: 200,
          onRebalance: {
            assigned: (tps: TopicPartition[]) => {
              for (const tp of tps) {
                const k = `${tp.partition}`;
                if (owners.has(k) && owners.get(k) !== id) doubles.push(k);
                owners.set(k, id);
              }
            },
            revoked: (tps: TopicPartition[]) => {
              for (const tp of tps) owners.delete(`${tp.partition}`);
            },
          },
        },
      );
    const c1 = mk('c1');
    const c2 = mk('c2');
    const read = async (c: Consumer) => {
      for await (const r of c.records(t)) {
        seen.add(r.value);
        if (seen.size % 40 === 0) await new Promise((res) => setTimeout(res, 20));
      }
    };
    const r1 = read(c1);
    await new Promise((res) => setTimeout(res, 300));
    const r2 = read(c2);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (seen.size < 400 || c1.assignment().length !== 2 || c2.assignment().length !== 2)) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(seen.size).toBe(400);
    expect([c1.assignment().length, c2.assignment().length]).toEqual([2, 2]);
    expect(doubles).toEqual([]);
    const described = await admin.describeGroup(groupId);
    expect(described.protocol).toBe('cooperative-sticky');
    expect(described.members).toHaveLength(2);
    await Promise.all([c1.close(), c2.close()]);
    await Promise.all([r1, r2]);
    const committed = await admin.fetchGroupOffsets(groupId);
    expect(committed.reduce((s, o) => s + Number(o.offset), 0)).toBe(400);
    expect((await admin.describeGroup(groupId)).state).toBe('Empty');
    expect((await admin.listGroups()).map((g) => g.groupId)).toContain(groupId);
    await admin.deleteGroups([groupId]);
  });

  it("runs a KIP-848 group (groupProtocol 'consumer'): members join and leave, each record once, commits kept, regex", async () => {
    const name = unique('client-848');
    await admin.createTopics([{ name, numPartitions: 4 }]);
    await ready(name, 4);
    const t = topic(name, { value: serde.int32() });
    const send = async (from: number, count: number) => {
      const p = new Producer({ brokers: [kafka.bootstrap] });
      await Promise.all(Array.from({ length: count }, (_, i) => p.send(t, { value: from + i, partition: i % 4 })));
      await p.close();
    };
    const groupId = unique('g848');
    const all: number[] = [];
    const mk = () =>
      new Consumer(
        { brokers: [kafka.bootstrap] },
        { groupId, groupProtocol: 'consumer', groupRemoteAssignor: 'uniform', autoOffsetReset: 'earliest' },
      );
    const read = async (c: Consumer) => {
      for await (const r of c.records(t)) all.push(r.value);
    };
    const until = async (cond: () => boolean, what: string) => {
      const deadline = Date.now() + 60_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    await send(0, 200);
    const c1 = mk();
    const r1 = read(c1);
    await until(() => all.length >= 200 && c1.assignment().length === 4, 'c1 to read 200 records');
    const c2 = mk();
    const r2 = read(c2);
    await send(200, 200);
    await until(() => c1.assignment().length === 2 && c2.assignment().length === 2, 'two partitions each');
    await until(() => all.length >= 400, '400 records');
    expect(c2.groupMetadata()?.generationId).toBeGreaterThan(0);
    await c1.close();
    await r1;
    await until(() => c2.assignment().length === 4, "c1's partitions to go to c2");
    await send(400, 200);
    await until(() => all.length >= 600, '600 records');
    await c2.close();
    await r2;
    expect(all.length).toBe(600);
    expect(new Set(all).size).toBe(600);
    const committed = await admin.fetchGroupOffsets(groupId);
    expect(committed.reduce((s, o) => s + Number(o.offset), 0)).toBe(600);

    // By regex, which Kafka matches (RE2/J) against its topics.
    const byRegex = new Consumer(
      { brokers: [kafka.bootstrap] },
      { groupId: unique('g848re'), groupProtocol: 'consumer', autoOffsetReset: 'earliest' },
    );
    byRegex.subscribePattern(`${name}|nothing-else`);
    const seen = new Set<number>();
    for await (const r of byRegex.records(t)) {
      seen.add(r.value);
      if (seen.size === 600) break;
    }
    await byRegex.close();
    expect(seen.size).toBe(600);
  });

  it('administers topics, partitions and configs', async () => {
    const name = unique('client-admin');
    await admin.createTopics([{ name, numPartitions: 2, configs: { 'retention.ms': '100000' } }]);
    await ready(name, 2);
    expect(await admin.listTopics()).toContain(name);
    await admin.createPartitions([{ topic: name, count: 3 }]);
    // Kafka answers CreatePartitions and AlterConfigs once its controller has committed the change; the
    // broker's metadata image, which Metadata and DescribeConfigs read, catches up a moment later (a CI
    // run saw 2 partitions right after the answer). Poll, bounded by the clock.
    await expect
      .poll(async () => (await admin.describeTopics([name]))[0].partitions.length, { timeout: 30_000, interval: 100 })
      .toBe(3);
    await admin.incrementalAlterConfigs(ConfigResource.TOPIC, name, [{ name: 'retention.ms', value: '200000' }]);
    await expect
      .poll(async () => (await admin.describeConfigs(ConfigResource.TOPIC, name, ['retention.ms']))[0].value, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe('200000');
    const cluster = await admin.describeCluster();
    expect(cluster.brokers[0].port).toBe(kafka.port);
    await admin.deleteTopics([name]);
  });
});
