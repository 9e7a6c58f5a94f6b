import fs from 'node:fs';
import path from 'node:path';
import { MAX_BATCH_BYTES } from './batch.js';
import type { LogConfig } from './config.js';
import { LogStorageError } from './errors.js';
import type { FileIo } from './io/types.js';
import { LEADER_EPOCH_CHECKPOINT } from './leader-epoch-cache.js';
import { LogSegment, type ScanResult } from './segment.js';

export interface LoadOptions {
  /** Offset below which everything was flushed before the last stop. */
  recoveryPoint: bigint;
  /** A clean shutdown marker was found: skip checking batches. */
  hadCleanShutdown: boolean;
}

const SEGMENT_FILE = /^(\d{20})\.(log|index|timeindex|txnindex)$/;
const LEFTOVER = /\.(deleted|cleaned|tmp)$/;
const KNOWN = new Set([LEADER_EPOCH_CHECKPOINT, 'partition.metadata']);
/** Bound on segments per partition (a 1 GiB segment each would be a petabyte). */
const MAX_SEGMENTS = 1_000_000;

/**
 * Opens the segments of a partition directory. Segments from the one holding the recovery point
 * onward are checked batch by batch (bounds, magic, CRC-32C, offset order) after an unclean stop,
 * cut at the first invalid byte, and have their indexes rebuilt; segments after a cut are
 * deleted. Says in one log line what was cut.
 */
export function loadSegments(dir: string, io: FileIo, config: LogConfig, options: LoadOptions): LogSegment[] {
  const name = path.basename(dir);
  const bases: bigint[] = [];
  const names = fs.readdirSync(dir);
  if (names.length > 3 * MAX_SEGMENTS) throw new LogStorageError(dir, 0, `${names.length} files is too many`);
  const logs = new Set(names.filter((n) => n.endsWith('.log')));
  for (const n of names) {
    const m = SEGMENT_FILE.exec(n);
    if (m !== null) {
      if (m[2] === 'log') bases.push(BigInt(m[1]));
      else if (!logs.has(`${m[1]}.log`)) {
        config.logger.warn(`${name}: deleting index ${n} that has no log segment`);
        fs.rmSync(path.join(dir, n), { force: true });
      }
    } else if (LEFTOVER.test(n)) {
      fs.rmSync(path.join(dir, n), { force: true });
    } else if (!KNOWN.has(n)) {
      config.logger.warn(`${name}: ignoring stray file ${path.join(dir, n)}`);
    }
  }
  bases.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  const segments: LogSegment[] = [];
  let firstRecovered = bases.length;
  if (!options.hadCleanShutdown) {
    firstRecovered = 0;
    while (firstRecovered + 1 < bases.length && bases[firstRecovered + 1] <= options.recoveryPoint) firstRecovered++;
  }
  const maxBatch = Math.min(MAX_BATCH_BYTES, Math.max(config.maxMessageBytes, config.segmentBytes) + 1024);
  let cut: string | null = null;
  for (let i = 0; i < bases.length; i++) {
    const seg = LogSegment.open(io, dir, bases[i], config);
    const fileSize = seg.log.size();
    let recovered = i >= firstRecovered;
    if (!recovered) {
      const badIndex = seg.index.firstBadEntry(fileSize);
      const badTime = seg.timeIndex.firstBadEntry(0x7fffffff);
      if (badIndex >= 0 || badTime >= 0) {
        const [file, at] = badIndex >= 0 ? [seg.index.path, badIndex * 8] : [seg.timeIndex.path, badTime * 12];
        config.logger.warn(`${name}: index ${file} is inconsistent at byte ${at}; rebuilding from the log`);
        recovered = true;
      }
    }
    // Zeros after the last batch of a file at its preallocated size are free space, not a torn write.
    const torn = (r: ScanResult) => r.stopReason !== null && !(r.tailIsZero && fileSize >= config.segmentBytes);
    let result = recovered ? null : seg.scan(seg.lastIndexedPosition(), false, maxBatch);
    // A scan from the last indexed batch knows nothing of the batches before it: when it stops
    // early (that batch or a later one is torn), the end offset must come from the whole segment,
    // or offsets still on disk would be handed out again.
    if (result === null || torn(result)) {
      seg.resetIndexes();
      result = seg.scan(0, true, maxBatch);
    }
    if (i > 0 && segments.length > 0 && segments[segments.length - 1].nextOffset > seg.baseOffset) {
      seg.close();
      throw new LogStorageError(seg.fileName, 0, `segment base offset ${seg.baseOffset} overlaps the previous segment`);
    }
    segments.push(seg);
    if (torn(result)) {
      cut = `truncated ${seg.fileName} at byte ${result.validBytes} of ${fileSize} (${result.stopReason})`;
    }
    seg.trimToSize();
    if (cut !== null) {
      // Nothing after a hole can be trusted as part of the log.
      const later = bases.slice(i + 1);
      for (const b of later) {
        const dropped = LogSegment.open(io, dir, b, config);
        dropped.delete();
      }
      if (later.length > 0) cut += `, deleted ${later.length} later segment(s) from offset ${later[0]}`;
      break;
    }
  }
  const end = segments.length === 0 ? 'empty' : `log end offset ${segments[segments.length - 1].nextOffset}`;
  if (cut !== null) config.logger.warn(`${name}: recovery ${cut}; ${end}`);
  else if (firstRecovered < bases.length) {
    config.logger.info(`${name}: recovered ${bases.length - firstRecovered} segment(s) without loss; ${end}`);
  }
  return segments;
}
