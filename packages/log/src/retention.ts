import type { PartitionLog } from './partition-log.js';
import type { LogSegment } from './segment.js';

/** The time Kafka ages a segment by: its largest record timestamp, else its file's mtime. */
export function segmentLargestTimestampMs(seg: LogSegment): number {
  return seg.maxTimestamp >= 0n ? Number(seg.maxTimestamp) : seg.lastModifiedMs;
}

/**
 * Deletes whole non-active segments past `retention.ms` or beyond `retention.bytes`, and those
 * below the log start offset (after DeleteRecords). An active segment that has itself expired is
 * rolled first, so that it can go too, as Kafka does: otherwise an idle partition would keep
 * expired records forever. Returns how many segments went.
 */
export function applyRetention(log: PartitionLog, nowMs = log.config.now()): number {
  const c = log.config;
  const deletes = c.cleanupPolicy !== 'compact';
  const segments = log.segmentList();
  const active = segments[segments.length - 1];
  if (deletes && c.retentionMs >= 0 && active.size > 0 && nowMs - segmentLargestTimestampMs(active) > c.retentionMs) {
    log.roll();
  }
  return log.deleteSegmentsWhile((seg, next, sizeAfter) => {
    if (next !== undefined && next.baseOffset <= log.logStartOffset) return true;
    if (!deletes) return false;
    if (c.retentionMs >= 0 && nowMs - segmentLargestTimestampMs(seg) > c.retentionMs) return true;
    return c.retentionBytes >= 0 && sizeAfter >= c.retentionBytes;
  });
}
