// Plug-in codecs for kafkajs (it ships only gzip), written over the same native packages the
// protocol package uses, but without our own codec code: what a kafkajs user would write.
// kafkajs calls compress(encoder) with its Encoder and decompress(buffer) with the payload.
import { type KjsEncoder, kafkajsModule, require } from './helpers.js';

interface KjsCodec {
  compress(encoder: KjsEncoder): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const snappy = require('snappy') as {
  compressSync(b: Buffer): Buffer;
  uncompressSync(b: Buffer, o?: { asBuffer: boolean }): Buffer | string;
};
const lz4 = require('lz4-napi') as {
  compressFrameSync(b: Buffer): Buffer;
  decompressFrameSync(b: Buffer): Buffer;
};
const zstd = require('@mongodb-js/zstd') as {
  compress(b: Buffer, level?: number): Promise<Buffer>;
  decompress(b: Buffer): Promise<Buffer>;
};

/** Java's xerial snappy framing: a 16-byte header, then blocks of [int32 length, snappy data]. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

function unsnappy(buffer: Buffer): Buffer {
  const raw = (b: Buffer) => snappy.uncompressSync(b, { asBuffer: true }) as Buffer;
  if (buffer.length < 16 || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) return raw(buffer);
  const parts: Buffer[] = [];
  let at = 16;
  while (at + 4 <= buffer.length) {
    const n = buffer.readInt32BE(at);
    parts.push(raw(buffer.subarray(at + 4, at + 4 + n)));
    at += 4 + n;
  }
  return Buffer.concat(parts);
}

const CODECS: Record<number, KjsCodec> = {
  // Like kafkajs-snappy: plain snappy out, xerial or plain in.
  2: { compress: async (e) => snappy.compressSync(e.buffer), decompress: async (b) => unsnappy(b) },
  3: { compress: async (e) => lz4.compressFrameSync(e.buffer), decompress: async (b) => lz4.decompressFrameSync(b) },
  4: { compress: (e) => zstd.compress(e.buffer, 3), decompress: (b) => zstd.decompress(b) },
};

/** Registers snappy, lz4 and zstd in kafkajs's codec table (the one its CompressionCodecs exports). */
export function installKafkajsCodecs(): void {
  const { Codecs } = kafkajsModule<{ Codecs: Record<number, () => KjsCodec> }>('protocol/message/compression/index.js');
  for (const [type, codec] of Object.entries(CODECS)) Codecs[Number(type)] = () => codec;
}
