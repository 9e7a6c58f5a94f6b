// Produce and Fetch rules about records: LogAppendTime topics, timestamp bounds, one bad partition
// among good ones, and Fetch's response and partition byte limits (KIP-74).

import {
  buildRecordBatchSync,
  CompressionType,
  CreateTopicsApi,
  ERROR_CODES,
  FetchApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { decodeRecords, fetchRequest, RawClient, readPartition, startInProcess } from './helpers.js';

let broker: RunningBroker;
let raw: RawClient;

beforeAll(async () => {
  broker = await startInProcess();
  raw = await RawClient.connect(broker.port);
  const res = await raw.send(CreateTopicsApi, 5, {
    topics: [
      {
        name: 'append-time',
        numPartitions: 1,
        replicationFactor: 1,
        assignments: [],
        configs: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
      },
      {
        name: 'recent-only',
        numPartitions: 1,
        replicationFactor: 1,
        assignments: [],
        configs: [
          { name: 'message.timestamp.before.max.ms', value: '60000' },
          { name: 'message.timestamp.after.max.ms', value: '60000' },
        ],
      },
      { name: 'limits', numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics.map((t) => t.errorCode)).toEqual([0, 0, 0]);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

const produceTo = (topic: string, parts: { index: number; records: Buffer }[]) =>
  raw.send(ProduceApi, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, topicId: ZERO_UUID, partitionData: parts }],
  });

describe('record rules', () => {
  it('LogAppendTime topics stamp the append time, answered in the response and seen by consumers', async () => {
    for (const compression of [CompressionType.None, CompressionType.Lz4]) {
      const before = BigInt(Date.now());
      const batch = buildRecordBatchSync({
        records: [
          { value: 'old', timestamp: 1_000 },
          { value: 'older', timestamp: 2_000 },
        ],
        compression,
      });
      const res = await produceTo('append-time', [{ index: 0, records: batch }]);
      const p = res.responses[0].partitionResponses[0];
      expect(p.errorCode).toBe(0);
      expect(p.logAppendTimeMs).toBeGreaterThanOrEqual(before);
      expect(p.logAppendTimeMs).toBeLessThanOrEqual(BigInt(Date.now()));
      const records = (await readPartition(raw, 'append-time', 0, p.baseOffset)).slice(0, 2);
      expect(records.map((r) => [r.value?.toString(), r.timestamp])).toEqual([
        ['old', p.logAppendTimeMs],
        ['older', p.logAppendTimeMs],
      ]);
    }
  });

  it('CreateTime outside message.timestamp.before/after.max.ms → INVALID_TIMESTAMP', async () => {
    const now = Date.now();
    const tooOld = buildRecordBatchSync({ records: [{ value: 'x', timestamp: now - 3_600_000 }] });
    const tooNew = buildRecordBatchSync({ records: [{ value: 'x', timestamp: now + 3_600_000 }] });
    const fine = buildRecordBatchSync({ records: [{ value: 'x', timestamp: now - 1_000 }] });
    for (const [batch, code] of [
      [tooOld, ERROR_CODES.INVALID_TIMESTAMP],
      [tooNew, ERROR_CODES.INVALID_TIMESTAMP],
      [fine, 0],
    ] as const) {
      const res = await produceTo('recent-only', [{ index: 0, records: batch }]);
      expect(res.responses[0].partitionResponses[0].errorCode).toBe(code);
    }
  });

  it('one bad partition in a request fails alone', async () => {
    const good = buildRecordBatchSync({ records: [{ value: 'good' }] });
    const corrupt = buildRecordBatchSync({ records: [{ value: 'bad' }] });
    corrupt[corrupt.length - 1] ^= 1;
    const res = await produceTo('limits', [
      { index: 0, records: good },
      { index: 1, records: corrupt },
      { index: 7, records: good },
      { index: 2, records: good },
    ]);
    expect(res.responses[0].partitionResponses.map((p) => [p.index, p.errorCode])).toEqual([
      [0, 0],
      [1, ERROR_CODES.CORRUPT_MESSAGE],
      [7, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION],
      [2, 0],
    ]);
  });

  it('Fetch keeps to max_bytes and partition_max_bytes, with one batch past the limits so consumers progress (KIP-74)', async () => {
    const value = Buffer.alloc(10_000, 1);
    // Five 10 KB batches in each partition (after the one-record batches of the test before).
    for (let i = 0; i < 5; i++) {
      await produceTo(
        'limits',
        [0, 1, 2].map((index) => ({ index, records: buildRecordBatchSync({ records: [{ value }] }) })),
      );
    }
    const start = { 0: 1n, 1: 0n, 2: 1n } as Record<number, bigint>;
    const all = [0, 1, 2].map((partition) => ({ partition, fetchOffset: start[partition], partitionMaxBytes: 25_000 }));
    const sized = async (maxBytes: number, parts = all) => {
      const res = await raw.send(FetchApi, 12, fetchRequest('limits', parts, { maxBytes }));
      const out: Record<number, number> = {};
      for (const p of res.responses[0].partitions) {
        out[p.partitionIndex] = (await decodeRecords(p.partitionIndex, p.records)).length;
        expect(p.records?.length ?? 0).toBeLessThanOrEqual(Math.max(25_000, 10_100));
      }
      return out;
    };
    // Per partition: two 10 KB batches fit in 25,000 bytes.
    expect(await sized(1_000_000)).toEqual({ 0: 2, 1: 2, 2: 2 });
    // The response budget of 45,000 bytes: 2 + 2 batches, then nothing more fits.
    expect(await sized(45_000)).toEqual({ 0: 2, 1: 2, 2: 0 });
    // Limits smaller than one batch still return the first batch, so consumers make progress.
    expect(await sized(100)).toEqual({ 0: 1, 1: 0, 2: 0 });
    // Only the first partition with data may exceed its limit, as in Kafka's ReplicaManager.
    const tiny = all.map((p) => ({ ...p, partitionMaxBytes: 10 }));
    expect(await sized(1_000_000, tiny)).toEqual({ 0: 1, 1: 0, 2: 0 });
  });
});
