// Answers where the differential suite against Apache Kafka (test/conformance) found Sluice
// answering differently; each test pins Kafka's answer on the broker alone, without Kafka.

import { once } from 'node:events';
import { createConnection } from 'node:net';
import {
  ApiVersionsApi,
  type ApiVersionsResponse,
  type BuildBatchOptions,
  buildRecordBatch,
  CompressionType,
  CreateTopicsApi,
  DeleteRecordsApi,
  DescribeConfigsApi,
  ERROR_CODES,
  FetchApi,
  IncrementalAlterConfigsApi,
  InitProducerIdApi,
  MetadataApi,
  ProduceApi,
  Reader,
  ResponseHeaderCodec,
  TimestampType,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { fetchRequest, RawClient, readPartition, startInProcess, tempDir } from './helpers.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

let broker: RunningBroker;
let raw: RawClient;

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-parity-'), 'num.partitions': '1' });
  raw = await RawClient.connect(broker.port);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

/**
 * ApiVersions v3 on a fresh connection, decoded at v3 whatever the error code (RawClient takes an
 * ApiVersions error for the v0 body of an unsupported version).
 */
async function apiVersionsV3(clientSoftwareName: string, clientSoftwareVersion: string): Promise<ApiVersionsResponse> {
  const socket = createConnection({ host: '127.0.0.1', port: broker.port });
  await once(socket, 'connect');
  socket.write(RawClient.encode(ApiVersionsApi, 3, { clientSoftwareName, clientSoftwareVersion }, 1));
  let got = Buffer.alloc(0);
  // Bounded: one response frame, then the socket is closed.
  while (got.length < 4 || got.length < 4 + got.readInt32BE(0)) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got = Buffer.concat([got, chunk]);
  }
  socket.destroy();
  const r = new Reader(got.subarray(4, 4 + got.readInt32BE(0)));
  ResponseHeaderCodec.decode(r, 0);
  return ApiVersionsApi.response.decode(r, 3);
}

describe('ApiVersions', () => {
  it('v3+ refuses a client software name or version Kafka would not accept', async () => {
    for (const [name, version] of [
      ['', '1.0'],
      ['ok', 'bad version!'],
      ['-leading-dash', '1'],
      ['trailing.', '1'],
    ]) {
      const r = await apiVersionsV3(name, version);
      expect(r.errorCode, `${name}/${version}`).toBe(ERROR_CODES.INVALID_REQUEST);
      expect(r.apiKeys).toEqual([]);
    }
    const ok = await apiVersionsV3('a.b-c', '1.0.0-rc1');
    expect(ok.errorCode).toBe(0);
    expect(ok.apiKeys.length).toBeGreaterThan(10);
    // v0-v2 carry no software name.
    expect((await raw.send(ApiVersionsApi, 2, {})).errorCode).toBe(0);
  });
});

const creatable = (name: string, numPartitions = 1, configs: Record<string, string> = {}) => ({
  name,
  numPartitions,
  replicationFactor: 1,
  assignments: [],
  configs: Object.entries(configs).map(([k, value]) => ({ name: k, value })),
});

async function createTopics(topics: ReturnType<typeof creatable>[], validateOnly = false, version = 7) {
  return (await raw.send(CreateTopicsApi, version, { topics, timeoutMs: 5000, validateOnly })).topics;
}

describe('CreateTopics', () => {
  it('answers a name given twice once, with INVALID_REQUEST, after the other results', async () => {
    const r = await createTopics([creatable('ct-dup'), creatable('ct-single'), creatable('ct-dup')]);
    expect(r.map((t) => [t.name, t.errorCode])).toEqual([
      ['ct-single', 0],
      ['ct-dup', ERROR_CODES.INVALID_REQUEST],
    ]);
    expect(r[1]).toMatchObject({ errorMessage: 'Duplicate topic name.', topicId: ZERO_UUID, numPartitions: -1 });
    const md = await raw.send(MetadataApi, 12, {
      topics: [{ topicId: ZERO_UUID, name: 'ct-dup' }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    expect(md.topics[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('refuses a request of more than 10,000 partitions in all with POLICY_VIOLATION, every topic', async () => {
    const r = await createTopics([creatable('ct-many-a', 6000), creatable('ct-many-b', 5000)], true);
    expect(r.map((t) => [t.errorCode, t.errorMessage])).toEqual([
      [ERROR_CODES.POLICY_VIOLATION, 'Excessively large number of partitions per request.'],
      [ERROR_CODES.POLICY_VIOLATION, 'Excessively large number of partitions per request.'],
    ]);
    // Invalid counts do not add up; 10,000 in all is still allowed.
    const ok = await createTopics([creatable('ct-many-c', 10_000), creatable('ct-many-d', -7)], true);
    expect(ok.map((t) => t.errorCode)).toEqual([0, ERROR_CODES.INVALID_PARTITIONS]);
  });

  it('v5+: a failed topic has empty configs; validate-only returns a fresh topic id', async () => {
    const [failed] = await createTopics([creatable('bad name!')]);
    expect(failed.errorCode).toBe(ERROR_CODES.INVALID_TOPIC_EXCEPTION);
    expect(failed.configs).toEqual([]);
    const [a] = await createTopics([creatable('ct-vo')], true);
    const [b] = await createTopics([creatable('ct-vo')], true);
    expect(a.errorCode).toBe(0);
    expect(a.topicId).not.toBe(ZERO_UUID);
    expect(b.topicId).not.toBe(a.topicId);
  });
});

function produceRequest(topic: string, records: Buffer, partition = 0) {
  return {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, topicId: ZERO_UUID, partitionData: [{ index: partition, records }] }],
  };
}

async function produce(topic: string, batch: BuildBatchOptions, version = 11) {
  const res = await raw.send(ProduceApi, version, produceRequest(topic, await buildRecordBatch(batch)));
  return res.responses[0].partitionResponses[0];
}

describe('Produce', () => {
  const HOUR = 3_600_000;
  const bounded = { 'message.timestamp.before.max.ms': String(HOUR), 'message.timestamp.after.max.ms': String(HOUR) };

  it('checks every record against message.timestamp.before.max.ms and lists the offenders (v8+)', async () => {
    await createTopics([creatable('pr-ts', 1, bounded)]);
    const now = Date.now();
    for (const compression of [CompressionType.None, CompressionType.Gzip, CompressionType.Zstd]) {
      const r = await produce('pr-ts', {
        compression,
        records: [
          { value: 'fine', timestamp: now },
          { value: 'too-old', timestamp: now - 2 * HOUR },
          { value: 'fine-too', timestamp: now - 1000 },
          { value: 'old-too', timestamp: now - 3 * HOUR },
        ],
      });
      expect(r, `compression ${compression}`).toMatchObject({
        errorCode: ERROR_CODES.INVALID_TIMESTAMP,
        baseOffset: -1n,
        logStartOffset: 0n,
        errorMessage: 'One or more records have been rejected due to invalid timestamp',
      });
      expect(r.recordErrors.map((e) => e.batchIndex)).toEqual([1, 3]);
      expect(r.recordErrors[0].batchIndexErrorMessage).toMatch(
        new RegExp(
          `^Timestamp ${now - 2 * HOUR} of message with offset 1 is out of range\\. The timestamp should be within \\[\\d+, \\d+\\]$`,
        ),
      );
    }
    // A record ahead of the clock is found through the header's max timestamp.
    const future = await produce('pr-ts', {
      records: [
        { value: 'a', timestamp: now },
        { value: 'b', timestamp: now + 2 * HOUR },
      ],
    });
    expect(future.errorCode).toBe(ERROR_CODES.INVALID_TIMESTAMP);
    expect(future.recordErrors.map((e) => e.batchIndex)).toEqual([1]);
    expect(await readPartition(raw, 'pr-ts', 0)).toEqual([]);
    // v3-v7 have no RecordErrors, the error code is the same.
    const v7 = await produce(
      'pr-ts',
      {
        records: [
          { value: 'x', timestamp: now },
          { value: 'y', timestamp: now - 2 * HOUR },
        ],
      },
      7,
    );
    expect(v7.errorCode).toBe(ERROR_CODES.INVALID_TIMESTAMP);
  });

  it('a compacted topic refuses records without a key, listing them (INVALID_RECORD)', async () => {
    await createTopics([creatable('pr-compact', 1, { 'cleanup.policy': 'compact' })]);
    for (const compression of [CompressionType.None, CompressionType.Lz4, CompressionType.Zstd]) {
      const r = await produce('pr-compact', {
        compression,
        records: [
          { key: 'k1', value: 'a' },
          { key: null, value: 'b' },
          { key: 'k2', value: 'c' },
          { key: null, value: 'd' },
        ],
      });
      expect(r, `compression ${compression}`).toMatchObject({ errorCode: ERROR_CODES.INVALID_RECORD, baseOffset: -1n });
      expect(r.recordErrors.map((e) => e.batchIndex)).toEqual([1, 3]);
      expect(r.recordErrors[0].batchIndexErrorMessage).toBe(
        'Compacted topic cannot accept message without key in topic partition pr-compact-0.',
      );
    }
    expect(await readPartition(raw, 'pr-compact', 0)).toEqual([]);
    const keyed = await produce('pr-compact', { records: [{ key: 'k', value: 'v' }] });
    expect(keyed).toMatchObject({ errorCode: 0, baseOffset: 0n });
  });

  it("Kafka 4's default refuses records more than an hour ahead; a LogAppendTime topic refuses batches claiming LogAppendTime", async () => {
    await createTopics([
      creatable('pr-ts-default'),
      creatable('pr-lat', 1, { 'message.timestamp.type': 'LogAppendTime' }),
    ]);
    const now = Date.now();
    const ahead = await produce('pr-ts-default', { records: [{ value: 'later', timestamp: now + 2 * HOUR }] });
    expect(ahead).toMatchObject({ errorCode: ERROR_CODES.INVALID_TIMESTAMP, logStartOffset: 0n });
    const old = await produce('pr-ts-default', { records: [{ value: 'old', timestamp: now - 1000 * HOUR }] });
    expect(old).toMatchObject({ errorCode: 0, baseOffset: 0n });
    const claimed = await produce('pr-lat', {
      timestampType: TimestampType.LogAppendTime,
      records: [{ value: 'a' }, { value: 'b' }],
    });
    expect(claimed.errorCode).toBe(ERROR_CODES.INVALID_TIMESTAMP);
    expect(claimed.recordErrors.map((e) => e.batchIndex)).toEqual([0, 1]);
  });

  it('keeps the order of pipelined appends when a zstd batch must be decoded first', async () => {
    await createTopics([creatable('pr-order', 1, { 'message.timestamp.before.max.ms': String(1000 * HOUR) })]);
    const now = Date.now();
    const zstd = await buildRecordBatch({
      compression: CompressionType.Zstd,
      records: [{ value: 'first', timestamp: now }],
    });
    const plain = await buildRecordBatch({ records: [{ value: 'second', timestamp: now }] });
    const [a, b] = await Promise.all([
      raw.send(ProduceApi, 11, produceRequest('pr-order', zstd)),
      raw.send(ProduceApi, 11, produceRequest('pr-order', plain)),
    ]);
    expect([a.responses[0].partitionResponses[0].baseOffset, b.responses[0].partitionResponses[0].baseOffset]).toEqual([
      0n,
      1n,
    ]);
    expect((await readPartition(raw, 'pr-order', 0)).map((r) => r.value?.toString())).toEqual(['first', 'second']);
  });

  it('errors found at the partition carry its log start (v5+); a duplicate answers the original timestamp', async () => {
    await createTopics([
      creatable('pr-idem'),
      creatable('pr-idem-lat', 1, { 'message.timestamp.type': 'LogAppendTime' }),
    ]);
    const init = await raw.send(InitProducerIdApi, 4, {
      transactionalId: null,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    const pid = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    const t = Date.now() - 5000;
    const first = await produce('pr-idem', {
      ...pid,
      baseSequence: 0,
      records: [
        { value: 'a', timestamp: t },
        { value: 'b', timestamp: t + 7 },
      ],
    });
    expect(first).toMatchObject({ errorCode: 0, logAppendTimeMs: -1n });
    const again = await produce('pr-idem', {
      ...pid,
      baseSequence: 0,
      records: [
        { value: 'a', timestamp: t },
        { value: 'b', timestamp: t + 7 },
      ],
    });
    expect(again).toMatchObject({ errorCode: 0, baseOffset: 0n, logAppendTimeMs: BigInt(t + 7) });

    const stamped = await produce('pr-idem-lat', { ...pid, baseSequence: 0, records: [{ value: 'a' }] });
    expect(stamped.logAppendTimeMs).toBeGreaterThan(0n);
    const retried = await produce('pr-idem-lat', { ...pid, baseSequence: 0, records: [{ value: 'a' }] });
    expect(retried.logAppendTimeMs).toBe(stamped.logAppendTimeMs);

    await produce('pr-idem', { records: [{ value: 'c' }, { value: 'd' }] });
    await raw.send(DeleteRecordsApi, 2, {
      timeoutMs: 5000,
      topics: [{ name: 'pr-idem', partitions: [{ partitionIndex: 0, offset: 3n }] }],
    });
    const gap = await produce('pr-idem', { ...pid, baseSequence: 9, records: [{ value: 'gap' }] });
    expect(gap).toMatchObject({ errorCode: ERROR_CODES.OUT_OF_ORDER_SEQUENCE_NUMBER, logStartOffset: 3n });
    // The producer bumps its epoch (KIP-360); a write with the old one is fenced.
    expect(
      (await produce('pr-idem', { ...pid, producerEpoch: 1, baseSequence: 0, records: [{ value: 'e1' }] })).errorCode,
    ).toBe(0);
    const fenced = await produce('pr-idem', { ...pid, baseSequence: 2, records: [{ value: 'old' }] });
    expect(fenced).toMatchObject({ errorCode: ERROR_CODES.INVALID_PRODUCER_EPOCH, logStartOffset: 3n });
    // Found before the log is consulted: -1, as Kafka.
    const unknown = await produce('pr-no-such-topic', { records: [{ value: 'x' }] });
    expect(unknown).toMatchObject({ errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, logStartOffset: -1n });
  });
});

describe('Fetch', () => {
  it('a failed read carries no offsets; refused partitions have empty AbortedTransactions', async () => {
    await createTopics([creatable('fe-oor')]);
    for (let i = 0; i < 3; i++) await produce('fe-oor', { records: [{ value: `r${i}` }] });
    await raw.send(DeleteRecordsApi, 2, {
      timeoutMs: 5000,
      topics: [{ name: 'fe-oor', partitions: [{ partitionIndex: 0, offset: 1n }] }],
    });
    const fetch = async (fetchOffset: bigint, partition = 0, isolationLevel = 0) =>
      (await raw.send(FetchApi, 12, fetchRequest('fe-oor', [{ partition, fetchOffset }], { isolationLevel })))
        .responses[0].partitions[0];
    for (const offset of [0n, 4n, 1000n, -5n]) {
      expect(await fetch(offset), `offset ${offset}`).toMatchObject({
        errorCode: ERROR_CODES.OFFSET_OUT_OF_RANGE,
        highWatermark: -1n,
        lastStableOffset: -1n,
        logStartOffset: -1n,
        abortedTransactions: null,
      });
    }
    expect(await fetch(1n)).toMatchObject({
      errorCode: 0,
      highWatermark: 3n,
      logStartOffset: 1n,
      abortedTransactions: null,
    });
    expect(await fetch(1n, 0, 1)).toMatchObject({ errorCode: 0, abortedTransactions: [] });
    expect(await fetch(0n, 0, 1)).toMatchObject({
      errorCode: ERROR_CODES.OFFSET_OUT_OF_RANGE,
      abortedTransactions: null,
    });
    expect(await fetch(0n, 7)).toMatchObject({
      errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
      highWatermark: -1n,
      abortedTransactions: [],
    });
  });
});

describe('configs', () => {
  const TOPIC = 2;
  const describe1 = async (resourceName: string, version: number) =>
    (
      await raw.send(DescribeConfigsApi, version, {
        resources: [{ resourceType: TOPIC, resourceName, configurationKeys: ['retention.ms'] }],
        includeSynonyms: false,
        includeDocumentation: false,
      })
    ).results[0];

  it('DescribeConfigs: success has ErrorMessage ""; an invalid topic name is INVALID_TOPIC_EXCEPTION', async () => {
    await createTopics([creatable('dc-ok')]);
    for (const v of [1, 4]) {
      expect(await describe1('dc-ok', v)).toMatchObject({ errorCode: 0, errorMessage: '' });
      expect(await describe1('bad name!', v)).toMatchObject({
        errorCode: ERROR_CODES.INVALID_TOPIC_EXCEPTION,
        errorMessage:
          "Topic name is invalid: 'bad name!' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'",
      });
      expect((await describe1('dc-missing', v)).errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    }
    const alter = await raw.send(IncrementalAlterConfigsApi, 1, {
      validateOnly: true,
      resources: [
        {
          resourceType: TOPIC,
          resourceName: 'bad name!',
          configs: [{ name: 'retention.ms', configOperation: 0, value: '1' }],
        },
      ],
    });
    expect(alter.responses[0].errorCode).toBe(ERROR_CODES.INVALID_TOPIC_EXCEPTION);
  });
});
