/**
 * Table-driven CRC-32 in pure JavaScript (slicing-by-8), for any reflected polynomial. This is
 * the fallback when a native implementation cannot be loaded, and the independent reference
 * the tests check the native ones against.
 */

/** Reflected polynomial of CRC-32C (Castagnoli), used by RecordBatch v2. */
export const CRC32C_POLYNOMIAL = 0x82f63b78;
/** Reflected polynomial of CRC-32 (IEEE 802.3), used by legacy message sets. */
export const CRC32_IEEE_POLYNOMIAL = 0xedb88320;

/** Eight 256-entry tables: table k maps a byte to its CRC contribution k bytes further on. */
function makeTables(polynomial: number): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ polynomial : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/** A CRC function `(data, previous?) => uint32`; `previous` continues a CRC over more data. */
export type CrcFunction = (data: Uint8Array, previous?: number) => number;

export function makeTableCrc(polynomial: number): CrcFunction {
  const t = makeTables(polynomial);
  return (data: Uint8Array, previous = 0): number => {
    let crc = ~previous;
    let i = 0;
    const n = data.length;
    const end8 = n - (n % 8);
    for (; i < end8; i += 8) {
      const a = crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      crc =
        t[1792 + (a & 0xff)] ^
        t[1536 + ((a >>> 8) & 0xff)] ^
        t[1280 + ((a >>> 16) & 0xff)] ^
        t[1024 + (a >>> 24)] ^
        t[768 + data[i + 4]] ^
        t[512 + data[i + 5]] ^
        t[256 + data[i + 6]] ^
        t[data[i + 7]];
    }
    for (; i < n; i++) crc = t[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
    return ~crc >>> 0;
  };
}

/** CRC-32C in pure JavaScript. */
export const crc32cTable: CrcFunction = makeTableCrc(CRC32C_POLYNOMIAL);
/** CRC-32 (IEEE) in pure JavaScript. */
export const crc32Table: CrcFunction = makeTableCrc(CRC32_IEEE_POLYNOMIAL);
