import { type CompressionCodec, CompressionType, checkMaxOutput, corrupt, lazyNative, tooLarge } from './codec.js';
import { xxhash32 } from './xxhash32.js';

const NAME = 'lz4';

interface Lz4Module {
  compressFrame(data: Uint8Array, options?: { contentChecksum?: boolean; blockChecksums?: boolean }): Promise<Buffer>;
  compressFrameSync(data: Buffer, options?: { contentChecksum?: boolean; blockChecksums?: boolean }): Buffer;
  decompressFrameSync(data: Buffer): Buffer;
}
const lz4 = lazyNative<Lz4Module>('lz4-napi', NAME);

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** One LZ4 sequence cannot expand its input more than this (a 255-long run per extra length byte). */
const MAX_BLOCK_RATIO = 255;
/**
 * The native decoder cannot be told a limit, so it only runs when the frame's structure bounds
 * its output to at most this much above the limit; other frames are decoded here, exactly.
 */
const NATIVE_SLACK_BYTES = 1 << 20;
// Kafka's Java clients write frames without checksums; lz4-napi's default is the same.
const FRAME_OPTIONS = { contentChecksum: false, blockChecksums: false };

interface FrameScan {
  /** Upper bound of the decompressed size, from block sizes and the block maximum. */
  bound: number;
  /** Number of LZ4 frames (not counting skippable frames). */
  frames: number;
  skippable: number;
}

interface FrameHeader {
  independent: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  blockMax: number;
  /** Offset of the first block header. */
  dataStart: number;
}

function readFrameHeader(data: Buffer, pos: number): FrameHeader {
  if (data.length - pos < 7) throw corrupt(NAME, 'truncated frame header', pos);
  const flg = data[pos + 4];
  const bd = data[pos + 5];
  if (flg >>> 6 !== 1) throw corrupt(NAME, `unsupported frame version ${flg >>> 6}`, pos + 4);
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) throw corrupt(NAME, 'reserved frame bits set', pos + 4);
  const blockSizeId = (bd >>> 4) & 0x07;
  if (blockSizeId < 4) throw corrupt(NAME, `invalid block size id ${blockSizeId}`, pos + 5);
  let headerEnd = pos + 6;
  if (flg & 0x08) headerEnd += 8; // content size
  if (flg & 0x01) headerEnd += 4; // dictionary id
  if (data.length - headerEnd < 1) throw corrupt(NAME, 'truncated frame header', pos);
  const hc = (xxhash32(data, pos + 4, headerEnd) >>> 8) & 0xff;
  if (hc !== data[headerEnd]) throw corrupt(NAME, 'frame header checksum mismatch', headerEnd);
  return {
    independent: (flg & 0x20) !== 0,
    blockChecksum: (flg & 0x10) !== 0,
    contentChecksum: (flg & 0x04) !== 0,
    blockMax: 1 << (2 * blockSizeId + 8),
    dataStart: headerEnd + 1,
  };
}

/** Walks every frame and block boundary, checking each length against what is left. */
export function scanLz4Frames(data: Buffer): FrameScan {
  let pos = 0;
  let bound = 0;
  let frames = 0;
  let skippable = 0;
  if (data.length === 0) throw corrupt(NAME, 'empty input', 0);
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt(NAME, 'truncated frame magic', pos);
    const magic = data.readUInt32LE(pos);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (data.length - pos < 8) throw corrupt(NAME, 'truncated skippable frame', pos);
      const size = data.readUInt32LE(pos + 4);
      if (size > data.length - pos - 8) throw corrupt(NAME, `skippable frame of ${size} bytes past the end`, pos);
      pos += 8 + size;
      skippable++;
      continue;
    }
    if (magic !== FRAME_MAGIC) throw corrupt(NAME, 'bad frame magic', pos);
    const h = readFrameHeader(data, pos);
    pos = h.dataStart;
    for (;;) {
      if (data.length - pos < 4) throw corrupt(NAME, 'truncated block header', pos);
      const word = data.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break; // end mark
      const size = word & 0x7fffffff;
      const uncompressed = word >>> 31 === 1;
      if (size > h.blockMax)
        throw corrupt(NAME, `block of ${size} bytes exceeds the block maximum ${h.blockMax}`, pos - 4);
      const need = size + (h.blockChecksum ? 4 : 0);
      if (need > data.length - pos) throw corrupt(NAME, `block of ${size} bytes past the end`, pos - 4);
      bound += uncompressed ? size : Math.min(h.blockMax, size * MAX_BLOCK_RATIO);
      pos += need;
    }
    if (h.contentChecksum) {
      if (data.length - pos < 4) throw corrupt(NAME, 'truncated content checksum', pos);
      pos += 4;
    }
    frames++;
  }
  return { bound, frames, skippable };
}

/** Output buffer of the exact decoder: grows by doubling, never past the limit. */
class Output {
  buf: Buffer;
  pos = 0;
  constructor(
    initial: number,
    private readonly limit: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(16, Math.min(initial, limit)));
  }
  reserve(n: number): void {
    const need = this.pos + n;
    if (need > this.limit) throw tooLarge(NAME, need, this.limit);
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(Math.min(cap, this.limit));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

/** Decodes one LZ4 block (src[start, end)) into out; matches may reach back to windowStart (earlier blocks of a linked frame). */
function decodeBlock(
  src: Buffer,
  start: number,
  end: number,
  out: Output,
  blockMax: number,
  windowStart: number,
): void {
  const blockStart = out.pos;
  let ip = start;
  while (ip < end) {
    const token = src[ip++];
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= end) throw corrupt(NAME, 'truncated literal length', ip);
        b = src[ip++];
        litLen += b;
      } while (b === 255);
    }
    if (litLen > end - ip) throw corrupt(NAME, 'literals past the end of the block', ip);
    if (out.pos - blockStart + litLen > blockMax) throw corrupt(NAME, 'block exceeds its maximum size', ip);
    out.reserve(litLen);
    src.copy(out.buf, out.pos, ip, ip + litLen);
    out.pos += litLen;
    ip += litLen;
    if (ip === end) break; // the last sequence has literals only
    if (end - ip < 2) throw corrupt(NAME, 'truncated match offset', ip);
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > out.pos - windowStart) throw corrupt(NAME, `invalid match offset ${offset}`, ip - 2);
    let matchLen = token & 15;
    if (matchLen === 15) {
      let b: number;
      do {
        if (ip >= end) throw corrupt(NAME, 'truncated match length', ip);
        b = src[ip++];
        matchLen += b;
      } while (b === 255);
    }
    matchLen += 4;
    if (out.pos - blockStart + matchLen > blockMax) throw corrupt(NAME, 'block exceeds its maximum size', ip);
    out.reserve(matchLen);
    const buf = out.buf;
    let from = out.pos - offset;
    if (offset >= matchLen) {
      buf.copyWithin(out.pos, from, from + matchLen);
      out.pos += matchLen;
    } else {
      // Overlapping match: a repeating pattern, copied forward byte by byte.
      let o = out.pos;
      const stop = o + matchLen;
      while (o < stop) buf[o++] = buf[from++];
      out.pos = stop;
    }
  }
}

/** Exact, bounded decoder in JavaScript, used where the native one could allocate too much. */
export function lz4DecodeFramesJs(data: Buffer, maxOutputBytes: number): Buffer {
  scanLz4Frames(data); // structure and bounds first
  const out = new Output(data.length * 4, maxOutputBytes);
  let pos = 0;
  while (pos < data.length) {
    const magic = data.readUInt32LE(pos);
    if (magic !== FRAME_MAGIC) {
      pos += 8 + data.readUInt32LE(pos + 4); // skippable, checked by the scan
      continue;
    }
    const h = readFrameHeader(data, pos);
    const frameStart = out.pos;
    pos = h.dataStart;
    for (;;) {
      const word = data.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (h.blockChecksum && xxhash32(data, pos, pos + size) !== data.readUInt32LE(pos + size)) {
        throw corrupt(NAME, 'block checksum mismatch', pos + size);
      }
      if (word >>> 31 === 1) {
        out.reserve(size);
        data.copy(out.buf, out.pos, pos, pos + size);
        out.pos += size;
      } else {
        decodeBlock(data, pos, pos + size, out, h.blockMax, h.independent ? out.pos : frameStart);
      }
      pos += size + (h.blockChecksum ? 4 : 0);
    }
    if (h.contentChecksum) {
      if (xxhash32(out.buf, frameStart, out.pos) !== data.readUInt32LE(pos)) {
        throw corrupt(NAME, 'content checksum mismatch', pos);
      }
      pos += 4;
    }
  }
  return out.buf.subarray(0, out.pos);
}

export function lz4DecompressSync(data: Buffer, maxOutputBytes: number): Buffer {
  checkMaxOutput(maxOutputBytes);
  const scan = scanLz4Frames(data);
  if (scan.frames !== 1 || scan.skippable !== 0 || scan.bound > maxOutputBytes + NATIVE_SLACK_BYTES) {
    return lz4DecodeFramesJs(data, maxOutputBytes);
  }
  let out: Buffer;
  try {
    out = lz4().decompressFrameSync(data);
  } catch (e) {
    throw corrupt(NAME, (e as Error).message ?? 'invalid frame', 0, e);
  }
  if (out.length > maxOutputBytes) throw tooLarge(NAME, out.length, maxOutputBytes);
  return out;
}

/**
 * LZ4 in the frame format, as Kafka (magic 1 and 2) uses it. The broken header checksum that
 * Kafka 0.8-0.9 wrote for magic-0 messages is not supported.
 */
export const lz4Codec: CompressionCodec = {
  type: CompressionType.Lz4,
  name: NAME,
  compress(data: Buffer): Promise<Buffer> {
    return lz4().compressFrame(data, FRAME_OPTIONS);
  },
  compressSync(data: Buffer): Buffer {
    return lz4().compressFrameSync(data, FRAME_OPTIONS);
  },
  decompress: lz4DecompressSync,
  decompressSync: lz4DecompressSync,
};
