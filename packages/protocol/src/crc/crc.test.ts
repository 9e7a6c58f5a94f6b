import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CRC_IMPLEMENTATION, crc32, crc32c, crc32cTable, crc32Table } from './index.js';

const CHECK = Buffer.from('123456789', 'ascii');

describe('CRC-32C', () => {
  it('matches the standard check value for "123456789"', () => {
    expect(crc32c(CHECK)).toBe(0xe3069283);
    expect(crc32cTable(CHECK)).toBe(0xe3069283);
  });

  it('matches known vectors (RFC 3720 B.4)', () => {
    expect(crc32cTable(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32cTable(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    const inc = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(crc32cTable(inc)).toBe(0x46dd794e);
    expect(crc32c(inc)).toBe(0x46dd794e);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('uses the native implementation here', () => {
    expect(CRC_IMPLEMENTATION.crc32c).toBe('@node-rs/crc32');
  });

  it('native equals the table fallback on random input, including chained calls', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (data, cut) => {
        const buf = Buffer.from(data);
        const whole = crc32c(buf);
        expect(crc32cTable(buf)).toBe(whole);
        const at = data.length === 0 ? 0 : cut % data.length;
        expect(crc32c(buf.subarray(at), crc32c(buf.subarray(0, at)))).toBe(whole);
        expect(crc32cTable(buf.subarray(at), crc32cTable(buf.subarray(0, at)))).toBe(whole);
      }),
      { numRuns: 300 },
    );
  });
});

describe('CRC-32 (IEEE)', () => {
  it('matches the standard check value for "123456789"', () => {
    expect(crc32(CHECK)).toBe(0xcbf43926);
    expect(crc32Table(CHECK)).toBe(0xcbf43926);
  });

  it('zlib equals the table fallback on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
        const buf = Buffer.from(data);
        expect(crc32Table(buf)).toBe(crc32(buf));
      }),
      { numRuns: 300 },
    );
  });
});
