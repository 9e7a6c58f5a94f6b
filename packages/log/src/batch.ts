// Batch header access by fixed offsets (no allocation) and batch validation.
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
} from '@sluice/protocol';
import { crc32c } from './crc.js';

export {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
};

/** Hard upper bound for one batch on disk; anything larger is treated as corruption. */
export const MAX_BATCH_BYTES = 0x7fffffff - LOG_OVERHEAD;

export const baseOffsetOf = (b: Buffer, at: number): bigint => b.readBigInt64BE(at + BASE_OFFSET_OFFSET);
export const batchSizeOf = (b: Buffer, at: number): number => b.readInt32BE(at + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
export const lastOffsetDeltaOf = (b: Buffer, at: number): number => b.readInt32BE(at + LAST_OFFSET_DELTA_OFFSET);
export const maxTimestampOf = (b: Buffer, at: number): bigint => b.readBigInt64BE(at + MAX_TIMESTAMP_OFFSET);
export const leaderEpochOf = (b: Buffer, at: number): number => b.readInt32BE(at + PARTITION_LEADER_EPOCH_OFFSET);
export const recordsCountOf = (b: Buffer, at: number): number => b.readInt32BE(at + RECORDS_COUNT_OFFSET);
export const attributesOf = (b: Buffer, at: number): number => b.readInt16BE(at + ATTRIBUTES_OFFSET);
export const isControlBatch = (b: Buffer, at: number): boolean =>
  (b.readInt16BE(at + ATTRIBUTES_OFFSET) & CONTROL_FLAG_MASK) !== 0;

/**
 * Checks the batch starting at `at` (with `end` the end of valid input): length bounds, magic 2,
 * last offset delta, and (when `checkCrc`) the CRC-32C. Returns the batch size, or a reason why
 * the bytes are not a valid batch.
 */
export function checkBatch(
  b: Buffer,
  at: number,
  end: number,
  maxBatchBytes: number,
  checkCrc: boolean,
): number | string {
  const left = end - at;
  if (left < RECORD_BATCH_OVERHEAD) return `only ${left} bytes left, a batch header needs ${RECORD_BATCH_OVERHEAD}`;
  const length = b.readInt32BE(at + BATCH_LENGTH_OFFSET);
  const size = length + LOG_OVERHEAD;
  if (length < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) return `batch length ${length} is below the header size`;
  if (size > maxBatchBytes) return `batch size ${size} exceeds the maximum ${maxBatchBytes}`;
  if (size > left) return `batch size ${size} runs past the end (${left} bytes left)`;
  const magic = b.readInt8(at + MAGIC_OFFSET);
  if (magic !== 2) return `magic ${magic} is not 2`;
  const delta = b.readInt32BE(at + LAST_OFFSET_DELTA_OFFSET);
  if (delta < 0) return `last offset delta ${delta} is negative`;
  if (b.readInt32BE(at + RECORDS_COUNT_OFFSET) < 0) return 'negative record count';
  if (checkCrc) {
    const stored = b.readUInt32BE(at + CRC_OFFSET);
    const actual = crc32c(b.subarray(at + ATTRIBUTES_OFFSET, at + size));
    if (stored !== actual) return `CRC-32C mismatch (stored ${stored}, computed ${actual})`;
  }
  return size;
}
