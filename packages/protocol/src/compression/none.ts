import { type CompressionCodec, CompressionType, checkMaxOutput, tooLarge } from './codec.js';

function identity(data: Buffer, maxOutputBytes: number): Buffer {
  checkMaxOutput(maxOutputBytes);
  if (data.length > maxOutputBytes) throw tooLarge('none', data.length, maxOutputBytes);
  return data;
}

/** No compression: the data itself (not a copy). */
export const noneCodec: CompressionCodec = {
  type: CompressionType.None,
  name: 'none',
  compress: (data: Buffer) => data,
  compressSync: (data: Buffer) => data,
  decompress: identity,
  decompressSync: identity,
};
