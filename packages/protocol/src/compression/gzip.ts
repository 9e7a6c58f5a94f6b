import * as zlib from 'node:zlib';
import { type CompressionCodec, CompressionType, checkMaxOutput, corrupt, tooLarge } from './codec.js';

const NAME = 'gzip';

function toDecodeError(e: unknown, maxOutputBytes: number): Error {
  if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
    return tooLarge(NAME, maxOutputBytes + 1, maxOutputBytes);
  return corrupt(NAME, (e as Error).message ?? 'invalid data', 0, e);
}

// zlib wants maxOutputLength >= 1; a limit of 0 is then checked after the fact.
function zlibOptions(maxOutputBytes: number): zlib.ZlibOptions {
  return { maxOutputLength: Math.max(1, Math.min(maxOutputBytes, 0x7fffffff)) };
}

function checked(out: Buffer, maxOutputBytes: number): Buffer {
  if (out.length > maxOutputBytes) throw tooLarge(NAME, out.length, maxOutputBytes);
  return out;
}

/** gzip through node:zlib; zlib itself stops at `maxOutputBytes`. Async calls run on the libuv pool. */
export const gzipCodec: CompressionCodec = {
  type: CompressionType.Gzip,
  name: NAME,
  compress(data: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => zlib.gzip(data, (err, out) => (err ? reject(err) : resolve(out))));
  },
  compressSync(data: Buffer): Buffer {
    return zlib.gzipSync(data);
  },
  decompress(data: Buffer, maxOutputBytes: number): Promise<Buffer> {
    checkMaxOutput(maxOutputBytes);
    return new Promise((resolve, reject) =>
      zlib.gunzip(data, zlibOptions(maxOutputBytes), (err, out) => {
        if (err) reject(toDecodeError(err, maxOutputBytes));
        else {
          try {
            resolve(checked(out, maxOutputBytes));
          } catch (e) {
            reject(e);
          }
        }
      }),
    );
  },
  decompressSync(data: Buffer, maxOutputBytes: number): Buffer {
    checkMaxOutput(maxOutputBytes);
    let out: Buffer;
    try {
      out = zlib.gunzipSync(data, zlibOptions(maxOutputBytes));
    } catch (e) {
      throw toDecodeError(e, maxOutputBytes);
    }
    return checked(out, maxOutputBytes);
  },
};
