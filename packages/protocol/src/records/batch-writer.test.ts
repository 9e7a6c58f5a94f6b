import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompressionType } from '../compression/index.js';
import { RECORD_BATCH_OVERHEAD } from './batch-layout.js';
import { buildRecordBatch, RecordBatchWriter, type RecordInput } from './builder.js';
import { RecordBatch } from './record-batch.js';

const T0 = 1_700_000_000_000;
const bytes = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  fc.string({ maxLength: 40 }),
);
const recordArb = fc.record({
  key: bytes,
  value: bytes,
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 10 }), value: bytes }), { maxLength: 3 }),
  timestamp: fc.integer({ min: T0 - 1_000_000, max: T0 + 1_000_000 }),
});
const CODECS = [
  CompressionType.None,
  CompressionType.Gzip,
  CompressionType.Snappy,
  CompressionType.Lz4,
  CompressionType.Zstd,
];

describe('RecordBatchWriter', () => {
  it('writes the bytes buildRecordBatch writes, record by record, through every codec and from any start size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 30 }),
        fc.constantFrom(...CODECS),
        fc.integer({ min: 0, max: 4096 }),
        fc.option(
          fc.record({
            producerId: fc.bigInt({ min: 0n, max: 2n ** 62n }),
            producerEpoch: fc.integer({ min: 0, max: 32767 }),
            baseSequence: fc.integer({ min: 0, max: 0x7fffffff }),
          }),
          { nil: undefined },
        ),
        fc.boolean(),
        async (records, compression, capacity, stamp, isTransactional) => {
          const w = new RecordBatchWriter(capacity);
          let total = RECORD_BATCH_OVERHEAD;
          for (const r of records) total += w.append(r.key, r.value, r.headers, r.timestamp);
          expect(w.count).toBe(records.length);
          expect(w.sizeInBytes).toBe(total);
          const o = { compression, ...stamp, isTransactional };
          const got = await w.finishAsync(o);
          const want = await buildRecordBatch({ records: records as RecordInput[], ...o });
          // The codecs are deterministic: the same records section compresses to the same bytes.
          expect(got.equals(want)).toBe(true);
          const rb = RecordBatch.from(got);
          rb.validate({ requireContiguousOffsets: true });
          expect(rb.recordCount).toBe(records.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('writes into a given buffer, and copies a batch that fills less than half of it', () => {
    const buffer = Buffer.allocUnsafeSlow(RECORD_BATCH_OVERHEAD + 10_000);
    const w = new RecordBatchWriter(0, buffer);
    for (let i = 0; i < 80; i++) w.append(null, Buffer.alloc(100, i), undefined, T0 + i);
    const full = w.finish();
    expect(full.buffer).toBe(buffer.buffer);
    expect(new RecordBatch(full).isValid()).toBe(true);
    const small = new RecordBatchWriter(0, buffer);
    small.append('k', 'v', [{ key: 'h', value: null }], T0);
    const out = small.finish();
    expect(out.buffer).not.toBe(buffer.buffer);
    expect(new RecordBatch(out).isValid()).toBe(true);
    expect([...new RecordBatch(out).records()].map((r) => r.value?.toString())).toEqual(['v']);
  });

  it('refuses a timestamp out of range and leaves the batch as it was', () => {
    const w = new RecordBatchWriter(100);
    w.append(null, 'a', undefined, T0);
    const size = w.sizeInBytes;
    expect(() => w.append(null, 'b', undefined, T0 + 2 ** 52)).toThrow(RangeError);
    expect(() => w.append(null, 'b', undefined, 0.5)).toThrow(RangeError);
    expect(w.sizeInBytes).toBe(size);
    expect(w.count).toBe(1);
    w.append(null, 'c', undefined, T0 + 1);
    const rb = new RecordBatch(w.finish());
    expect(rb.isValid()).toBe(true);
    expect([...rb.records()].map((r) => [r.offset, r.value?.toString()])).toEqual([
      [0n, 'a'],
      [1n, 'c'],
    ]);
  });

  it('needs a record and a buffer of at least the header and 64 bytes', () => {
    expect(() => new RecordBatchWriter(0).finish()).toThrow(RangeError);
    expect(() => new RecordBatchWriter(0, Buffer.alloc(RECORD_BATCH_OVERHEAD))).toThrow(RangeError);
  });
});
