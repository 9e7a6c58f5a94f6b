// Builds valid uncompressed RecordBatch v2 buffers for tests and benchmarks.
import {
  ATTRIBUTES_OFFSET,
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
} from './batch.js';
import { crc32c } from './crc.js';
import type { PartitionLog } from './partition-log.js';

export interface TestRecord {
  key?: Buffer | null;
  value: Buffer | null;
  timestampDelta?: number;
}

function varint(n: number, out: number[]): void {
  let z = (n << 1) ^ (n >> 31);
  z >>>= 0;
  while (z >= 0x80) {
    out.push((z & 0x7f) | 0x80);
    z >>>= 7;
  }
  out.push(z);
}

function encodeRecord(r: TestRecord, offsetDelta: number): Buffer {
  const head: number[] = [0];
  varint(r.timestampDelta ?? 0, head);
  varint(offsetDelta, head);
  const key = r.key ?? null;
  varint(key === null ? -1 : key.length, head);
  const mid: number[] = [];
  varint(r.value === null ? -1 : r.value.length, mid);
  const tail = [0]; // no headers
  const body = Buffer.concat([
    Buffer.from(head),
    key ?? Buffer.alloc(0),
    Buffer.from(mid),
    r.value ?? Buffer.alloc(0),
    Buffer.from(tail),
  ]);
  const len: number[] = [];
  varint(body.length, len);
  return Buffer.concat([Buffer.from(len), body]);
}

export interface TestBatchOptions {
  baseOffset?: bigint;
  baseTimestamp?: bigint;
  leaderEpoch?: number;
  attributes?: number;
}

/** A valid v2 batch with correct CRC-32C holding `records`. */
export function makeBatch(records: readonly TestRecord[], o: TestBatchOptions = {}): Buffer {
  const body = Buffer.concat(records.map((r, i) => encodeRecord(r, i)));
  const b = Buffer.alloc(RECORD_BATCH_OVERHEAD + body.length);
  const baseTs = o.baseTimestamp ?? 0n;
  let maxDelta = 0;
  for (const r of records) maxDelta = Math.max(maxDelta, r.timestampDelta ?? 0);
  b.writeBigInt64BE(o.baseOffset ?? 0n, 0);
  b.writeInt32BE(b.length - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  b.writeInt32BE(o.leaderEpoch ?? -1, PARTITION_LEADER_EPOCH_OFFSET);
  b.writeInt8(2, MAGIC_OFFSET);
  b.writeInt16BE(o.attributes ?? 0, ATTRIBUTES_OFFSET);
  b.writeInt32BE(Math.max(0, records.length - 1), LAST_OFFSET_DELTA_OFFSET);
  b.writeBigInt64BE(baseTs, BASE_TIMESTAMP_OFFSET);
  b.writeBigInt64BE(baseTs + BigInt(maxDelta), MAX_TIMESTAMP_OFFSET);
  b.writeBigInt64BE(-1n, 43);
  b.writeInt16BE(-1, 51);
  b.writeInt32BE(-1, 53);
  b.writeInt32BE(records.length, RECORDS_COUNT_OFFSET);
  body.copy(b, RECORD_BATCH_OVERHEAD);
  b.writeUInt32BE(crc32c(b.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return b;
}

/** A batch of `count` records whose values are `valueBytes` bytes each (filled with `fill`). */
export function makeValueBatch(count: number, valueBytes: number, fill = 0x61, baseTimestamp = 0n): Buffer {
  const value = Buffer.alloc(valueBytes, fill);
  return makeBatch(
    Array.from({ length: count }, () => ({ value })),
    { baseTimestamp },
  );
}

/** Every batch readable from the log start, concatenated (bounded by `maxReads` reads). */
export function collectBatches(log: PartitionLog, maxReads = 100_000): Buffer {
  const parts: Buffer[] = [];
  let off = log.logStartOffset;
  for (let guard = 0; off < log.logEndOffset && guard < maxReads; guard++) {
    const r = log.read(off, 64 * 1024);
    if (r.records.length === 0) break;
    parts.push(Buffer.from(r.records));
    let at = 0;
    while (at < r.records.length) {
      off = r.records.readBigInt64BE(at) + BigInt(r.records.readInt32BE(at + 23)) + 1n;
      at += r.records.readInt32BE(at + 8) + 12;
    }
  }
  return Buffer.concat(parts);
}
