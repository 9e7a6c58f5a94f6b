import { type CompressionCodec, CompressionType, checkMaxOutput, corrupt, lazyNative, tooLarge } from './codec.js';

const NAME = 'snappy';

interface SnappyModule {
  compressSync(input: Uint8Array): Buffer;
  uncompressSync(input: Uint8Array, options?: { asBuffer?: boolean }): string | Buffer;
}
const snappy = lazyNative<SnappyModule>('snappy', NAME);

/** The xerial snappy-java stream header: magic 0x82 'SNAPPY' 0x00, then version and compatible version. */
export const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
export const XERIAL_HEADER_SIZE = 16;
/** Block size of Java's SnappyOutputStream, which Kafka's producer uses. */
export const XERIAL_BLOCK_SIZE = 32 * 1024;
const XERIAL_VERSION = 1;
const XERIAL_COMPATIBLE_VERSION = 1;

/** The uncompressed length a raw snappy block declares (its leading uvarint), checked against the block. */
function rawLength(data: Buffer, start: number, end: number): number {
  let result = 0;
  let shift = 0;
  for (let i = start; i < end && i < start + 5; i++) {
    const b = data[i];
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
    shift += 7;
  }
  throw corrupt(NAME, 'invalid uncompressed-length varint', start);
}

function uncompressBlock(block: Buffer, expected: number, at: number): Buffer {
  let out: Buffer;
  try {
    out = snappy().uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (e) {
    throw corrupt(NAME, (e as Error).message ?? 'invalid block', at, e);
  }
  if (out.length !== expected) throw corrupt(NAME, `block gave ${out.length} bytes, declared ${expected}`, at);
  return out;
}

export function isXerial(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_SIZE && data.compare(XERIAL_MAGIC, 0, 8, 0, 8) === 0;
}

/** Snappy in xerial framing, as Kafka's Java producer writes it: 16-byte header, then int32-length-prefixed raw blocks of 32 KiB input each. */
export function snappyCompressSync(data: Buffer): Buffer {
  const s = snappy();
  const blocks: Buffer[] = [];
  let total = XERIAL_HEADER_SIZE;
  for (let at = 0; at < data.length; at += XERIAL_BLOCK_SIZE) {
    const block = s.compressSync(data.subarray(at, Math.min(at + XERIAL_BLOCK_SIZE, data.length)));
    blocks.push(block);
    total += 4 + block.length;
  }
  const out = Buffer.allocUnsafe(total);
  XERIAL_MAGIC.copy(out, 0);
  out.writeInt32BE(XERIAL_VERSION, 8);
  out.writeInt32BE(XERIAL_COMPATIBLE_VERSION, 12);
  let pos = XERIAL_HEADER_SIZE;
  for (const block of blocks) {
    out.writeInt32BE(block.length, pos);
    block.copy(out, pos + 4);
    pos += 4 + block.length;
  }
  return out;
}

/**
 * Accepts xerial framing and plain raw snappy. Every block's declared uncompressed size is
 * summed and checked against the limit before anything is decompressed.
 */
export function snappyDecompressSync(data: Buffer, maxOutputBytes: number): Buffer {
  checkMaxOutput(maxOutputBytes);
  if (!isXerial(data)) {
    const n = rawLength(data, 0, data.length);
    if (n > maxOutputBytes) throw tooLarge(NAME, n, maxOutputBytes);
    return uncompressBlock(data, n, 0);
  }
  // First pass: bounds and declared sizes only. The block count is bounded by the input (>= 5 bytes each).
  const starts: number[] = [];
  const ends: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_SIZE;
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt(NAME, 'xerial: truncated block length', pos);
    const len = data.readInt32BE(pos);
    if (len <= 0 || len > data.length - pos - 4) {
      throw corrupt(NAME, `xerial: block length ${len} with ${data.length - pos - 4} bytes left`, pos);
    }
    const start = pos + 4;
    const n = rawLength(data, start, start + len);
    total += n;
    if (total > maxOutputBytes) throw tooLarge(NAME, total, maxOutputBytes);
    starts.push(start);
    ends.push(start + len);
    sizes.push(n);
    pos = start + len;
  }
  if (starts.length === 1) return uncompressBlock(data.subarray(starts[0], ends[0]), sizes[0], starts[0]);
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (let i = 0; i < starts.length; i++) {
    o += uncompressBlock(data.subarray(starts[i], ends[i]), sizes[i], starts[i]).copy(out, o);
  }
  return out;
}

/** Snappy: writes xerial framing (Java-compatible), reads xerial or raw. Runs synchronously (it is fast). */
export const snappyCodec: CompressionCodec = {
  type: CompressionType.Snappy,
  name: NAME,
  compress: snappyCompressSync,
  compressSync: snappyCompressSync,
  decompress: snappyDecompressSync,
  decompressSync: snappyDecompressSync,
};
