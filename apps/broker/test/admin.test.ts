// Topic administration and the log's edges through real clients and raw requests: partitions
// added, records deleted, topics deleted by id, topic ids in Fetch, CreateTopics validation,
// the describe APIs, acks=0, and a clean restart that keeps everything.

import { Admin as PlatformaticAdmin } from '@platformatic/kafka';
import {
  buildRecordBatchSync,
  CreateTopicsApi,
  DeleteTopicsApi,
  DescribeClusterApi,
  DescribeLogDirsApi,
  DescribeProducersApi,
  ERROR_CODES,
  FetchApi,
  InitProducerIdApi,
  MetadataApi,
  ProduceApi,
} from '@sluice/protocol';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import {
  decodeRecords,
  fetchRequest,
  listOffset,
  RawClient,
  readPartition,
  startInProcess,
  tempDir,
} from './helpers.js';

const { Kafka, logLevel } = kafkajs;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
/** Fetch v18's HighWatermark default: a consumer has none to report. */
const NO_HIGH_WATERMARK = 0x7fffffffffffffffn;

let broker: RunningBroker;
let raw: RawClient;
let kafka: InstanceType<typeof Kafka>;
const dataDir = tempDir('sluice-admin-');

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': dataDir, 'num.partitions': '1' });
  raw = await RawClient.connect(broker.port);
  kafka = new Kafka({ clientId: 'admin-e2e', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

async function produce(topic: string, partition: number, values: string[], acks = -1) {
  const res = await raw.send(ProduceApi, 9, {
    transactionalId: null,
    acks,
    timeoutMs: 5000,
    topicData: [
      {
        name: topic,
        topicId: ZERO_UUID,
        partitionData: [
          { index: partition, records: buildRecordBatchSync({ records: values.map((value) => ({ value })) }) },
        ],
      },
    ],
  });
  return res.responses[0].partitionResponses[0];
}

async function createTopic(name: string, numPartitions: number, configs: { name: string; value: string }[] = []) {
  const res = await raw.send(CreateTopicsApi, 7, {
    topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  return res.topics[0];
}

async function metadata(names: string[]) {
  return raw.send(MetadataApi, 12, {
    topics: names.map((name) => ({ topicId: ZERO_UUID, name })),
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
}

describe('topic administration', () => {
  it('CreateTopics: validate-only creates nothing, bad configs and duplicates are refused, v5+ returns configs', async () => {
    const validate = await raw.send(CreateTopicsApi, 7, {
      topics: [{ name: 'only-validated', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: true,
    });
    expect(validate.topics[0].errorCode).toBe(0);
    expect((await metadata(['only-validated'])).topics[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);

    const bad = await createTopic('bad-config', 1, [{ name: 'retention.ms', value: 'forever' }]);
    expect(bad.errorCode).toBe(ERROR_CODES.INVALID_CONFIG);
    const unknownConfig = await createTopic('bad-config', 1, [{ name: 'no.such.config', value: '1' }]);
    expect(unknownConfig.errorCode).toBe(ERROR_CODES.INVALID_CONFIG);
    expect((await createTopic('bad-partitions', 0)).errorCode).toBe(ERROR_CODES.INVALID_PARTITIONS);

    const ok = await createTopic('created', 3, [{ name: 'cleanup.policy', value: 'compact' }]);
    expect(ok).toMatchObject({ errorCode: 0, numPartitions: 3, replicationFactor: 1 });
    expect(ok.topicId).not.toBe(ZERO_UUID);
    expect(ok.configs?.find((c) => c.name === 'cleanup.policy')?.value).toBe('compact');
    expect((await createTopic('created', 3)).errorCode).toBe(ERROR_CODES.TOPIC_ALREADY_EXISTS);
    const md = await metadata(['created']);
    expect(md.topics[0]).toMatchObject({ errorCode: 0, topicId: ok.topicId });
    expect(md.topics[0].partitions.map((p) => p.partitionIndex).sort()).toEqual([0, 1, 2]);
  });

  it('CreatePartitions through kafkajs: new partitions take writes; shrinking is refused', async () => {
    await createTopic('growing', 2);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: 'growing', count: 5 }] });
      const md = await admin.fetchTopicMetadata({ topics: ['growing'] });
      expect(md.topics[0].partitions.length).toBe(5);
      await expect(admin.createPartitions({ topicPartitions: [{ topic: 'growing', count: 3 }] })).rejects.toThrow();
    } finally {
      await admin.disconnect();
    }
    expect(await produce('growing', 4, ['in-new-partition'])).toMatchObject({ errorCode: 0, baseOffset: 0n });
    expect((await readPartition(raw, 'growing', 4)).map((r) => r.value?.toString())).toEqual(['in-new-partition']);
  });

  it('DeleteRecords: the log start moves, earlier offsets are out of range, later ones still read', async () => {
    await createTopic('trimmed', 1);
    for (let i = 0; i < 4; i++) await produce('trimmed', 0, [`a${i}`, `b${i}`, `c${i}`]);
    const admin = kafka.admin();
    await admin.connect();
    try {
      // kafkajs needs the topic's metadata loaded before deleteTopicRecords.
      await admin.fetchTopicMetadata({ topics: ['trimmed'] });
      await admin.deleteTopicRecords({ topic: 'trimmed', partitions: [{ partition: 0, offset: '4' }] });
      const offsets = await admin.fetchTopicOffsets('trimmed');
      expect(offsets[0]).toMatchObject({ partition: 0, low: '4', high: '12' });
    } finally {
      await admin.disconnect();
    }
    const below = await raw.send(FetchApi, 12, fetchRequest('trimmed', [{ partition: 0, fetchOffset: 2n }]));
    expect(below.responses[0].partitions[0].errorCode).toBe(ERROR_CODES.OFFSET_OUT_OF_RANGE);
    const records = await readPartition(raw, 'trimmed', 0, 4n);
    expect(records.map((r) => r.value?.toString())).toEqual(['b1', 'c1', 'a2', 'b2', 'c2', 'a3', 'b3', 'c3']);
    const res = await raw.send(FetchApi, 12, fetchRequest('trimmed', [{ partition: 0, fetchOffset: 4n }]));
    expect(res.responses[0].partitions[0].logStartOffset).toBe(4n);
    // Past the end is out of range too; at the end is an empty answer.
    const past = await raw.send(FetchApi, 12, fetchRequest('trimmed', [{ partition: 0, fetchOffset: 13n }]));
    expect(past.responses[0].partitions[0].errorCode).toBe(ERROR_CODES.OFFSET_OUT_OF_RANGE);
    const end = await raw.send(FetchApi, 12, fetchRequest('trimmed', [{ partition: 0, fetchOffset: 12n }]));
    expect(end.responses[0].partitions[0]).toMatchObject({ errorCode: 0, highWatermark: 12n });
    // Through @platformatic/kafka: DeleteRecords to the high watermark (-1) empties the partition.
    const padmin = new PlatformaticAdmin({ clientId: 'trim', bootstrapBrokers: [broker.bootstrap] });
    try {
      const deleted = await padmin.deleteRecords({
        topics: [{ name: 'trimmed', partitions: [{ partition: 0, offset: -1n }] }],
      });
      expect(deleted[0].partitions[0]).toMatchObject({ partition: 0, lowWatermark: 12n });
    } finally {
      await padmin.close();
    }
  });

  it('topic ids: Fetch v13+ by id, DeleteTopics v6 by id, unknown ids refused', async () => {
    const created = await createTopic('by-id', 1);
    await produce('by-id', 0, ['x', 'y']);
    const byId = await raw.send(FetchApi, 13, {
      ...fetchRequest('', [{ partition: 0, fetchOffset: 0n }]),
      topics: [
        {
          topic: '',
          topicId: created.topicId,
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: -1,
              fetchOffset: 0n,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: 1 << 20,
              replicaDirectoryId: ZERO_UUID,
              highWatermark: NO_HIGH_WATERMARK,
            },
          ],
        },
      ],
    });
    expect(byId.responses[0].topicId).toBe(created.topicId);
    const values = (await decodeRecords(0, byId.responses[0].partitions[0].records)).map((r) => r.value?.toString());
    expect(values).toEqual(['x', 'y']);

    const unknownId = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const del = await raw.send(DeleteTopicsApi, 6, {
      topics: [
        { name: null, topicId: created.topicId },
        { name: null, topicId: unknownId },
      ],
      timeoutMs: 5000,
    });
    expect(del.responses.map((r) => [r.name, r.errorCode])).toEqual([
      ['by-id', 0],
      [null, ERROR_CODES.UNKNOWN_TOPIC_ID],
    ]);
    expect((await metadata(['by-id'])).topics[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    const gone = await raw.send(FetchApi, 13, {
      ...fetchRequest('', []),
      topics: [{ ...byId.responses[0], topic: '', topicId: created.topicId, partitions: [] }].map((t) => ({
        topic: t.topic,
        topicId: t.topicId,
        partitions: [
          {
            partition: 0,
            currentLeaderEpoch: -1,
            fetchOffset: 0n,
            lastFetchedEpoch: -1,
            logStartOffset: -1n,
            partitionMaxBytes: 1 << 20,
            replicaDirectoryId: ZERO_UUID,
            highWatermark: NO_HIGH_WATERMARK,
          },
        ],
      })),
    });
    expect(gone.responses[0].partitions[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_ID);
  });

  it('DescribeCluster, DescribeLogDirs and DescribeProducers describe this broker', async () => {
    const cluster = await raw.send(DescribeClusterApi, 1, {
      includeClusterAuthorizedOperations: false,
      endpointType: 1,
    });
    expect(cluster).toMatchObject({ errorCode: 0, clusterId: broker.clusterId, controllerId: 1 });
    expect(cluster.brokers).toEqual([expect.objectContaining({ brokerId: 1, host: broker.host, port: broker.port })]);

    await createTopic('described', 2);
    await produce('described', 1, ['0123456789']);
    const dirs = await raw.send(DescribeLogDirsApi, 4, { topics: [{ topic: 'described', partitions: [0, 1] }] });
    expect(dirs.results.length).toBe(1);
    expect(dirs.results[0].errorCode).toBe(0);
    const parts = dirs.results[0].topics.find((t) => t.name === 'described')!.partitions;
    const sizes = Object.fromEntries(parts.map((p) => [p.partitionIndex, p.partitionSize]));
    expect(sizes[0]).toBe(0n);
    expect(sizes[1]).toBeGreaterThan(10n);

    const init = await raw.send(InitProducerIdApi, 4, {
      transactionalId: null,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    const batch = buildRecordBatchSync({
      records: [{ value: 'p0' }, { value: 'p1' }, { value: 'p2' }],
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      baseSequence: 0,
    });
    await raw.send(ProduceApi, 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'described', topicId: ZERO_UUID, partitionData: [{ index: 0, records: batch }] }],
    });
    const producers = await raw.send(DescribeProducersApi, 0, {
      topics: [{ name: 'described', partitionIndexes: [0, 1] }],
    });
    const p0 = producers.topics[0].partitions.find((p) => p.partitionIndex === 0)!;
    expect(p0.errorCode).toBe(0);
    expect(p0.activeProducers).toEqual([
      expect.objectContaining({ producerId: init.producerId, producerEpoch: init.producerEpoch, lastSequence: 2 }),
    ]);
    expect(producers.topics[0].partitions.find((p) => p.partitionIndex === 1)!.activeProducers).toEqual([]);
  });

  it('acks=0: no answer, the write happens, and the next answer on the connection is the next request', async () => {
    await createTopic('fire-and-forget', 1);
    const body = {
      transactionalId: null,
      acks: 0,
      timeoutMs: 5000,
      topicData: [
        {
          name: 'fire-and-forget',
          topicId: ZERO_UUID,
          partitionData: [{ index: 0, records: buildRecordBatchSync({ records: [{ value: 'nobody answers' }] }) }],
        },
      ],
    };
    raw.sendOneWay(ProduceApi, 9, body);
    raw.sendOneWay(ProduceApi, 9, body);
    expect((await listOffset(raw, 'fire-and-forget', 0, -1n)).offset).toBe(2n);
  });

  it('a clean restart keeps topics, ids, configs, data and producer state', async () => {
    const before = await metadata(['created', 'growing', 'trimmed']);
    const producersBefore = await raw.send(DescribeProducersApi, 0, {
      topics: [{ name: 'described', partitionIndexes: [0] }],
    });
    raw.close();
    await broker.stop();
    broker = await startInProcess({ 'log.dirs': dataDir, 'num.partitions': '1' });
    raw = await RawClient.connect(broker.port);
    kafka = new Kafka({ clientId: 'admin-e2e', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const after = await metadata(['created', 'growing', 'trimmed']);
    expect(after.topics.map((t) => [t.name, t.topicId, t.partitions.length])).toEqual(
      before.topics.map((t) => [t.name, t.topicId, t.partitions.length]),
    );
    expect((await readPartition(raw, 'growing', 4)).map((r) => r.value?.toString())).toEqual(['in-new-partition']);
    expect((await listOffset(raw, 'trimmed', 0, -2n)).offset).toBe(12n);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: 'created', configNames: ['cleanup.policy'] }],
      });
      expect(configs.resources[0].configEntries[0].configValue).toBe('compact');
    } finally {
      await admin.disconnect();
    }
    const producersAfter = await raw.send(DescribeProducersApi, 0, {
      topics: [{ name: 'described', partitionIndexes: [0] }],
    });
    expect(producersAfter.topics[0].partitions[0].activeProducers).toEqual(
      producersBefore.topics[0].partitions[0].activeProducers,
    );
  });
});
