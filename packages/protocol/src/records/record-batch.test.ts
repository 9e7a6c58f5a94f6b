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
      let n = 0;
      for (const r of await b.decompressedRecords()) {
        expect(r.key!.toString()).toBe(`key-${n}`);
        expect(r.value!.length).toBe(1024);
        n++;
      }
      expect(n).toBe(1000);
    }
  });

  it('zstd has no sync path: a typed error, not a crash', async () => {
    const e = await thrown(() =>
      buildRecordBatchSync({ records: [{ value: 'x' }], compression: CompressionType.Zstd }),
    );
    expect((e as KafkaError).code).toBe(ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE);
    const b = RecordBatch.from(
      await buildRecordBatch({ records: [{ value: 'x' }], compression: CompressionType.Zstd }),
    );
    expect(((await thrown(() => b.records())) as KafkaError).code).toBe(ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE);
  });

  it('keeps offset gaps (compaction) and checks them only where asked', () => {
    const buf = buildRecordBatchSync({
      baseOffset: 100n,
      records: [
        { value: 'a', offsetDelta: 0, timestamp: T0 },
        { value: 'b', offsetDelta: 5, timestamp: T0 },
      ],
      lastOffsetDelta: 9,
    });
    const b = RecordBatch.from(buf);
    b.validate();
    expect(b.lastOffset).toBe(109n);
    expect(
      b
        .records()
        .toArray()
        .map((r) => r.offset),
    ).toEqual([100n, 105n]);
    const e = thrownSync(() => b.validate({ requireContiguousOffsets: true })) as DecodeError;
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.code).toBe(ERROR_CODES.INVALID_RECORD);
  });
  it('an empty batch kept by compaction (no records, even when marked compressed)', async () => {
    const buf = buildRecordBatchSync({
      records: [],
      lastOffsetDelta: 4,
      producerId: 3n,
      producerEpoch: 1,
      baseSequence: 7,
    });
    const b = RecordBatch.from(buf);
    b.validate();
    expect([b.recordCount, b.lastOffsetDelta, b.lastSequence]).toEqual([0, 4, 11]);
    expect(b.records().toArray()).toEqual([]);
    buf[ATTRIBUTES_OFFSET + 1] = CompressionType.Zstd;
    b.updateCrc();
    b.validate();
    expect((await b.decompressedRecords()).toArray()).toEqual([]);
    expect(b.records().toArray()).toEqual([]);
  });
});

describe('broker patches', () => {
  const base = (): Buffer =>
    buildRecordBatchSync({
      records: [
        { value: 'a', timestamp: T0 },
        { value: 'b', timestamp: T0 + 10 },
      ],
      partitionLeaderEpoch: -1,
    });

  it('baseOffset and partitionLeaderEpoch are outside the CRC', () => {
    const buf = base();
    const b = RecordBatch.from(buf);
    const crc = b.crc;
    b.baseOffset = 123_456_789_012n;
    b.partitionLeaderEpoch = 17;
    expect(b.crc).toBe(crc);
    b.validate();
    expect(readBatchHeader(buf).baseOffset).toBe(123_456_789_012n);
    expect(
      b
        .records()
        .toArray()
        .map((r) => r.offset),
    ).toEqual([123_456_789_012n, 123_456_789_013n]);
    expect(readBatchHeader(buf).partitionLeaderEpoch).toBe(17);
  });

  it('LogAppendTime patch keeps the CRC valid and gives every record the append time', () => {
    const buf = base();
    const b = RecordBatch.from(buf);
    const before = b.crc;
    b.setMaxTimestamp(1, BigInt(T0 + 5000));
    expect(b.timestampType).toBe(1);
    expect(b.maxTimestamp).toBe(BigInt(T0 + 5000));
    expect(b.crc).not.toBe(before);
    expect(b.crc).toBe(crc32cTable(buf.subarray(ATTRIBUTES_OFFSET)));
    b.validate();
    expect(
      b
        .records()
        .toArray()
        .map((r) => r.timestamp),
    ).toEqual([BigInt(T0 + 5000), BigInt(T0 + 5000)]);
    // Back to CreateTime: the records' own timestamps return.
    b.setMaxTimestamp(0, BigInt(T0 + 10));
    b.validate();
    expect(b.crc).toBe(before);
    expect(
      b
        .records()
        .toArray()
        .map((r) => r.timestamp),
    ).toEqual([BigInt(T0), BigInt(T0 + 10)]);
  });

  it('builder LogAppendTime', () => {
    const b = RecordBatch.from(
      buildRecordBatchSync({ records: [{ value: 'a', timestamp: 1 }], timestampType: 1, logAppendTime: T0 }),
    );
    expect(b.timestampType).toBe(1);
    expect(b.maxTimestamp).toBe(BigInt(T0));
    expect(b.records().toArray()[0].timestamp).toBe(BigInt(T0));
  });
});

describe('sequences', () => {
  it('wraps at 2^31-1 as Kafka does', () => {
    expect(incrementSequence(5, 3)).toBe(8);
    expect(incrementSequence(0x7fffffff, 1)).toBe(0);
    expect(incrementSequence(0x7ffffffe, 3)).toBe(1);
    const b = RecordBatch.from(
      buildRecordBatchSync({
        records: [{ value: 'a' }, { value: 'b' }, { value: 'c' }],
        baseSequence: 0x7ffffffe,
        producerId: 1n,
        producerEpoch: 0,
      }),
    );
    expect(b.lastSequence).toBe(0); // 0x7ffffffe, 0x7fffffff, 0
    expect(RecordBatch.from(buildRecordBatchSync({ records: [{ value: 'a' }] })).lastSequence).toBe(-1);
  });
});

describe('control records', () => {
  it('commit and abort markers round-trip', () => {
    for (const commit of [true, false]) {
      const buf = buildEndTxnMarkerBatch({
        commit,
        producerId: 9n,
        producerEpoch: 2,
        coordinatorEpoch: 77,
        baseOffset: 40n,
      });
      const b = RecordBatch.from(buf);
      b.validate({ requireContiguousOffsets: true });
      expect(b.isControl).toBe(true);
      expect(b.isTransactional).toBe(true);
      expect(b.baseSequence).toBe(-1);
      const [r] = b.records().toArray();
      expect(r.key!.toString('hex')).toBe(commit ? '00000001' : '00000000');
      expect(r.value!.toString('hex')).toBe('00000000004d');
      expect(decodeEndTxnMarker(r)).toEqual({
        type: commit ? ControlRecordType.Commit : ControlRecordType.Abort,
        version: 0,
        coordinatorEpoch: 77,
      });
    }
  });

  it('refuses short or foreign control records', async () => {
    for (const bad of [
      { key: null, value: Buffer.alloc(6) },
      { key: Buffer.alloc(3), value: Buffer.alloc(6) },
      { key: encodeControlRecordKey(ControlRecordType.LeaderChange), value: Buffer.alloc(6) },
      { key: encodeControlRecordKey(1), value: Buffer.alloc(5) },
    ]) {
      const e = await thrown(() => decodeEndTxnMarker(bad));
      expect(e).toBeInstanceOf(DecodeError);
    }
    expect(decodeControlRecordKey(encodeControlRecordKey(6))).toEqual({ version: 0, type: 6 });
  });
});

describe('walking concatenated batches', () => {
  it('yields each batch and stops at a trailing partial batch', () => {
    const batches = [0n, 3n, 10n].map((baseOffset) =>
      buildRecordBatchSync({ baseOffset, records: [{ value: 'x' }, { value: 'y' }, { value: 'z' }] }),
    );
    const all = Buffer.concat(batches);
    for (let cut = all.length - batches[2].length; cut <= all.length; cut++) {
      const it = iterateBatches(all.subarray(0, cut));
      const seen = [...it].map((b) => b.baseOffset);
      const whole = cut === all.length;
      expect(seen).toEqual(whole ? [0n, 3n, 10n] : [0n, 3n]);
      expect(it.truncated).toBe(!whole && cut !== all.length - batches[2].length);
      expect(it.position).toBe(whole ? all.length : all.length - batches[2].length);
    }
  });

  it('refuses a batch over the size limit and a bad length', () => {
    const buf = buildRecordBatchSync({ records: [{ value: Buffer.alloc(500) }] });
    expect((thrownSync(() => [...iterateBatches(buf, { maxBatchSize: 100 })]) as KafkaError).code).toBe(
      ERROR_CODES.MESSAGE_TOO_LARGE,
    );
    const bad = Buffer.from(buf);
    bad.writeInt32BE(3, 8);
    expect(thrownSync(() => [...iterateBatches(bad)])).toBeInstanceOf(DecodeError);
  });

  it('reads a header from the middle of a buffer', () => {
    const a = buildRecordBatchSync({ baseOffset: 0n, records: [{ value: 'x' }] });
    const b = buildRecordBatchSync({ baseOffset: 1n, records: [{ value: 'y' }, { value: 'z' }], compression: 1 });
    const h = readBatchHeader(Buffer.concat([a, b]), a.length);
    expect([h.baseOffset, h.lastOffset, h.recordCount, h.compression, h.sizeInBytes]).toEqual([1n, 2n, 2, 1, b.length]);
  });
});

function thrownSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Runs everything a consumer of a batch would run; only DecodeError may come out. */
async function consume(buf: Buffer, max = 1 << 20): Promise<void> {
  try {
    for (const b of iterateBatches(buf)) {
      b.validate();
      // Touch every field, as a consumer would.
      let n = 0;
      for (const r of await b.decompressedRecords({ maxOutputBytes: max }))
        n += (r.value?.length ?? 0) + r.headers.length;
      expect(n).toBeGreaterThanOrEqual(0);
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
