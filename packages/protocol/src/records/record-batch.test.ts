import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompressionType, codecFor } from '../compression/index.js';
import { crc32cTable } from '../crc/table-crc.js';
import { ERROR_CODES } from '../error-codes.js';
import { DecodeError, type KafkaError } from '../errors.js';
import { ATTRIBUTES_OFFSET, CRC_OFFSET, RECORD_BATCH_OVERHEAD, RECORDS_COUNT_OFFSET } from './batch-layout.js';
import { type BuildBatchOptions, buildRecordBatch, buildRecordBatchSync, type RecordInput } from './builder.js';
import {
  buildEndTxnMarkerBatch,
  ControlRecordType,
  decodeControlRecordKey,
  decodeEndTxnMarker,
  encodeControlRecordKey,
} from './control.js';
import type { KafkaRecord } from './record.js';
import { incrementSequence, iterateBatches, RecordBatch, readBatchHeader } from './record-batch.js';

const CODECS = [
  CompressionType.None,
  CompressionType.Gzip,
  CompressionType.Snappy,
  CompressionType.Lz4,
  CompressionType.Zstd,
];
const T0 = 1_700_000_000_000;

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

const bytes = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  fc.string({ maxLength: 40 }),
);
const recordArb: fc.Arbitrary<RecordInput> = fc.record({
  key: bytes,
  value: bytes,
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 10 }), value: bytes }), { maxLength: 3 }),
  timestamp: fc.integer({ min: T0 - 1_000_000, max: T0 + 1_000_000 }),
});

const asBuffer = (v: Buffer | string | Uint8Array | null | undefined): Buffer | null =>
  v === null || v === undefined ? null : Buffer.from(v as Buffer);

function expectRecordsMatch(got: KafkaRecord[], input: readonly RecordInput[], baseOffset: bigint): void {
  expect(got.length).toBe(input.length);
  for (let i = 0; i < input.length; i++) {
    expect(got[i].offset).toBe(baseOffset + BigInt(i));
    expect(got[i].timestamp).toBe(BigInt(input[i].timestamp as number));
    expect(got[i].key).toEqual(asBuffer(input[i].key));
    expect(got[i].value).toEqual(asBuffer(input[i].value));
    expect(got[i].headers).toEqual((input[i].headers ?? []).map((h) => ({ key: h.key, value: asBuffer(h.value) })));
  }
}

describe('build -> view -> iterate', () => {
  it('round-trips random batches through every codec', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 20 }),
        fc.constantFrom(...CODECS),
        fc.bigInt({ min: 0n, max: 2n ** 62n }),
        fc.record({
          producerId: fc.bigInt({ min: -1n, max: 2n ** 40n }),
          producerEpoch: fc.integer({ min: -1, max: 32767 }),
          baseSequence: fc.integer({ min: -1, max: 0x7fffffff }),
          isTransactional: fc.boolean(),
          partitionLeaderEpoch: fc.integer({ min: -1, max: 1000 }),
        }),
        async (records, compression, baseOffset, extra) => {
          const buf = await buildRecordBatch({ records, compression, baseOffset, ...extra });
          const b = RecordBatch.from(buf);
          b.validate({ requireContiguousOffsets: true });
          expect(b.compression).toBe(compression);
          expect(b.baseOffset).toBe(baseOffset);
          expect(b.lastOffset).toBe(baseOffset + BigInt(records.length - 1));
          expect(b.recordCount).toBe(records.length);
          expect(b.producerId).toBe(extra.producerId);
          expect(b.producerEpoch).toBe(extra.producerEpoch);
          expect(b.baseSequence).toBe(extra.baseSequence);
          expect(b.isTransactional).toBe(extra.isTransactional);
          expect(b.partitionLeaderEpoch).toBe(extra.partitionLeaderEpoch);
          expect(b.baseTimestamp).toBe(BigInt(records[0].timestamp as number));
          expect(b.maxTimestamp).toBe(BigInt(Math.max(...records.map((r) => r.timestamp as number))));
          expectRecordsMatch((await b.decompressedRecords()).toArray(), records, baseOffset);
          if (compression !== CompressionType.Zstd) {
            expectRecordsMatch(b.records().toArray(), records, baseOffset);
            expect(buildRecordBatchSync({ records, compression, baseOffset, ...extra }).length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('builds 1000 x 1 KiB records and reads them back', async () => {
    const value = Buffer.alloc(1024, 0x61);
    const records = Array.from({ length: 1000 }, (_, i) => ({ key: `key-${i}`, value, timestamp: T0 + i }));
    for (const compression of CODECS) {
      const b = RecordBatch.from(await buildRecordBatch({ records, compression }));
      b.validate({ requireContiguousOffsets: true });
      // Touch every field, as a consumer would.
      let n = 0;
      for (const r of await b.decompressedRecords({ maxOutputBytes: max })) n += (r.value?.length ?? 0) + r.headers.length;
      expect(n).toBeGreaterThanOrEqual(0);
        n += (r.value?.length ?? 0) + r.headers.length;
    }
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    expect([ERROR_CODES.CORRUPT_MESSAGE, ERROR_CODES.INVALID_RECORD]).toContain(e.code);
  }
}

/** Patch the CRC so that corruption reaches the record decoder instead of stopping at validate(). */
function fixCrc(buf: Buffer): Buffer {
  if (buf.length >= RECORD_BATCH_OVERHEAD) buf.writeUInt32BE(crc32cTable(buf.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return buf;
}

describe('hostile input gives DecodeError only', () => {
  const sample = (compression: CompressionType): Promise<Buffer> =>
    buildRecordBatch({
      compression,
      records: Array.from({ length: 12 }, (_, i) => ({
        key: i % 3 === 0 ? null : `k${i}`,
        value: Buffer.alloc(i * 13, i),
        headers: i % 2 ? [{ key: 'h', value: 'v' }] : [],
        timestamp: T0 + i,
      })),
    });

  it('a flipped byte fails the CRC, naming the field', async () => {
    const buf = await sample(CompressionType.None);
    for (let at = ATTRIBUTES_OFFSET; at < buf.length; at += 7) {
      const bad = Buffer.from(buf);
      bad[at] ^= 0x40;
      const e = thrownSync(() => RecordBatch.from(bad).validate()) as DecodeError;
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.code).toBe(ERROR_CODES.CORRUPT_MESSAGE);
      expect(e.message).toMatch(/CRC-32C mismatch/);
      expect(e.offset).toBe(CRC_OFFSET);
    }
  });

  for (const compression of CODECS) {
    it(`${codecFor(compression).name}: flipped bytes (CRC fixed up), truncation and inflated lengths`, async () => {
      const buf = await sample(compression);
      await fc.assert(
        fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (at, x, fix) => {
          const bad = Buffer.from(buf);
          bad[at % bad.length] ^= x;
          await consume(fix ? fixCrc(bad) : bad);
        }),
        { numRuns: 200 },
      );
      for (let cut = 0; cut < buf.length; cut += 5) await consume(buf.subarray(0, cut));
      // Inflated or negative batch length and record count.
      for (const v of [0x7fffffff, -1, buf.length, 48]) {
        const bad = Buffer.from(buf);
        bad.writeInt32BE(v, 8);
        await consume(bad);
        const bad2 = fixCrc(Buffer.from(buf));
        bad2.writeInt32BE(v, RECORDS_COUNT_OFFSET);
        await consume(fixCrc(bad2));
      }
    });
  }

  it('records whose varints claim more than the record holds', async () => {
    const buf = buildRecordBatchSync({ records: [{ key: 'k', value: 'value' }] });
    // Record starts at 61: length varint, attributes, ts delta, offset delta, key length...
    for (const [at, v] of [
      [61, 0x7f],
      [RECORD_BATCH_OVERHEAD + 4, 0x7e],
      [RECORD_BATCH_OVERHEAD + 6, 0xff],
    ] as const) {
      const bad = Buffer.from(buf);
      bad[at] = v;
      const e = thrownSync(() => fixCrc(bad) && RecordBatch.from(bad).records().toArray()) as DecodeError;
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.offset).toBeGreaterThanOrEqual(RECORD_BATCH_OVERHEAD);
    }
  });

  it('a decompression bomb inside a batch is refused', async () => {
    const zeros = Buffer.alloc(8 << 20);
    for (const compression of [
      CompressionType.Gzip,
      CompressionType.Lz4,
      CompressionType.Zstd,
      CompressionType.Snappy,
    ]) {
      const o: BuildBatchOptions = { compression, records: [{ value: zeros }] };
      const b = RecordBatch.from(await buildRecordBatch(o));
      expect(b.sizeInBytes).toBeLessThan(1 << 20);
      const e = (await thrown(() => b.decompressedRecords({ maxOutputBytes: 1 << 20 }))) as DecodeError;
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.code).toBe(ERROR_CODES.CORRUPT_MESSAGE);
    }
  });
});
