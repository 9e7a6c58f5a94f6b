import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  ATTRIBUTES_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  CONTROL_FLAG_MASK,
  DELETE_HORIZON_FLAG_MASK,
  RECORD_BATCH_OVERHEAD,
} from '@sluice/protocol';
import { BATCH_LENGTH_OFFSET, LOG_OVERHEAD } from './batch.js';
import { syncDir, writeFileAtomic } from './checkpoint.js';
import type { CleanJob, CleanMessage } from './clean-pass.js';
import type { CleanRequest } from './clean-worker.js';
import { LogStorageError } from './errors.js';
import type { PartitionLog } from './partition-log.js';
import { segmentLargestTimestampMs } from './retention.js';
import { type LogSegment, segmentFileName } from './segment.js';

export { groupSegmentsBySize, MAX_OFFSET_MAP_KEYS, SLICE_BYTES } from './clean-pass.js';

/** Where a cleaning pass writes segments before swapping them in. */
export const CLEANING_DIR_SUFFIX = '.cleaning';
/** In the cleaning dir: the segments a cleaned one replaces, written once it is durable (see completeSwap). */
export const SWAP_MARKER = 'swap.json';
const SEGMENT_SUFFIXES = ['.log', '.index', '.timeindex', '.txnindex'] as const;
/** How often a pass checks whether its log was closed or deleted, to cancel the worker. */
const CANCEL_POLL_MS = 20;
/** How long a cancelled pass may take to stop (it stops between slices) before its worker is terminated. */
const CANCEL_WAIT_MS = 2000;

export interface CleanResult {
  segmentsCleaned: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
  /** Most record bytes the worker handled between two yields to its event loop (see SLICE_BYTES). */
  longestSliceBytes: number;
  /** The thread that decoded and rewrote the records: the cleaner's worker, never the caller's. */
  threadId: number;
}

/** Non-active segments old enough for min.compaction.lag.ms and wholly below the last stable offset, oldest first. */
function cleanableSegments(log: PartitionLog, nowMs: number): LogSegment[] {
  const segs = log.segmentList();
  const out: LogSegment[] = [];
  const end = log.cleanableEndOffset;
  for (let i = 0; i < segs.length - 1; i++) {
    if (segs[i].nextOffset > end) break;
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

/**
 * The latest delete horizon of a control batch in `segments`, read from batch headers only (one
 * positional read of the header per batch, never the records), or null when none has one.
 */
async function latestDeleteHorizonIn(segments: readonly LogSegment[]): Promise<bigint | null> {
  let latest: bigint | null = null;
  const head = Buffer.alloc(RECORD_BATCH_OVERHEAD);
  for (const seg of segments) {
    const size = seg.size;
    let file: fs.promises.FileHandle;
    try {
      file = await fs.promises.open(seg.log.path, 'r');
    } catch {
      continue; // Swapped or deleted meanwhile: the next pass will see its replacement.
    }
    try {
      let pos = 0;
      // Bounded by the segment size: each step moves past one batch.
      while (pos < size) {
        const { bytesRead } = await file.read(head, 0, RECORD_BATCH_OVERHEAD, pos);
        const length = bytesRead === RECORD_BATCH_OVERHEAD ? head.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD : -1;
        if (length < RECORD_BATCH_OVERHEAD || pos + length > size) {
          throw new Error(`${seg.log.path}: bad batch header at byte ${pos} while reading delete horizons`);
        }
        const attributes = head.readInt16BE(ATTRIBUTES_OFFSET);
        if ((attributes & CONTROL_FLAG_MASK) !== 0 && (attributes & DELETE_HORIZON_FLAG_MASK) !== 0) {
          const h = head.readBigInt64BE(BASE_TIMESTAMP_OFFSET);
          if (latest === null || h > latest) latest = h;
        }
        pos += length;
      }
    } finally {
      await file.close();
    }
  }
  return latest;
}

/**
 * The worker's entry beside this module: clean-worker.js in packages/log's dist, and the file the
 * broker's bundle script emits beside its bundled cli.js. Run from source (tests, tsx benches), the
 * .ts entry is loaded through tsx's API (a worker's execArgv cannot take --import hooks).
 */
function startCleanWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./clean-worker.js', import.meta.url));
  const entry = new URL('./clean-worker.ts', import.meta.url).href;
  // tsx's ESM build of its API (require.resolve would give the CommonJS one).
  const tsxDir = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(path.join(tsxDir, 'dist/esm/api/index.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`;
  return new Worker(boot, { eval: true });
}

/** The cleaner's worker, shared by every pass, and the message handler of each pass it runs. */
interface CleanWorker {
  worker: Worker;
  passes: Map<number, (m: CleanMessage) => void>;
}
let shared: CleanWorker | null = null;
let nextPassId = 0;

/** The running worker, started on first use; idle, it does not keep the process alive. */
function cleanWorker(): CleanWorker {
  if (shared !== null) return shared;
  const w: CleanWorker = { worker: startCleanWorker(), passes: new Map() };
  w.worker.on('message', (m: CleanMessage & { id: number }) => w.passes.get(m.id)?.(m));
  // A worker that fails or dies fails the passes it was running; the next pass starts a new one.
  const fail = (message: string): void => {
    if (shared === w) shared = null;
    for (const handle of w.passes.values()) handle({ type: 'error', name: 'Error', message });
    w.passes.clear();
  };
  w.worker.on('error', (e) => fail(e.message));
  w.worker.on('exit', (code) => fail(`the cleaner's worker stopped (exit code ${code}) before finishing`));
  // After the listeners: adding a 'message' listener refs the worker's port again.
  w.worker.unref();
  shared = w;
  return w;
}

/**
 * One compaction pass over a log with cleanup.policy compact (or compact,delete): keeps the
 * latest record per key in the non-active segments below the last stable offset, drops tombstones
 * older than delete.retention.ms and transaction markers delete.retention.ms after their
 * transaction's data was gone (see runCleanPass), keeps offsets (gaps are fine). The records are
 * decoded, looked up and rewritten in a worker thread (clean-pass.ts), so neither that work nor
 * the collection of its garbage stalls appends; this thread only swaps each finished segment
 * into the log. A worker that fails or dies leaves the log as it was (but for groups already
 * swapped, which are whole); a log closed or deleted meanwhile cancels the pass, which stops at
 * its next slice or has its worker terminated after CANCEL_WAIT_MS. Returns null when the log is
 * not due (policy, dirty ratio).
 */
export async function cleanLog(log: PartitionLog, nowMs = log.config.now()): Promise<CleanResult | null> {
  const c = log.config;
  if (c.cleanupPolicy === 'delete') return null;
  const segments = cleanableSegments(log, nowMs);
  if (!log.deleteHorizonRead) {
    // Since the log was opened (a restart): the horizons earlier passes gave markers are in the
    // markers' headers (KIP-534), not in memory. Read them back, so a quiet log still drops a
    // marker when its horizon passes instead of waiting for new data to clean.
    const found = await latestDeleteHorizonIn(segments.filter((seg) => seg.baseOffset < log.cleanerCheckpoint));
    if (log.latestDeleteHorizonMs === null || (found !== null && found > log.latestDeleteHorizonMs))
      log.latestDeleteHorizonMs = found;
    log.deleteHorizonRead = true;
  }
  // As Kafka's cleaner: a log below its dirty ratio is still cleaned once a marker it kept is past
  // its delete horizon (a quiet log would otherwise keep it until new data comes).
  const horizonDue = log.latestDeleteHorizonMs !== null && log.latestDeleteHorizonMs <= BigInt(nowMs);
  if (segments.length === 0 || (!horizonDue && dirtyRatio(log, nowMs) < c.minCleanableDirtyRatio)) return null;

  const work = `${log.dir}${CLEANING_DIR_SUFFIX}`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work);
  const sizesAtStart = segments.map((seg) => seg.size);
  const { logger: _logger, now: _now, ...config } = c;
  const job: CleanJob = {
    segments: segments.map((seg, i) => ({
      logPath: seg.log.path,
      txnIndexPath: seg.txnIndexPath,
      baseOffset: seg.baseOffset,
      nextOffset: seg.nextOffset,
      size: sizesAtStart[i],
      indexEntries: seg.index.entries,
      timeIndexEntries: seg.timeIndex.entries,
    })),
    work,
    config,
    tombstoneHorizonMs: nowMs - c.deleteRetentionMs,
    nowMs,
    lastProducerRecords: log.lastRecordsOfActiveProducers(),
  };
  const result: CleanResult = {
    segmentsCleaned: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    recordsRemoved: 0,
    longestSliceBytes: 0,
    threadId: -1,
  };
  const w = cleanWorker();
  const id = nextPassId++;
  let poll: NodeJS.Timeout | undefined;
  let cancelWait: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let cancelling = false;
      let failure: unknown;
      // Asks the worker to stop and waits for it to, so nothing writes into the cleaning dir once
      // it goes; a worker that does not stop within CANCEL_WAIT_MS is terminated.
      const cancel = (): void => {
        if (cancelling) return;
        cancelling = true;
        w.worker.postMessage({ type: 'cancel', id } satisfies CleanRequest);
        cancelWait = setTimeout(() => void w.worker.terminate(), CANCEL_WAIT_MS);
      };
      // The log may have changed while the worker ran (truncation, retention, close): then leave it be.
      const unchanged = (first: number, count: number): boolean => {
        const current = log.segmentList();
        for (let i = first; i < first + count; i++) {
          const seg = segments[i];
          if (!current.includes(seg) || seg.isActive || seg.size !== sizesAtStart[i]) return false;
        }
        return !log.isClosed;
      };
      poll = setInterval(() => {
        if (log.isClosed) cancel();
      }, CANCEL_POLL_MS);
      w.passes.set(id, (m) => {
        if (cancelling) {
          // A cancelled pass ends without a result for what it did not swap.
          if (m.type !== 'group') failure === undefined ? resolve() : reject(failure);
          return;
        }
        try {
          if (m.type === 'group') {
            if (!unchanged(m.first, m.count)) return cancel();
            const group = segments.slice(m.first, m.first + m.count);
            log.swapInCleaned(group, work);
            result.bytesBefore += sizesAtStart.slice(m.first, m.first + m.count).reduce((x, y) => x + y, 0);
            result.bytesAfter += m.bytesAfter;
            result.recordsRemoved += m.recordsRemoved;
            result.segmentsCleaned += m.count;
            w.worker.postMessage({ type: 'swapped', id } satisfies CleanRequest);
          } else if (m.type === 'done') {
            if (result.segmentsCleaned === m.mapped) {
              log.cleanerCheckpoint = m.endOffset;
              log.latestDeleteHorizonMs = m.latestDeleteHorizonMs;
            }
            result.longestSliceBytes = m.longestSliceBytes;
            result.threadId = m.threadId;
            resolve();
          } else {
            const err = new Error(m.message);
            err.name = m.name;
            reject(err);
          }
        } catch (e) {
          // The swap failed (a full disk): the worker's output is no longer wanted.
          failure = e;
          cancel();
        }
      });
      w.worker.postMessage({ type: 'run', id, job } satisfies CleanRequest);
    });
  } finally {
    w.passes.delete(id);
    clearInterval(poll);
    clearTimeout(cancelWait);
    fs.rmSync(work, { recursive: true, force: true });
  }
  return result;
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
    // The log last: an index renamed over the old log's is rebuilt if a crash comes between. The
    // pass always writes a .txnindex (empty when no aborted transaction is left), so a plan
    // carried out again never removes one already renamed into place.
    for (const suffix of ['.txnindex', '.index', '.timeindex', '.log']) {
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
  // Usually there is none: one stat, rather than rmSync's walk, for each of thousands of partitions at start-up.
  if (!fs.existsSync(work)) return;
  completeSwap(dir, work);
  fs.rmSync(work, { recursive: true, force: true });
}

export const cleaningDirFor = (dir: string): string =>
  path.join(path.dirname(dir), `${path.basename(dir)}${CLEANING_DIR_SUFFIX}`);
