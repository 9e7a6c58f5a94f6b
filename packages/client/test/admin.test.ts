import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin, ConfigOp, ConfigResource, Kafka, serde, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
let admin: Admin;
beforeAll(async () => {
  broker = await sluice(1);
  admin = new Admin({ brokers: [broker.bootstrap] });
});
afterAll(async () => {
  await admin.close();
  await broker.stop();
});

describe('admin', () => {
  it('creates, lists, describes, grows and deletes topics', async () => {
    const name = uniqueTopic('adm');
    await admin.createTopics([{ name, numPartitions: 3, configs: { 'retention.ms': '3600000' } }]);
    expect(await admin.listTopics()).toContain(name);
    const [d] = await admin.describeTopics([name]);
    expect(d.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    await expect(admin.createTopics([{ name, numPartitions: 1 }])).rejects.toMatchObject({
      errorName: 'TOPIC_ALREADY_EXISTS',
    });
    await admin.createPartitions([{ topic: name, count: 5 }]);
    expect((await admin.describeTopics([name]))[0].partitions).toHaveLength(5);
    await admin.deleteTopics([name]);
    expect(await admin.listTopics()).not.toContain(name);
  });

  it('describes and alters topic configs (whole and incremental)', async () => {
    const name = uniqueTopic('cfg');
    await admin.createTopics([{ name, numPartitions: 1 }]);
    await admin.incrementalAlterConfigs(ConfigResource.TOPIC, name, [{ name: 'retention.ms', value: '12345' }]);
    let cfg = await admin.describeConfigs(ConfigResource.TOPIC, name, ['retention.ms', 'cleanup.policy']);
    expect(cfg.find((c) => c.name === 'retention.ms')?.value).toBe('12345');
    expect(cfg.find((c) => c.name === 'cleanup.policy')?.value).toBe('delete');
    await admin.incrementalAlterConfigs(ConfigResource.TOPIC, name, [{ name: 'retention.ms', op: ConfigOp.DELETE }]);
    cfg = await admin.describeConfigs(ConfigResource.TOPIC, name, ['retention.ms']);
    expect(cfg[0].value).toBe('604800000');
    await admin.alterConfigs(ConfigResource.TOPIC, name, { 'segment.ms': '60000' });
    cfg = await admin.describeConfigs(ConfigResource.TOPIC, name, ['segment.ms']);
    expect(cfg[0].value).toBe('60000');
  });

  it('sets, describes and removes client quotas', async () => {
    const alice = { user: 'alice' };
    const dflt = { 'client-id': null };
    await admin.alterClientQuotas([
      { entity: alice, set: { producer_byte_rate: 1048576, consumer_byte_rate: 2097152 } },
      { entity: dflt, set: { request_percentage: 50 } },
    ]);
    const all = await admin.describeClientQuotas();
    expect(all).toContainEqual({
      entity: alice,
      values: { producer_byte_rate: 1048576, consumer_byte_rate: 2097152 },
    });
    expect(all).toContainEqual({ entity: dflt, values: { request_percentage: 50 } });
    const users = await admin.describeClientQuotas({ user: 'alice' });
    expect(users).toEqual([{ entity: alice, values: { producer_byte_rate: 1048576, consumer_byte_rate: 2097152 } }]);
    await admin.alterClientQuotas([{ entity: alice, remove: ['producer_byte_rate'] }]);
    expect(await admin.describeClientQuotas({ user: 'alice' })).toEqual([
      { entity: alice, values: { consumer_byte_rate: 2097152 } },
    ]);
  });

  it('lists offsets and describes the cluster', async () => {
    const name = uniqueTopic('offs');
    const kafka = new Kafka({ brokers: [broker.bootstrap] });
    const p = kafka.producer();
    const t = topic(name, { value: serde.string() });
    for (let i = 0; i < 7; i++) await p.send(t, { value: `v${i}`, timestamp: 1_000_000 + i * 1000 });
    await p.close();
    expect((await admin.listOffsets([{ topic: name, partition: 0 }], 'earliest'))[0].offset).toBe(0n);
    expect((await admin.listOffsets([{ topic: name, partition: 0 }], 'latest'))[0].offset).toBe(7n);
    expect((await admin.listOffsets([{ topic: name, partition: 0 }], 1_003_500))[0].offset).toBe(4n);
    const cluster = await admin.describeCluster();
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.brokers[0].port).toBe(broker.port);
    expect(cluster.clusterId).toBe(broker.clusterId);
  });

  it('deletes records up to an offset: the log start moves, the records below it are gone', async () => {
    const name = uniqueTopic('delrec');
    await admin.createTopics([{ name, numPartitions: 2 }]);
    const kafka = new Kafka({ brokers: [broker.bootstrap] });
    const p = kafka.producer();
    const t = topic(name, { value: serde.string() });
    for (let i = 0; i < 10; i++) await p.send(t, { value: `v${i}`, partition: i % 2 });
    await p.close();
    const low = await admin.deleteRecords([
      { topic: name, partition: 0, offset: 3n },
      { topic: name, partition: 1, offset: -1n },
    ]);
    expect(low).toEqual([
      { topic: name, partition: 0, lowWatermark: 3n },
      { topic: name, partition: 1, lowWatermark: 5n },
    ]);
    const earliest = await admin.listOffsets(
      [
        { topic: name, partition: 0 },
        { topic: name, partition: 1 },
      ],
      'earliest',
    );
    expect(earliest.map((e) => e.offset)).toEqual([3n, 5n]);
    await expect(admin.deleteRecords([{ topic: name, partition: 0, offset: 99n }])).rejects.toMatchObject({
      errorName: 'OFFSET_OUT_OF_RANGE',
    });
  });
});
