import { CompressionType, codecFor, hasSyncCodec } from '../compression/index.js';
import { crc32c } from '../crc/index.js';
import { ERROR_CODES } from '../error-codes.js';
import { KafkaError } from '../errors.js';
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  DELETE_HORIZON_FLAG_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG_MASK,
} from './batch-layout.js';
import type { TimestampType } from './record-batch.js';
import { MAX_VARLONG_NUMBER, uvarintBytes, writeUvarint, writeVarint } from './varint.js';

export type BytesInput = Buffer | Uint8Array | string | null | undefined;

export interface RecordHeaderInput {
  key: string;
  value: BytesInput;
}

export interface RecordInput {
  key?: BytesInput;
  value?: BytesInput;
  headers?: readonly RecordHeaderInput[];
  /** Milliseconds since the epoch; default: the batch's time (now). */
  timestamp?: number | bigint;
  /** Offset delta in the batch; default: the record's index. Set it to keep gaps (compaction). */
  offsetDelta?: number;
}

export interface BuildBatchOptions {
  records: readonly RecordInput[];
  baseOffset?: bigint;
  compression?: CompressionType;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  isTransactional?: boolean;
  isControl?: boolean;
  partitionLeaderEpoch?: number;
  timestampType?: TimestampType;
  /** With timestampType LogAppendTime: the batch's max timestamp (default now). */
  logAppendTime?: number | bigint;
  /** Sets the delete-horizon flag and stores this as the base timestamp (compaction). */
  deleteHorizonMs?: number | bigint;
  /** Overrides lastOffsetDelta (default: the last record's offset delta). */
  lastOffsetDelta?: number;
  /** Time used for records without a timestamp (default Date.now()). */
  now?: number;
}

function toMillis(v: number | bigint, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (!Number.isSafeInteger(n) || (typeof v === 'bigint' && BigInt(n) !== v)) {
    throw new RangeError(`${what} must be a safe integer, got ${v}`);
  }
  return n;
}

function bytesLength(v: BytesInput): number {
  if (v === null || v === undefined) return -1;
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
}

function writeBytes(buf: Buffer, pos: number, v: BytesInput, length: number): number {
  pos = writeVarint(buf, pos, length);
  if (length <= 0) return pos;
  if (typeof v === 'string') buf.write(v, pos, length, 'utf8');
  else buf.set(v as Uint8Array, pos);
  return pos + length;
}

/** Zigzag varlong of a number delta (exact for |v| < 2^51, checked by the caller). */
function writeVarlongNumber(buf: Buffer, pos: number, v: number): number {
  return writeUvarint(buf, pos, v >= 0 ? v * 2 : -v * 2 - 1);
}

// Per-record sizes from the measuring pass, reused between builds (grown as needed).
let scratch = new Float64Array(4 * 256);

interface Plan {
  /** Bytes of the records section, uncompressed. */
  recordsSize: number;
  baseTimestamp: number;
  maxTimestamp: number;
  lastOffsetDelta: number;
  attributes: number;
}

/** Measuring pass: stores per record [bodySize, keyLength, valueLength, timestampDelta] in scratch. */
function plan(o: BuildBatchOptions): Plan {
  const records = o.records;
  const n = records.length;
  if (n === 0 && o.lastOffsetDelta === undefined) throw new RangeError('a record batch needs at least one record');
  if (scratch.length < 4 * n) scratch = new Float64Array(4 * Math.max(n, scratch.length));
  const now = o.now ?? Date.now();
  const firstTs = n > 0 && records[0].timestamp !== undefined ? toMillis(records[0].timestamp, 'timestamp') : now;
  const baseTimestamp = o.deleteHorizonMs !== undefined ? toMillis(o.deleteHorizonMs, 'deleteHorizonMs') : firstTs;
  let maxTimestamp = n > 0 ? firstTs : -1;
  let lastOffsetDelta = -1;
  let recordsSize = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    const ts =
      r.timestamp === undefined
        ? now
        : typeof r.timestamp === 'number'
          ? r.timestamp
          : toMillis(r.timestamp, 'timestamp');
    if (ts > maxTimestamp) maxTimestamp = ts;
    const tsDelta = ts - baseTimestamp;
    if (!(Math.abs(tsDelta) < MAX_VARLONG_NUMBER)) throw new RangeError(`timestamp ${ts} is out of range`);
    const offsetDelta = r.offsetDelta ?? i;
    if (!(offsetDelta > lastOffsetDelta && offsetDelta <= 0x7fffffff && Number.isInteger(offsetDelta))) {
      throw new RangeError(`offset deltas must increase: ${offsetDelta} after ${lastOffsetDelta}`);
    }
    lastOffsetDelta = offsetDelta;
    const keyLength = bytesLength(r.key);
    const valueLength = bytesLength(r.value);
    const size = recordBodySize(tsDelta, offsetDelta, keyLength, valueLength, r.headers, i);
    scratch[4 * i] = size;
    scratch[4 * i + 1] = keyLength;
    scratch[4 * i + 2] = valueLength;
    scratch[4 * i + 3] = tsDelta;
    recordsSize += uvarintBytes(size * 2) + size;
  }
  if (o.lastOffsetDelta !== undefined) {
    if (o.lastOffsetDelta < lastOffsetDelta) throw new RangeError('lastOffsetDelta is below the last record');
    lastOffsetDelta = o.lastOffsetDelta;
  }
  const timestampType = o.timestampType ?? 0;
  if (timestampType === 1)
    maxTimestamp = o.logAppendTime !== undefined ? toMillis(o.logAppendTime, 'logAppendTime') : now;
  const compression = o.compression ?? CompressionType.None;
  let attributes = compression;
  if (timestampType === 1) attributes |= TIMESTAMP_TYPE_MASK;
  if (o.isTransactional) attributes |= TRANSACTIONAL_FLAG_MASK;
  if (o.isControl) attributes |= CONTROL_FLAG_MASK;
  if (o.deleteHorizonMs !== undefined) attributes |= DELETE_HORIZON_FLAG_MASK;
  return { recordsSize, baseTimestamp, maxTimestamp, lastOffsetDelta, attributes };
}

/**
 * A record's encoded size without its length prefix: attributes, timestamp and offset deltas, key,
 * value and headers (lengths -1 for null). Refuses a record over 1 GiB (`index` names it).
 */
function recordBodySize(
  tsDelta: number,
  offsetDelta: number,
  keyLength: number,
  valueLength: number,
  headers: readonly RecordHeaderInput[] | undefined,
  index: number,
): number {
  let size =
    1 +
    uvarintBytes(tsDelta >= 0 ? tsDelta * 2 : -tsDelta * 2 - 1) +
    uvarintBytes(offsetDelta * 2) +
    (keyLength < 0 ? 1 : uvarintBytes(keyLength * 2) + keyLength) +
    (valueLength < 0 ? 1 : uvarintBytes(valueLength * 2) + valueLength);
  const headerCount = headers === undefined ? 0 : headers.length;
  size += uvarintBytes(headerCount * 2);
  for (let h = 0; h < headerCount; h++) {
    const hk = Buffer.byteLength((headers as readonly RecordHeaderInput[])[h].key, 'utf8');
    const hv = bytesLength((headers as readonly RecordHeaderInput[])[h].value);
    size += uvarintBytes(hk * 2) + hk + (hv < 0 ? 1 : uvarintBytes(hv * 2) + hv);
  }
  if (size > 0x3fffffff) throw new RangeError(`record ${index} is too large (${size} bytes)`);
  return size;
}

/** Writing pass: the records, straight into `buf` from `pos`. Returns the end position. */
function writeRecords(o: BuildBatchOptions, buf: Buffer, pos: number): number {
  const records = o.records;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    pos = writeVarint(buf, pos, scratch[4 * i]);
    buf[pos++] = 0; // record attributes
    pos = writeVarlongNumber(buf, pos, scratch[4 * i + 3]);
    pos = writeVarint(buf, pos, r.offsetDelta ?? i);
    pos = writeBytes(buf, pos, r.key, scratch[4 * i + 1]);
    pos = writeBytes(buf, pos, r.value, scratch[4 * i + 2]);
    const headers = r.headers;
    const headerCount = headers === undefined ? 0 : headers.length;
    pos = writeVarint(buf, pos, headerCount);
    for (let h = 0; h < headerCount; h++) {
      const header = (headers as readonly RecordHeaderInput[])[h];
      pos = writeBytes(buf, pos, header.key, Buffer.byteLength(header.key, 'utf8'));
      pos = writeBytes(buf, pos, header.value, bytesLength(header.value));
    }
  }
  return pos;
}

type HeaderOptions = Pick<
  BuildBatchOptions,
  'baseOffset' | 'partitionLeaderEpoch' | 'producerId' | 'producerEpoch' | 'baseSequence'
>;

function writeHeader(o: HeaderOptions, p: Plan, buf: Buffer, count: number): void {
  buf.writeBigInt64BE(o.baseOffset ?? 0n, BASE_OFFSET_OFFSET);
  buf.writeInt32BE(buf.length - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  buf.writeInt32BE(o.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH, PARTITION_LEADER_EPOCH_OFFSET);
  buf[MAGIC_OFFSET] = 2;
  buf.writeInt16BE(p.attributes, ATTRIBUTES_OFFSET);
  buf.writeInt32BE(p.lastOffsetDelta, LAST_OFFSET_DELTA_OFFSET);
  buf.writeBigInt64BE(BigInt(p.baseTimestamp), BASE_TIMESTAMP_OFFSET);
  buf.writeBigInt64BE(BigInt(p.maxTimestamp), MAX_TIMESTAMP_OFFSET);
  buf.writeBigInt64BE(o.producerId ?? NO_PRODUCER_ID, PRODUCER_ID_OFFSET);
  buf.writeInt16BE(o.producerEpoch ?? NO_PRODUCER_EPOCH, PRODUCER_EPOCH_OFFSET);
  buf.writeInt32BE(o.baseSequence ?? NO_SEQUENCE, BASE_SEQUENCE_OFFSET);
  buf.writeInt32BE(count, RECORDS_COUNT_OFFSET);
  buf.writeUInt32BE(crc32c(buf.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
}

/** The batch of `count` records whose records section is `compressed`: header, then that section. */
function withCompressed(o: HeaderOptions, p: Plan, compressed: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + compressed.length);
  compressed.copy(out, RECORD_BATCH_OVERHEAD);
  writeHeader(o, p, out, count);
  return out;
}

/** The uncompressed records section alone (what a codec compresses). */
function recordsSection(o: BuildBatchOptions, p: Plan): Buffer {
  const raw = Buffer.allocUnsafe(p.recordsSize);
  const end = writeRecords(o, raw, 0);
  if (end !== p.recordsSize) throw new Error(`record batch builder: wrote ${end} bytes, planned ${p.recordsSize}`);
  return raw;
}

/**
 * Builds a RecordBatch (magic 2) synchronously: for no compression, gzip, snappy and lz4. Sizes
 * are computed first, then the records are written straight into one buffer.
 */
export function buildRecordBatchSync(o: BuildBatchOptions): Buffer {
  const compression = o.compression ?? CompressionType.None;
  if (!hasSyncCodec(compression)) {
    throw new KafkaError(
      ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE,
      `compression ${compression} has no sync encoder; use buildRecordBatch()`,
    );
  }
  const p = plan(o);
  if (compression === CompressionType.None) {
    const out = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + p.recordsSize);
    const end = writeRecords(o, out, RECORD_BATCH_OVERHEAD);
    if (end !== out.length) throw new Error(`record batch builder: wrote ${end} bytes, planned ${out.length}`);
    writeHeader(o, p, out, o.records.length);
    return out;
  }
  return withCompressed(o, p, codecFor(compression).compressSync!(recordsSection(o, p)), o.records.length);
}

/**
 * Builds a RecordBatch with any codec. gzip, lz4 and zstd compress on the libuv thread pool,
 * so a large batch does not hold up the event loop.
 */
export async function buildRecordBatch(o: BuildBatchOptions): Promise<Buffer> {
  const compression = o.compression ?? CompressionType.None;
  if (compression === CompressionType.None || compression === CompressionType.Snappy) return buildRecordBatchSync(o);
  const codec = codecFor(compression);
  const p = plan(o);
  const raw = recordsSection(o, p);
  return withCompressed(o, p, await codec.compress(raw), o.records.length);
}

/** Where a RecordBatchWriter starts: room for this many bytes at most unless a record needs more. */
const MAX_INITIAL_WRITER_BYTES = RECORD_BATCH_OVERHEAD + 1_048_576;

export interface FinishBatchOptions {
  compression?: CompressionType;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  isTransactional?: boolean;
}

/**
 * Builds a RecordBatch (magic 2) one record at a time: each record is encoded into one buffer as it
 * is appended (offset delta = its index, timestamps relative to the first record's), so a producer
 * keeps no record objects until the batch closes and copies each key and value once. finish() writes
 * the header and the CRC (or compresses the records section first). The buffer grows (doubling) when
 * a record does not fit.
 */
export class RecordBatchWriter {
  private buf: Buffer;
  private pos = RECORD_BATCH_OVERHEAD;
  /** Records appended. */
  count = 0;
  private baseTimestamp = 0;
  private maxTimestamp = -1;

  /**
   * `capacity`: bytes of records expected (the buffer starts with room for them, up to 1 MiB); or
   * `buffer`, a buffer to write into (of at least RECORD_BATCH_OVERHEAD + 64 bytes; its contents are overwritten).
   */
  constructor(capacity: number, buffer?: Buffer) {
    if (buffer !== undefined && buffer.length < RECORD_BATCH_OVERHEAD + 64)
      throw new RangeError(`a record batch writer needs a buffer of at least ${RECORD_BATCH_OVERHEAD + 64} bytes`);
    this.buf =
      buffer ?? Buffer.allocUnsafe(Math.min(RECORD_BATCH_OVERHEAD + Math.max(64, capacity), MAX_INITIAL_WRITER_BYTES));
  }

  /** Bytes of the batch so far (header included, uncompressed). */
  get sizeInBytes(): number {
    return this.pos;
  }

  /**
   * Encodes a record at the end of the batch; returns the bytes it took. A RangeError (timestamp not a
   * safe integer or too far from the first record's, a record over 1 GiB) leaves the batch as it was.
   */
  append(
    key: BytesInput,
    value: BytesInput,
    headers: readonly RecordHeaderInput[] | undefined,
    timestamp: number | bigint,
  ): number {
    const ts = toMillis(timestamp, 'timestamp');
    const first = this.count === 0;
    const base = first ? ts : this.baseTimestamp;
    const tsDelta = ts - base;
    if (!(Math.abs(tsDelta) < MAX_VARLONG_NUMBER)) throw new RangeError(`timestamp ${ts} is out of range`);
    const offsetDelta = this.count;
    const keyLength = bytesLength(key);
    const valueLength = bytesLength(value);
    const size = recordBodySize(tsDelta, offsetDelta, keyLength, valueLength, headers, offsetDelta);
    const headerCount = headers === undefined ? 0 : headers.length;
    const total = uvarintBytes(size * 2) + size;
    if (this.pos + total > this.buf.length) this.grow(this.pos + total);
    const buf = this.buf;
    let pos = writeUvarint(buf, this.pos, size * 2);
    buf[pos++] = 0; // record attributes
    // One-byte varints written in place (the usual timestamp delta, key and header count).
    if (tsDelta >= 0 && tsDelta < 64) buf[pos++] = tsDelta * 2;
    else pos = writeVarlongNumber(buf, pos, tsDelta);
    pos = writeUvarint(buf, pos, offsetDelta * 2);
    if (keyLength < 0) buf[pos++] = 1;
    else pos = writeBytes(buf, pos, key, keyLength);
    if (valueLength >= 0 && typeof value !== 'string') {
      pos = writeUvarint(buf, pos, valueLength * 2);
      buf.set(value as Uint8Array, pos);
      pos += valueLength;
    } else {
      pos = writeBytes(buf, pos, value, valueLength);
    }
    if (headerCount === 0) buf[pos++] = 0;
    else pos = writeVarint(buf, pos, headerCount);
    for (let h = 0; h < headerCount; h++) {
      const header = (headers as readonly RecordHeaderInput[])[h];
      pos = writeBytes(buf, pos, header.key, Buffer.byteLength(header.key, 'utf8'));
      pos = writeBytes(buf, pos, header.value, bytesLength(header.value));
    }
    if (pos !== this.pos + total)
      throw new Error(`record batch writer: wrote ${pos - this.pos} bytes, planned ${total}`);
    this.pos = pos;
    if (first) this.baseTimestamp = ts;
    if (first || ts > this.maxTimestamp) this.maxTimestamp = ts;
    this.count++;
    return total;
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(needed, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private plan(o: FinishBatchOptions): Plan {
    if (this.count === 0) throw new RangeError('a record batch needs at least one record');
    let attributes = o.compression ?? CompressionType.None;
    if (o.isTransactional) attributes |= TRANSACTIONAL_FLAG_MASK;
    return {
      recordsSize: this.pos - RECORD_BATCH_OVERHEAD,
      baseTimestamp: this.baseTimestamp,
      maxTimestamp: this.maxTimestamp,
      lastOffsetDelta: this.count - 1,
      attributes,
    };
  }

  /**
   * The finished batch, compressed synchronously where the codec has to (none, gzip, snappy, lz4; not
   * zstd). Uncompressed, it is the writer's buffer (copied to its size when less than half of it is used).
   */
  finish(o: FinishBatchOptions = {}): Buffer {
    const compression = o.compression ?? CompressionType.None;
    const p = this.plan(o);
    if (compression !== CompressionType.None) {
      if (!hasSyncCodec(compression)) {
        throw new KafkaError(
          ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE,
          `compression ${compression} has no sync encoder; use finishAsync()`,
        );
      }
      return withCompressed(o, p, codecFor(compression).compressSync!(this.recordsSection()), this.count);
    }
    const out =
      this.pos * 2 < this.buf.length ? Buffer.from(this.buf.subarray(0, this.pos)) : this.buf.subarray(0, this.pos);
    this.buf = out;
    writeHeader(o, p, out, this.count);
    return out;
  }

  /** As finish(), with gzip, lz4 and zstd compressing on the libuv thread pool. */
  async finishAsync(o: FinishBatchOptions = {}): Promise<Buffer> {
    const compression = o.compression ?? CompressionType.None;
    if (compression === CompressionType.None || compression === CompressionType.Snappy) return this.finish(o);
    const p = this.plan(o);
    return withCompressed(o, p, await codecFor(compression).compress(this.recordsSection()), this.count);
  }

  private recordsSection(): Buffer {
    return this.buf.subarray(RECORD_BATCH_OVERHEAD, this.pos);
  }
}
