// End to end with third-party clients: kafkajs 2.2.4 and @platformatic/kafka 1.x against `sluice
// broker` running as a child process. Everything produced is read back with plain Fetch.

import { Admin as PlatformaticAdmin, Producer as PlatformaticProducer, stringSerializers } from '@platformatic/kafka';
import { ListOffsetsApi, MetadataApi } from '@sluice/protocol';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BrokerProcess,
  type ConsumedRecord,
  listOffset,
  RawClient,
  readPartition,
  registerKafkajsCodecs,
  spawnBroker,
} from './helpers.js';

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = kafkajs;
registerKafkajsCodecs(
  CompressionCodecs as unknown as Parameters<typeof registerKafkajsCodecs>[0],
  CompressionTypes as unknown as Record<string, number>,
);

const TOPIC = 'e2e-six';
const PARTITIONS = 6;
const KAFKAJS_CODECS = [
  { name: 'none', type: CompressionTypes.None, id: 0 },
  { name: 'gzip', type: CompressionTypes.GZIP, id: 1 },
  { name: 'snappy', type: CompressionTypes.Snappy, id: 2 },
  { name: 'lz4', type: CompressionTypes.LZ4, id: 3 },
  { name: 'zstd', type: CompressionTypes.ZSTD, id: 4 },
] as const;
// Node 20 has no zstd in zlib, which @platformatic/kafka uses for it; kafkajs covers zstd.
const PLATFORMATIC_CODECS = [
  { name: 'none', id: 0 },
  { name: 'gzip', id: 1 },
  { name: 'snappy', id: 2 },
  { name: 'lz4', id: 3 },
] as const;
const PER_KAFKAJS_CODEC = 12_000;
const PER_PLATFORMATIC_CODEC = 10_000;
const TOTAL = KAFKAJS_CODECS.length * PER_KAFKAJS_CODEC + PLATFORMATIC_CODECS.length * PER_PLATFORMATIC_CODEC;
const SEND_BATCH = 1000;
const BASE_TS = Date.now() - 3_600_000;

interface Expected {
  idx: number;
  src: 'kafkajs' | 'platformatic';
  key: string;
  value: string;
  headers: Record<string, string>;
  timestamp: number;
  codec: number;
}

function expectedMessage(idx: number, src: Expected['src'], codec: number): Expected {
  return {
    idx,
    src,
    // Keys repeat, so each key's messages share a partition.
    key: `user-${idx % 997}`,
    value: `value-${idx}-${'x'.repeat(idx % 251)}`,
    headers: { idx: String(idx), src, trace: `t${idx * 7}` },
    timestamp: BASE_TS + idx,
    codec,
  };
}

let broker: BrokerProcess;
let raw: RawClient;
let kafka: InstanceType<typeof Kafka>;

beforeAll(async () => {
  broker = await spawnBroker({ overrides: { 'num.partitions': '2' } });
  raw = await RawClient.connect(broker.port);
  kafka = new Kafka({ clientId: 'e2e', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
});

afterAll(async () => {
  raw?.close();
  if (broker) expect(await broker.kill('SIGTERM')).toBe(0);
});

describe('kafkajs and @platformatic/kafka against a broker process', () => {
  const expected: Expected[] = [];
  const consumed: ConsumedRecord[] = [];

  it(`produces ${TOTAL.toLocaleString('en')} keyed messages with headers across every codec and reads them all back`, async () => {
    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] })).toBe(true);
    await admin.disconnect();

    let idx = 0;
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (const codec of KAFKAJS_CODECS) {
      for (let sent = 0; sent < PER_KAFKAJS_CODEC; sent += SEND_BATCH) {
        const batch: Expected[] = [];
        for (let i = 0; i < SEND_BATCH; i++) batch.push(expectedMessage(idx++, 'kafkajs', codec.id));
        expected.push(...batch);
        await producer.send({
          topic: TOPIC,
          acks: -1,
          compression: codec.type,
          messages: batch.map((m) => ({
            key: m.key,
            value: m.value,
            headers: m.headers,
            timestamp: String(m.timestamp),
          })),
        });
      }
    }
    await producer.disconnect();

    const pproducer = new PlatformaticProducer({
      clientId: 'e2e-platformatic',
      bootstrapBrokers: [broker.bootstrap],
      serializers: stringSerializers,
      autocreateTopics: false,
    });
    try {
      for (const codec of PLATFORMATIC_CODECS) {
        for (let sent = 0; sent < PER_PLATFORMATIC_CODEC; sent += SEND_BATCH) {
          const batch: Expected[] = [];
          for (let i = 0; i < SEND_BATCH; i++) batch.push(expectedMessage(idx++, 'platformatic', codec.id));
          expected.push(...batch);
          await pproducer.send({
            acks: -1,
            compression: codec.name,
            messages: batch.map((m) => ({
              topic: TOPIC,
              key: m.key,
              value: m.value,
              headers: m.headers,
              timestamp: BigInt(m.timestamp),
            })),
          });
        }
      }
    } finally {
      await pproducer.close();
    }
    expect(expected.length).toBe(TOTAL);

    for (let p = 0; p < PARTITIONS; p++) consumed.push(...(await readPartition(raw, TOPIC, p)));
    expect(consumed.length).toBe(TOTAL);

    const seen = new Uint8Array(TOTAL);
    const lastIdx = new Map<number, number>();
    const keyPartition = new Map<string, number>();
    for (const r of consumed) {
      const headers = Object.fromEntries(r.headers.map((h) => [h.key, h.value?.toString() ?? null]));
      const idx = Number(headers.idx);
      const m = expected[idx];
      expect(m, `record ${r.partition}@${r.offset}`).toBeDefined();
      expect(seen[idx], `idx ${idx} twice`).toBe(0);
      seen[idx] = 1;
      // Cheap field checks first; a mismatch reports the whole record.
      if (
        r.key?.toString() !== m.key ||
        r.value?.toString() !== m.value ||
        r.timestamp !== BigInt(m.timestamp) ||
        r.compression !== m.codec
      ) {
        expect({ key: r.key?.toString(), value: r.value?.toString(), ts: r.timestamp, codec: r.compression }).toEqual({
          key: m.key,
          value: m.value,
          ts: BigInt(m.timestamp),
          codec: m.codec,
        });
      }
      expect(headers).toEqual(m.headers);
      // Per-partition order is send order (every send was awaited before the next).
      expect(idx).toBeGreaterThan(lastIdx.get(r.partition) ?? -1);
      lastIdx.set(r.partition, idx);
      const kp = `${m.src}/${m.key}`;
      expect(keyPartition.get(kp) ?? r.partition).toBe(r.partition);
      keyPartition.set(kp, r.partition);
    }
    // Offsets are dense from 0 in every partition.
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = consumed.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets.length).toBeGreaterThan(0);
      expect(offsets[offsets.length - 1]).toBe(BigInt(offsets.length - 1));
    }
  });

  it('finds offsets by time (ListOffsets through kafkajs and raw, with earliest, latest and max timestamp)', async () => {
    expect(consumed.length).toBe(TOTAL);
    const byPartition = new Map<number, ConsumedRecord[]>();
    for (const r of consumed) {
      const list = byPartition.get(r.partition) ?? [];
      list.push(r);
      byPartition.set(r.partition, list);
    }
    const firstAtOrAfter = (p: number, ts: number) => {
      const rec = byPartition.get(p)!.find((r) => r.timestamp >= BigInt(ts));
      return rec === undefined ? BigInt(byPartition.get(p)!.length) : rec.offset;
    };

    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const idx of [0, 1, 12_345, 59_999, 60_000, 77_777, TOTAL - 1]) {
        const ts = BASE_TS + idx;
        const got = await admin.fetchTopicOffsetsByTimestamp(TOPIC, ts);
        for (const { partition, offset } of got) expect(BigInt(offset)).toBe(firstAtOrAfter(partition, ts));
      }
      // Past the newest timestamp: the log end offset.
      const after = await admin.fetchTopicOffsetsByTimestamp(TOPIC, BASE_TS + TOTAL + 10);
      for (const { partition, offset } of after)
        expect(BigInt(offset)).toBe(BigInt(byPartition.get(partition)!.length));
      const latest = await admin.fetchTopicOffsets(TOPIC);
      for (const o of latest) {
        expect(o.low).toBe('0');
        expect(BigInt(o.high)).toBe(BigInt(byPartition.get(o.partition)!.length));
      }
    } finally {
      await admin.disconnect();
    }

    // Max timestamp (-3, v7+): the offset of the record with the largest timestamp.
    const res = await raw.send(ListOffsetsApi, 7, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [
        {
          name: TOPIC,
          partitions: [...byPartition.keys()].map((p) => ({
            partitionIndex: p,
            currentLeaderEpoch: -1,
            timestamp: -3n,
            maxNumOffsets: 1,
          })),
        },
      ],
    });
    for (const p of res.topics[0].partitions) {
      const list = byPartition.get(p.partitionIndex)!;
      const last = list[list.length - 1];
      expect(p.errorCode).toBe(0);
      expect(p.offset).toBe(last.offset);
      expect(p.timestamp).toBe(last.timestamp);
    }

    // Inside one compressed batch with timestamps out of order, the answers name records, not the batch.
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    const t = BASE_TS;
    await producer.send({
      topic: 'ts-order',
      compression: CompressionTypes.ZSTD,
      messages: [t + 5, t + 9, t + 1, t + 7].map((ts, i) => ({ value: `v${i}`, partition: 0, timestamp: String(ts) })),
    });
    await producer.disconnect();
    const lookup = async (timestamp: bigint) => {
      const { errorCode, offset, timestamp: ts } = await listOffset(raw, 'ts-order', 0, timestamp);
      return { errorCode, offset, timestamp: ts };
    };
    expect(await lookup(-3n)).toEqual({ errorCode: 0, offset: 1n, timestamp: BigInt(t + 9) });
    expect(await lookup(BigInt(t + 6))).toEqual({ errorCode: 0, offset: 1n, timestamp: BigInt(t + 9) });
    expect(await lookup(BigInt(t))).toEqual({ errorCode: 0, offset: 0n, timestamp: BigInt(t + 5) });
    expect(await lookup(BigInt(t + 10))).toEqual({ errorCode: 0, offset: -1n, timestamp: -1n });
  });

  it('round-trips topic and broker configs through DescribeConfigs, AlterConfigs and IncrementalAlterConfigs', async () => {
    const { ConfigResourceTypes } = kafkajs;
    const admin = kafka.admin();
    await admin.connect();
    const describeTopic = async (names: string[]) => {
      const r = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC, configNames: names }],
      });
      return Object.fromEntries(r.resources[0].configEntries.map((e) => [e.configName, e]));
    };
    try {
      const before = await describeTopic(['retention.ms', 'cleanup.policy', 'max.message.bytes']);
      expect(before['retention.ms'].configValue).toBe('604800000');
      expect(before['retention.ms'].isDefault).toBe(true);
      expect(before['cleanup.policy'].configValue).toBe('delete');

      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: TOPIC,
            configEntries: [
              { name: 'retention.ms', value: '3600000' },
              { name: 'max.message.bytes', value: '2000000' },
            ],
          },
        ],
      });
      const after = await describeTopic(['retention.ms', 'max.message.bytes']);
      expect(after['retention.ms'].configValue).toBe('3600000');
      expect(after['retention.ms'].isDefault).toBe(false);
      expect(after['max.message.bytes'].configValue).toBe('2000000');

      // An invalid value is refused with Kafka's error and changes nothing.
      await expect(
        admin.alterConfigs({
          validateOnly: false,
          resources: [
            { type: ConfigResourceTypes.TOPIC, name: TOPIC, configEntries: [{ name: 'retention.ms', value: 'soon' }] },
          ],
        }),
      ).rejects.toThrow();
      expect((await describeTopic(['retention.ms']))['retention.ms'].configValue).toBe('3600000');

      // Broker resource: a dynamic default every topic inherits.
      const brokerConfigs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.BROKER, name: '1', configNames: ['num.partitions'] }],
      });
      expect(brokerConfigs.resources[0].configEntries[0]).toMatchObject({
        configName: 'num.partitions',
        configValue: '2',
      });
    } finally {
      await admin.disconnect();
    }

    // IncrementalAlterConfigs (kafkajs 2.2.4 does not have it): SET one, DELETE (back to default) another.
    const padmin = new PlatformaticAdmin({ clientId: 'e2e-admin', bootstrapBrokers: [broker.bootstrap] });
    try {
      await padmin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: 2,
            resourceName: TOPIC,
            configs: [
              { name: 'cleanup.policy', configOperation: 0, value: 'compact' },
              { name: 'retention.ms', configOperation: 1 },
            ],
          },
        ],
      });
      const described = await padmin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: TOPIC, configurationKeys: ['cleanup.policy', 'retention.ms'] }],
      });
      const entries = Object.fromEntries(described[0].configs.map((c) => [c.name, c.value]));
      expect(entries).toMatchObject({ 'cleanup.policy': 'compact', 'retention.ms': '604800000' });
    } finally {
      await padmin.close();
    }
  });

  it('auto-creates a topic named in Metadata with num.partitions', async () => {
    const name = 'auto-created-by-metadata';
    const res = await raw.send(MetadataApi, 9, {
      topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name }],
      allowAutoTopicCreation: true,
      includeTopicAuthorizedOperations: false,
    });
    // Kafka answers the creating request with LEADER_NOT_AVAILABLE or with the new topic itself.
    expect([0, 5]).toContain(res.topics[0].errorCode);
    const again = await raw.send(MetadataApi, 9, {
      topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    expect(again.topics[0].errorCode).toBe(0);
    expect(again.topics[0].partitions.length).toBe(2);
    expect(again.topics[0].partitions.map((p) => p.leaderId)).toEqual([1, 1]);

    // kafkajs produces to a topic it has never seen: created on the fly, and readable.
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    await producer.send({ topic: 'auto-by-kafkajs', messages: [{ key: 'a', value: 'first', partition: 1 }] });
    await producer.disconnect();
    const records = await readPartition(raw, 'auto-by-kafkajs', 1);
    expect(records.map((r) => r.value?.toString())).toEqual(['first']);

    // Without permission to create, an unknown topic stays unknown.
    const none = await raw.send(MetadataApi, 9, {
      topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 'never-created' }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    expect(none.topics[0].errorCode).toBe(3);
  });

  it('deletes a topic: gone from Metadata, produce fails, and it can be created again empty', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'to-delete', numPartitions: 3 }] });
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      await producer.send({ topic: 'to-delete', messages: [{ value: 'a', partition: 0 }] });
      await producer.disconnect();
      expect(await admin.listTopics()).toContain('to-delete');
      await admin.deleteTopics({ topics: ['to-delete'] });
      expect(await admin.listTopics()).not.toContain('to-delete');
      const md = await raw.send(MetadataApi, 9, {
        topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 'to-delete' }],
        allowAutoTopicCreation: false,
        includeTopicAuthorizedOperations: false,
      });
      expect(md.topics[0].errorCode).toBe(3);
      await admin.createTopics({ topics: [{ topic: 'to-delete', numPartitions: 1 }] });
      const offsets = await admin.fetchTopicOffsets('to-delete');
      expect(offsets).toEqual([expect.objectContaining({ partition: 0, low: '0', high: '0' })]);
    } finally {
      await admin.disconnect();
    }
  });
});
