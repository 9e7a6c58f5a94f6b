import { type CompressionCodec, CompressionType, checkMaxOutput, corrupt, lazyNative, tooLarge } from './codec.js';

const NAME = 'zstd';

interface ZstdModule {
  compress(data: Buffer, level?: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}
const zstd = lazyNative<ZstdModule>('@mongodb-js/zstd', NAME);

const FRAME_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Block_Maximum_Size of the zstd format: no block decodes to more (libzstd enforces it). */
const MAX_BLOCK_BYTES = 128 * 1024;
/** The native decoder takes no limit; it runs only where the frame structure bounds its output to the limit plus this. */
const NATIVE_SLACK_BYTES = MAX_BLOCK_BYTES;
/** Kafka's default zstd level. */
const KAFKA_DEFAULT_LEVEL = 3;

/**
 * Upper bound of the decompressed size of a zstd stream, from its frame and block headers
 * (raw and RLE blocks declare their size, compressed blocks decode to at most 128 KiB), with
 * every length checked against the input. A declared frame content size above the limit is
 * refused at once.
 */
export function zstdOutputBound(data: Buffer, maxOutputBytes: number): number {
  if (data.length === 0) throw corrupt(NAME, 'empty input', 0);
  let pos = 0;
  let bound = 0;
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt(NAME, 'truncated frame magic', pos);
    const magic = data.readUInt32LE(pos);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (data.length - pos < 8) throw corrupt(NAME, 'truncated skippable frame', pos);
      const size = data.readUInt32LE(pos + 4);
      if (size > data.length - pos - 8) throw corrupt(NAME, `skippable frame of ${size} bytes past the end`, pos);
      pos += 8 + size;
      continue;
    }
    if (magic !== FRAME_MAGIC) throw corrupt(NAME, 'bad frame magic', pos);
    pos += 4;
    if (pos >= data.length) throw corrupt(NAME, 'truncated frame header', pos);
    const fhd = data[pos++];
    if (fhd & 0x08) throw corrupt(NAME, 'reserved frame header bit set', pos - 1);
    const fcsFlag = fhd >>> 6;
    const singleSegment = (fhd & 0x20) !== 0;
    const hasChecksum = (fhd & 0x04) !== 0;
    const dictIdBytes = [0, 1, 2, 4][fhd & 0x03];
    const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag;
    const headerRest = (singleSegment ? 0 : 1) + dictIdBytes + fcsBytes;
    if (data.length - pos < headerRest) throw corrupt(NAME, 'truncated frame header', pos);
    pos += (singleSegment ? 0 : 1) + dictIdBytes;
    if (fcsBytes > 0) {
      let fcs: number;
      if (fcsBytes === 1) fcs = data[pos];
      else if (fcsBytes === 2) fcs = data.readUInt16LE(pos) + 256;
      else if (fcsBytes === 4) fcs = data.readUInt32LE(pos);
      else fcs = Number(data.readBigUInt64LE(pos));
      if (fcs > maxOutputBytes) throw tooLarge(NAME, fcs, maxOutputBytes);
      pos += fcsBytes;
    }
    for (;;) {
      if (data.length - pos < 3) throw corrupt(NAME, 'truncated block header', pos);
      const header = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16);
      pos += 3;
      const last = (header & 1) === 1;
      const type = (header >>> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw corrupt(NAME, 'reserved block type', pos - 3);
      if (size > MAX_BLOCK_BYTES) throw corrupt(NAME, `block of ${size} bytes exceeds 128 KiB`, pos - 3);
      const stored = type === 1 ? 1 : size; // RLE blocks store one byte
      if (stored > data.length - pos) throw corrupt(NAME, `block of ${stored} bytes past the end`, pos - 3);
      bound += type === 2 ? MAX_BLOCK_BYTES : size;
      pos += stored;
      if (bound > maxOutputBytes + NATIVE_SLACK_BYTES) throw tooLarge(NAME, bound, maxOutputBytes);
      if (last) break;
    }
    if (hasChecksum) {
      if (data.length - pos < 4) throw corrupt(NAME, 'truncated content checksum', pos);
      pos += 4;
    }
  }
  return bound;
}

async function zstdDecompress(data: Buffer, maxOutputBytes: number): Promise<Buffer> {
  checkMaxOutput(maxOutputBytes);
  zstdOutputBound(data, maxOutputBytes);
  let out: Buffer;
  try {
    out = await zstd().decompress(data);
  } catch (e) {
    throw corrupt(NAME, (e as Error).message ?? 'invalid frame', 0, e);
  }
  if (out.length > maxOutputBytes) throw tooLarge(NAME, out.length, maxOutputBytes);
  return out;
}

/** zstd through @mongodb-js/zstd (async only, on the libuv pool). */
export const zstdCodec: CompressionCodec = {
  type: CompressionType.Zstd,
  name: NAME,
  compress(data: Buffer): Promise<Buffer> {
    return zstd().compress(data, KAFKA_DEFAULT_LEVEL);
  },
  decompress: zstdDecompress,
};
