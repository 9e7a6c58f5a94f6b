/**
 * Varint writers on plain numbers for the record builder's hot path: each returns the next
 * position. No allocation per call.
 */

/** Bytes an unsigned varint of `u` (0 <= u < 2^53) takes. */
export function uvarintBytes(u: number): number {
  if (u < 0x80) return 1;
  if (u < 0x4000) return 2;
  if (u < 0x200000) return 3;
  if (u < 0x10000000) return 4;
  let n = 5;
  for (let x = Math.floor(u / 0x800000000); x > 0; x = Math.floor(x / 128)) n++;
  return n;
}

export function writeUvarint(buf: Buffer, pos: number, u: number): number {
  while (u >= 0x80) {
    buf[pos++] = (u & 0x7f) | 0x80;
    u = u < 0x80000000 ? u >>> 7 : Math.floor(u / 128);
  }
  buf[pos++] = u;
  return pos;
}

export function writeVarint(buf: Buffer, pos: number, v: number): number {
  return writeUvarint(buf, pos, v >= 0 ? v * 2 : -v * 2 - 1);
}

/** Largest magnitude whose zigzag stays an exact number. */
export const MAX_VARLONG_NUMBER = 2 ** 51;
