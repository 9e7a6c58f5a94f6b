import { ERROR_CODES } from '../error-codes.js';
import { KafkaError } from '../errors.js';
import { type CompressionCodec, CompressionType } from './codec.js';
import { gzipCodec } from './gzip.js';
import { lz4Codec } from './lz4.js';
import { noneCodec } from './none.js';
import { snappyCodec } from './snappy.js';
import { zstdCodec } from './zstd.js';

export { type CompressionCodec, CompressionType } from './codec.js';
export { gzipCodec } from './gzip.js';
export { lz4Codec, scanLz4Frames } from './lz4.js';
export { noneCodec } from './none.js';
export { isXerial, snappyCodec, XERIAL_BLOCK_SIZE } from './snappy.js';
export { xxhash32 } from './xxhash32.js';
export { zstdCodec, zstdOutputBound } from './zstd.js';

const CODECS: readonly CompressionCodec[] = [noneCodec, gzipCodec, snappyCodec, lz4Codec, zstdCodec];

/** The codec for a Kafka compression id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd); UNSUPPORTED_COMPRESSION_TYPE otherwise. */
export function codecFor(type: number): CompressionCodec {
  const codec = CODECS[type];
  if (codec === undefined) {
    throw new KafkaError(ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE, `unknown compression type ${type}`);
  }
  return codec;
}

export function compressionName(type: number): string {
  return CODECS[type]?.name ?? `unknown(${type})`;
}

/** True where `compressSync`/`decompressSync` exist (every codec but zstd). */
export function hasSyncCodec(type: number): boolean {
  return type >= CompressionType.None && type <= CompressionType.Lz4;
}

export async function compress(type: number, data: Buffer): Promise<Buffer> {
  return codecFor(type).compress(data);
}

export async function decompress(type: number, data: Buffer, maxOutputBytes: number): Promise<Buffer> {
  return codecFor(type).decompress(data, maxOutputBytes);
}
