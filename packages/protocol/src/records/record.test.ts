import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../errors.js';
import { Writer } from '../primitives/writer.js';
import { bufferView, type KafkaRecord, RecordIterator } from './record.js';

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface RawRecord {
  timestampDelta?: bigint;
  offsetDelta?: number;
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: { key: Buffer; value: Buffer | null }[];
}

/** One record's bytes (length varint first), written with the generic Writer. */
function encodeRecord(r: RawRecord): Buffer {
  const body = new Writer();
  body.int8(0);
  body.varlong(r.timestampDelta ?? 0n);
  body.varint(r.offsetDelta ?? 0);
  const key = r.key === undefined ? null : r.key;
  const value = r.value === undefined ? Buffer.from('v') : r.value;
  for (const b of [key, value]) {
    if (b === null) body.varint(-1);
    else body.varint(b.length).raw(b);
  }
  const headers = r.headers ?? [];
  body.varint(headers.length);
  for (const h of headers) {
    body.varint(h.key.length).raw(h.key);
    if (h.value === null) body.varint(-1);
    else body.varint(h.value.length).raw(h.value);
  }
  const bytes = body.toBuffer();
  return Buffer.concat([new Writer().varint(bytes.length).toBuffer(), bytes]);
}

function decode(records: Buffer[], baseOffset = 0n, baseTimestamp = 0n) {
  const buf = Buffer.concat(records);
  return new RecordIterator(buf, 0, buf.length, records.length, baseOffset, baseTimestamp, null).toArray();
}

function decodeError(buf: Buffer, count = 1): DecodeError {
  try {
    new RecordIterator(buf, 0, buf.length, count, 0n, 0n, null).toArray();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

describe('RecordIterator number fast paths', () => {
  // Deltas at the edges of the number path (7-byte varlongs hold -2^48..2^48-1) and of int64.
  const deltas = [
    0n,
    1n,
    -1n,
    63n,
    -64n,
    64n,
    -65n,
    8191n,
    -8192n,
    8192n,
    -8193n,
    2n ** 48n - 1n,
    -(2n ** 48n),
    2n ** 48n,
    -(2n ** 48n) - 1n,
    2n ** 52n,
    SAFE,
    SAFE + 1n,
    -SAFE - 1n,
    INT64_MAX,
    INT64_MIN,
  ];
  const bases = [0n, 1_700_000_000_000n, SAFE - 1n, SAFE, SAFE + 1n, -SAFE, -SAFE - 1n, INT64_MAX, INT64_MIN];

  it('timestamps are exact for every base and delta around the 2^53 and varlong boundaries', () => {
    for (const base of bases) {
      const got = decode(
        deltas.map((d) => encodeRecord({ timestampDelta: d })),
        0n,
        base,
      );
      expect(got.map((r) => r.timestamp)).toEqual(deltas.map((d) => base + d));
    }
  });

  it('offsets are exact across 2^53 and int64 bases', () => {
    const offsetDeltas = [0, 1, 63, 64, 8191, 8192, 0x7fffffff];
    for (const base of [0n, SAFE - 0x7fffffffn, SAFE - 100n, SAFE, SAFE + 1n, INT64_MAX - 0x7fffffffn, -SAFE]) {
      const got = decode(
        offsetDeltas.map((d) => encodeRecord({ offsetDelta: d })),
        base,
      );
      expect(got.map((r) => r.offset)).toEqual(offsetDeltas.map((d) => base + BigInt(d)));
      expect(got.map((r) => r.offsetDelta)).toEqual(offsetDeltas);
    }
  });

  it('varints of one, two and five bytes decode to their zigzag values', () => {
    // Negative offset deltas are legal varints; the record decoder reports them as they are.
    const values = [0, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193, 0x7fffffff, -0x80000000];
    const got = decode(values.map((d) => encodeRecord({ offsetDelta: d })));
    expect(got.map((r) => r.offsetDelta)).toEqual(values);
  });

  it('rejects a varlong cut short by the record length, naming its byte', () => {
    // Length 7: attributes, then a timestamp varlong whose continuation runs past the record.
    const buf = Buffer.from([0x0e, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00]);
    const e = decodeError(buf);
    expect(e.message).toContain('varlong past the end of the record');
    expect(e.offset).toBe(8);
  });

  it('rejects a varlong whose continuation bytes run to the record end, though more bytes follow it', () => {
    // Length 6: attributes and five continuation bytes; the bytes after the record must not be read.
    const buf = Buffer.from([0x0c, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00]);
    const e = new RecordIterator(buf, 0, 7, 1, 0n, 0n, null);
    let err: unknown;
    try {
      e.toArray();
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).message).toContain('varlong past the end of the record');
    expect((err as DecodeError).offset).toBe(7);
  });

  it('rejects a varlong over 64 bits', () => {
    const rec = encodeRecord({ timestampDelta: INT64_MIN });
    // The timestamp's tenth byte sits at 1 (length) + 1 (attributes) + 9; 0x01 is its largest value.
    expect(rec[11]).toBe(0x01);
    rec[11] = 0x02;
    const e = decodeError(rec);
    expect(e.message).toContain('varlong longer than 64 bits');
    expect(e.offset).toBe(11);
  });

  it('rejects a two-byte varint cut by the record end, and a varint over 32 bits', () => {
    // Record of 6 bytes whose last varint (header count) starts a second byte it does not have.
    const cut = Buffer.from([0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x80, 0x00]);
    const e1 = decodeError(cut);
    expect(e1.message).toContain('varint past the end of the record');
    expect(e1.offset).toBe(7);
    const rec = encodeRecord({ offsetDelta: -0x80000000 });
    // Offset delta: 5 bytes after the length, attributes and a one-byte timestamp.
    expect(rec.subarray(3, 8)).toEqual(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    rec[7] = 0x1f;
    const e2 = decodeError(rec);
    expect(e2.message).toContain('varint longer than 32 bits');
    expect(e2.offset).toBe(7);
  });

  it('header keys decode as UTF-8 whatever keys came before at the same index', () => {
    const keyArb = fc.oneof(
      fc.constantFrom('trace-id', 'trace-ie', 'é', 'ab', 'a\u0000', ''),
      fc.string({ maxLength: 12, unit: 'binary' }),
      fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u).toString('latin1')),
    );
    const rawKeyArb = fc.oneof(
      keyArb.map((k) => Buffer.from(k)),
      // Invalid UTF-8 too: decoded with replacement characters, as Buffer#toString does.
      fc
        .uint8Array({ maxLength: 6 })
        .map((u) => Buffer.from(u)),
    );
    fc.assert(
      fc.property(fc.array(fc.array(rawKeyArb, { maxLength: 10 }), { minLength: 1, maxLength: 6 }), (records) => {
        const got = decode(records.map((keys) => encodeRecord({ headers: keys.map((key) => ({ key, value: null })) })));
        expect(got.map((r) => r.headers.map((h) => h.key))).toEqual(
          records.map((keys) => keys.map((k) => k.toString('utf8'))),
        );
      }),
      { numRuns: 300 },
    );
  });
});

/** What a pass over the records gives: each record, or the error that ended the pass (message and offset). */
function pass(buf: Buffer, count: number, cursor: boolean): Array<KafkaRecord | string> {
  const out: Array<KafkaRecord | string> = [];
  const it = new RecordIterator(buf, 0, buf.length, count, 1000n, 5000n, null);
  try {
    if (cursor) {
      while (it.advance()) {
        out.push({
          offset: it.recordOffset,
          timestamp: it.recordTimestamp,
          key: it.recordKey,
          value: it.recordValue,
          headers: it.recordHeaders,
          attributes: it.recordAttributes,
          offsetDelta: it.recordOffsetDelta,
          sizeInBytes: it.recordSizeInBytes,
        });
      }
    } else {
      for (const r of it) out.push(r);
    }
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    out.push(`${(e as DecodeError).message} @${(e as DecodeError).offset}`);
  }
  return out;
}

describe('RecordIterator cursor (advance)', () => {
  const bytes = fc.oneof(
    fc.constant(null),
    fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)),
  );
  const recordArb = fc.record({
    timestampDelta: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }),
    offsetDelta: fc.integer({ min: 0, max: 100_000 }),
    key: bytes,
    value: bytes,
    headers: fc.array(fc.record({ key: fc.string({ maxLength: 6 }).map((s) => Buffer.from(s)), value: bytes }), {
      maxLength: 3,
    }),
  });

  it('decodes the same records as next(), field for field', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 8 }), (records) => {
        const buf = Buffer.concat(records.map(encodeRecord));
        const viaNext = pass(buf, records.length, false);
        expect(viaNext.every((r) => typeof r !== 'string')).toBe(true);
        expect(pass(buf, records.length, true)).toEqual(viaNext);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects corrupt input exactly as next() does: bytes changed, cut short or left over, counts off', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -1, max: 1 }),
        (records, flips, cut, countOff) => {
          const whole = Buffer.concat(records.map(encodeRecord));
          for (const [at, b] of flips) whole[at % whole.length] = b;
          const buf =
            cut < 0 ? whole.subarray(0, Math.max(0, whole.length + cut)) : Buffer.concat([whole, Buffer.alloc(cut)]);
          const count = Math.max(0, records.length + countOff);
          let viaNext: Array<KafkaRecord | string>;
          let ctorError = '';
          try {
            viaNext = pass(buf, count, false);
          } catch (e) {
            // The record count does not fit the bytes: the constructor throws, for both.
            ctorError = (e as Error).message;
            expect(() => pass(buf, count, true)).toThrow(ctorError);
            return;
          }
          expect(pass(buf, count, true)).toEqual(viaNext);
        },
      ),
      { numRuns: 500 },
    );
    // And one of each by hand: a trailing byte, a key length past the record.
    const rec = encodeRecord({ key: Buffer.from('k') });
    const trailing = pass(Buffer.concat([rec, Buffer.from([0])]), 1, true);
    expect(trailing).toHaveLength(2);
    expect(String(trailing[1])).toContain('record: 1 bytes after the last record');
    expect(String(trailing[1]).endsWith(`@${rec.length}`)).toBe(true);
    const bad = Buffer.from(rec);
    bad[4] = 0x7e; // key length varint: 63
    expect(pass(bad, 1, true)).toEqual(pass(bad, 1, false));
    expect(String(pass(bad, 1, true)[0])).toContain('key length 63 past the end of the record');
  });

  it('key, value and header values are views of the batch bytes, as subarray() gives', () => {
    // A pooled small buffer: its byteOffset in the pool's ArrayBuffer is not 0.
    const rec = Buffer.from(
      encodeRecord({
        key: Buffer.from('kk'),
        value: Buffer.from('vvv'),
        headers: [{ key: Buffer.from('h'), value: Buffer.from('hv') }],
      }),
    );
    const it = new RecordIterator(rec, 0, rec.length, 1, 0n, 0n, null);
    expect(it.advance()).toBe(true);
    const value = it.recordValue as Buffer;
    expect(Buffer.isBuffer(value)).toBe(true);
    expect(value.toString()).toBe('vvv');
    expect(value.buffer).toBe(rec.buffer);
    rec[value.byteOffset - rec.byteOffset] = 0x56;
    expect(value.toString()).toBe('Vvv');
    expect((it.recordKey as Buffer).toString()).toBe('kk');
    expect(it.recordHeaders[0].value?.toString()).toBe('hv');
    expect(it.advance()).toBe(false);
  });
});

describe('bufferView', () => {
  it('is subarray() for in-bounds ranges: same bytes, same memory, a Buffer', () => {
    const pool = Buffer.from('0123456789abcdef');
    const base = pool.subarray(3, 13);
    for (const [s, e] of [
      [0, 0],
      [0, 10],
      [2, 7],
      [10, 10],
    ]) {
      const v = bufferView(base, s, e);
      expect(Buffer.isBuffer(v)).toBe(true);
      expect(v).toEqual(base.subarray(s, e));
      expect(v.byteOffset).toBe(base.byteOffset + s);
      expect(v.buffer).toBe(base.buffer);
    }
  });
});
