import { ERROR_CODES } from '../error-codes.js';
import { DecodeError, KafkaError } from '../errors.js';
import type { Writer } from '../primitives/writer.js';

/**
 * Bytes at the start of every request header version (v0, v1, v2): int16 api key, int16 api
 * version, int32 correlation id. Reading them needs no knowledge of the header version.
 */
export const REQUEST_HEAD_BYTES = 8;

export interface RequestHead {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
}

/**
 * Reads apiKey/apiVersion/correlationId from a request frame (without its size prefix). A broker
 * needs these to answer, with the right correlation id, a request whose version it does not
 * support or whose header it cannot otherwise parse.
 */
export function peekRequestHead(frame: Buffer): RequestHead {
  if (frame.length < REQUEST_HEAD_BYTES) {
    throw new DecodeError(`request header: needs ${REQUEST_HEAD_BYTES} bytes, frame has ${frame.length}`, 0);
  }
  return {
    apiKey: frame.readInt16BE(0),
    apiVersion: frame.readInt16BE(2),
    correlationId: frame.readInt32BE(4),
  };
}

/**
 * Writes one size-prefixed frame: a 4-byte big-endian size, then whatever the `parts` write, in
 * order (for a response: its header, then its body). Returns the frame size without the prefix.
 * Refuses a frame above `maxFrameSize` (default: the int32 limit) with MESSAGE_TOO_LARGE and
 * leaves the writer as it was before the call.
 */
export function writeFrame(
  w: Writer,
  parts: ReadonlyArray<(w: Writer) => void>,
  maxFrameSize: number = 0x7fffffff,
): number {
  const start = w.offset;
  const fill = w.lengthPrefix32();
  try {
    for (const part of parts) part(w);
  } catch (err) {
    w.offset = start;
    throw err;
  }
  const size = w.offset - start - 4;
  if (size > maxFrameSize) {
    w.offset = start;
    throw new KafkaError(ERROR_CODES.MESSAGE_TOO_LARGE, `frame of ${size} bytes is larger than ${maxFrameSize}`);
  }
  fill();
  return size;
}

/** A response frame: size, then the response header, then the body. */
export function writeResponseFrame(
  w: Writer,
  writeHeader: (w: Writer) => void,
  writeBody: (w: Writer) => void,
  maxFrameSize?: number,
): number {
  return writeFrame(w, [writeHeader, writeBody], maxFrameSize);
}

/** A request frame: size, then the request header, then the body. */
export function writeRequestFrame(
  w: Writer,
  writeHeader: (w: Writer) => void,
  writeBody: (w: Writer) => void,
  maxFrameSize?: number,
): number {
  return writeFrame(w, [writeHeader, writeBody], maxFrameSize);
}
