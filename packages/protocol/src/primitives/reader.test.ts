import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DecodeError, KafkaError } from '../errors.js';
import { Reader } from './reader.js';
import { uvarintSize, varintSize, varlongSize, Writer } from './writer.js';

function r(hex: string): Reader {
  return new Reader(Buffer.from(hex.replaceAll(' ', ''), 'hex'));
}

/** Reads one value and checks the input was consumed exactly. */
function readAll<T>(hex: string, read: (r: Reader) => T): T {
  const reader = r(hex);
  const v = read(reader);
  expect(reader.remaining).toBe(0);
  return v;
}

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    expect(e).toBeInstanceOf(KafkaError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError, nothing was thrown');
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Reader golden bytes (protocol primitive types)', () => {
  it('reads fixed-width integers big-endian', () => {
    expect(readAll('FF', (x) => x.int8())).toBe(-1);
    expect(readAll('FF', (x) => x.uint8())).toBe(255);
    expect(readAll('02', (x) => x.bool())).toBe(true);
    expect(readAll('00', (x) => x.bool())).toBe(false);
    expect(readAll('0102', (x) => x.int16())).toBe(0x0102);
    expect(readAll('FFFE', (x) => x.int16())).toBe(-2);
    expect(readAll('FFFE', (x) => x.uint16())).toBe(65534);
    expect(readAll('80000000', (x) => x.int32())).toBe(-0x80000000);
    expect(readAll('DEADBEEF', (x) => x.uint32())).toBe(0xdeadbeef);
    expect(readAll('0102030405060708', (x) => x.int64())).toBe(0x0102030405060708n);
    expect(readAll('FFFFFFFFFFFFFFFF', (x) => x.int64())).toBe(-1n);
    expect(readAll('7FFFFFFFFFFFFFFF', (x) => x.int64())).toBe(INT64_MAX);
    expect(readAll('8000000000000000', (x) => x.int64())).toBe(INT64_MIN);
    expect(readAll('3FF0000000000000', (x) => x.float64())).toBe(1);
  });

  it('reads unsigned varints', () => {
    expect(readAll('00', (x) => x.uvarint())).toBe(0);
    expect(readAll('7F', (x) => x.uvarint())).toBe(127);
    expect(readAll('8001', (x) => x.uvarint())).toBe(128);
    expect(readAll('AC02', (x) => x.uvarint())).toBe(300);
    expect(readAll('808001', (x) => x.uvarint())).toBe(16384);
    expect(readAll('FFFFFFFF0F', (x) => x.uvarint())).toBe(0xffffffff);
    // Non-minimal encodings are accepted, as Kafka's own reader does.
    expect(readAll('8000', (x) => x.uvarint())).toBe(0);
  });

  it('reads zigzag varints and varlongs', () => {
    expect(readAll('01', (x) => x.varint())).toBe(-1);
    expect(readAll('02', (x) => x.varint())).toBe(1);
    expect(readAll('03', (x) => x.varint())).toBe(-2);
    expect(readAll('FEFFFFFF0F', (x) => x.varint())).toBe(0x7fffffff);
    expect(readAll('FFFFFFFF0F', (x) => x.varint())).toBe(-0x80000000);
    expect(readAll('01', (x) => x.varlong())).toBe(-1n);
    expect(readAll('02', (x) => x.varlong())).toBe(1n);
    expect(readAll('8080808010', (x) => x.varlong())).toBe(2n ** 31n);
    expect(readAll('FEFFFFFFFFFFFFFFFF01', (x) => x.varlong())).toBe(INT64_MAX);
    expect(readAll('FFFFFFFFFFFFFFFFFF01', (x) => x.varlong())).toBe(INT64_MIN);
    expect(readAll('FFFFFFFFFFFFFFFFFF01', (x) => x.uvarlong())).toBe(2n ** 64n - 1n);
  });

  it('reads UUIDs in canonical lower-case form', () => {
    expect(readAll('000102030405060708090A0B0C0D0E0F', (x) => x.uuid())).toBe('00010203-0405-0607-0809-0a0b0c0d0e0f');
    expect(readAll('00'.repeat(16), (x) => x.uuid())).toBe('00000000-0000-0000-0000-000000000000');
  });

  it('reads strings', () => {
    expect(readAll('0003616263', (x) => x.string())).toBe('abc');
    expect(readAll('0000', (x) => x.string())).toBe('');
    expect(readAll('0005C3A9E282AC', (x) => x.string())).toBe('é€');
    expect(readAll('FFFF', (x) => x.nullableString())).toBeNull();
    expect(readAll('04616263', (x) => x.compactString())).toBe('abc');
    expect(readAll('01', (x) => x.compactString())).toBe('');
    expect(readAll('05F09F9880', (x) => x.compactString())).toBe('😀');
    expect(readAll('00', (x) => x.compactNullableString())).toBeNull();
    expect(readAll('0261', (x) => x.compactNullableString())).toBe('a');
  });

  it('reads bytes as zero-copy views', () => {
    const buf = Buffer.from('000000020102', 'hex');
    const reader = new Reader(buf);
    const b = reader.bytes();
    expect(b).toEqual(Buffer.from([1, 2]));
    expect(b.buffer).toBe(buf.buffer);
    expect(b.byteOffset).toBe(buf.byteOffset + 4);
    expect(readAll('FFFFFFFF', (x) => x.nullableBytes())).toBeNull();
    expect(readAll('030102', (x) => x.compactBytes())).toEqual(Buffer.from([1, 2]));
    expect(readAll('00', (x) => x.compactNullableBytes())).toBeNull();
    expect(readAll('01', (x) => x.compactNullableBytes())).toEqual(Buffer.alloc(0));
  });

  it('reads array lengths', () => {
    expect(readAll('00000003', (x) => x.arrayLength(0))).toBe(3);
    expect(readAll('FFFFFFFF', (x) => x.arrayLength())).toBe(-1);
    expect(readAll('04', (x) => x.compactArrayLength(0))).toBe(3);
    expect(readAll('00', (x) => x.compactArrayLength())).toBe(-1);
    expect(readAll('01', (x) => x.compactArrayLength())).toBe(0);
  });

  it('reads tagged-field sections: known tags through the handler, unknown ones raw', () => {
    expect(readAll('00', (x) => x.taggedFields())).toBeUndefined();
    const seen: Array<[number, number]> = [];
    const unknown = readAll('02 00 02 AC 02 05 01 AA', (x) =>
      x.taggedFields((tag, sub) => {
        if (tag !== 0) return false;
        seen.push([tag, sub.uvarint()]);
        return true;
      }),
    );
    expect(seen).toEqual([[0, 300]]);
    expect(unknown).toEqual([{ tag: 5, data: Buffer.from([0xaa]) }]);
  });

  it('bounds a known tag to its own bytes', () => {
    // Tag 0 says 1 byte, but the handler tries to read an int32: it must not run into tag 1.
    const e = decodeError(() => r('02 00 01 07 01 01 08').taggedFields((_t, sub) => sub.int32() >= 0));
    expect(e.message).toContain('int32');
    // A handler that leaves bytes unread is an error too.
    decodeError(() => r('01 00 02 07 07').taggedFields((_t, sub) => sub.int8() >= 0));
  });
});

describe('Reader on hostile input', () => {
  it.each<[string, string, (x: Reader) => unknown]>([
    ['empty int8', '', (x) => x.int8()],
    ['short int16', '01', (x) => x.int16()],
    ['short int32', '010203', (x) => x.int32()],
    ['short int64', '01020304050607', (x) => x.int64()],
    ['short float64', '3FF0', (x) => x.float64()],
    ['short uuid', '00'.repeat(15), (x) => x.uuid()],
    ['varint cut short', '80', (x) => x.uvarint()],
    ['varint over 32 bits', 'FFFFFFFF10', (x) => x.uvarint()],
    ['varint of 6 bytes', 'FFFFFFFFFF01', (x) => x.uvarint()],
    ['zigzag varint over 32 bits', 'FFFFFFFF1F', (x) => x.varint()],
    ['varlong cut short', 'FFFF', (x) => x.varlong()],
    ['varlong over 64 bits', 'FFFFFFFFFFFFFFFFFF02', (x) => x.varlong()],
    ['varlong of 11 bytes', 'FFFFFFFFFFFFFFFFFFFF01', (x) => x.uvarlong()],
    ['string longer than input', '7FFF6162', (x) => x.string()],
    ['string with negative length', 'FFFE', (x) => x.string()],
    ['string null where required', 'FFFF', (x) => x.string()],
    ['nullable string length -2', 'FFFE', (x) => x.nullableString()],
    ['compact string null where required', '00', (x) => x.compactString()],
    ['compact string longer than input', 'FFFFFFFF0F61', (x) => x.compactString()],
    ['compact nullable string longer than input', '0561', (x) => x.compactNullableString()],
    ['bytes of 2^31-1 in 10 bytes', '7FFFFFFF000000000000', (x) => x.bytes()],
    ['bytes with negative length', 'FFFFFFFE', (x) => x.bytes()],
    ['nullable bytes length -2', 'FFFFFFFE', (x) => x.nullableBytes()],
    ['compact bytes null where required', '00', (x) => x.compactBytes()],
    ['compact bytes of 2^32-2', 'FFFFFFFF0F0000', (x) => x.compactBytes()],
    ['array of 2^31-1 elements in 6 bytes', '7FFFFFFF0000', (x) => x.arrayLength()],
    ['array length -2', 'FFFFFFFE', (x) => x.arrayLength()],
    ['array count x element size beyond input', `00000003${'00'.repeat(8)}`, (x) => x.arrayLength(4)],
    ['compact array of 2^32-2 elements', 'FFFFFFFF0F00', (x) => x.compactArrayLength()],
    ['tagged fields: count beyond input', 'FFFFFFFF0F', (x) => x.taggedFields()],
    ['tagged fields: size beyond input', '01 00 7F 00', (x) => x.taggedFields()],
    ['tagged fields: tags out of order', '02 05 00 03 00', (x) => x.taggedFields()],
    ['tagged fields: duplicate tag', '02 05 00 05 00', (x) => x.taggedFields()],
    ['tagged fields: cut inside the tag', '01 80', (x) => x.taggedFields()],
  ])('%s gives a DecodeError', (_name, hex, read) => {
    const input = Buffer.from(hex.replaceAll(' ', ''), 'hex');
    const allocs: number[] = [];
    const real = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe };
    vi.spyOn(Buffer, 'alloc').mockImplementation((n, fill, encoding) => {
      allocs.push(n);
      return real.alloc(n, fill, encoding);
    });
    vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
      allocs.push(n);
      return real.allocUnsafe(n);
    });
    const e = decodeError(() => read(new Reader(input)));
    expect(e.code).toBe(42);
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(input.length);
    for (const n of allocs) expect(n).toBeLessThanOrEqual(input.length);
  });

  it('fails fast on a 2^31-1 byte length without touching memory', () => {
    const reader = new Reader(Buffer.from('7FFFFFFF010203040506', 'hex'));
    const start = process.hrtime.bigint();
    const e = decodeError(() => reader.bytes());
    expect(Number(process.hrtime.bigint() - start)).toBeLessThan(500e6);
    expect(e.message).toContain('2147483647');
  });

  it('respects a reader window inside a larger buffer', () => {
    const buf = Buffer.from('0003616263', 'hex');
    decodeError(() => new Reader(buf, 0, 4).string());
    expect(new Reader(buf, 1, 5).uint8()).toBe(3);
  });

  const OPS: Array<(x: Reader) => unknown> = [
    (x) => x.int8(),
    (x) => x.int16(),
    (x) => x.uint16(),
    (x) => x.int32(),
    (x) => x.uint32(),
    (x) => x.int64(),
    (x) => x.float64(),
    (x) => x.uvarint(),
    (x) => x.varint(),
    (x) => x.uvarlong(),
    (x) => x.varlong(),
    (x) => x.uuid(),
    (x) => x.string(),
    (x) => x.nullableString(),
    (x) => x.compactString(),
    (x) => x.compactNullableString(),
    (x) => x.bytes(),
    (x) => x.nullableBytes(),
    (x) => x.compactBytes(),
    (x) => x.compactNullableBytes(),
    (x) => x.arrayLength(),
    (x) => x.compactArrayLength(),
    (x) => x.taggedFields((tag, sub) => (tag === 0 ? sub.varint() >= 0 || true : false)),
  ];

  it('property: random bytes and any sequence of reads give values or DecodeError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.integer({ min: 0, max: OPS.length - 1 }), { minLength: 1, maxLength: 30 }),
        (bytes, ops) => {
          const input = Buffer.from(bytes);
          const reader = new Reader(input);
          for (const op of ops) {
            const before = reader.offset;
            let v: unknown;
            try {
              v = OPS[op](reader);
            } catch (e) {
              if (!(e instanceof DecodeError)) throw e;
              return;
            }
            expect(reader.offset).toBeGreaterThanOrEqual(before);
            expect(reader.offset).toBeLessThanOrEqual(input.length);
            if (Buffer.isBuffer(v)) expect(v.buffer).toBe(input.buffer);
            if (typeof v === 'string') expect(v.length).toBeLessThanOrEqual(input.length + 36);
            if (typeof v === 'number' && op >= 20) expect(v).toBeLessThanOrEqual(input.length);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('property: every truncation of a valid encoding gives DecodeError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.bigInt(INT64_MIN, INT64_MAX), (s, n) => {
        const w = new Writer();
        w.compactString(s)
          .varlong(n)
          .nullableString(s)
          .int64(n)
          .bytes(Buffer.from(s))
          .taggedFields([[3, (x) => x.varlong(n)]]);
        const full = w.toBuffer();
        const readEverything = (x: Reader) => {
          x.compactString();
          x.varlong();
          x.nullableString();
          x.int64();
          x.bytes();
          x.taggedFields((_t, sub) => sub.varlong() === n);
        };
        readEverything(new Reader(full));
        for (let cut = 0; cut < full.length; cut++) {
          decodeError(() => readEverything(new Reader(full, 0, cut)));
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('round trips (Writer -> Reader)', () => {
  function roundTrip<T>(
    arb: fc.Arbitrary<T>,
    write: (w: Writer, v: T) => unknown,
    read: (x: Reader) => T,
    size?: (v: T) => number,
  ) {
    fc.assert(
      fc.property(arb, (v) => {
        const w = new Writer(1);
        write(w, v);
        if (size) expect(w.offset).toBe(size(v));
        const reader = new Reader(w.toBuffer());
        expect(read(reader)).toEqual(v);
        expect(reader.remaining).toBe(0);
      }),
      { numRuns: 300 },
    );
  }

  const int64Edges = fc.oneof(
    fc.constantFrom(INT64_MIN, INT64_MIN + 1n, -1n, 0n, 1n, 2n ** 31n, -(2n ** 31n) - 1n, INT64_MAX - 1n, INT64_MAX),
    fc.bigInt(INT64_MIN, INT64_MAX),
  );
  const int32Edges = fc.oneof(fc.constantFrom(-0x80000000, -1, 0, 1, 0x7fffffff), fc.integer());

  it('int8 / int16 / uint16 / int32 / uint32', () => {
    roundTrip(
      fc.integer({ min: -128, max: 127 }),
      (w, v) => w.int8(v),
      (x) => x.int8(),
    );
    roundTrip(
      fc.integer({ min: -32768, max: 32767 }),
      (w, v) => w.int16(v),
      (x) => x.int16(),
    );
    roundTrip(
      fc.integer({ min: 0, max: 65535 }),
      (w, v) => w.uint16(v),
      (x) => x.uint16(),
    );
    roundTrip(
      int32Edges,
      (w, v) => w.int32(v),
      (x) => x.int32(),
    );
    roundTrip(
      fc.integer({ min: 0, max: 0xffffffff }),
      (w, v) => w.uint32(v),
      (x) => x.uint32(),
    );
    roundTrip(
      fc.boolean(),
      (w, v) => w.bool(v),
      (x) => x.bool(),
    );
  });

  it('int64 including edges', () => {
    roundTrip(
      int64Edges,
      (w, v) => w.int64(v),
      (x) => x.int64(),
      () => 8,
    );
  });

  it('float64 including NaN, infinities and -0', () => {
    roundTrip(
      fc.double(),
      (w, v) => w.float64(v),
      (x) => x.float64(),
    );
  });

  it('unsigned varint over the full uint32 range', () => {
    roundTrip(
      fc.oneof(fc.constantFrom(0, 127, 128, 16383, 16384, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })),
      (w, v) => w.uvarint(v),
      (x) => x.uvarint(),
      uvarintSize,
    );
  });

  it('varint over the full int32 range', () => {
    roundTrip(
      int32Edges,
      (w, v) => w.varint(v),
      (x) => x.varint(),
      varintSize,
    );
  });

  it('varlong over the full int64 range', () => {
    roundTrip(
      int64Edges,
      (w, v) => w.varlong(v),
      (x) => x.varlong(),
      varlongSize,
    );
  });

  it('unsigned varlong over the full uint64 range', () => {
    roundTrip(
      fc.oneof(fc.constantFrom(0n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 64n - 1n), fc.bigInt(0n, 2n ** 64n - 1n)),
      (w, v) => w.uvarlong(v),
      (x) => x.uvarlong(),
    );
  });

  it('uuid', () => {
    roundTrip(
      fc.uuid(),
      (w, v) => w.uuid(v),
      (x) => x.uuid(),
      () => 16,
    );
  });

  const unicode = fc.string({ unit: 'binary', maxLength: 200 });

  it('strings with any unicode', () => {
    roundTrip(
      unicode,
      (w, v) => w.string(v),
      (x) => x.string(),
      (v) => 2 + Buffer.byteLength(v),
    );
    roundTrip(
      fc.option(unicode),
      (w, v) => w.nullableString(v),
      (x) => x.nullableString(),
    );
    roundTrip(
      unicode,
      (w, v) => w.compactString(v),
      (x) => x.compactString(),
    );
    roundTrip(
      fc.option(unicode),
      (w, v) => w.compactNullableString(v),
      (x) => x.compactNullableString(),
    );
  });

  it('bytes', () => {
    const bytes = fc.uint8Array({ maxLength: 300 }).map((a): Buffer => Buffer.from(a));
    roundTrip(
      bytes,
      (w, v) => w.bytes(v),
      (x) => x.bytes(),
    );
    roundTrip(
      fc.option(bytes),
      (w, v) => w.nullableBytes(v),
      (x) => x.nullableBytes(),
    );
    roundTrip(
      bytes,
      (w, v) => w.compactBytes(v),
      (x) => x.compactBytes(),
    );
    roundTrip(
      fc.option(bytes),
      (w, v) => w.compactNullableBytes(v),
      (x) => x.compactNullableBytes(),
    );
  });

  it('array lengths', () => {
    // Lengths checked against the input: follow them with that many one-byte elements.
    const len = fc.integer({ min: -1, max: 200 });
    roundTrip(
      len,
      (w, n) => w.arrayLength(n).raw(Buffer.alloc(Math.max(n, 0))),
      (x) => {
        const n = x.arrayLength();
        x.raw(Math.max(n, 0));
        return n;
      },
    );
    roundTrip(
      len,
      (w, n) => w.compactArrayLength(n).raw(Buffer.alloc(Math.max(n, 0))),
      (x) => {
        const n = x.compactArrayLength();
        x.raw(Math.max(n, 0));
        return n;
      },
    );
  });

  it('tagged fields: known and unknown survive a round trip in tag order', () => {
    const field = fc.record({ tag: fc.integer({ min: 0, max: 0xffffffff }), data: fc.uint8Array({ maxLength: 20 }) });
    fc.assert(
      fc.property(fc.uniqueArray(field, { selector: (f) => f.tag, maxLength: 8 }), fc.integer(), (fields, value) => {
        const sorted = [...fields]
          .sort((a, b) => a.tag - b.tag)
          .map((f) => ({ tag: f.tag, data: Buffer.from(f.data) }));
        // Tag 0..N known if not taken: write one known tag that does not collide.
        const knownTag = sorted.some((f) => f.tag === 7) ? null : 7;
        const unknown = sorted.filter((f) => f.tag !== 7);
        const w = new Writer();
        w.taggedFields(knownTag === null ? [] : [[knownTag, (x) => x.varint(value)]], unknown);
        const reader = new Reader(w.toBuffer());
        let seen: number | undefined;
        const got = reader.taggedFields((tag, sub) => {
          if (tag !== 7) return false;
          seen = sub.varint();
          return true;
        });
        expect(reader.remaining).toBe(0);
        expect(got ?? []).toEqual(unknown);
        expect(seen).toBe(knownTag === null ? undefined : value);
      }),
      { numRuns: 200 },
    );
  });

  it('a random sequence of mixed primitives', () => {
    type Op =
      | { kind: 'varlong'; v: bigint }
      | { kind: 'cstr'; v: string | null }
      | { kind: 'i32'; v: number }
      | { kind: 'uuid'; v: string };
    const op: fc.Arbitrary<Op> = fc.oneof(
      int64Edges.map((v) => ({ kind: 'varlong' as const, v })),
      fc.option(unicode).map((v) => ({ kind: 'cstr' as const, v })),
      int32Edges.map((v) => ({ kind: 'i32' as const, v })),
      fc.uuid().map((v) => ({ kind: 'uuid' as const, v })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const w = new Writer(0);
        for (const o of ops) {
          if (o.kind === 'varlong') w.varlong(o.v);
          else if (o.kind === 'cstr') w.compactNullableString(o.v);
          else if (o.kind === 'i32') w.int32(o.v);
          else w.uuid(o.v);
        }
        const reader = new Reader(w.toBuffer());
        const back = ops.map((o): Op => {
          if (o.kind === 'varlong') return { kind: o.kind, v: reader.varlong() };
          if (o.kind === 'cstr') return { kind: o.kind, v: reader.compactNullableString() };
          if (o.kind === 'i32') return { kind: o.kind, v: reader.int32() };
          return { kind: o.kind, v: reader.uuid() };
        });
        expect(back).toEqual(ops);
        expect(reader.remaining).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
