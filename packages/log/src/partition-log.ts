import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { KafkaError } from '@sluice/protocol';
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  CRC_OFFSET,
  checkBatch,
  LAST_OFFSET_DELTA_OFFSET,
  MAX_BATCH_BYTES,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
} from './batch.js';
import type { LastProducerRecord } from './clean-pass.js';
import { removeStaleCleaningDir, swapCleanedFiles } from './cleaner.js';
import { type LogConfig, logConfig } from './config.js';
import { crc32c } from './crc.js';
import { CORRUPT_MESSAGE, corruptMessage, MESSAGE_TOO_LARGE, offsetOutOfRange } from './errors.js';
import { fdIo } from './io/fd.js';
import { mmapIo } from './io/mmap.js';
import type { ViewLease } from './io/retired-mappings.js';
import type { FileIo } from './io/types.js';
import { LeaderEpochCache } from './leader-epoch-cache.js';
import { type LoadOptions, loadSegments } from './recovery.js';
import { LogSegment, segmentFileName } from './segment.js';
import { type AbortedTxnEntry, appendTxnIndexEntry, readTxnIndex } from './txn-index.js';

export const LATEST_TIMESTAMP = -1n;
export const EARLIEST_TIMESTAMP = -2n;
export const MAX_TIMESTAMP = -3n;

const TIMESTAMP_TYPE_BIT = 0x08;
/** Bytes read at a time by forEachBatch. */
const FOR_EACH_CHUNK_BYTES = 1 << 20;

export interface AppendResult {
  firstOffset: bigint;
  lastOffset: bigint;
  /** The broker's time when the topic uses LogAppendTime, else -1. */
  logAppendTime: bigint;
  /** Byte position of the first batch in its segment. */
  position: number;
  logStartOffset: bigint;
}

export interface AppendOptions {
  /** Stamp this leader epoch into each batch (leader appends). */
  leaderEpoch?: number;
  /** false for a follower: keep the offsets in the batches (they must follow the log end). */
  assignOffsets?: boolean;
}

export interface ReadResult {
  /** Whole batches; a view of mapped memory (mmap) or one fresh Buffer (fd). Empty at the end. */
  records: Buffer;
  /** Base offset of the first batch returned (may be below the requested offset). */
  firstBatchOffset: bigint;
  highWatermark: bigint;
  logStartOffset: bigint;
  logEndOffset: bigint;
}

export interface PartitionLogOptions extends Partial<LoadOptions> {
  /** Log start offset from the data dir's checkpoint. */
  logStartOffset?: bigint;
}

export function ioFor(kind: LogConfig['io']): FileIo {
  return kind === 'mmap' ? mmapIo : fdIo;
}

/** `<topic>-<partition>` → its parts; the topic may itself contain dashes. */
export function parsePartitionDir(name: string): { topic: string; partition: number } {
  const dash = name.lastIndexOf('-');
  const partition = Number(name.slice(dash + 1));
  if (dash <= 0 || !/^\d+$/.test(name.slice(dash + 1)) || partition > 0x7fffffff) {
    throw new RangeError(`"${name}" is not a <topic>-<partition> directory name`);
  }
  return { topic: name.slice(0, dash), partition };
}

/**
 * The log of one partition: an ordered list of segments, the last one active. Appends go to the
 * active segment; reads find the segment by offset. Tracks log start/end offsets, the high
 * watermark, the recovery point (everything below it is fsynced) and the leader epoch cache.
 * Emits 'append' (with the AppendResult) after every append, for fetch long-polls.
 */
export class PartitionLog extends EventEmitter {
  readonly dir: string;
  readonly topic: string;
  readonly partition: number;
  readonly config: LogConfig;
  readonly leaderEpochCache: LeaderEpochCache;
  readonly io: FileIo;
  /** First offset not yet compacted (the cleaner's checkpoint). */
  cleanerCheckpoint = 0n;
  private segments: LogSegment[];
  private _logStartOffset: bigint;
  private _logEndOffset: bigint;
  private _highWatermark: bigint;
  private _recoveryPoint: bigint;
  private unflushedMessages = 0;
  /** Background syncs of rolled segments, chained in roll order (see syncRolled). */
  private rolledSyncs: Promise<void> = Promise.resolve();
  /** Counts truncations, so a background sync that finishes after one does not move the recovery point. */
  private truncations = 0;
  private lastFlushMs: number;
  private closed = false;
  private stableOffsetSource: (() => bigint) | null = null;
  private producersSource: (() => LastProducerRecord[]) | null = null;
  /** The latest delete horizon of a transaction marker the last cleaning pass kept (in memory only). */
  latestDeleteHorizonMs: bigint | null = null;
  /** Whether the cleaner has read the markers' delete horizons back from the segments since the log was opened. */
  deleteHorizonRead = false;

  private constructor(dir: string, config: LogConfig, segments: LogSegment[], options: PartitionLogOptions) {
    super();
    this.dir = dir;
    ({ topic: this.topic, partition: this.partition } = parsePartitionDir(path.basename(dir)));
    this.config = config;
    this.io = ioFor(config.io);
    this.segments = segments;
    if (segments.length === 0) segments.push(LogSegment.create(this.io, dir, options.logStartOffset ?? 0n, config));
    const active = segments[segments.length - 1];
    this._logEndOffset = active.nextOffset;
    let start = options.logStartOffset ?? 0n;
    if (start < segments[0].baseOffset) start = segments[0].baseOffset;
    if (start > this._logEndOffset) start = this._logEndOffset;
    this._logStartOffset = start;
    this._highWatermark = this._logEndOffset;
    // Below the recovery point all was durable before; recovery checked everything above it, and
    // it stays there until the next flush.
    const rp = options.hadCleanShutdown ? this._logEndOffset : (options.recoveryPoint ?? 0n);
    this._recoveryPoint = rp < this._logEndOffset ? rp : this._logEndOffset;
    this.leaderEpochCache = new LeaderEpochCache(dir);
    this.leaderEpochCache.truncatePastEnd(this._logEndOffset);
    this.leaderEpochCache.truncateFromStart(this._logStartOffset);
    active.activate();
    this.lastFlushMs = config.now();
  }

  /**
   * Opens (creating if needed) the partition directory `dir`, named `<topic>-<partition>`, and
   * recovers it. Without options the whole log is checked, as after an unclean stop.
   */
  static open(dir: string, config: Partial<LogConfig> = {}, options: PartitionLogOptions = {}): PartitionLog {
    const c = logConfig(config);
    parsePartitionDir(path.basename(dir));
    fs.mkdirSync(dir, { recursive: true });
    removeStaleCleaningDir(dir);
    const segments = loadSegments(dir, ioFor(c.io), c, {
      recoveryPoint: options.recoveryPoint ?? 0n,
      hadCleanShutdown: options.hadCleanShutdown ?? false,
    });
    let log: PartitionLog;
    try {
      log = new PartitionLog(dir, c, segments, options);
    } catch (e) {
      // Out of descriptors (or space) part-way: close what was opened rather than leak it.
      for (const s of segments) s.close();
      throw e;
    }
    // No flush here, as in Kafka: what recovery checked stays above the recovery point until the
    // next flush or roll, so a second crash checks it again. Three fsyncs per partition made a
    // restart after a crash cost ~15 ms per partition on a disk, empty or not.
    return log;
  }

  get logStartOffset(): bigint {
    return this._logStartOffset;
  }
  get logEndOffset(): bigint {
    return this._logEndOffset;
  }
  get highWatermark(): bigint {
    return this._highWatermark;
  }
  /** The high watermark moves as replication allows; never above the log end or below the start. */
  set highWatermark(offset: bigint) {
    let hw = offset > this._logEndOffset ? this._logEndOffset : offset;
    if (hw < this._logStartOffset) hw = this._logStartOffset;
    this._highWatermark = hw;
  }
  /**
   * The last stable offset, as the log's owner (which tracks transactions) reports it, never above
   * the high watermark; without an owner's source it is the high watermark.
   */
  get lastStableOffset(): bigint {
    const stable = this.stableOffsetSource?.();
    return stable !== undefined && stable < this._highWatermark ? stable : this._highWatermark;
  }
  /** Where the log's last stable offset comes from (the owner's transaction state). */
  setLastStableOffsetSource(source: () => bigint): void {
    this.stableOffsetSource = source;
  }
  /** Where the active producers' last records come from (the owner's producer state): cleaning keeps them. */
  setLastProducerRecordsSource(source: () => LastProducerRecord[]): void {
    this.producersSource = source;
  }
  /** The active producers' last records as the owner reports them (none for a log no owner tracks). */
  lastRecordsOfActiveProducers(): LastProducerRecord[] {
    return this.producersSource?.() ?? [];
  }
  /**
   * The end of what compaction may touch: the last stable offset (Kafka's cleaner never cleans
   * past it, so an open transaction is not cleaned). A log no owner tracks (the package on its
   * own, whose high watermark nobody moves) is cleanable up to its end.
   */
  get cleanableEndOffset(): bigint {
    return this.stableOffsetSource === null ? this._logEndOffset : this.lastStableOffset;
  }
  get recoveryPoint(): bigint {
    return this._recoveryPoint;
  }
  /** Closed logs take no appends and are not cleaned. */
  get isClosed(): boolean {
    return this.closed;
  }

  get segmentCount(): number {
    return this.segments.length;
  }
  /** Bytes in all segments. */
  get size(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }
  /** Base offsets of the segments, oldest first. */
  segmentBaseOffsets(): bigint[] {
    return this.segments.map((s) => s.baseOffset);
  }
  /** Internal: the segments, for the cleaner. */
  segmentList(): readonly LogSegment[] {
    return this.segments;
  }

  /** Registers a wake-up for every append; returns a function that unregisters it. */
  onAppend(listener: (result: AppendResult) => void): () => void {
    this.on('append', listener);
    return () => this.off('append', listener);
  }

  private get active(): LogSegment {
    return this.segments[this.segments.length - 1];
  }

  private assertOpen(): void {
    if (this.closed) throw new KafkaError(56, `log ${this.dir} is closed`);
  }

  /**
   * Appends one or more concatenated v2 batches. Checks each header (bounds, magic) and, unless
   * turned off, its CRC; assigns offsets by patching each base offset in place (outside the
   * CRC); then copies the bytes once into the active segment.
   */
  append(data: Buffer, options: AppendOptions = {}): AppendResult {
    this.assertOpen();
    const assign = options.assignOffsets ?? true;
    const c = this.config;
    const now = c.now();
    // A follower keeps the leader's bytes: its append time was stamped there.
    const logAppendTime = assign && c.messageTimestampType === 'LogAppendTime' ? BigInt(now) : -1n;
    let next = this._logEndOffset;
    let at = 0;
    let messages = 0;
    let batches = 0;
    const firstOffset = assign ? next : data.length >= 8 ? data.readBigInt64BE(0) : -1n;
    // Bounded: each round consumes one batch of at least the header size.
    while (at < data.length) {
      const ok = checkBatch(data, at, data.length, c.maxMessageBytes + 12, c.verifyCrcOnAppend);
      if (typeof ok === 'string') {
        const code = ok.includes('exceeds the maximum') ? MESSAGE_TOO_LARGE : CORRUPT_MESSAGE;
        throw new KafkaError(code, `batch at byte ${at} of the append: ${ok}`);
      }
      const delta = BigInt(data.readInt32BE(at + LAST_OFFSET_DELTA_OFFSET));
      if (assign) {
        data.writeBigInt64BE(next, at + BASE_OFFSET_OFFSET);
      } else {
        const base = data.readBigInt64BE(at + BASE_OFFSET_OFFSET);
        if (base < next) throw corruptMessage(`follower batch base offset ${base} is below the log end offset ${next}`);
        next = base;
      }
      if (options.leaderEpoch !== undefined) data.writeInt32BE(options.leaderEpoch, at + PARTITION_LEADER_EPOCH_OFFSET);
      if (logAppendTime >= 0n) {
        // Inside the CRC: stamping the append time means computing the CRC again.
        data.writeInt16BE(data.readInt16BE(at + ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT, at + ATTRIBUTES_OFFSET);
        data.writeBigInt64BE(logAppendTime, at + MAX_TIMESTAMP_OFFSET);
        data.writeUInt32BE(crc32c(data.subarray(at + ATTRIBUTES_OFFSET, at + ok)), at + CRC_OFFSET);
      }
      const epoch = data.readInt32BE(at + PARTITION_LEADER_EPOCH_OFFSET);
      if (epoch > this.leaderEpochCache.latestEpoch()) this.leaderEpochCache.assign(epoch, next);
      messages += data.readInt32BE(at + RECORDS_COUNT_OFFSET);
      next += delta + 1n;
      at += ok;
      batches++;
    }
    if (batches === 0) throw corruptMessage('append of zero batches');
    const lastOffset = next - 1n;
    if (this.active.shouldRoll(data.length, lastOffset, now)) this.roll(firstOffset);
    const position = this.active.append(data);
    this._logEndOffset = next;
    this.unflushedMessages += messages;
    const result: AppendResult = {
      firstOffset,
      lastOffset,
      logAppendTime,
      position,
      logStartOffset: this._logStartOffset,
    };
    if (this.unflushedMessages >= c.flushMessages || now - this.lastFlushMs >= c.flushMs) this.flush();
    if (this.listenerCount('append') > 0) this.emit('append', result);
    return result;
  }

  /** Starts a new active segment at `baseOffset` (default: the log end), fsyncing the old one. */
  roll(baseOffset: bigint = this._logEndOffset): void {
    const old = this.active;
    if (old.size === 0 && old.baseOffset === baseOffset) return;
    if (old.size === 0) {
      // An empty active segment is replaced, not kept.
      old.delete();
      this.segments.pop();
    } else {
      old.deactivate();
      this.syncRolled(old);
    }
    const seg = LogSegment.create(this.io, this.dir, baseOffset, this.config);
    seg.activate();
    this.segments.push(seg);
  }

  /**
   * Syncs a rolled segment off the event loop, then moves the recovery point to its end. Until then
   * the recovery point stays below it, so a flush() or close() meanwhile syncs it on the spot: no
   * acknowledgement that waits for a flush (flush.messages, acks after fsync) waits less. The syncs
   * run one after another so that the recovery point never passes a segment still being synced.
   */
  private syncRolled(old: LogSegment): void {
    const end = old.nextOffset;
    const truncations = this.truncations;
    this.rolledSyncs = this.rolledSyncs
      .then(() => old.flushInBackground())
      .then(
        () => {
          // A truncation meanwhile may have cut below `end` (and a closed log was flushed by close()).
          if (this.closed || truncations !== this.truncations) return;
          if (this._recoveryPoint < end && end <= this._logEndOffset) this._recoveryPoint = end;
        },
        (err: Error) => {
          // The recovery point stays behind: the next flush or clean close syncs it again and fails loudly.
          this.config.logger.warn(
            `${path.basename(this.dir)}: sync of rolled segment ${old.fileName} failed: ${err.message}`,
          );
        },
      );
  }

  /** Resolves once every segment rolled so far is synced (or its sync failed), for tests and orderly waits. */
  rolledSegmentsSynced(): Promise<void> {
    return this.rolledSyncs;
  }

  /** Index of the segment that may hold `offset` (the last one with base <= offset). */
  private segmentIndexFor(offset: bigint): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * Whole batches from the batch holding `offset`: at least one even when it exceeds
   * `maxBytes`, then more while they fit, never a batch reaching `maxOffset` (exclusive; e.g.
   * the high watermark). Offsets outside [log start, log end] fail with OFFSET_OUT_OF_RANGE.
   * A reader that keeps the records past the current tick (a response waiting to be written)
   * passes a `lease` and releases it when done, so a deleted segment's mapping can be freed then.
   * Without `minOneBatch`, a first batch larger than `maxBytes` is not read and nothing is returned
   * (a Fetch whose response is full: Kafka's minOneMessage=false); the offsets are checked as ever.
   * With `regionMinBytes` > 0 and a lease, records of at least that many bytes come as a
   * FileRegion (fd I/O) for the caller to send with sendfile instead of reading them.
   */
  read(
    offset: bigint,
    maxBytes: number,
    maxOffset: bigint = this._logEndOffset,
    lease?: ViewLease,
    minOneBatch = true,
    regionMinBytes = 0,
  ): ReadResult {
    this.assertOpen();
    if (offset < this._logStartOffset || offset > this._logEndOffset) {
      throw offsetOutOfRange(
        `offset ${offset} is outside [${this._logStartOffset}, ${this._logEndOffset}] of ${path.basename(this.dir)}`,
      );
    }
    const result: ReadResult = {
      records: EMPTY,
      firstBatchOffset: -1n,
      highWatermark: this._highWatermark,
      logStartOffset: this._logStartOffset,
      logEndOffset: this._logEndOffset,
    };
    // Nothing below `maxOffset` to return (a consumer at the high watermark): no segment to search.
    if (offset >= maxOffset) return result;
    // Bounded by the segment count; usually one round (later rounds skip segments emptied by compaction).
    for (let i = this.segmentIndexFor(offset); i < this.segments.length; i++) {
      const seg = this.segments[i];
      if (seg.baseOffset >= maxOffset) break;
      const r =
        regionMinBytes > 0 && lease !== undefined
          ? seg.readRegion(offset, maxBytes, maxOffset, lease, minOneBatch, regionMinBytes)
          : seg.read(offset, maxBytes, maxOffset, lease, minOneBatch);
      if (r !== null) {
        if (r.data.length > 0) {
          result.records = r.data;
          result.firstBatchOffset = r.first.baseOffset;
        }
        break;
      }
      // Nothing at or after `offset` here (a compacted or empty segment): try the next one.
    }
    return result;
  }

  /**
   * Hands `visit` every batch whose last offset is at or after `from`, in offset order, read with
   * positional reads (no mapping, no view that outlives the call): for walks over the whole log
   * such as rebuilding producer state at start-up. A batch that fits in the read chunk comes
   * whole; a larger one only when `wholeIf(header)` asks for it, else its header alone
   * (RECORD_BATCH_OVERHEAD bytes at `at`). `size` is always the whole batch's.
   */
  forEachBatch(
    from: bigint,
    visit: (data: Buffer, at: number, size: number) => void,
    wholeIf: (header: Buffer, at: number) => boolean = () => true,
  ): void {
    this.assertOpen();
    if (from >= this._logEndOffset) return;
    if (from < this._logStartOffset) from = this._logStartOffset;
    const first = this.segmentIndexFor(from);
    let left = 0;
    for (let i = first; i < this.segments.length; i++) left += this.segments[i].size;
    const chunk = Buffer.allocUnsafe(Math.max(RECORD_BATCH_OVERHEAD, Math.min(FOR_EACH_CHUNK_BYTES, left)));
    // Bounded by the segment count.
    for (let i = first; i < this.segments.length; i++) {
      const seg = this.segments[i];
      // Later segments are walked from their start; in the first, the index finds the batch.
      const position = i === first ? seg.find(from)?.position : 0;
      if (position !== undefined) seg.forEachBatch(position, chunk, visit, wholeIf);
    }
  }

  /**
   * ListOffsets: -1 latest, -2 earliest, -3 the max timestamp; otherwise the first batch whose
   * max timestamp is >= `timestamp` (batch granularity: the base offset of that batch, or the
   * log start when it lies inside). null when no such batch.
   */
  offsetForTimestamp(timestamp: bigint): { offset: bigint; timestamp: bigint } | null {
    this.assertOpen();
    if (timestamp === LATEST_TIMESTAMP) return { offset: this._logEndOffset, timestamp: -1n };
    if (timestamp === EARLIEST_TIMESTAMP) return { offset: this._logStartOffset, timestamp: -1n };
    if (timestamp === MAX_TIMESTAMP) {
      let best: LogSegment | null = null;
      for (const s of this.segments)
        if (s.maxTimestamp >= 0n && (best === null || s.maxTimestamp > best.maxTimestamp)) best = s;
      if (best === null) return { offset: -1n, timestamp: -1n };
      return { offset: best.offsetOfMaxTimestamp, timestamp: best.maxTimestamp };
    }
    if (timestamp < 0n) return null;
    for (const seg of this.segments) {
      if (seg.maxTimestamp < timestamp || seg.nextOffset <= this._logStartOffset) continue;
      const rel = seg.timeIndex.floorBefore(timestamp);
      let position = 0;
      if (rel >= 0) position = seg.index.lookupPosition(rel);
      // Bounded by the segment size.
      for (let loc = seg.batchAt(position); loc !== null; loc = seg.batchAt(loc.position + loc.size)) {
        if (loc.lastOffset < this._logStartOffset) continue;
        const ts = seg.maxTimestampAt(loc.position);
        if (ts >= timestamp) {
          const offset = loc.baseOffset < this._logStartOffset ? this._logStartOffset : loc.baseOffset;
          return { offset, timestamp: ts };
        }
      }
    }
    return null;
  }

  /** Makes everything appended durable and moves the recovery point to the log end. */
  flush(): void {
    const from = this.segmentIndexFor(this._recoveryPoint);
    for (let i = from; i < this.segments.length; i++) this.segments[i].flush();
    this._recoveryPoint = this._logEndOffset;
    this.unflushedMessages = 0;
    this.lastFlushMs = this.config.now();
  }

  /** flush.ms check for a scheduler; true when it flushed. */
  maybeFlushByTime(nowMs = this.config.now()): boolean {
    if (this.unflushedMessages > 0 && nowMs - this.lastFlushMs >= this.config.flushMs) {
      this.flush();
      return true;
    }
    return false;
  }

  /**
   * Records an aborted transaction in the transaction index of the segment holding its abort
   * marker (Kafka's `.txnindex`), so read_committed fetches after a restart still skip it.
   */
  appendAbortedTxn(entry: AbortedTxnEntry): void {
    this.assertOpen();
    const seg = this.segments[this.segmentIndexFor(entry.lastOffset)];
    appendTxnIndexEntry(seg.txnIndexPath, entry);
  }

  /** Every aborted transaction in the transaction indexes, in offset order (markers below the log end only). */
  abortedTxns(): AbortedTxnEntry[] {
    this.assertOpen();
    const out: AbortedTxnEntry[] = [];
    for (const s of this.segments) {
      for (const e of readTxnIndex(s.txnIndexPath)) if (e.lastOffset < this._logEndOffset) out.push(e);
    }
    return out;
  }

  /**
   * Removes every batch that ends at or after `offset` (a follower diverging from its leader).
   * Below the log start it becomes truncateFullyAndStartAt. Returns true when anything changed.
   */
  truncateTo(offset: bigint): boolean {
    this.assertOpen();
    if (offset < 0n) throw offsetOutOfRange(`cannot truncate to negative offset ${offset}`);
    if (offset >= this._logEndOffset) {
      // No record to cut, but an epoch this replica recorded at leadership and never appended
      // under may sit at the end and conflict with the leader's (Kafka's UnifiedLog.truncateTo
      // does the same): left, it is sent as the last fetched epoch and the fetch diverges forever.
      this.leaderEpochCache.truncateFromEnd(this._logEndOffset);
      return false;
    }
    this.truncations++;
    if (offset < this._logStartOffset) {
      this.truncateFullyAndStartAt(offset);
      return true;
    }
    const wasActive = this.active;
    // Drop whole segments starting at or above the target (never the first one).
    while (this.segments.length > 1 && this.active.baseOffset >= offset) {
      const s = this.segments.pop()!;
      s.delete();
    }
    const seg = this.active;
    const firstRemoved = seg.truncateTo(offset);
    let leo = firstRemoved !== null && firstRemoved < offset ? firstRemoved : offset;
    if (leo < seg.nextOffset) leo = seg.nextOffset;
    if (leo < seg.baseOffset) leo = seg.baseOffset;
    if (seg !== wasActive) seg.activate();
    this._logEndOffset = leo;
    if (this._highWatermark > leo) this._highWatermark = leo;
    if (this._recoveryPoint > leo) this._recoveryPoint = leo;
    if (this._logStartOffset > leo) this._logStartOffset = leo;
    this.leaderEpochCache.truncateFromEnd(leo);
    return true;
  }

  /** Deletes everything and restarts the log empty at `offset` (a follower far behind). */
  truncateFullyAndStartAt(offset: bigint): void {
    this.assertOpen();
    this.truncations++;
    for (const s of this.segments) s.delete();
    const seg = LogSegment.create(this.io, this.dir, offset, this.config);
    seg.activate();
    this.segments = [seg];
    this._logStartOffset = offset;
    this._logEndOffset = offset;
    this._highWatermark = offset;
    this._recoveryPoint = offset;
    this.leaderEpochCache.clear();
  }

  /**
   * DeleteRecords: moves the log start to `offset` (at most the high watermark) and deletes the
   * segments wholly below it. Returns the new log start offset.
   */
  deleteRecords(offset: bigint): bigint {
    this.assertOpen();
    if (offset > this._highWatermark || offset < 0n) {
      throw offsetOutOfRange(`cannot delete records below ${offset}: high watermark is ${this._highWatermark}`);
    }
    if (offset > this._logStartOffset) {
      this._logStartOffset = offset;
      this.leaderEpochCache.truncateFromStart(offset);
    }
    this.deleteSegmentsWhile((_seg, next) => next !== undefined && next.baseOffset <= this._logStartOffset);
    return this._logStartOffset;
  }

  /**
   * Deletes the oldest non-active segments while `predicate` holds; the log start moves up to
   * the first remaining segment. Returns how many were deleted.
   */
  deleteSegmentsWhile(
    predicate: (seg: LogSegment, next: LogSegment | undefined, sizeAfter: number) => boolean,
  ): number {
    let deleted = 0;
    let total = this.size;
    // Bounded by the segment count; the active segment is never deleted.
    while (this.segments.length > 1) {
      const seg = this.segments[0];
      if (!predicate(seg, this.segments[1], total - seg.size)) break;
      this.segments.shift();
      total -= seg.size;
      seg.delete();
      deleted++;
    }
    if (deleted > 0 && this._logStartOffset < this.segments[0].baseOffset) {
      this._logStartOffset = this.segments[0].baseOffset;
      if (this._highWatermark < this._logStartOffset) this._highWatermark = this._logStartOffset;
      this.leaderEpochCache.truncateFromStart(this._logStartOffset);
    }
    return deleted;
  }

  /**
   * Swaps in the cleaner's rewrite of `group`, consecutive non-active segments, as one segment
   * (named after the group's first) whose files are in `workDir`; see swapCleanedFiles for how a
   * crash part-way is finished. An empty rewrite replaces nothing unless it starts the log (the
   * log start offset stays put). Views of the old files stay valid; their mappings go when released.
   */
  swapInCleaned(group: readonly LogSegment[], workDir: string): void {
    const first = this.segments.indexOf(group[0]);
    if (
      first < 0 ||
      first + group.length > this.segments.length - 1 ||
      group.some((s, i) => this.segments[first + i] !== s)
    ) {
      throw new Error('can only replace consecutive non-active segments of this log');
    }
    const base = group[0].baseOffset;
    const empty = fs.statSync(path.join(workDir, segmentFileName(base, '.log'))).size === 0;
    const drop = empty && first > 0;
    for (const s of group) s.retire();
    swapCleanedFiles(
      this.dir,
      workDir,
      group.map((s) => s.baseOffset),
      drop,
    );
    const replacement: LogSegment[] = [];
    if (!drop) {
      const seg = LogSegment.open(this.io, this.dir, base, this.config);
      seg.scan(seg.lastIndexedPosition(), false, MAX_BATCH_BYTES);
      replacement.push(seg);
    }
    this.segments.splice(first, group.length, ...replacement);
    // The cleaned segments' transaction indexes were rewritten (aborted transactions whose data is
    // gone left them): the owner's view of aborted transactions follows.
    if (this.listenerCount('cleaned') > 0) this.emit('cleaned');
  }

  /** Called after each group of cleaned segments is swapped in (their `.txnindex` may have lost entries). */
  onCleaned(listener: () => void): () => void {
    this.on('cleaned', listener);
    return () => this.off('cleaned', listener);
  }

  /** Flushes, trims the active segment's preallocation and closes every file. */
  close(): void {
    if (this.closed) return;
    // A log with nothing unflushed is already durable: closing it costs no fsync, which is what
    // lets a broker with thousands of idle partitions stop in well under a second.
    const dirty = this._recoveryPoint < this._logEndOffset || this.unflushedMessages > 0;
    this.active.deactivate();
    if (dirty) this.flush();
    for (const s of this.segments) s.close();
    this.closed = true;
    this.removeAllListeners();
  }

  /** Closes and removes the partition directory. */
  delete(): void {
    // Also after close(): the mappings of a deleted log must go, closed or not.
    for (const s of this.segments) s.retire();
    this.closed = true;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** End offset of `epoch` as OffsetForLeaderEpoch answers it. */
  endOffsetFor(epoch: number): { epoch: number; endOffset: bigint } {
    return this.leaderEpochCache.endOffsetFor(epoch, this._logEndOffset);
  }
}

const EMPTY = Buffer.alloc(0);
