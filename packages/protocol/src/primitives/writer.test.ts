import { describe, expect, it } from 'vitest';
import { uvarintSize, varintSize, varlongSize, Writer } from './writer.js';

/** Hex of what `write` puts into a fresh writer, as space-separated upper-case bytes. */
function hex(write: (w: Writer) => unknown): string {
  const w = new Writer();
  write(w);
  return [...w.finish()].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

describe('Writer golden bytes (protocol primitive types)', () => {
  it.each<[string, (w: Writer) => unknown, string]>([
    ['BOOLEAN true', (w) => w.bool(true), '01'],
    ['BOOLEAN false', (w) => w.bool(false), '00'],
    ['INT8 -1', (w) => w.int8(-1), 'FF'],
    ['INT8 127', (w) => w.int8(127), '7F'],
    ['INT16 0x0102', (w) => w.int16(0x0102), '01 02'],
    ['INT16 -2', (w) => w.int16(-2), 'FF FE'],
    ['UINT16 65535', (w) => w.uint16(65535), 'FF FF'],
    ['INT32 1', (w) => w.int32(1), '00 00 00 01'],
    ['INT32 -2^31', (w) => w.int32(-0x80000000), '80 00 00 00'],
    ['UINT32 0xDEADBEEF', (w) => w.uint32(0xdeadbeef), 'DE AD BE EF'],
    ['INT64 -1', (w) => w.int64(-1n), 'FF FF FF FF FF FF FF FF'],
    ['INT64 2^63-1', (w) => w.int64(2n ** 63n - 1n), '7F FF FF FF FF FF FF FF'],
    ['INT64 -2^63', (w) => w.int64(-(2n ** 63n)), '80 00 00 00 00 00 00 00'],
    ['INT64 0x0102030405060708', (w) => w.int64(0x0102030405060708n), '01 02 03 04 05 06 07 08'],
    ['FLOAT64 1.0', (w) => w.float64(1), '3F F0 00 00 00 00 00 00'],
    ['FLOAT64 -2.5', (w) => w.float64(-2.5), 'C0 04 00 00 00 00 00 00'],
    ['UNSIGNED_VARINT 0', (w) => w.uvarint(0), '00'],
    ['UNSIGNED_VARINT 127', (w) => w.uvarint(127), '7F'],
    ['UNSIGNED_VARINT 128', (w) => w.uvarint(128), '80 01'],
    ['UNSIGNED_VARINT 300', (w) => w.uvarint(300), 'AC 02'],
    ['UNSIGNED_VARINT 16383', (w) => w.uvarint(16383), 'FF 7F'],
    ['UNSIGNED_VARINT 16384', (w) => w.uvarint(16384), '80 80 01'],
    ['UNSIGNED_VARINT 2^32-1', (w) => w.uvarint(0xffffffff), 'FF FF FF FF 0F'],
    ['VARINT 0', (w) => w.varint(0), '00'],
    ['VARINT -1', (w) => w.varint(-1), '01'],
    ['VARINT 1', (w) => w.varint(1), '02'],
    ['VARINT -2', (w) => w.varint(-2), '03'],
    ['VARINT 63', (w) => w.varint(63), '7E'],
    ['VARINT -64', (w) => w.varint(-64), '7F'],
    ['VARINT 64', (w) => w.varint(64), '80 01'],
    ['VARINT 150', (w) => w.varint(150), 'AC 02'],
    ['VARINT 2^31-1', (w) => w.varint(0x7fffffff), 'FE FF FF FF 0F'],
    ['VARINT -2^31', (w) => w.varint(-0x80000000), 'FF FF FF FF 0F'],
    ['VARLONG 0', (w) => w.varlong(0n), '00'],
    ['VARLONG -1', (w) => w.varlong(-1n), '01'],
    ['VARLONG 1', (w) => w.varlong(1n), '02'],
    ['VARLONG 2^30', (w) => w.varlong(2n ** 30n), '80 80 80 80 08'],
    ['VARLONG -2^30-1', (w) => w.varlong(-(2n ** 30n) - 1n), '81 80 80 80 08'],
    ['VARLONG 2^31', (w) => w.varlong(2n ** 31n), '80 80 80 80 10'],
    ['VARLONG 2^63-1', (w) => w.varlong(2n ** 63n - 1n), 'FE FF FF FF FF FF FF FF FF 01'],
    ['VARLONG -2^63', (w) => w.varlong(-(2n ** 63n)), 'FF FF FF FF FF FF FF FF FF 01'],
    ['unsigned varlong 2^64-1', (w) => w.uvarlong(2n ** 64n - 1n), 'FF FF FF FF FF FF FF FF FF 01'],
    ['unsigned varlong 2^35', (w) => w.uvarlong(2n ** 35n), '80 80 80 80 80 01'],
    ['UUID', (w) => w.uuid('00010203-0405-0607-0809-0a0b0c0d0e0f'), '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F'],
    [
      'UUID upper-case, no dashes',
      (w) => w.uuid('FFEEDDCCBBAA99887766554433221100'),
      'FF EE DD CC BB AA 99 88 77 66 55 44 33 22 11 00',
    ],
    ['STRING "abc"', (w) => w.string('abc'), '00 03 61 62 63'],
    ['STRING ""', (w) => w.string(''), '00 00'],
    ['STRING "é€" (UTF-8 byte length)', (w) => w.string('é€'), '00 05 C3 A9 E2 82 AC'],
    ['NULLABLE_STRING null', (w) => w.nullableString(null), 'FF FF'],
    ['NULLABLE_STRING "a"', (w) => w.nullableString('a'), '00 01 61'],
    ['COMPACT_STRING "abc"', (w) => w.compactString('abc'), '04 61 62 63'],
    ['COMPACT_STRING ""', (w) => w.compactString(''), '01'],
    ['COMPACT_STRING "😀"', (w) => w.compactString('😀'), '05 F0 9F 98 80'],
    ['COMPACT_NULLABLE_STRING null', (w) => w.compactNullableString(null), '00'],
    ['BYTES [1,2]', (w) => w.bytes(Buffer.from([1, 2])), '00 00 00 02 01 02'],
    ['BYTES []', (w) => w.bytes(Buffer.alloc(0)), '00 00 00 00'],
    ['NULLABLE_BYTES null', (w) => w.nullableBytes(null), 'FF FF FF FF'],
    ['COMPACT_BYTES [1,2]', (w) => w.compactBytes(Buffer.from([1, 2])), '03 01 02'],
    ['COMPACT_NULLABLE_BYTES null', (w) => w.compactNullableBytes(null), '00'],
    ['ARRAY length 3', (w) => w.arrayLength(3), '00 00 00 03'],
    ['ARRAY null', (w) => w.arrayLength(-1), 'FF FF FF FF'],
    ['COMPACT_ARRAY length 3', (w) => w.compactArrayLength(3), '04'],
    ['COMPACT_ARRAY empty', (w) => w.compactArrayLength(0), '01'],
    ['COMPACT_ARRAY null', (w) => w.compactArrayLength(-1), '00'],
    ['tagged fields: none', (w) => w.taggedFields([]), '00'],
    [
      'tagged fields: known tag 0 = uvarint 300, unknown tag 5',
      (w) => w.taggedFields([[0, (x) => x.uvarint(300)]], [{ tag: 5, data: Buffer.from([0xaa]) }]),
      '02 00 02 AC 02 05 01 AA',
    ],
    [
      'tagged fields: known and unknown merged in tag order',
      (w) =>
        w.taggedFields(
          [[1, (x) => x.int8(7)]],
          [
            { tag: 0, data: Buffer.from([0xa0]) },
            { tag: 200, data: Buffer.alloc(0) },
          ],
        ),
      '03 00 01 A0 01 01 07 C8 01 00',
    ],
  ])('%s', (_name, write, expected) => {
    expect(hex(write)).toBe(expected);
  });
});

describe('Writer behaviour', () => {
  it('grows from any starting capacity, including 0', () => {
    for (const capacity of [0, 1, 3]) {
      const w = new Writer(capacity);
      for (let i = 0; i < 1000; i++) w.int32(i);
      expect(w.offset).toBe(4000);
      expect(w.finish().readInt32BE(3996)).toBe(999);
    }
  });

  it('is reusable after reset, and toBuffer copies', () => {
    const w = new Writer(8);
    w.int32(1);
    const copy = w.toBuffer();
    w.reset().int32(2);
    expect(copy).toEqual(Buffer.from([0, 0, 0, 1]));
    expect(w.finish()).toEqual(Buffer.from([0, 0, 0, 2]));
  });

  it('fills in a 32-bit length prefix, even across growth', () => {
    const w = new Writer(2);
    w.int8(9);
    const done = w.lengthPrefix32();
    w.raw(Buffer.alloc(100, 1));
    done();
    expect(w.finish().readInt32BE(1)).toBe(100);
    expect(w.offset).toBe(105);
  });

  it.each<[string, (w: Writer) => unknown]>([
    ['uvarint -1', (w) => w.uvarint(-1)],
    ['uvarint 2^32', (w) => w.uvarint(2 ** 32)],
    ['uvarint 1.5', (w) => w.uvarint(1.5)],
    ['uvarint NaN', (w) => w.uvarint(Number.NaN)],
    ['varint 2^31', (w) => w.varint(2 ** 31)],
    ['varint -2^31-1', (w) => w.varint(-(2 ** 31) - 1)],
    ['varlong 2^63', (w) => w.varlong(2n ** 63n)],
    ['varlong -2^63-1', (w) => w.varlong(-(2n ** 63n) - 1n)],
    ['uvarlong -1', (w) => w.uvarlong(-1n)],
    ['uvarlong 2^64', (w) => w.uvarlong(2n ** 64n)],
    ['int64 2^63', (w) => w.int64(2n ** 63n)],
    ['uuid too short', (w) => w.uuid('0001')],
    ['uuid not hex', (w) => w.uuid('zz010203-0405-0607-0809-0a0b0c0d0e0f')],
    ['uuid dashes misplaced', (w) => w.uuid('0001020-30405-0607-0809-0a0b0c0d0e0f')],
    ['string over 32767 bytes', (w) => w.string('é'.repeat(16384))],
  ])('refuses %s with RangeError', (_name, write) => {
    expect(() => write(new Writer())).toThrow(RangeError);
  });

  it('computes varint sizes at the boundaries', () => {
    const cases: Array<[number, number]> = [
      [0, 1],
      [127, 1],
      [128, 2],
      [16383, 2],
      [16384, 3],
      [2 ** 21 - 1, 3],
      [2 ** 21, 4],
      [2 ** 28 - 1, 4],
      [2 ** 28, 5],
      [2 ** 32 - 1, 5],
    ];
    for (const [v, n] of cases) {
      expect(uvarintSize(v)).toBe(n);
      expect(new Writer().uvarint(v).offset).toBe(n);
    }
    expect(varintSize(-1)).toBe(1);
    expect(varintSize(-65)).toBe(2);
    expect(varlongSize(-(2n ** 63n))).toBe(10);
    expect(varlongSize(0n)).toBe(1);
  });
});
