import { describe, expect, it } from 'vitest';
import { crc32cTable } from '../crc/table-crc.js';
import { buildRecordBatchSync } from './builder.js';
import { RecordBatch, readBatchHeader } from './record-batch.js';

/**
 * A RecordBatch written out field by field from record-format.html, with its CRC-32C computed
 * by the table implementation; the builder must produce exactly these bytes and the view must
 * read them back.
 */
const T = 1_700_000_000_000n;
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const be64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const be16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
};

const records = Buffer.concat([
  // Record 0: length 16 (zigzag 32 = 0x20), attributes 0, timestampDelta 0, offsetDelta 0,
  // key length 1 (0x02) "a", value length 5 (0x0a) "hello", 1 header (0x02): key "h", value "v".
  hex('20 00 00 00 02'),
  Buffer.from('a'),
  hex('0a'),
  Buffer.from('hello'),
  hex('02 02'),
  Buffer.from('h'),
  hex('02'),
  Buffer.from('v'),
  // Record 1: length 6 (0x0c), attributes 0, timestampDelta +5 (0x0a), offsetDelta 1 (0x02),
  // key null (-1 = 0x01), value empty (0x00), no headers.
  hex('0c 00 0a 02 01 00 00'),
  // Record 2: length 208 (zigzag 416 = 0xa0 0x03), attributes 0, timestampDelta -3 (0x05),
  // offsetDelta 2 (0x04), key "k", value length 200 (zigzag 400 = 0x90 0x03), 200 x "x", no headers.
  hex('a0 03 00 05 04 02'),
  Buffer.from('k'),
  hex('90 03'),
  Buffer.alloc(200, 'x'),
  hex('00'),
]);

const afterCrc = Buffer.concat([
  be16(0x0010), // attributes: no compression, CreateTime, transactional
  be32(2), // lastOffsetDelta
  be64(T), // baseTimestamp
  be64(T + 5n), // maxTimestamp
  be64(42n), // producerId
  be16(3), // producerEpoch
  be32(10), // baseSequence
  be32(3), // recordsCount
  records,
]);
const crc = crc32cTable(afterCrc);
const golden = Buffer.concat([
  be64(5n), // baseOffset
  be32(4 + 1 + 4 + afterCrc.length), // batchLength: leader epoch, magic, crc and the rest
  be32(7), // partitionLeaderEpoch
  Buffer.from([2]), // magic
  Buffer.from([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff]),
  afterCrc,
]);

describe('golden RecordBatch', () => {
  it('the builder writes exactly the hand-made bytes', () => {
    const built = buildRecordBatchSync({
      baseOffset: 5n,
      partitionLeaderEpoch: 7,
      isTransactional: true,
      producerId: 42n,
      producerEpoch: 3,
      baseSequence: 10,
      records: [
        { key: 'a', value: 'hello', headers: [{ key: 'h', value: Buffer.from('v') }], timestamp: T },
        { key: null, value: Buffer.alloc(0), timestamp: Number(T) + 5 },
        { key: Buffer.from('k'), value: 'x'.repeat(200), timestamp: T - 3n },
      ],
    });
    expect(built.toString('hex')).toBe(golden.toString('hex'));
  });

  it('the view reads every header field in place', () => {
    const b = RecordBatch.from(Buffer.concat([Buffer.from('junk'), golden]), 4);
    b.validate({ requireContiguousOffsets: true });
    expect(b.crc).toBe(crc);
    expect(b.computeCrc()).toBe(crc);
    expect({
      baseOffset: b.baseOffset,
      batchLength: b.batchLength,
      sizeInBytes: b.sizeInBytes,
      partitionLeaderEpoch: b.partitionLeaderEpoch,
      magic: b.magic,
      attributes: b.attributes,
      compression: b.compression,
      timestampType: b.timestampType,
      isTransactional: b.isTransactional,
      isControl: b.isControl,
      hasDeleteHorizon: b.hasDeleteHorizon,
      lastOffsetDelta: b.lastOffsetDelta,
      lastOffset: b.lastOffset,
      baseTimestamp: b.baseTimestamp,
      maxTimestamp: b.maxTimestamp,
      producerId: b.producerId,
      producerEpoch: b.producerEpoch,
      baseSequence: b.baseSequence,
      lastSequence: b.lastSequence,
      recordCount: b.recordCount,
    }).toEqual({
      baseOffset: 5n,
      batchLength: golden.length - 12,
      sizeInBytes: golden.length,
      partitionLeaderEpoch: 7,
      magic: 2,
      attributes: 0x10,
      compression: 0,
      timestampType: 0,
      isTransactional: true,
      isControl: false,
      hasDeleteHorizon: false,
      lastOffsetDelta: 2,
      lastOffset: 7n,
      baseTimestamp: T,
      maxTimestamp: T + 5n,
      producerId: 42n,
      producerEpoch: 3,
      baseSequence: 10,
      lastSequence: 12,
      recordCount: 3,
    });
    const h = readBatchHeader(golden, 0);
    expect([h.baseOffset, h.lastOffset, h.crc, h.recordCount, h.sizeInBytes, h.producerId]).toEqual([
      5n,
      7n,
      crc,
      3,
      golden.length,
      42n,
    ]);
  });

  it('decodes the records as zero-copy slices', () => {
    const b = RecordBatch.from(golden);
    const rs = b.records().toArray();
    expect(rs.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
      [5n, T, 'a', 'hello'],
      [6n, T + 5n, null, ''],
      [7n, T - 3n, 'k', 'x'.repeat(200)],
    ]);
    expect(rs[0].headers).toEqual([{ key: 'h', value: Buffer.from('v') }]);
    expect(rs[1].headers).toEqual([]);
    expect(rs.map((r) => r.sizeInBytes)).toEqual([17, 7, 210]);
    // Slices share the batch's memory.
    expect(rs[0].value!.buffer).toBe(golden.buffer);
    golden[golden.indexOf('hello')] = 0x48;
    expect(rs[0].value!.toString()).toBe('Hello');
    golden[golden.indexOf('Hello')] = 0x68;
  });
});
