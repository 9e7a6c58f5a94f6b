// The compaction work itself — building the key → offset map and writing cleaned segments — as it
// runs inside the cleaner's worker thread (clean-worker.ts), so its allocations (decoded records,
// the map) are collected in the worker's heap and never pause the broker's event loop. It reads
// segment files with plain positional reads and touches nothing of the log but its own output
// directory; the main thread swaps finished segments in (cleaner.ts).
import fs from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  ATTRIBUTES_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  buildRecordBatch,
  COMPRESSION_CODEC_MASK,
  CRC_OFFSET,
  DELETE_HORIZON_FLAG_MASK,
  type KafkaRecord,
  MAX_TIMESTAMP_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
  RecordBatch,
  type RecordInput,
} from '@sluice/protocol';
import { BATCH_LENGTH_OFFSET, LOG_OVERHEAD, MAX_BATCH_BYTES } from './batch.js';
import { DEFAULT_LOG_CONFIG, type LogConfig } from './config.js';
import { crc32c } from './crc.js';
import { fdIo } from './io/fd.js';
import { OFFSET_INDEX_ENTRY_BYTES } from './offset-index.js';
import { LogSegment } from './segment.js';
import { TIME_INDEX_ENTRY_BYTES } from './time-index.js';
import { type AbortedTxnEntry, encodeTxnIndexEntry, readTxnIndex } from './txn-index.js';

/** Bound on distinct keys held in memory per cleaning pass; the pass stops early beyond it. */
export const MAX_OFFSET_MAP_KEYS = 1_000_000;
const INT32_MAX = 0x7fffffff;

/**
 * Record bytes (decoded, looked up, re-encoded) the cleaner handles before it yields to its
 * event loop. In the worker this no longer guards appends; it keeps a cancel message from
 * waiting behind a whole segment. A rebuilt batch is one step, of at most a batch.
 */
export const SLICE_BYTES = 64 * 1024;

/** A cleanable segment as the main thread saw it when the pass started. */
export interface SegmentSnapshot {
  logPath: string;
  /** Its transaction index (aborted transactions whose marker it holds). */
  txnIndexPath: string;
  baseOffset: bigint;
  nextOffset: bigint;
  /** Bytes of the .log file that hold batches; the pass reads no further. */
  size: number;
  indexEntries: number;
  timeIndexEntries: number;
}

/**
 * The last record of a producer the log's owner still tracks (Kafka's lastRecordsOfActiveProducers):
 * the batch holding its last data offset is kept, empty if all its records are cleaned away, so the
 * producer's last sequence and epoch survive cleaning (a retry is still seen as a duplicate after a
 * restart that rebuilds producer state from the log). Without data (the last entry is a marker),
 * its marker of that epoch is kept, for fencing.
 */
export interface LastProducerRecord {
  producerId: bigint;
  /** The last offset of its last data batch; null when its last entry is a transaction marker. */
  lastDataOffset: bigint | null;
  producerEpoch: number;
}

/** Everything a pass needs, structured-clonable (sent to the worker). */
export interface CleanJob {
  segments: SegmentSnapshot[];
  /** The cleaning dir the cleaned segments are written to. */
  work: string;
  /** The log's config without its functions (logger, clock). */
  config: Omit<LogConfig, 'logger' | 'now'>;
  /** Tombstones in batches older than this are dropped. */
  tombstoneHorizonMs: number;
  /** The pass's clock: a marker found removable gets the delete horizon now + delete.retention.ms. */
  nowMs: number;
  /** The active producers' last records (see LastProducerRecord); empty for a log no owner tracks. */
  lastProducerRecords?: LastProducerRecord[];
}

/** Messages from the pass to the main thread, in this order: group*, then done or error. */
export type CleanMessage =
  | {
      type: 'group';
      /** Index in CleanJob.segments of the group's first segment, and how many it has. */
      first: number;
      count: number;
      bytesAfter: number;
      recordsRemoved: number;
    }
  | {
      type: 'done';
      /** Segments covered by the key map (a prefix of the job's); only they were cleaned. */
      mapped: number;
      endOffset: bigint;
      /** The latest delete horizon of a marker the pass kept (null: none kept has one). */
      latestDeleteHorizonMs: bigint | null;
      longestSliceBytes: number;
      /** The thread the pass ran on (worker_threads threadId; 0 is the main thread). */
      threadId: number;
    }
  | { type: 'error'; name: string; message: string };

/** Thrown inside a pass the main thread cancelled (its log was closed, deleted or changed). */
export class CleanCancelled extends Error {
  constructor() {
    super('cleaning cancelled');
    this.name = 'CleanCancelled';
  }
}

/** Counts the record bytes of the current slice and ends it (yields) when it is full. */
class SliceMeter {
  private bytes = 0;
  longest = 0;

  constructor(private readonly isCancelled: () => boolean) {}

  /** Ends the slice first when `next` more bytes would overfill it. */
  async reserve(next: number): Promise<void> {
    if (this.bytes > 0 && this.bytes + next > SLICE_BYTES) await this.yield();
    this.bytes += next;
    if (this.bytes > this.longest) this.longest = this.bytes;
  }

  async yield(): Promise<void> {
    this.bytes = 0;
    await yieldToEventLoop();
    // A cancel message is seen between slices, so a cancelled pass stops within one.
    if (this.isCancelled()) throw new CleanCancelled();
  }
}

/** What a record costs to decode and look up, in bytes (its key, value and a fixed overhead). */
const recordBytes = (r: KafkaRecord): number => (r.key?.length ?? 0) + (r.value?.length ?? 0) + 16;

const keyOf = (k: Buffer): string => k.toString('latin1');

/** Reads every batch of a segment's first `size` bytes with positional reads of its file. */
function* batchesOf(seg: SegmentSnapshot): Generator<Buffer> {
  const fd = fs.openSync(seg.logPath, 'r');
  try {
    const head = Buffer.alloc(LOG_OVERHEAD);
    let pos = 0;
    // Bounded by the segment size: each step moves past one batch.
    while (pos < seg.size) {
      const got = pos + LOG_OVERHEAD <= seg.size ? fs.readSync(fd, head, 0, LOG_OVERHEAD, pos) : 0;
      const size = got === LOG_OVERHEAD ? head.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD : -1;
      if (size < LOG_OVERHEAD || size > MAX_BATCH_BYTES || pos + size > seg.size) {
        throw new Error(`${seg.logPath}: bad batch at byte ${pos} while cleaning`);
      }
      const batch = Buffer.allocUnsafe(size);
      if (fs.readSync(fd, batch, 0, size, pos) !== size) {
        throw new Error(`${seg.logPath}: bad batch at byte ${pos} while cleaning`);
      }
      yield batch;
      pos += size;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function* batchesOfGroup(group: readonly SegmentSnapshot[]): Generator<Buffer> {
  for (const seg of group) yield* batchesOf(seg);
}

/** The records of a batch, decoded lazily, the meter ending slices between them. */
async function* recordsOf(batch: RecordBatch, meter: SliceMeter): AsyncGenerator<KafkaRecord> {
  for (const r of await batch.decompressedRecords()) {
    await meter.reserve(recordBytes(r));
    yield r;
  }
}

function syncFiles(files: readonly string[]): void {
  for (const f of files) {
    const fd = fs.openSync(f, 'r+');
    try {
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * One compaction pass over the job's segments: keeps the latest record per key, drops tombstones
 * older than the horizon and the batches of aborted transactions, keeps offsets (gaps are fine)
 * and control batches. Each group of
 * segments (groupSegmentsBySize) is written as one durable segment into the cleaning dir and
 * reported through `emit`; the next is started once the main thread has swapped it in (`swapped`).
 */
export async function runCleanPass(
  job: CleanJob,
  threadId: number,
  emit: (m: CleanMessage) => void,
  isCancelled: () => boolean = () => false,
  swapped: () => Promise<void> = async () => {},
): Promise<void> {
  const { segments } = job;
  const config: LogConfig = { ...DEFAULT_LOG_CONFIG, ...job.config, io: 'fd' };

  // Pass 1: the latest offset of every key in the cleanable range. As Kafka's cleaner: records of
  // an aborted transaction do not count (and are dropped below), nor do those of a transaction
  // whose marker is not in the range yet (it may still abort: they and what they would shadow stay).
  const latest = new Map<string, bigint>();
  /** Base offsets of the batches of aborted transactions. */
  const aborted = new Set<bigint>();
  /** Transactions seen without their marker yet, by producer id: their batches and keys. */
  const open = new Map<bigint, { bases: bigint[]; keys: [string, bigint][] }>();
  let openKeys = 0;
  const meter = new SliceMeter(isCancelled);
  let endOffset = segments[0].baseOffset;
  let mapped = 0;
  for (const seg of segments) {
    for (const bytes of batchesOf(seg)) {
      const batch = new RecordBatch(bytes);
      if (batch.isControl) {
        const txn = open.get(batch.producerId);
        const commit = await markerIsCommit(batch, meter);
        if (txn === undefined || commit === null) continue;
        open.delete(batch.producerId);
        openKeys -= txn.keys.length;
        if (commit) for (const [k, offset] of txn.keys) latest.set(k, offset);
        else for (const base of txn.bases) aborted.add(base);
        continue;
      }
      const txn =
        batch.isTransactional && batch.producerId >= 0n
          ? (open.get(batch.producerId) ?? { bases: [], keys: [] })
          : null;
      if (txn !== null) {
        open.set(batch.producerId, txn);
        txn.bases.push(batch.baseOffset);
      }
      for await (const r of recordsOf(batch, meter)) {
        if (r.key === null) continue;
        if (txn === null) latest.set(keyOf(r.key), r.offset);
        else {
          txn.keys.push([keyOf(r.key), r.offset]);
          openKeys++;
        }
      }
    }
    mapped++;
    endOffset = seg.nextOffset;
    if (latest.size + openKeys + aborted.size > MAX_OFFSET_MAP_KEYS) break;
  }

  // Pass 2: rewrite each group of mapped segments into one in the cleaning dir.
  const horizon = BigInt(job.tombstoneHorizonMs);
  const now = BigInt(job.nowMs);
  /**
   * Producers with a transactional batch read in this pass since their last marker, with the
   * first one's offset: the data of the transaction that marker ends. Kafka's
   * CleanedTransactionMetadata: a marker is removable only once a pass finds none of its
   * transaction's data (removed by an earlier pass).
   */
  const dataOf = new Map<bigint, bigint>();
  const lastOfProducer = new Map<bigint, LastProducerRecord>();
  for (const r of job.lastProducerRecords ?? []) lastOfProducer.set(r.producerId, r);
  /** Whether the batch holds its producer's last sequence and epoch (kept, empty if need be). */
  const isLastOfProducer = (batch: RecordBatch): boolean => {
    const last = batch.producerId >= 0n ? lastOfProducer.get(batch.producerId) : undefined;
    if (last === undefined) return false;
    return last.lastDataOffset === null
      ? batch.isControl && batch.producerEpoch === last.producerEpoch
      : !batch.isControl && batch.lastOffset === last.lastDataOffset;
  };
  let latestDeleteHorizonMs: bigint | null = null;
  const keptHorizon = (h: bigint) => {
    if (latestDeleteHorizonMs === null || h > latestDeleteHorizonMs) latestDeleteHorizonMs = h;
  };
  let first = 0;
  for (const group of groupSegmentsBySize(segments.slice(0, mapped), config.segmentBytes, config.segmentIndexBytes)) {
    const out = LogSegment.create(fdIo, job.work, group[0].baseOffset, config);
    // The aborted transactions as indexed, by marker offset: kept only while their data is.
    const indexed = new Map<bigint, AbortedTxnEntry>();
    for (const seg of group) for (const e of readTxnIndex(seg.txnIndexPath)) indexed.set(e.lastOffset, e);
    const txnIndex: Buffer[] = [];
    let recordsRemoved = 0;
    for (const bytes of batchesOfGroup(group)) {
      const batch = new RecordBatch(bytes);
      if (batch.isControl) {
        const firstData = dataOf.get(batch.producerId);
        dataOf.delete(batch.producerId);
        const commit = await markerIsCommit(batch, meter);
        if (firstData !== undefined) {
          // Its transaction still has data here: the marker stays, an abort stays indexed.
          if (commit === false) {
            txnIndex.push(
              encodeTxnIndexEntry(
                indexed.get(batch.baseOffset) ?? {
                  producerId: batch.producerId,
                  firstOffset: firstData,
                  lastOffset: batch.baseOffset,
                  lastStableOffset: batch.baseOffset + 1n,
                },
              ),
            );
          }
          out.append(bytes);
        } else if (commit === null) {
          out.append(bytes);
        } else if (batch.deleteHorizonMs === null) {
          // No data left: delete.retention.ms from now on, consumers still reading may see it.
          await meter.reserve(bytes.length);
          const h = now + BigInt(config.deleteRetentionMs);
          out.append(await rebuild(batch, [...(await batch.decompressedRecords())], h));
          keptHorizon(h);
        } else if (batch.deleteHorizonMs > now || isLastOfProducer(batch)) {
          // Past its horizon, the marker still stays while it holds its producer's last epoch.
          out.append(bytes);
          if (batch.deleteHorizonMs > now) keptHorizon(batch.deleteHorizonMs);
        } else {
          recordsRemoved += batch.recordCount;
        }
        continue;
      }
      if (batch.isTransactional && batch.producerId >= 0n && !dataOf.has(batch.producerId))
        dataOf.set(batch.producerId, batch.baseOffset);
      // A batch of an aborted transaction: no read_committed consumer reads it, so it goes.
      if (aborted.has(batch.baseOffset)) {
        recordsRemoved += batch.recordCount;
        if (isLastOfProducer(batch)) out.append(emptyBatchOf(batch));
        continue;
      }
      const kept: KafkaRecord[] = [];
      let keptBytes = 0;
      let count = 0;
      for await (const r of recordsOf(batch, meter)) {
        count++;
        if (r.key !== null) {
          const last = latest.get(keyOf(r.key));
          if (last !== undefined && last > r.offset) continue;
          if (r.value === null && batch.maxTimestamp < horizon) continue;
        }
        kept.push(r);
        keptBytes += recordBytes(r);
      }
      recordsRemoved += count - kept.length;
      if (kept.length === count) out.append(bytes);
      else if (kept.length > 0) {
        await meter.reserve(keptBytes);
        out.append(await rebuild(batch, kept));
      } else if (isLastOfProducer(batch)) out.append(emptyBatchOf(batch));
    }
    if (isCancelled()) {
      out.delete();
      throw new CleanCancelled();
    }
    out.deactivate();
    out.close();
    // Always written, empty or not: the swap puts it in place of the group's old ones.
    const txnIndexPath = out.txnIndexPath;
    fs.writeFileSync(txnIndexPath, Buffer.concat(txnIndex));
    syncFiles([out.log.path, out.index.path, out.timeIndex.path, txnIndexPath]);
    emit({ type: 'group', first, count: group.length, bytesAfter: out.size, recordsRemoved });
    first += group.length;
    // One cleaned segment waits in the cleaning dir at a time: that bounds its disk use, and the
    // main thread's swaps (each with its fsyncs) come one per group instead of in a burst.
    await swapped();
    await meter.yield();
  }
  emit({ type: 'done', mapped, endOffset, latestDeleteHorizonMs, longestSliceBytes: meter.longest, threadId });
}

/** Whether a control batch is a commit marker (false: an abort; null: another control record). */
async function markerIsCommit(batch: RecordBatch, meter: SliceMeter): Promise<boolean | null> {
  for await (const r of recordsOf(batch, meter)) {
    // The control record key: int16 version, int16 type (0 abort, 1 commit).
    if (r.key === null || r.key.length < 4) return null;
    const type = (r.key[2] << 8) | r.key[3];
    return type === 1 ? true : type === 0 ? false : null;
  }
  return null;
}

/**
 * The batch's header without its records, as Kafka's cleaner writes a batch it retains empty
 * (DefaultRecordBatch.writeEmptyHeader): same offsets, producer id, epoch, base sequence, leader
 * epoch and flags, no compression, the max timestamp as both timestamps, zero records.
 */
function emptyBatchOf(batch: RecordBatch): Buffer {
  const out = Buffer.alloc(RECORD_BATCH_OVERHEAD);
  batch.buffer.copy(out, 0, 0, RECORD_BATCH_OVERHEAD);
  out.writeInt32BE(RECORD_BATCH_OVERHEAD - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  const attributes = out.readInt16BE(ATTRIBUTES_OFFSET) & ~(COMPRESSION_CODEC_MASK | DELETE_HORIZON_FLAG_MASK);
  out.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  out.writeBigInt64BE(batch.maxTimestamp, BASE_TIMESTAMP_OFFSET);
  out.writeBigInt64BE(batch.maxTimestamp, MAX_TIMESTAMP_OFFSET);
  out.writeInt32BE(0, RECORDS_COUNT_OFFSET);
  out.writeUInt32BE(crc32c(out.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return out;
}

/** The same batch (offsets, producer fields, codec, control flag) holding only `kept`, with a delete horizon if given. */
function rebuild(batch: RecordBatch, kept: KafkaRecord[], deleteHorizonMs?: bigint): Promise<Buffer> {
  const records: RecordInput[] = kept.map((r) => ({
    key: r.key,
    value: r.value,
    headers: r.headers,
    timestamp: r.timestamp,
    offsetDelta: r.offsetDelta,
  }));
  return buildRecordBatch({
    records,
    baseOffset: batch.baseOffset,
    compression: batch.compression,
    producerId: batch.producerId,
    producerEpoch: batch.producerEpoch,
    baseSequence: batch.baseSequence,
    isTransactional: batch.isTransactional,
    isControl: batch.isControl,
    deleteHorizonMs: deleteHorizonMs ?? batch.deleteHorizonMs ?? undefined,
    partitionLeaderEpoch: batch.partitionLeaderEpoch,
    timestampType: batch.timestampType,
    logAppendTime: batch.timestampType === 1 ? batch.maxTimestamp : undefined,
    lastOffsetDelta: batch.lastOffsetDelta,
  });
}

/** What grouping needs of a segment (a LogSegment or a snapshot of one). */
export interface GroupableSegment {
  readonly baseOffset: bigint;
  readonly nextOffset: bigint;
  readonly size: number;
}

const indexEntriesOf = (s: GroupableSegment): [offsets: number, times: number] =>
  'indexEntries' in s
    ? [(s as SegmentSnapshot).indexEntries, (s as SegmentSnapshot).timeIndexEntries]
    : [(s as LogSegment).index.entries, (s as LogSegment).timeIndex.entries];

/**
 * Kafka's groupSegmentsBySize: consecutive segments are cleaned into one while their bytes fit in
 * segment.bytes, their index entries in segment.index.bytes, and their offsets in an int32 from
 * the group's base offset. Cleaned segments shrink, so the next pass merges them.
 */
export function groupSegmentsBySize<S extends GroupableSegment>(
  segments: readonly S[],
  maxBytes: number,
  maxIndexBytes: number,
): S[][] {
  const groups: S[][] = [];
  let i = 0;
  // Bounded: every round of either loop takes one segment.
  while (i < segments.length) {
    const group = [segments[i]];
    let bytes = segments[i].size;
    const [entries, timeEntries] = indexEntriesOf(segments[i]);
    let indexBytes = entries * OFFSET_INDEX_ENTRY_BYTES;
    let timeIndexBytes = timeEntries * TIME_INDEX_ENTRY_BYTES;
    i++;
    while (i < segments.length) {
      const next = segments[i];
      const [nextEntries, nextTimeEntries] = indexEntriesOf(next);
      if (
        bytes + next.size > maxBytes ||
        indexBytes + nextEntries * OFFSET_INDEX_ENTRY_BYTES > maxIndexBytes ||
        timeIndexBytes + nextTimeEntries * TIME_INDEX_ENTRY_BYTES > maxIndexBytes ||
        next.nextOffset - 1n - group[0].baseOffset > BigInt(INT32_MAX)
      ) {
        break;
      }
      group.push(next);
      bytes += next.size;
      indexBytes += nextEntries * OFFSET_INDEX_ENTRY_BYTES;
      timeIndexBytes += nextTimeEntries * TIME_INDEX_ENTRY_BYTES;
      i++;
    }
    groups.push(group);
  }
  return groups;
}
