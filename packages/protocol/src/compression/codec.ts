import { createRequire } from 'node:module';
import { ERROR_CODES } from '../error-codes.js';
import { DecodeError, KafkaError } from '../errors.js';

/** Kafka's compression codec ids, as stored in bits 0-2 of the batch (or message) attributes. */
export const CompressionType = {
  None: 0,
  Gzip: 1,
  Snappy: 2,
  Lz4: 3,
  Zstd: 4,
} as const;
export type CompressionType = (typeof CompressionType)[keyof typeof CompressionType];

/**
 * One compression codec. `decompress` never returns more than `maxOutputBytes` bytes and never
 * allocates much more than that (a decompression bomb is refused early); bad input of any kind
 * is reported as a DecodeError with code CORRUPT_MESSAGE. The sync variants exist where the
 * underlying library has them (every codec but zstd).
 */
export interface CompressionCodec {
  readonly type: CompressionType;
  readonly name: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  compress(data: Buffer): Promise<Buffer> | Buffer;
  decompress(data: Buffer, maxOutputBytes: number): Promise<Buffer> | Buffer;
  compressSync?(data: Buffer): Buffer;
  decompressSync?(data: Buffer, maxOutputBytes: number): Buffer;
}

/** A corrupt or over-large compressed payload. `offset` is within the compressed input. */
export function corrupt(codec: string, what: string, offset: number, cause?: unknown): DecodeError {
  const err = new DecodeError(`${codec}: ${what}`, offset, ERROR_CODES.CORRUPT_MESSAGE);
  if (cause !== undefined) (err as { cause?: unknown }).cause = cause;
  return err;
}

export function tooLarge(codec: string, bytes: number, maxOutputBytes: number): DecodeError {
  return corrupt(codec, `decompressed size ${bytes} exceeds the limit of ${maxOutputBytes} bytes`, 0);
}

export function checkMaxOutput(maxOutputBytes: number): void {
  if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 0) {
    throw new RangeError(`maxOutputBytes must be a non-negative integer, got ${maxOutputBytes}`);
  }
}

const requireNative = createRequire(import.meta.url);

/**
 * Loads a native compression addon on first use, so that a missing one only breaks its own
 * codec (with UNSUPPORTED_COMPRESSION_TYPE) and not the whole package.
 */
export function lazyNative<T>(pkg: string, codec: string): () => T {
  let mod: T | undefined;
  let failure: unknown;
  return () => {
    if (mod !== undefined) return mod;
    if (failure === undefined) {
      try {
        mod = requireNative(pkg) as T;
        return mod;
      } catch (e) {
        failure = e;
      }
    }
    throw new KafkaError(ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE, `${codec}: cannot load ${pkg}`, {
      cause: failure,
    });
  };
}
