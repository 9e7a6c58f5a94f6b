// Records of many MiB with a raised message.max.bytes: stored and read back whole with valid checksums,
// and one past the limit refused with MESSAGE_TOO_LARGE without touching the log (issue 20, "keep what works").

import { randomBytes } from 'node:crypto';
import {
  buildRecordBatchSync,
  CompressionType,
  CreateTopicsApi,
  ERROR_CODES,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { listOffset, RawClient, readPartition, startInProcess } from './helpers.js';

const MiB = 1024 * 1024;
let broker: RunningBroker;
let raw: RawClient;

beforeAll(async () => {
  broker = await startInProcess({ 'message.max.bytes': String(20 * MiB) });
  raw = await RawClient.connect(broker.port);
  const res = await raw.send(CreateTopicsApi, 5, {
    topics: [{ name: 'big', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics[0].errorCode).toBe(0);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

const produce = (value: Buffer, compression: CompressionType = CompressionType.None) =>
  raw.send(ProduceApi, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30_000,
    topicData: [
      {
        name: 'big',
        topicId: ZERO_UUID,
        partitionData: [{ index: 0, records: buildRecordBatchSync({ records: [{ value }], compression }) }],
      },
    ],
  });

describe('large records with a raised message.max.bytes', () => {
  it('stores 8 MiB and 19 MiB records and reads them back byte for byte; 25 MiB gets MESSAGE_TOO_LARGE', async () => {
    const values = [randomBytes(8 * MiB), randomBytes(19 * MiB)];
    for (const [i, v] of values.entries()) {
      const p = (await produce(v)).responses[0].partitionResponses[0];
      expect(p.errorCode).toBe(0);
      expect(p.baseOffset).toBe(BigInt(i));
    }
    // readPartition validates every batch's CRC; each batch is larger than the fetch's per-partition
    // limit (8 MiB), so this also reads through KIP-74's "first batch always comes whole".
    const got = await readPartition(raw, 'big', 0);
    expect(got.map((r) => r.offset)).toEqual([0n, 1n]);
    for (const [i, v] of values.entries()) expect(got[i].value?.equals(v)).toBe(true);

    const tooBig = (await produce(randomBytes(25 * MiB))).responses[0].partitionResponses[0];
    expect(tooBig.errorCode).toBe(ERROR_CODES.MESSAGE_TOO_LARGE);
    expect((await listOffset(raw, 'big', 0, -1n)).offset).toBe(2n);
  });

  it('measures the limit on the batch as sent: a compressible 25 MiB record in an lz4 batch is stored', async () => {
    // Kafka checks the batch's (compressed) size against message.max.bytes, not the records' size.
    const value = Buffer.alloc(25 * MiB, 'abcdefgh');
    const p = (await produce(value, CompressionType.Lz4)).responses[0].partitionResponses[0];
    expect(p.errorCode).toBe(0);
    const got = await readPartition(raw, 'big', 0, p.baseOffset);
    expect(got[0].value?.equals(value)).toBe(true);
  });
});
