import { type CompressionType, codecFor, hasSyncCodec } from '../compression/index.js';
import { crc32c } from '../crc/index.js';
import { ERROR_CODES } from '../error-codes.js';
import { DecodeError, KafkaError } from '../errors.js';
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODEC_MASK,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  DELETE_HORIZON_FLAG_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  NO_SEQUENCE,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG_MASK,
} from './batch-layout.js';
import { MIN_RECORD_BYTES, RecordIterator } from './record.js';

export const CURRENT_MAGIC = 2;
/** Smallest legal batchLength of a v2 batch (the header after the length field, no records). */
export const MIN_BATCH_LENGTH = RECORD_BATCH_OVERHEAD - LOG_OVERHEAD;
/** Default bound on a batch's decompressed records; pass `maxOutputBytes` to change it. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;
/** Highest compression id Kafka defines (zstd). */
const MAX_COMPRESSION_ID = 4;

export const TimestampType = { CreateTime: 0, LogAppendTime: 1 } as const;
export type TimestampType = (typeof TimestampType)[keyof typeof TimestampType];

function corrupt(what: string, offset: number, code: number = ERROR_CODES.CORRUPT_MESSAGE): DecodeError {
  return new DecodeError(what, offset, code);
}

/** Kafka's sequence arithmetic: sequences wrap from 2^31-1 to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > 0x7fffffff - increment) return increment - (0x7fffffff - sequence) - 1;
  return sequence + increment;
}

export interface ValidateOptions {
  /**
   * Produce-side check, as Kafka's log validator does for client batches: at least one record
   * and lastOffsetDelta + 1 === recordCount. Batches read back from a compacted log may have
   * gaps (and even no records), so this is off by default.
   */
  requireContiguousOffsets?: boolean;
}

export interface DecompressOptions {
  /** Refuse batches whose records decompress to more than this (default 64 MiB). */
  maxOutputBytes?: number;
}

/**
 * A RecordBatch (magic 2) as a zero-copy view over its bytes. Header fields are read in place
 * on each access; the broker's patches (base offset, partition leader epoch, LogAppendTime) are
 * written in place. Records are decoded lazily. Positions in errors are relative to the start
 * of the batch (or of the decompressed records, which the message says).
 *
 * The constructor checks only that the whole batch is present (so every getter is in bounds);
 * call `validate()` before trusting the content.
 */
export class RecordBatch {
  /** Exactly the batch's bytes (a view, not a copy). */
  readonly buffer: Buffer;

  constructor(buffer: Buffer, offset = 0) {
    const left = buffer.length - offset;
    if (offset < 0 || left < RECORD_BATCH_OVERHEAD) {
      throw corrupt(`record batch: needs ${RECORD_BATCH_OVERHEAD} header bytes, ${Math.max(0, left)} left`, offset);
    }
    const batchLength = buffer.readInt32BE(offset + BATCH_LENGTH_OFFSET);
    if (batchLength < MIN_BATCH_LENGTH) {
      throw corrupt(`record batch: batch length ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`, offset + 8);
    }
    if (batchLength > left - LOG_OVERHEAD) {
      throw corrupt(`record batch: batch length ${batchLength} with ${left - LOG_OVERHEAD} bytes left`, offset + 8);
    }
    this.buffer = buffer.subarray(offset, offset + LOG_OVERHEAD + batchLength);
  }

  static from(buffer: Buffer, offset = 0): RecordBatch {
    return new RecordBatch(buffer, offset);
  }

  get baseOffset(): bigint {
    return this.buffer.readBigInt64BE(BASE_OFFSET_OFFSET);
  }
  /** Patched by the log on append; outside the CRC. */
  set baseOffset(value: bigint) {
    this.buffer.writeBigInt64BE(value, BASE_OFFSET_OFFSET);
  }
  get batchLength(): number {
    return this.buffer.readInt32BE(BATCH_LENGTH_OFFSET);
  }
  /** Total bytes of the batch: batchLength plus the 12 bytes of offset and length. */
  get sizeInBytes(): number {
    return this.buffer.length;
  }
  get partitionLeaderEpoch(): number {
    return this.buffer.readInt32BE(PARTITION_LEADER_EPOCH_OFFSET);
  }
  /** Patched by the leader on append; outside the CRC. */
  set partitionLeaderEpoch(value: number) {
    this.buffer.writeInt32BE(value, PARTITION_LEADER_EPOCH_OFFSET);
  }
  get magic(): number {
    return this.buffer.readInt8(MAGIC_OFFSET);
  }
  /** The stored CRC-32C (unsigned). */
  get crc(): number {
    return this.buffer.readUInt32BE(CRC_OFFSET);
  }
  get attributes(): number {
    return this.buffer.readInt16BE(ATTRIBUTES_OFFSET);
  }
  get compression(): CompressionType {
    return (this.buffer[ATTRIBUTES_OFFSET + 1] & COMPRESSION_CODEC_MASK) as CompressionType;
  }
  get timestampType(): TimestampType {
    return (this.buffer[ATTRIBUTES_OFFSET + 1] & TIMESTAMP_TYPE_MASK) !== 0 ? 1 : 0;
  }
  get isTransactional(): boolean {
    return (this.buffer[ATTRIBUTES_OFFSET + 1] & TRANSACTIONAL_FLAG_MASK) !== 0;
  }
  get isControl(): boolean {
    return (this.buffer[ATTRIBUTES_OFFSET + 1] & CONTROL_FLAG_MASK) !== 0;
  }
  get hasDeleteHorizon(): boolean {
    return (this.buffer[ATTRIBUTES_OFFSET + 1] & DELETE_HORIZON_FLAG_MASK) !== 0;
  }
  get lastOffsetDelta(): number {
    return this.buffer.readInt32BE(LAST_OFFSET_DELTA_OFFSET);
  }
  get lastOffset(): bigint {
    return this.baseOffset + BigInt(this.lastOffsetDelta);
  }
  /** The offset after this batch (lastOffset + 1). */
  get nextOffset(): bigint {
    return this.lastOffset + 1n;
  }
  get baseTimestamp(): bigint {
    return this.buffer.readBigInt64BE(BASE_TIMESTAMP_OFFSET);
  }
  /** The delete horizon (compaction), when hasDeleteHorizon is set: it is stored as the base timestamp. */
  get deleteHorizonMs(): bigint | null {
    return this.hasDeleteHorizon ? this.baseTimestamp : null;
  }
  get maxTimestamp(): bigint {
    return this.buffer.readBigInt64BE(MAX_TIMESTAMP_OFFSET);
  }
  get producerId(): bigint {
    return this.buffer.readBigInt64BE(PRODUCER_ID_OFFSET);
  }
  get producerEpoch(): number {
    return this.buffer.readInt16BE(PRODUCER_EPOCH_OFFSET);
  }
  get baseSequence(): number {
    return this.buffer.readInt32BE(BASE_SEQUENCE_OFFSET);
  }
  get lastSequence(): number {
    const base = this.baseSequence;
    return base === NO_SEQUENCE ? NO_SEQUENCE : incrementSequence(base, this.lastOffsetDelta);
  }
  get recordCount(): number {
    return this.buffer.readInt32BE(RECORDS_COUNT_OFFSET);
  }
  /** The records section: records, or the compressed stream of them. */
  get recordsPayload(): Buffer {
    return this.buffer.subarray(RECORD_BATCH_OVERHEAD);
  }

  /** CRC-32C of the bytes the stored CRC covers (attributes to the end). */
  computeCrc(): number {
    return crc32c(this.buffer.subarray(ATTRIBUTES_OFFSET));
  }

  /** Recomputes and stores the CRC (after patching a field inside it). */
  updateCrc(): void {
    this.buffer.writeUInt32BE(this.computeCrc(), CRC_OFFSET);
  }

  /**
   * Sets the timestamp type and max timestamp (the broker does this for LogAppendTime topics)
   * and recomputes the CRC; nothing is written if both already have these values.
   */
  setMaxTimestamp(timestampType: TimestampType, maxTimestamp: bigint): void {
    if (this.timestampType === timestampType && this.maxTimestamp === maxTimestamp) return;
    const low = this.buffer[ATTRIBUTES_OFFSET + 1];
    this.buffer[ATTRIBUTES_OFFSET + 1] = timestampType === 1 ? low | TIMESTAMP_TYPE_MASK : low & ~TIMESTAMP_TYPE_MASK;
    this.buffer.writeBigInt64BE(maxTimestamp, MAX_TIMESTAMP_OFFSET);
    this.updateCrc();
  }

  /**
   * Checks the batch without decoding its records: magic 2, length, CRC-32C, compression id,
   * and that record count and offset range agree. Throws DecodeError (CORRUPT_MESSAGE, or
   * INVALID_RECORD for an inconsistent count) naming the field and its byte.
   */
  validate(options?: ValidateOptions): void {
    const buf = this.buffer;
    const magic = buf.readInt8(MAGIC_OFFSET);
    if (magic !== CURRENT_MAGIC) throw corrupt(`record batch: magic ${magic}, expected 2`, MAGIC_OFFSET);
    const stored = buf.readUInt32BE(CRC_OFFSET);
    const computed = this.computeCrc();
    if (stored !== computed) {
      throw corrupt(
        `record batch: CRC-32C mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`,
        CRC_OFFSET,
      );
    }
    const compression = buf[ATTRIBUTES_OFFSET + 1] & COMPRESSION_CODEC_MASK;
    if (compression > MAX_COMPRESSION_ID) {
      throw corrupt(`record batch: unknown compression type ${compression}`, ATTRIBUTES_OFFSET);
    }
    const count = buf.readInt32BE(RECORDS_COUNT_OFFSET);
    const lastOffsetDelta = buf.readInt32BE(LAST_OFFSET_DELTA_OFFSET);
    if (count < 0) throw corrupt(`record batch: negative record count ${count}`, RECORDS_COUNT_OFFSET);
    if (lastOffsetDelta < 0) {
      throw corrupt(`record batch: negative last offset delta ${lastOffsetDelta}`, LAST_OFFSET_DELTA_OFFSET);
    }
    if (count > lastOffsetDelta + 1) {
      throw corrupt(
        `record batch: ${count} records cannot have offset deltas 0..${lastOffsetDelta}`,
        RECORDS_COUNT_OFFSET,
        ERROR_CODES.INVALID_RECORD,
      );
    }
    const payload = buf.length - RECORD_BATCH_OVERHEAD;
    if (compression === 0 && count * MIN_RECORD_BYTES > payload) {
      throw corrupt(`record batch: ${count} records cannot fit in ${payload} bytes`, RECORDS_COUNT_OFFSET);
    }
    if (options?.requireContiguousOffsets) {
      if (count === 0) throw corrupt('record batch: no records', RECORDS_COUNT_OFFSET, ERROR_CODES.INVALID_RECORD);
      if (lastOffsetDelta + 1 !== count) {
        throw corrupt(
          `record batch: ${count} records but last offset delta ${lastOffsetDelta}`,
          LAST_OFFSET_DELTA_OFFSET,
          ERROR_CODES.INVALID_RECORD,
        );
      }
    }
  }

  /** validate() as a boolean. */
  isValid(options?: ValidateOptions): boolean {
    try {
      this.validate(options);
      return true;
    } catch {
      return false;
    }
  }

  private iterate(payload: Buffer, start: number, positionBase: number, where: string): RecordIterator {
    const logAppendTime = this.timestampType === 1 ? this.maxTimestamp : null;
    return new RecordIterator(
      payload,
      start,
      payload.length,
      this.recordCount,
      this.baseOffset,
      this.baseTimestamp,
      logAppendTime,
      positionBase,
      where,
    );
  }

  /** A compressed batch emptied by compaction may carry no payload at all: nothing to decompress. */
  private get emptyPayload(): boolean {
    return this.buffer.length === RECORD_BATCH_OVERHEAD && this.recordCount === 0;
  }

  private decompressed(payload: Buffer): RecordIterator {
    // Offsets in errors count from the start of the decompressed records.
    return this.iterate(payload, 0, 0, 'decompressed record');
  }

  /**
   * The records, decoded lazily. Works synchronously for uncompressed batches and for the codecs
   * that have a sync decoder (gzip, snappy, lz4); a zstd batch needs `decompressedRecords()`.
   */
  records(options?: DecompressOptions): RecordIterator {
    const compression = this.compression;
    if (compression === 0 || this.emptyPayload) return this.iterate(this.buffer, RECORD_BATCH_OVERHEAD, 0, 'record');
    if (!hasSyncCodec(compression)) {
      if (compression > MAX_COMPRESSION_ID) {
        throw corrupt(`record batch: unknown compression type ${compression}`, ATTRIBUTES_OFFSET);
      }
      throw new KafkaError(
        ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE,
        `${codecFor(compression).name} batches have no sync decoder; use decompressedRecords()`,
      );
    }
    const max = options?.maxOutputBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
    return this.decompressed(codecFor(compression).decompressSync!(this.recordsPayload, max));
  }

  /** The records of any batch, decompressing first (off the main thread for gzip and zstd). */
  async decompressedRecords(options?: DecompressOptions): Promise<RecordIterator> {
    const compression = this.compression;
    if (compression === 0 || this.emptyPayload) return this.iterate(this.buffer, RECORD_BATCH_OVERHEAD, 0, 'record');
    if (compression > MAX_COMPRESSION_ID) {
      throw corrupt(`record batch: unknown compression type ${compression}`, ATTRIBUTES_OFFSET);
    }
    const max = options?.maxOutputBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
    return this.decompressed(await codecFor(compression).decompress(this.recordsPayload, max));
  }
}

/** The header fields of a batch, read without touching its records. */
export interface BatchHeader {
  baseOffset: bigint;
  batchLength: number;
  /** batchLength + 12: bytes the whole batch takes. */
  sizeInBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  compression: CompressionType;
  timestampType: TimestampType;
  isTransactional: boolean;
  isControl: boolean;
  lastOffsetDelta: number;
  lastOffset: bigint;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/**
 * Reads a v2 batch header at `offset` (the log and broker hot path: no records, no view).
 * Checks that the header is present and that the magic is 2; the batch body may be cut short.
 */
export function readBatchHeader(buf: Buffer, offset = 0): BatchHeader {
  if (offset < 0 || buf.length - offset < RECORD_BATCH_OVERHEAD) {
    throw corrupt(
      `record batch: needs ${RECORD_BATCH_OVERHEAD} header bytes, ${Math.max(0, buf.length - offset)} left`,
      offset,
    );
  }
  const magic = buf.readInt8(offset + MAGIC_OFFSET);
  if (magic !== CURRENT_MAGIC) throw corrupt(`record batch: magic ${magic}, expected 2`, offset + MAGIC_OFFSET);
  const batchLength = buf.readInt32BE(offset + BATCH_LENGTH_OFFSET);
  if (batchLength < MIN_BATCH_LENGTH) {
    throw corrupt(`record batch: batch length ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`, offset + 8);
  }
  const attributes = buf.readInt16BE(offset + ATTRIBUTES_OFFSET);
  const baseOffset = buf.readBigInt64BE(offset + BASE_OFFSET_OFFSET);
  const lastOffsetDelta = buf.readInt32BE(offset + LAST_OFFSET_DELTA_OFFSET);
  return {
    baseOffset,
    batchLength,
    sizeInBytes: batchLength + LOG_OVERHEAD,
    partitionLeaderEpoch: buf.readInt32BE(offset + PARTITION_LEADER_EPOCH_OFFSET),
    magic,
    crc: buf.readUInt32BE(offset + CRC_OFFSET),
    attributes,
    compression: (attributes & COMPRESSION_CODEC_MASK) as CompressionType,
    timestampType: (attributes & TIMESTAMP_TYPE_MASK) !== 0 ? 1 : 0,
    isTransactional: (attributes & TRANSACTIONAL_FLAG_MASK) !== 0,
    isControl: (attributes & CONTROL_FLAG_MASK) !== 0,
    lastOffsetDelta,
    lastOffset: baseOffset + BigInt(lastOffsetDelta),
    baseTimestamp: buf.readBigInt64BE(offset + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: buf.readBigInt64BE(offset + MAX_TIMESTAMP_OFFSET),
    producerId: buf.readBigInt64BE(offset + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(offset + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(offset + BASE_SEQUENCE_OFFSET),
    recordCount: buf.readInt32BE(offset + RECORDS_COUNT_OFFSET),
  };
}

/**
 * Size of the entry (batch or legacy message) at `offset`: 12 + its length field, or -1 when
 * fewer than 12 bytes are left. Magic 0, 1 and 2 all start with offset int64 and length int32.
 */
export function entrySizeAt(buf: Buffer, offset: number): number {
  if (buf.length - offset < LOG_OVERHEAD) return -1;
  return LOG_OVERHEAD + buf.readInt32BE(offset + BATCH_LENGTH_OFFSET);
}

export interface IterateBatchesOptions {
  /** Where to start (default 0). */
  offset?: number;
  /** Where to stop (default the end of the buffer). */
  end?: number;
  /** Refuse any batch larger than this many bytes (e.g. message.max.bytes). */
  maxBatchSize?: number;
}

/** Smallest legacy message after its length field: crc, magic, attributes, key and value lengths. */
const MIN_LEGACY_MESSAGE_LENGTH = 14;

/**
 * Walks concatenated v2 batches (a Fetch/Produce `records` field, a log segment), yielding a
 * view of each. A batch cut short at the end (Kafka's fetch responses may end with one) stops
 * the walk without an error: `truncated` then says so and `position` is where it starts. A
 * legacy (magic 0/1) entry is an error here; see decodeRecordSet for mixed input.
 */
export class RecordBatchIterator implements IterableIterator<RecordBatch> {
  /** Where the next batch starts (after the walk: the end of the last whole batch). */
  position: number;
  /** True when the walk stopped at a partial batch. */
  truncated = false;
  private readonly end: number;
  private readonly maxBatchSize: number;

  constructor(
    private readonly buffer: Buffer,
    options?: IterateBatchesOptions,
  ) {
    this.position = options?.offset ?? 0;
    this.end = options?.end ?? buffer.length;
    this.maxBatchSize = options?.maxBatchSize ?? Number.POSITIVE_INFINITY;
    if (this.position < 0 || this.end > buffer.length || this.position > this.end) {
      throw new RangeError(`batch walk bounds [${this.position}, ${this.end}) outside ${buffer.length} bytes`);
    }
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<RecordBatch> {
    const pos = this.position;
    const left = this.end - pos;
    if (left === 0) return { done: true, value: undefined };
    if (left < LOG_OVERHEAD) {
      this.truncated = true;
      return { done: true, value: undefined };
    }
    const length = this.buffer.readInt32BE(pos + BATCH_LENGTH_OFFSET);
    if (length < MIN_LEGACY_MESSAGE_LENGTH) {
      throw corrupt(`record batch: length ${length} is below the minimum`, pos + BATCH_LENGTH_OFFSET);
    }
    if (length + LOG_OVERHEAD > this.maxBatchSize) {
      throw corrupt(
        `record batch: ${length + LOG_OVERHEAD} bytes exceed the limit of ${this.maxBatchSize}`,
        pos + BATCH_LENGTH_OFFSET,
        ERROR_CODES.MESSAGE_TOO_LARGE,
      );
    }
    if (left < LOG_OVERHEAD + length) {
      this.truncated = true;
      return { done: true, value: undefined };
    }
    const magic = this.buffer.readInt8(pos + MAGIC_OFFSET);
    if (magic !== CURRENT_MAGIC) {
      throw corrupt(`record batch: magic ${magic} (legacy message sets need decodeRecordSet)`, pos + MAGIC_OFFSET);
    }
    // Bounds are checked above against `end`, so the view can take the buffer as it is.
    const batch = new RecordBatch(this.buffer, pos);
    this.position = pos + LOG_OVERHEAD + length;
    return { done: false, value: batch };
  }
}

/** Iterates the v2 batches in `buffer`; see RecordBatchIterator. */
export function iterateBatches(buffer: Buffer, options?: IterateBatchesOptions): RecordBatchIterator {
  return new RecordBatchIterator(buffer, options);
}
