import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { buildRecordBatch, type KafkaRecord, RecordBatch, type RecordInput } from '@sluice/protocol';
import { BATCH_LENGTH_OFFSET, LOG_OVERHEAD, MAX_BATCH_BYTES } from './batch.js';
import { syncDir, writeFileAtomic } from './checkpoint.js';
import { LogStorageError } from './errors.js';
import { OFFSET_INDEX_ENTRY_BYTES } from './offset-index.js';
import type { PartitionLog } from './partition-log.js';
import { segmentLargestTimestampMs } from './retention.js';
import { LogSegment, segmentFileName } from './segment.js';
import { TIME_INDEX_ENTRY_BYTES } from './time-index.js';

/** Bound on distinct keys held in memory per cleaning pass; the pass stops early beyond it. */
export const MAX_OFFSET_MAP_KEYS = 1_000_000;
/** Where a cleaning pass writes segments before swapping them in. */
export const CLEANING_DIR_SUFFIX = '.cleaning';
/** In the cleaning dir: the segments a cleaned one replaces, written once it is durable (see completeSwap). */
export const SWAP_MARKER = 'swap.json';
const INT32_MAX = 0x7fffffff;
const SEGMENT_SUFFIXES = ['.log', '.index', '.timeindex'] as const;

export interface CleanResult {
  segmentsCleaned: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
  /** Most record bytes handled between two yields to the event loop (see SLICE_BYTES). */
  longestSliceBytes: number;
}

/**
 * Record bytes (decoded, looked up, re-encoded) the cleaner handles before it yields to the event
 * loop, so one slice of its work stays well under a millisecond and appends never queue behind
 * it. A batch is cut into slices as its records are decoded; a rebuilt batch (the kept records of
 * one that lost some) is one step, of at most a batch.
 */
export const SLICE_BYTES = 64 * 1024;

/** Counts the record bytes of the current slice and ends it (yields) when it is full. */
class SliceMeter {
  private bytes = 0;
  longest = 0;

  /** Ends the slice first when `next` more bytes would overfill it. */
  async reserve(next: number): Promise<void> {
    if (this.bytes > 0 && this.bytes + next > SLICE_BYTES) await this.yield();
    this.bytes += next;
    if (this.bytes > this.longest) this.longest = this.bytes;
  }

  async yield(): Promise<void> {
    this.bytes = 0;
    await yieldToEventLoop();
  }
}

/** What a record costs to decode and look up, in bytes (its key, value and a fixed overhead). */
const recordBytes = (r: KafkaRecord): number => (r.key?.length ?? 0) + (r.value?.length ?? 0) + 16;

const keyOf = (k: Buffer): string => k.toString('latin1');

/** Non-active segments old enough for min.compaction.lag.ms, oldest first. */
function cleanableSegments(log: PartitionLog, nowMs: number): LogSegment[] {
  const segs = log.segmentList();
  const out: LogSegment[] = [];
  for (let i = 0; i < segs.length - 1; i++) {
    if (nowMs - segmentLargestTimestampMs(segs[i]) < log.config.minCompactionLagMs) break;
    out.push(segs[i]);
  }
  return out;
}

/** Dirty bytes over cleanable bytes, as min.cleanable.dirty.ratio compares it. */
export function dirtyRatio(log: PartitionLog, nowMs = log.config.now()): number {
  let total = 0;
  let dirty = 0;
  for (const s of cleanableSegments(log, nowMs)) {
    total += s.size;
    if (s.nextOffset > log.cleanerCheckpoint) dirty += s.size;
  }
  return total === 0 ? 0 : dirty / total;
}

/** Reads every batch of a segment, yielding to the event loop between chunks of work. */
function* batchesOf(seg: LogSegment): Generator<Buffer> {
  let pos = 0;
  // Bounded by the segment size: each step moves past one batch.
  while (pos < seg.size) {
    const head = seg.log.read(pos, LOG_OVERHEAD);
    const size = head.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
    if (size < LOG_OVERHEAD || size > MAX_BATCH_BYTES || pos + size > seg.size) {
      throw new Error(`${seg.fileName}: bad batch at byte ${pos} while cleaning`);
    }
    // A copy: the cleaner must not hold views of a file it is about to replace.
    yield Buffer.from(seg.log.read(pos, size));
    pos += size;
  }
}

function* batchesOfGroup(group: readonly LogSegment[]): Generator<Buffer> {
  for (const seg of group) yield* batchesOf(seg);
}

/** The records of a batch, decoded lazily, the meter ending slices between them. */
async function* recordsOf(batch: RecordBatch, meter: SliceMeter): AsyncGenerator<KafkaRecord> {
  for (const r of await batch.decompressedRecords()) {
    await meter.reserve(recordBytes(r));
    yield r;
  }
}

/**
 * fsyncs files off the event loop (the thread pool's fdatasync): a cleaned segment can be as big
 * as segment.bytes, and a synchronous fsync of it stalled every append for its duration.
 */
async function syncFiles(files: readonly string[]): Promise<void> {
  for (const f of files) {
    const h = await fs.promises.open(f, 'r+');
    try {
      await h.datasync();
    } finally {
      await h.close();
    }
  }
}

/**
 * One compaction pass over a log with cleanup.policy compact (or compact,delete): keeps the
 * latest record per key in the non-active segments, drops tombstones older than
 * delete.retention.ms, keeps offsets (gaps are fine) and control batches. Runs in slices of at
 * most SLICE_BYTES of records, yielding to the event loop between them, and fsyncs off the event
 * loop, so appends never wait long behind it. Returns null when
 * the log is not due (policy, dirty ratio).
 */
export async function cleanLog(log: PartitionLog, nowMs = log.config.now()): Promise<CleanResult | null> {
  const c = log.config;
  if (c.cleanupPolicy === 'delete') return null;
  const segments = cleanableSegments(log, nowMs);
  if (segments.length === 0 || dirtyRatio(log, nowMs) < c.minCleanableDirtyRatio) return null;

  // Pass 1: the latest offset of every key in the cleanable range.
  const latest = new Map<string, bigint>();
  const meter = new SliceMeter();
  let endOffset = segments[0].baseOffset;
  let mapped = 0;
  for (const seg of segments) {
    for (const bytes of batchesOf(seg)) {
      const batch = new RecordBatch(bytes);
      if (batch.isControl) continue;
      for await (const r of recordsOf(batch, meter)) {
        if (r.key !== null) latest.set(keyOf(r.key), r.offset);
      }
    }
    mapped++;
    endOffset = seg.nextOffset;
    if (latest.size > MAX_OFFSET_MAP_KEYS) break;
  }

  // Pass 2: rewrite each group of mapped segments into one beside the log, then swap it in.
  const work = `${log.dir}${CLEANING_DIR_SUFFIX}`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work);
  const result: CleanResult = {
    segmentsCleaned: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    recordsRemoved: 0,
    longestSliceBytes: 0,
  };
  const tombstoneHorizon = nowMs - c.deleteRetentionMs;
  try {
    for (const group of groupSegmentsBySize(segments.slice(0, mapped), c.segmentBytes, c.segmentIndexBytes)) {
      const sizesAtStart = group.map((seg) => seg.size);
      const out = LogSegment.create(log.io, work, group[0].baseOffset, c);
      for (const bytes of batchesOfGroup(group)) {
        const batch = new RecordBatch(bytes);
        if (batch.isControl) {
          out.append(bytes);
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
            if (r.value === null && batch.maxTimestamp < BigInt(tombstoneHorizon)) continue;
          }
          kept.push(r);
          keptBytes += recordBytes(r);
        }
        result.recordsRemoved += count - kept.length;
        if (kept.length === count) out.append(bytes);
        else if (kept.length > 0) {
          await meter.reserve(keptBytes);
          out.append(await rebuild(batch, kept));
        }
      }
      // The log may have changed while we worked (truncation, retention): then leave it be.
      const current = log.segmentList();
      if (
        log.isClosed ||
        group.some((seg, i) => !current.includes(seg) || seg.isActive || seg.size !== sizesAtStart[i])
      ) {
        out.delete();
        break;
      }
      out.deactivate();
      out.close();
      await syncFiles([out.log.path, out.index.path, out.timeIndex.path]);
      await meter.yield();
      // Checked again: the log may have changed during the fsync.
      if (log.isClosed || group.some((seg, i) => !log.segmentList().includes(seg) || seg.size !== sizesAtStart[i])) {
        out.delete();
        break;
      }
      result.bytesBefore += sizesAtStart.reduce((a, b) => a + b, 0);
      result.bytesAfter += out.size;
      log.swapInCleaned(group, work);
      result.segmentsCleaned += group.length;
    }
    if (result.segmentsCleaned === mapped) log.cleanerCheckpoint = endOffset;
    result.longestSliceBytes = meter.longest;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return result;
}

/** The same batch (offsets, producer fields, codec) holding only `kept`. */
function rebuild(batch: RecordBatch, kept: KafkaRecord[]): Promise<Buffer> {
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
    partitionLeaderEpoch: batch.partitionLeaderEpoch,
    timestampType: batch.timestampType,
    logAppendTime: batch.timestampType === 1 ? batch.maxTimestamp : undefined,
    lastOffsetDelta: batch.lastOffsetDelta,
  });
}

/**
 * Kafka's groupSegmentsBySize: consecutive segments are cleaned into one while their bytes fit in
 * segment.bytes, their index entries in segment.index.bytes, and their offsets in an int32 from
 * the group's base offset. Cleaned segments shrink, so the next pass merges them.
 */
export function groupSegmentsBySize(
  segments: readonly LogSegment[],
  maxBytes: number,
  maxIndexBytes: number,
): LogSegment[][] {
  const groups: LogSegment[][] = [];
  let i = 0;
  // Bounded: every round of either loop takes one segment.
  while (i < segments.length) {
    const group = [segments[i]];
    let bytes = segments[i].size;
    let indexBytes = segments[i].index.entries * OFFSET_INDEX_ENTRY_BYTES;
    let timeIndexBytes = segments[i].timeIndex.entries * TIME_INDEX_ENTRY_BYTES;
    i++;
    while (i < segments.length) {
      const next = segments[i];
      if (
        bytes + next.size > maxBytes ||
        indexBytes + next.index.entries * OFFSET_INDEX_ENTRY_BYTES > maxIndexBytes ||
        timeIndexBytes + next.timeIndex.entries * TIME_INDEX_ENTRY_BYTES > maxIndexBytes ||
        next.nextOffset - 1n - group[0].baseOffset > BigInt(INT32_MAX)
      ) {
        break;
      }
      group.push(next);
      bytes += next.size;
      indexBytes += next.index.entries * OFFSET_INDEX_ENTRY_BYTES;
      timeIndexBytes += next.timeIndex.entries * TIME_INDEX_ENTRY_BYTES;
      i++;
    }
    groups.push(group);
  }
  return groups;
}

interface SwapPlan {
  /** Base offsets of the segments replaced, oldest first; the cleaned one takes the first's name. */
  bases: string[];
  /** The cleaned segment is empty and not the log's first: the group goes without replacement. */
  drop: boolean;
}

/**
 * Replaces a group of segments in `dir` with the cleaned segment in `work` (named after the
 * group's first). The plan is written to the cleaning dir first, once the cleaned files are
 * durable; every step after it can be done again, so a crash part-way is finished by the next
 * open (removeStaleCleaningDir) and the log never holds two segments for the same offsets.
 */
export function swapCleanedFiles(dir: string, work: string, bases: readonly bigint[], drop: boolean): void {
  const plan: SwapPlan = { bases: bases.map(String), drop };
  writeFileAtomic(path.join(work, SWAP_MARKER), JSON.stringify(plan));
  completeSwap(dir, work);
}

/** Carries out a written swap plan, if any; returns whether there was one. */
function completeSwap(dir: string, work: string): boolean {
  const marker = path.join(work, SWAP_MARKER);
  if (!fs.existsSync(marker)) return false;
  let plan: SwapPlan;
  try {
    plan = JSON.parse(fs.readFileSync(marker, 'utf8')) as SwapPlan;
    if (!Array.isArray(plan.bases) || plan.bases.length === 0 || !plan.bases.every((b) => /^\d{1,20}$/.test(b))) {
      throw new Error('no base offsets');
    }
  } catch (e) {
    throw new LogStorageError(marker, 0, `unreadable compaction swap plan: ${(e as Error).message}`);
  }
  const bases = plan.bases.map((b) => BigInt(b));
  // The group's later segments go first: until the cleaned one is in place, the first still holds its own records.
  for (const base of plan.drop ? bases : bases.slice(1)) {
    for (const suffix of SEGMENT_SUFFIXES) fs.rmSync(path.join(dir, segmentFileName(base, suffix)), { force: true });
  }
  if (!plan.drop) {
    // The log last: an index renamed over the old log's is rebuilt if a crash comes between.
    for (const suffix of ['.index', '.timeindex', '.log']) {
      const name = segmentFileName(bases[0], suffix);
      if (fs.existsSync(path.join(work, name))) fs.renameSync(path.join(work, name), path.join(dir, name));
    }
  }
  syncDir(dir);
  fs.rmSync(marker, { force: true });
  return true;
}

/**
 * Finishes a swap a crash interrupted (its plan was written), then removes the cleaning dir; a
 * pass that had not reached its swap leaves the log as it was.
 */
export function removeStaleCleaningDir(dir: string): void {
  const work = `${dir}${CLEANING_DIR_SUFFIX}`;
  if (fs.existsSync(work)) completeSwap(dir, work);
  fs.rmSync(work, { recursive: true, force: true });
}

export const cleaningDirFor = (dir: string): string =>
  path.join(path.dirname(dir), `${path.basename(dir)}${CLEANING_DIR_SUFFIX}`);
