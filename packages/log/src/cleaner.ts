import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { buildRecordBatch, type KafkaRecord, RecordBatch, type RecordInput } from '@sluice/protocol';
import { BATCH_LENGTH_OFFSET, LOG_OVERHEAD, MAX_BATCH_BYTES } from './batch.js';
import type { PartitionLog } from './partition-log.js';
import { segmentLargestTimestampMs } from './retention.js';
import { LogSegment } from './segment.js';

/** Bound on distinct keys held in memory per cleaning pass; the pass stops early beyond it. */
export const MAX_OFFSET_MAP_KEYS = 1_000_000;
/** Where a cleaning pass writes segments before swapping them in. */
export const CLEANING_DIR_SUFFIX = '.cleaning';

export interface CleanResult {
  segmentsCleaned: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
}

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

async function recordsOf(batch: RecordBatch): Promise<KafkaRecord[]> {
  return (await batch.decompressedRecords()).toArray();
}

/**
 * One compaction pass over a log with cleanup.policy compact (or compact,delete): keeps the
 * latest record per key in the non-active segments, drops tombstones older than
 * delete.retention.ms, keeps offsets (gaps are fine) and control batches. Runs in slices:
 * it awaits the event loop between batches, so appends never wait behind it. Returns null when
 * the log is not due (policy, dirty ratio).
 */
export async function cleanLog(log: PartitionLog, nowMs = log.config.now()): Promise<CleanResult | null> {
  const c = log.config;
  if (c.cleanupPolicy === 'delete') return null;
  const segments = cleanableSegments(log, nowMs);
  if (segments.length === 0 || dirtyRatio(log, nowMs) < c.minCleanableDirtyRatio) return null;

  // Pass 1: the latest offset of every key in the cleanable range.
  const latest = new Map<string, bigint>();
  let endOffset = segments[0].baseOffset;
  let mapped = 0;
  for (const seg of segments) {
    for (const bytes of batchesOf(seg)) {
      const batch = new RecordBatch(bytes);
      if (batch.isControl) continue;
      for (const r of await recordsOf(batch)) {
        if (r.key !== null) latest.set(keyOf(r.key), r.offset);
      }
      await yieldToEventLoop();
    }
    mapped++;
    endOffset = seg.nextOffset;
    if (latest.size > MAX_OFFSET_MAP_KEYS) break;
  }

  // Pass 2: rewrite each mapped segment beside the log, then swap it in.
  const work = `${log.dir}${CLEANING_DIR_SUFFIX}`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work);
  const result: CleanResult = { segmentsCleaned: 0, bytesBefore: 0, bytesAfter: 0, recordsRemoved: 0 };
  try {
    for (const seg of segments.slice(0, mapped)) {
      const sizeAtStart = seg.size;
      const tombstoneHorizon = nowMs - c.deleteRetentionMs;
      const out = LogSegment.create(log.io, work, seg.baseOffset, c);
      for (const bytes of batchesOf(seg)) {
        const batch = new RecordBatch(bytes);
        if (batch.isControl) {
          out.append(bytes);
          continue;
        }
        const records = await recordsOf(batch);
        const kept = records.filter((r) => {
          if (r.key === null) return true;
          const last = latest.get(keyOf(r.key));
          if (last !== undefined && last > r.offset) return false;
          return !(r.value === null && batch.maxTimestamp < BigInt(tombstoneHorizon));
        });
        result.recordsRemoved += records.length - kept.length;
        if (kept.length === records.length) out.append(bytes);
        else if (kept.length > 0) out.append(await rebuild(batch, kept));
        await yieldToEventLoop();
      }
      // The log may have changed while we worked (truncation, retention): then leave it be.
      if (log.isClosed || !log.segmentList().includes(seg) || seg.isActive || seg.size !== sizeAtStart) {
        out.delete();
        break;
      }
      out.deactivate();
      out.flush();
      out.close();
      result.bytesBefore += sizeAtStart;
      result.bytesAfter += out.size;
      log.swapInCleaned(seg, work);
      result.segmentsCleaned++;
    }
    if (result.segmentsCleaned === mapped) log.cleanerCheckpoint = endOffset;
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

/** Removes a cleaning directory left by a crash mid-pass (its segments were never swapped in). */
export function removeStaleCleaningDir(dir: string): void {
  fs.rmSync(`${dir}${CLEANING_DIR_SUFFIX}`, { recursive: true, force: true });
}

export const cleaningDirFor = (dir: string): string =>
  path.join(path.dirname(dir), `${path.basename(dir)}${CLEANING_DIR_SUFFIX}`);
