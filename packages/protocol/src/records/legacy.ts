import { CompressionType, codecFor, hasSyncCodec } from '../compression/index.js';
import { crc32 } from '../crc/index.js';
import { ERROR_CODES } from '../error-codes.js';
import { DecodeError } from '../errors.js';
import { LOG_OVERHEAD } from './batch-layout.js';
import type { KafkaRecord } from './record.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, type TimestampType } from './record-batch.js';

/**
 * Legacy message sets (magic 0 and 1, before Kafka 0.11): offset int64, size int32, then a
 * message: crc uint32 (CRC-32 IEEE of the rest), magic int8, attributes int8, timestamp int64
 * (magic 1 only), key bytes, value bytes. A compressed message wraps a whole inner message set.
 */

const CRC_AT = LOG_OVERHEAD; // 12
const MAGIC_AT = CRC_AT + 4; // 16
const ATTRIBUTES_AT = MAGIC_AT + 1;
/** Smallest message body (after the size field): crc, magic, attributes, key length, value length. */
const MIN_MESSAGE_V0 = 14;
const MIN_MESSAGE_V1 = 22;
const COMPRESSION_MASK = 0x07;
const TIMESTAMP_TYPE_MASK = 0x08;
const NO_TIMESTAMP = -1n;
const NO_HEADERS: [] = [];
Object.freeze(NO_HEADERS);

export interface LegacyRecord extends KafkaRecord {
  magic: 0 | 1;
  timestampType: TimestampType;
}

export interface LegacyDecodeOptions {
  offset?: number;
  end?: number;
  /** Bound on a compressed wrapper's decompressed inner message set (default 64 MiB). */
  maxOutputBytes?: number;
}

export interface LegacyDecodeResult {
  records: LegacyRecord[];
  /** Where decoding stopped: the end of the last whole message. */
  position: number;
  /** True when the input ends inside a message (allowed at the top level, as in fetch responses). */
  truncated: boolean;
}

function corrupt(what: string, offset: number): DecodeError {
  return new DecodeError(`legacy message: ${what}`, offset, ERROR_CODES.CORRUPT_MESSAGE);
}

function readBytes(buf: Buffer, pos: number, end: number): [Buffer | null, number] {
  if (end - pos < 4) throw corrupt('truncated length', pos);
  const n = buf.readInt32BE(pos);
  pos += 4;
  if (n === -1) return [null, pos];
  if (n < 0 || n > end - pos) throw corrupt(`bytes length ${n} with ${end - pos} left`, pos - 4);
  return [buf.subarray(pos, pos + n), pos + n];
}

/**
 * Decodes a legacy message set, unwrapping compressed messages (gzip, snappy, lz4; nested
 * compression is refused). For magic 1 wrappers the inner offsets are relative: the wrapper's
 * offset is the last inner message's, as Kafka assigns them. A LogAppendTime wrapper's
 * timestamp applies to its inner messages.
 */
export function decodeLegacyMessageSet(buffer: Buffer, options?: LegacyDecodeOptions): LegacyDecodeResult {
  const records: LegacyRecord[] = [];
  const r = decodeInto(buffer, options?.offset ?? 0, options?.end ?? buffer.length, records, options, null);
  return { records, position: r.position, truncated: r.truncated };
}

interface Wrapper {
  magic: 0 | 1;
  offset: bigint;
  timestamp: bigint;
  logAppendTime: boolean;
}

function decodeInto(
  buf: Buffer,
  start: number,
  end: number,
  out: LegacyRecord[],
  options: LegacyDecodeOptions | undefined,
  wrapper: Wrapper | null,
): { position: number; truncated: boolean } {
  if (start < 0 || end > buf.length || start > end)
    throw new RangeError(`bounds [${start}, ${end}) outside ${buf.length} bytes`);
  let pos = start;
  const firstInner = out.length;
  while (pos < end) {
    const left = end - pos;
    if (left < LOG_OVERHEAD) {
      if (wrapper) throw corrupt('inner message set ends inside a message', pos);
      return { position: pos, truncated: true };
    }
    const size = buf.readInt32BE(pos + 8);
    if (size < MIN_MESSAGE_V0) throw corrupt(`message size ${size} below the minimum`, pos + 8);
    if (size > left - LOG_OVERHEAD) {
      if (wrapper) throw corrupt(`inner message size ${size} with ${left - LOG_OVERHEAD} left`, pos + 8);
      return { position: pos, truncated: true };
    }
    const msgEnd = pos + LOG_OVERHEAD + size;
    const magic = buf.readInt8(pos + MAGIC_AT);
    if (magic !== 0 && magic !== 1) throw corrupt(`magic ${magic} in a legacy message set`, pos + MAGIC_AT);
    if (magic === 1 && size < MIN_MESSAGE_V1) throw corrupt(`message size ${size} below the minimum`, pos + 8);
    const stored = buf.readUInt32BE(pos + CRC_AT);
    const computed = crc32(buf.subarray(pos + MAGIC_AT, msgEnd));
    if (stored !== computed) {
      throw corrupt(
        `CRC-32 mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`,
        pos + CRC_AT,
      );
    }
    const attributes = buf[pos + ATTRIBUTES_AT];
    const offset = buf.readBigInt64BE(pos);
    let p = pos + ATTRIBUTES_AT + 1;
    let timestamp = NO_TIMESTAMP;
    if (magic === 1) {
      timestamp = buf.readBigInt64BE(p);
      p += 8;
    }
    const logAppendTime = magic === 1 && (attributes & TIMESTAMP_TYPE_MASK) !== 0;
    let key: Buffer | null;
    let value: Buffer | null;
    [key, p] = readBytes(buf, p, msgEnd);
    [value, p] = readBytes(buf, p, msgEnd);
    if (p !== msgEnd) throw corrupt(`${msgEnd - p} bytes after the value`, p);
    const compression = attributes & COMPRESSION_MASK;
    if (compression !== CompressionType.None) {
      if (wrapper) throw corrupt('compressed message inside a compressed message', pos + ATTRIBUTES_AT);
      if (!hasSyncCodec(compression))
        throw corrupt(`compression ${compression} is not valid for magic ${magic}`, pos + ATTRIBUTES_AT);
      if (value === null) throw corrupt('compressed message without a value', pos);
      const inner = codecFor(compression).decompressSync!(
        value,
        options?.maxOutputBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES,
      );
      decodeInto(inner, 0, inner.length, out, options, { magic, offset, timestamp, logAppendTime });
    } else {
      if (wrapper?.logAppendTime) timestamp = wrapper.timestamp;
      out.push({
        offset,
        timestamp,
        key,
        value,
        headers: NO_HEADERS,
        attributes,
        offsetDelta: 0,
        sizeInBytes: LOG_OVERHEAD + size,
        magic,
        timestampType: logAppendTime || wrapper?.logAppendTime ? 1 : 0,
      });
    }
    pos = msgEnd;
  }
  if (wrapper?.magic === 1 && out.length > firstInner) {
    // Relative inner offsets: the wrapper carries the absolute offset of the last one.
    const base = wrapper.offset - out[out.length - 1].offset;
    for (let i = firstInner; i < out.length; i++) out[i].offset += base;
  }
  return { position: pos, truncated: false };
}

export interface LegacyMessageInput {
  key?: Buffer | null;
  value: Buffer | null;
  /** Magic 1 only (default 0). */
  timestamp?: bigint;
  /** Absolute offset (default baseOffset + index). */
  offset?: bigint;
}

export interface LegacyEncodeOptions {
  magic: 0 | 1;
  messages: readonly LegacyMessageInput[];
  compression?: CompressionType;
  baseOffset?: bigint;
  /** Magic 1: mark messages (or the wrapper) as LogAppendTime. */
  logAppendTime?: boolean;
}

function encodeMessage(
  magic: 0 | 1,
  attributes: number,
  offset: bigint,
  timestamp: bigint,
  key: Buffer | null,
  value: Buffer | null,
): Buffer {
  const size = 4 + 2 + (magic === 1 ? 8 : 0) + 4 + (key?.length ?? 0) + 4 + (value?.length ?? 0);
  const b = Buffer.allocUnsafe(LOG_OVERHEAD + size);
  b.writeBigInt64BE(offset, 0);
  b.writeInt32BE(size, 8);
  b[MAGIC_AT] = magic;
  b[ATTRIBUTES_AT] = attributes;
  let p = ATTRIBUTES_AT + 1;
  if (magic === 1) p = b.writeBigInt64BE(timestamp, p);
  for (const v of [key, value]) {
    p = b.writeInt32BE(v === null ? -1 : v.length, p);
    if (v !== null) p += v.copy(b, p);
  }
  b.writeUInt32BE(crc32(b.subarray(MAGIC_AT)), CRC_AT);
  return b;
}

/**
 * Encodes a legacy message set (for tests and down-conversion). Compressed sets are one
 * wrapper message around the inner set, with relative inner offsets for magic 1.
 */
export function encodeLegacyMessageSet(o: LegacyEncodeOptions): Buffer {
  const base = o.baseOffset ?? 0n;
  const compression = o.compression ?? CompressionType.None;
  const tsFlag = o.magic === 1 && o.logAppendTime ? TIMESTAMP_TYPE_MASK : 0;
  const offsets = o.messages.map((m, i) => m.offset ?? base + BigInt(i));
  if (compression === CompressionType.None) {
    return Buffer.concat(
      o.messages.map((m, i) => encodeMessage(o.magic, tsFlag, offsets[i], m.timestamp ?? 0n, m.key ?? null, m.value)),
    );
  }
  const first = offsets[0] ?? base;
  const inner = Buffer.concat(
    o.messages.map((m, i) =>
      encodeMessage(
        o.magic,
        0,
        o.magic === 1 ? offsets[i] - first : offsets[i],
        m.timestamp ?? 0n,
        m.key ?? null,
        m.value,
      ),
    ),
  );
  const maxTs = o.messages.reduce((mx, m) => ((m.timestamp ?? 0n) > mx ? (m.timestamp ?? 0n) : mx), -1n);
  const last = offsets[offsets.length - 1] ?? base;
  return encodeMessage(o.magic, compression | tsFlag, last, maxTs, null, codecFor(compression).compressSync!(inner));
}
