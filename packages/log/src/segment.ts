import fs from 'node:fs';
import path from 'node:path';
import {
  BATCH_LENGTH_OFFSET,
  checkBatch,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  RECORD_BATCH_OVERHEAD,
} from './batch.js';
import type { LogConfig } from './config.js';
import { isDiskFailure } from './errors.js';
import { FdFile, onDemandFdIo } from './io/fd.js';
import { FileRegion } from './io/file-region.js';
import type { ViewLease } from './io/retired-mappings.js';
import type { FileIo, StorageFile } from './io/types.js';
import { OffsetIndex } from './offset-index.js';
import { TimeIndex } from './time-index.js';
import { truncateTxnIndex } from './txn-index.js';

const HEADER_PEEK = RECORD_BATCH_OVERHEAD;
const NOTHING = Buffer.alloc(0);
const INT32_MAX = 0x7fffffff;

/** fdatasync of `file` by path on the libuv threadpool; a file gone meanwhile is skipped. */
async function syncPath(file: string): Promise<void> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

export function segmentFileName(baseOffset: bigint, suffix: string): string {
  return `${baseOffset.toString().padStart(20, '0')}${suffix}`;
}

/** Where a scan of the segment's batches stopped. */
export interface ScanResult {
  /** Bytes of valid batches from the start of the file. */
  validBytes: number;
  /** Why the scan stopped before the end of the file, or null when it reached the end. */
  stopReason: string | null;
  /** Whether the bytes after `validBytes` are all zeros (preallocated space, not corruption). */
  tailIsZero: boolean;
}

/** A batch found by offset: its position and header fields. */
export interface BatchLocation {
  position: number;
  baseOffset: bigint;
  lastOffset: bigint;
  size: number;
}

/**
 * One segment: a `.log` file of concatenated batches with its `.index` and `.timeindex`.
 * The owner (PartitionLog) guarantees appended batches are valid and their offsets increase.
 */
export class LogSegment {
  readonly baseOffset: bigint;
  readonly dir: string;
  readonly log: StorageFile;
  readonly index: OffsetIndex;
  readonly timeIndex: TimeIndex;
  private readonly config: LogConfig;
  /** Bytes of valid batches. */
  size = 0;
  /** Last offset + 1 of the last batch, or the base offset when empty. */
  nextOffset: bigint;
  maxTimestamp = -1n;
  offsetOfMaxTimestamp = -1n;
  /** Wall-clock ms of the first append (or file mtime), for segment.ms. */
  createdMs: number;
  lastModifiedMs: number;
  private bytesSinceIndexEntry = 0;
  private active = false;
  /** Its files are closed for deletion or replacement: nothing of it is left to flush or close. */
  private retired = false;
  /** The active log file has been set to segment.bytes (preallocate) since it last shrank. */
  private preallocated = false;
  private readonly peek = Buffer.alloc(HEADER_PEEK);
  private readonly mapped: boolean;
  /** The log file is mapped (a read handed out a view): headers are a memory copy away, not a pread. */
  private peekMapped = false;

  private constructor(io: FileIo, dir: string, baseOffset: bigint, config: LogConfig) {
    this.dir = dir;
    this.baseOffset = baseOffset;
    this.config = config;
    this.nextOffset = baseOffset;
    this.log = io.open(path.join(dir, segmentFileName(baseOffset, '.log')), { create: true });
    this.mapped = io.kind === 'mmap';
    try {
      // Indexes use positional I/O on a heap copy (see IndexFile), opening their files only to
      // read or write them: a segment holds one descriptor, its log's.
      const indexIo = onDemandFdIo;
      this.index = new OffsetIndex(
        indexIo,
        path.join(dir, segmentFileName(baseOffset, '.index')),
        config.segmentIndexBytes,
      );
      this.timeIndex = new TimeIndex(
        indexIo,
        path.join(dir, segmentFileName(baseOffset, '.timeindex')),
        config.segmentIndexBytes,
      );
    } catch (e) {
      // Out of descriptors (or space) part-way: leak nothing.
      this.log.close();
      throw e;
    }
    const st = fs.statSync(this.log.path);
    this.createdMs = config.now();
    this.lastModifiedMs = st.mtimeMs;
  }

  static create(io: FileIo, dir: string, baseOffset: bigint, config: LogConfig): LogSegment {
    const s = new LogSegment(io, dir, baseOffset, config);
    s.index.reset();
    s.timeIndex.reset();
    s.log.resize(0);
    return s;
  }

  static open(io: FileIo, dir: string, baseOffset: bigint, config: LogConfig): LogSegment {
    const s = new LogSegment(io, dir, baseOffset, config);
    s.createdMs = s.lastModifiedMs;
    return s;
  }

  get fileName(): string {
    return this.log.path;
  }

  /** The segment's transaction index (aborted transactions whose marker is here); written only when there is one. */
  get txnIndexPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, '.txnindex'));
  }

  get isActive(): boolean {
    return this.active;
  }

  /** Reads the header fields of the batch at `position` into the scratch buffer; false past the end. */
  private peekAt(position: number): boolean {
    if (position + HEADER_PEEK > this.size) return false;
    if (this.peekMapped) return this.log.read(position, HEADER_PEEK).copy(this.peek) === HEADER_PEEK;
    return this.log.readInto(this.peek, position) === HEADER_PEEK;
  }

  /** True when a batch of `bytes` bytes ending at `lastOffset` cannot go into this segment. */
  shouldRoll(bytes: number, lastOffset: bigint, nowMs: number): boolean {
    if (this.size === 0) return lastOffset - this.baseOffset > BigInt(INT32_MAX);
    return (
      this.size + bytes > this.config.segmentBytes ||
      nowMs - this.createdMs > this.config.segmentMs ||
      this.index.isFull ||
      this.timeIndex.isFull ||
      lastOffset - this.baseOffset > BigInt(INT32_MAX)
    );
  }

  /**
   * Copies `data` (whole, valid batches with assigned offsets) to the end of the segment and
   * indexes them. Returns the position it was written at.
   */
  append(data: Buffer): number {
    const position = this.size;
    if (position === 0) this.createdMs = this.config.now();
    if (this.config.preallocate && this.active && !this.preallocated) this.preallocateLog();
    this.log.write(data, position);
    this.size += data.length;
    this.indexBatches(data, position);
    this.lastModifiedMs = this.config.now();
    return position;
  }

  /** Updates indexes and offset/time bookkeeping for the batches in `data`, found at `position`. */
  private indexBatches(data: Buffer, position: number): void {
    let at = 0;
    while (at < data.length) {
      const size = data.readInt32BE(at + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      this.noteBatch(data, at, position + at, size);
      at += size;
    }
  }

  private noteBatch(b: Buffer, at: number, position: number, size: number): void {
    const base = b.readBigInt64BE(at);
    const last = base + BigInt(b.readInt32BE(at + LAST_OFFSET_DELTA_OFFSET));
    const ts = b.readBigInt64BE(at + MAX_TIMESTAMP_OFFSET);
    if (ts > this.maxTimestamp) {
      this.maxTimestamp = ts;
      this.offsetOfMaxTimestamp = last;
    }
    // Kafka indexes at most one batch per append, once index.interval.bytes have gone by.
    if (this.bytesSinceIndexEntry > this.config.indexIntervalBytes || this.index.entries === 0) {
      const rel = Number(last - this.baseOffset);
      if (!this.index.isFull) this.index.append(rel, position);
      this.timeIndex.maybeAppend(this.maxTimestamp, Number(this.offsetOfMaxTimestamp - this.baseOffset));
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += size;
    this.nextOffset = last + 1n;
  }

  /**
   * Walks the batches from `from` to the end of the file (checking CRCs when asked), indexing
   * each as it goes, and sets the segment's size to the valid prefix. Used by recovery (from 0,
   * with CRC and rebuilt indexes) and by a clean load (from the last indexed batch).
   */
  scan(from: number, checkCrc: boolean, maxBatchBytes: number): ScanResult {
    const fileSize = this.log.size();
    let at = from;
    let stopReason: string | null = null;
    // Positional reads into one scratch buffer rather than views of a mapping: a restart checks
    // thousands of logs, and mapping each (V8 external memory) kept the GC busy.
    let buf = Buffer.allocUnsafe(4096);
    // Bounded: each round moves `at` forward by at least one batch header or stops.
    while (at < fileSize) {
      const headLength = this.log.readInto(buf.subarray(0, Math.min(fileSize - at, HEADER_PEEK)), at);
      if (headLength < HEADER_PEEK) {
        stopReason = `${headLength} trailing bytes are too few for a batch header`;
        break;
      }
      const size = buf.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      const whole = checkCrc && size >= HEADER_PEEK && size <= maxBatchBytes && at + size <= fileSize;
      if (whole) {
        if (buf.length < size) buf = Buffer.allocUnsafe(size);
        this.log.readInto(buf.subarray(0, size), at);
      }
      const batch = buf.subarray(0, whole ? size : HEADER_PEEK);
      const ok = checkBatch(batch, 0, fileSize - at, maxBatchBytes, checkCrc);
      if (typeof ok === 'string') {
        stopReason = ok;
        break;
      }
      const base = batch.readBigInt64BE(0);
      if (base < this.nextOffset || base - this.baseOffset > BigInt(INT32_MAX)) {
        stopReason = `batch base offset ${base} is out of order (expected >= ${this.nextOffset})`;
        break;
      }
      this.size = at + size;
      this.noteBatch(batch, 0, at, size);
      at += size;
    }
    this.size = at;
    return { validBytes: at, stopReason, tailIsZero: stopReason === null || this.isZero(at, fileSize) };
  }

  private isZero(from: number, to: number): boolean {
    // Only the first MiB is checked: enough to tell preallocated space from a torn write.
    to = Math.min(to, from + (1 << 20));
    const chunk = Buffer.alloc(Math.max(0, to - from));
    for (let at = from; at < to; at += chunk.length) {
      const n = this.log.readInto(chunk, at);
      for (let i = 0; i < n; i++) if (chunk[i] !== 0) return false;
      if (n === 0) break;
    }
    return true;
  }

  /** Clears both indexes and re-derives them from the log (recovery). */
  resetIndexes(): void {
    this.index.reset();
    this.timeIndex.reset();
    this.size = 0;
    this.nextOffset = this.baseOffset;
    this.maxTimestamp = -1n;
    this.offsetOfMaxTimestamp = -1n;
    this.bytesSinceIndexEntry = 0;
  }

  /** Position to start a clean-load scan from: the last indexed batch. */
  lastIndexedPosition(): number {
    const n = this.index.entries;
    if (n === 0) return 0;
    // Bookkeeping from the time index covers everything before that batch.
    if (this.timeIndex.entries > 0) {
      const i = this.timeIndex.entries - 1;
      this.maxTimestamp = this.timeIndex.timestampAt(i);
      this.offsetOfMaxTimestamp = this.baseOffset + BigInt(this.timeIndex.relOffsetAt(i));
    }
    const rel = this.index.relOffsetAt(n - 1);
    const position = this.index.positionAt(n - 1);
    // The scan re-indexes the batch at `position`, so drop its entry first.
    this.index.truncateEntries(n - 1);
    this.timeIndex.truncateToRel(rel);
    this.nextOffset = this.baseOffset;
    return position;
  }

  /** The first batch whose last offset is >= `offset`, searching from `startPosition`. */
  find(offset: bigint, startPosition = 0): BatchLocation | null {
    let position = startPosition;
    if (startPosition === 0 && offset > this.baseOffset) {
      position = this.index.lookupPosition(Number(offset - this.baseOffset));
    }
    // Bounded by the segment size: every step moves to the next batch.
    while (this.peekAt(position)) {
      const size = this.peek.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      const base = this.peek.readBigInt64BE(0);
      const last = base + BigInt(this.peek.readInt32BE(LAST_OFFSET_DELTA_OFFSET));
      if (last >= offset) return { position, baseOffset: base, lastOffset: last, size };
      position += size;
    }
    return null;
  }

  /**
   * Hands `visit` each batch from `position` (a batch boundary) to the end of the segment, read
   * with positional reads into `chunk` (never through a mapping: a restart walks thousands of
   * logs, and a mapping each is V8 external memory that keeps the GC busy). A batch that
   * fits in the chunk comes whole; a larger one comes whole only when `wholeIf(header)` says so
   * (read into a buffer of its own), otherwise as its header alone, the rest skipped unread.
   * The buffers are valid only during the call.
   */
  forEachBatch(
    position: number,
    chunk: Buffer,
    visit: (data: Buffer, at: number, size: number) => void,
    wholeIf: (header: Buffer, at: number) => boolean,
  ): void {
    let chunkStart = position;
    let chunkLength = 0;
    let at = position;
    // Bounded by the segment size: each round moves `at` past one batch, or stops.
    while (at + HEADER_PEEK <= this.size) {
      if (at + HEADER_PEEK > chunkStart + chunkLength) {
        chunkStart = at;
        chunkLength = this.log.readInto(chunk.subarray(0, Math.min(chunk.length, this.size - at)), at);
        if (chunkLength < HEADER_PEEK) return;
      }
      const rel = at - chunkStart;
      const size = chunk.readInt32BE(rel + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      // The log checked every batch it holds; a length that disagrees ends the walk rather than trust it.
      if (size < HEADER_PEEK || at + size > this.size) return;
      if (rel + size <= chunkLength) visit(chunk, rel, size);
      else if (wholeIf(chunk, rel)) {
        const whole = Buffer.allocUnsafe(size);
        if (this.log.readInto(whole, at) < size) return;
        visit(whole, 0, size);
      } else visit(chunk.subarray(0, rel + HEADER_PEEK), rel, size);
      at += size;
    }
  }

  /** Header of the batch at `position` (must be a batch boundary below `size`). */
  batchAt(position: number): BatchLocation | null {
    if (!this.peekAt(position)) return null;
    const base = this.peek.readBigInt64BE(0);
    return {
      position,
      baseOffset: base,
      lastOffset: base + BigInt(this.peek.readInt32BE(LAST_OFFSET_DELTA_OFFSET)),
      size: this.peek.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD,
    };
  }

  maxTimestampAt(position: number): bigint {
    this.peekAt(position);
    return this.peek.readBigInt64BE(MAX_TIMESTAMP_OFFSET);
  }

  /**
   * Whole batches from the one holding `offset`: at least one (none, without `minOneBatch`, when
   * it is larger than `maxBytes`: then nothing is read), then more while they fit in `maxBytes`
   * and end below `maxOffset`. `lease` records the mapping the view belongs to.
   */
  read(
    offset: bigint,
    maxBytes: number,
    maxOffset: bigint,
    lease?: ViewLease,
    minOneBatch = true,
  ): { data: Buffer; first: BatchLocation } | null {
    const start = this.readStart(offset, maxBytes, maxOffset, minOneBatch);
    if (start === null || start.want === 0) return start && { data: NOTHING, first: start.first };
    return this.readBatches(start.first, start.want, maxOffset, lease);
  }

  /**
   * Where a read from `offset` starts and the bytes it may take (its first batch at least), or
   * null when nothing there ends below `maxOffset`; `want` 0 when, without `minOneBatch`, the
   * first batch is larger than `maxBytes` and nothing is to be read.
   */
  private readStart(
    offset: bigint,
    maxBytes: number,
    maxOffset: bigint,
    minOneBatch: boolean,
  ): { first: BatchLocation; want: number } | null {
    const first = this.find(offset);
    if (first === null || first.lastOffset >= maxOffset) return null;
    if (!minOneBatch && first.size > maxBytes) return { first, want: 0 };
    return { first, want: Math.max(first.size, Math.min(maxBytes, this.size - first.position)) };
  }

  /** Reads `want` bytes from `first` and keeps the whole batches that end below `maxOffset`. */
  private readBatches(
    first: BatchLocation,
    want: number,
    maxOffset: bigint,
    lease: ViewLease | undefined,
  ): { data: Buffer; first: BatchLocation } {
    const chunk = this.log.read(first.position, want, lease);
    // Once read() has mapped the file (mmap), later peeks need no system call; an fd read is a copy.
    this.peekMapped = this.mapped;
    let end = first.size;
    // Walk the headers inside the chunk; bounded by its length.
    while (end + HEADER_PEEK <= chunk.length) {
      const size = chunk.readInt32BE(end + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      const last = chunk.readBigInt64BE(end) + BigInt(chunk.readInt32BE(end + LAST_OFFSET_DELTA_OFFSET));
      if (end + size > chunk.length || last >= maxOffset) break;
      end += size;
    }
    return { data: end === chunk.length ? chunk : chunk.subarray(0, end), first };
  }

  /**
   * As read(), but the batches are not read: the answer is a FileRegion of the file (fd I/O) that
   * the caller sends with sendfile, its descriptor kept open under `lease`. The same batches as
   * read() would return: the end is found from the offset index and a few header reads near it,
   * not by reading what lies between. Null when read() would return null; read()'s answer where
   * this file cannot give a region (mmap I/O, or closed) or the range is under `minRegionBytes`.
   */
  readRegion(
    offset: bigint,
    maxBytes: number,
    maxOffset: bigint,
    lease: ViewLease,
    minOneBatch: boolean,
    minRegionBytes: number,
  ): { data: Buffer; first: BatchLocation } | null {
    if (this.mapped || !(this.log instanceof FdFile)) return this.read(offset, maxBytes, maxOffset, lease, minOneBatch);
    const start = this.readStart(offset, maxBytes, maxOffset, minOneBatch);
    if (start === null || start.want === 0) return start && { data: NOTHING, first: start.first };
    const { first, want } = start;
    // Too short to be worth a region even whole: one read, as read() does, without the index walk.
    if (want < minRegionBytes) return this.readBatches(first, want, maxOffset, lease);
    let limit = first.position + want;
    // The first batch reaching maxOffset (the high watermark, or the last stable offset) ends it.
    if (maxOffset < this.nextOffset) {
      const stop = this.find(maxOffset);
      if (stop !== null) limit = Math.min(limit, stop.position);
    }
    // Walk from the last indexed batch at or before the limit (index entries are batch starts);
    // bounded by the segment size, each step moves past one batch.
    const indexed = this.index.floorByPosition(limit);
    let end = first.position + first.size;
    if (indexed >= 0) end = Math.max(end, this.index.positionAt(indexed));
    while (this.peekAt(end)) {
      const size = this.peek.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      const last = this.peek.readBigInt64BE(0) + BigInt(this.peek.readInt32BE(LAST_OFFSET_DELTA_OFFSET));
      if (end + size > limit || last >= maxOffset) break;
      end += size;
    }
    const length = end - first.position;
    if (length < minRegionBytes) return { data: this.log.read(first.position, length, lease), first };
    const fd = this.log.pin(lease);
    if (fd === null) return this.readBatches(first, want, maxOffset, lease);
    return { data: new FileRegion(fd, first.position, length) as unknown as Buffer, first };
  }

  /**
   * Removes every batch whose last offset is >= `offset`. Returns the base offset of the first
   * removed batch, or null when nothing was removed.
   */
  truncateTo(offset: bigint): bigint | null {
    const loc = this.find(offset);
    if (loc === null) return null;
    const rel = Number(loc.lastOffset - this.baseOffset);
    this.index.truncateToRel(rel);
    this.timeIndex.truncateToRel(rel);
    truncateTxnIndex(this.txnIndexPath, offset);
    this.size = loc.position;
    // Views handed out earlier (a Fetch response still being sent) keep their bytes: see StorageFile.truncate.
    this.log.truncate(this.size);
    this.preallocated = false;
    this.recomputeAfterTruncate();
    return loc.baseOffset;
  }

  private recomputeAfterTruncate(): void {
    // Re-derive next offset and max timestamp from the remaining batches via a header scan.
    const keep = this.size;
    this.index.reset();
    this.timeIndex.reset();
    this.nextOffset = this.baseOffset;
    this.maxTimestamp = -1n;
    this.offsetOfMaxTimestamp = -1n;
    this.bytesSinceIndexEntry = 0;
    let at = 0;
    while (at < keep && this.peekAt(at)) {
      const size = this.peek.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      this.noteBatch(this.peek, 0, at, size);
      at += size;
    }
  }

  /** The segment takes appends: preallocate the log (mmap) and the indexes. */
  activate(): void {
    this.active = true;
    try {
      this.index.preallocate();
      this.timeIndex.preallocate();
    } catch (err) {
      // A full disk: the indexes stay in memory until the next flush, roll or close writes them,
      // so the log still opens to be read.
      if (!isDiskFailure(err)) throw err;
    }
  }

  /** At load time (no views handed out yet): drop whatever lies past the valid bytes. */
  trimToSize(): void {
    if (this.log.size() !== this.size) this.log.resize(this.size);
  }

  /**
   * preallocate (Kafka's topic config): the log file is set to segment.bytes (sparse) before the first
   * append, so appends write inside the file. An append that extends the file also updates its size
   * under the file system's journal, and on ext4 waits whenever the journal is busy (another
   * process's fsync): ~35–80 µs of blocked event loop per 16 KiB append on a loaded machine against
   * ~14 µs inside a preallocated file (`npm run bench -w @sluice/log`). Done on the first append, not
   * on activation, so a restart does not touch idle partitions. Recovery treats the zeros after the
   * last batch of a file at segment.bytes as free space; a clean close trims them (deactivate).
   */
  private preallocateLog(): void {
    this.preallocated = true;
    try {
      if (this.log.size() < this.config.segmentBytes) this.log.resize(this.config.segmentBytes);
    } catch (err) {
      // Only an optimisation: appends still extend the file as without it.
      this.config.logger.warn(`${this.fileName}: could not preallocate (${(err as Error).message})`);
    }
  }

  /** The segment stops taking appends (roll, close): trim preallocated space. */
  deactivate(): void {
    this.active = false;
    this.preallocated = false;
    if (this.log.size() !== this.size) this.log.resize(this.size);
    this.index.trim();
    this.timeIndex.trim();
  }

  flush(): void {
    // A retired segment's files are closed (a failed cleaner swap leaves it in the log's list until
    // the next open finishes the swap): syncing it would throw on the closed descriptor.
    if (this.retired) return;
    this.log.sync();
    this.index.sync();
    this.timeIndex.sync();
  }

  /**
   * flush() on the libuv threadpool, for a segment that takes no more appends (after deactivate(),
   * which wrote the indexes out): a roll's fdatasyncs on the event loop held every connection for
   * tens to hundreds of ms. Each file is opened again by path, so a close or delete meanwhile cannot
   * leave the sync on a reused descriptor (fdatasync applies to the file, whichever descriptor asks);
   * a file deleted meanwhile (retention, truncation) is skipped, its data gone on purpose.
   */
  async flushInBackground(): Promise<void> {
    await Promise.all([this.log.path, this.index.path, this.timeIndex.path].map(syncPath));
  }

  close(): void {
    if (this.retired) return;
    this.log.close();
    this.index.close();
    this.timeIndex.close();
  }

  /** Closes the segment's files, which are being deleted or replaced: their mappings go promptly. */
  retire(): void {
    this.retired = true;
    this.log.retire();
    this.index.close();
    this.timeIndex.close();
  }

  /** Closes and deletes the segment's files. */
  delete(): void {
    this.retire();
    for (const f of [this.log.path, this.index.path, this.timeIndex.path, this.txnIndexPath])
      fs.rmSync(f, { force: true });
  }
}
