import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompressionType } from '../compression/index.js';
import { crc32Table } from '../crc/table-crc.js';
import { ERROR_CODES } from '../error-codes.js';
import { DecodeError } from '../errors.js';
import { buildRecordBatchSync } from './builder.js';
import { decodeLegacyMessageSet, encodeLegacyMessageSet, type LegacyMessageInput } from './legacy.js';
import { decodeRecordSet } from './record-set.js';

const LEGACY_CODECS = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4];

function thrownSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('legacy message sets', () => {
  it('decodes a hand-made magic 0 message (CRC-32 from the table implementation)', () => {
    // offset 7, size, crc, magic 0, attributes 0, key "k" (int32 1), value "v1" (int32 2).
    const body = Buffer.from('0000' + '00000001' + '6b' + '00000002' + '7631', 'hex');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32Table(body));
    const msg = Buffer.concat([
      Buffer.from('0000000000000007', 'hex'),
      Buffer.from([0, 0, 0, 4 + body.length]),
      crc,
      body,
    ]);
    expect(
      encodeLegacyMessageSet({
        magic: 0,
        baseOffset: 7n,
        messages: [{ key: Buffer.from('k'), value: Buffer.from('v1') }],
      }),
    ).toEqual(msg);
    const { records, truncated } = decodeLegacyMessageSet(msg);
    expect(truncated).toBe(false);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ offset: 7n, timestamp: -1n, magic: 0, timestampType: 0 });
    expect(records[0].key!.toString()).toBe('k');
    expect(records[0].value!.toString()).toBe('v1');
  });

  it('round-trips magic 0 and 1, plain and compressed, with absolute offsets', () => {
    const msg = fc.record({
      key: fc.option(fc.uint8Array({ maxLength: 30 }).map((u) => Buffer.from(u))),
      value: fc.option(fc.uint8Array({ maxLength: 100 }).map((u) => Buffer.from(u))),
      timestamp: fc.bigInt({ min: 0n, max: 2n ** 42n }),
    });
    fc.assert(
      fc.property(
        fc.array(msg, { minLength: 1, maxLength: 10 }),
        fc.constantFrom<0 | 1>(0, 1),
        fc.constantFrom(...LEGACY_CODECS),
        fc.bigInt({ min: 0n, max: 2n ** 50n }),
        (messages, magic, compression, baseOffset) => {
          const buf = encodeLegacyMessageSet({
            magic,
            compression,
            baseOffset,
            messages: messages as LegacyMessageInput[],
          });
          const { records } = decodeLegacyMessageSet(buf);
          expect(records.map((r) => r.offset)).toEqual(messages.map((_, i) => baseOffset + BigInt(i)));
          expect(records.map((r) => r.key)).toEqual(messages.map((m) => m.key));
          expect(records.map((r) => r.value)).toEqual(messages.map((m) => m.value));
          expect(records.map((r) => r.timestamp)).toEqual(messages.map((m) => (magic === 1 ? m.timestamp : -1n)));
        },
      ),
      { numRuns: 120 },
    );
  });

  it('v1 compressed: inner offsets are relative to the wrapper, which holds the last one', () => {
    const buf = encodeLegacyMessageSet({
      magic: 1,
      compression: CompressionType.Gzip,
      messages: [
        { value: Buffer.from('a'), offset: 100n },
        { value: Buffer.from('b'), offset: 101n },
        { value: Buffer.from('c'), offset: 105n },
      ],
    });
    expect(buf.readBigInt64BE(0)).toBe(105n);
    expect(decodeLegacyMessageSet(buf).records.map((r) => r.offset)).toEqual([100n, 101n, 105n]);
  });

  it('a LogAppendTime wrapper sets its timestamp on the inner messages', () => {
    const buf = encodeLegacyMessageSet({
      magic: 1,
      compression: CompressionType.Snappy,
      logAppendTime: true,
      messages: [
        { value: Buffer.from('a'), timestamp: 5n },
        { value: Buffer.from('b'), timestamp: 9n },
      ],
    });
    const { records } = decodeLegacyMessageSet(buf);
    expect(records.map((r) => [r.timestamp, r.timestampType])).toEqual([
      [9n, 1],
      [9n, 1],
    ]);
  });

  it('stops at a trailing partial message, rejects a bad CRC', () => {
    const buf = encodeLegacyMessageSet({
      magic: 1,
      messages: [{ value: Buffer.from('aa') }, { value: Buffer.from('bb') }],
    });
    const r = decodeLegacyMessageSet(buf.subarray(0, buf.length - 1));
    expect(r.records).toHaveLength(1);
    expect(r.truncated).toBe(true);
    const bad = Buffer.from(buf);
    bad[bad.length - 1] ^= 1;
    const e = thrownSync(() => decodeLegacyMessageSet(bad)) as DecodeError;
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.code).toBe(ERROR_CODES.CORRUPT_MESSAGE);
    expect(e.message).toMatch(/CRC-32 mismatch/);
  });

  it('hostile input gives DecodeError only', () => {
    const good = encodeLegacyMessageSet({
      magic: 1,
      compression: CompressionType.Lz4,
      messages: Array.from({ length: 5 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.alloc(i * 10, i) })),
    });
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Buffer.from(good);
        bad[at % bad.length] ^= x;
        const e = thrownSync(() => decodeLegacyMessageSet(bad, { maxOutputBytes: 4096 }));
        if (e !== undefined) expect(e).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 200 },
    );
  });
});

describe('decodeRecordSet', () => {
  it('decodes a mix of v2 batches and legacy messages, and a trailing partial batch', async () => {
    const v2 = buildRecordBatchSync({
      baseOffset: 2n,
      compression: CompressionType.Gzip,
      records: [{ value: 'c' }, { value: 'd' }],
    });
    const legacy = encodeLegacyMessageSet({
      magic: 1,
      messages: [{ value: Buffer.from('a') }, { value: Buffer.from('b') }],
    });
    const tail = buildRecordBatchSync({ baseOffset: 4n, records: [{ value: 'e' }] });
    const all = Buffer.concat([legacy, v2, tail.subarray(0, 30)]);
    const set = await decodeRecordSet(all);
    expect(set.truncated).toBe(true);
    expect(set.position).toBe(legacy.length + v2.length);
    expect(set.batches.map((b) => b.magic)).toEqual([1, 1, 2]);
    expect(set.batches.flatMap((b) => b.records.map((r) => `${r.offset}:${r.value}`))).toEqual([
      '0:a',
      '1:b',
      '2:c',
      '3:d',
    ]);
  });

  it('validates v2 batches by default', async () => {
    const v2 = Buffer.from(buildRecordBatchSync({ records: [{ value: 'c' }] }));
    v2[v2.length - 1] ^= 1;
    await expect(decodeRecordSet(v2)).rejects.toBeInstanceOf(DecodeError);
  });
});
