import type { IoKind } from './io/types.js';

/** Where the log writes its one-line reports; pino's logger fits. */
export interface LogLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Per-partition settings, named after Kafka's topic configs. */
export interface LogConfig {
  io: IoKind;
  segmentBytes: number; // segment.bytes
  segmentMs: number; // segment.ms
  segmentIndexBytes: number; // segment.index.bytes
  indexIntervalBytes: number; // index.interval.bytes
  flushMessages: number; // flush.messages
  flushMs: number; // flush.ms
  /** preallocate: the active segment's log file is set to segmentBytes before its first append. */
  preallocate: boolean;
  retentionMs: number; // retention.ms (-1: unlimited)
  retentionBytes: number; // retention.bytes (-1: unlimited)
  cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  deleteRetentionMs: number; // delete.retention.ms
  minCleanableDirtyRatio: number; // min.cleanable.dirty.ratio
  minCompactionLagMs: number; // min.compaction.lag.ms
  maxMessageBytes: number; // max.message.bytes
  messageTimestampType: 'CreateTime' | 'LogAppendTime';
  /** Verify CRC-32C of appended batches (the broker may do it itself and turn this off). */
  verifyCrcOnAppend: boolean;
  logger: LogLogger;
  /** Clock, for tests. */
  now: () => number;
}

export const consoleLogger: LogLogger = {
  info: (m) => console.info(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
};

export const DEFAULT_LOG_CONFIG: LogConfig = {
  io: 'mmap',
  segmentBytes: 1 << 30,
  segmentMs: 7 * 24 * 3600_000,
  segmentIndexBytes: 10 << 20,
  indexIntervalBytes: 4096,
  flushMessages: Number.MAX_SAFE_INTEGER,
  flushMs: Number.MAX_SAFE_INTEGER,
  preallocate: false,
  retentionMs: 7 * 24 * 3600_000,
  retentionBytes: -1,
  cleanupPolicy: 'delete',
  deleteRetentionMs: 24 * 3600_000,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
  maxMessageBytes: 1048588,
  messageTimestampType: 'CreateTime',
  verifyCrcOnAppend: true,
  logger: consoleLogger,
  now: Date.now,
};

export function logConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const c = { ...DEFAULT_LOG_CONFIG, ...overrides };
  if (c.segmentBytes < 64) throw new RangeError(`segment.bytes ${c.segmentBytes} is too small`);
  if (c.segmentIndexBytes < 16) throw new RangeError(`segment.index.bytes ${c.segmentIndexBytes} is too small`);
  if (c.indexIntervalBytes < 0) throw new RangeError('index.interval.bytes must be >= 0');
  return c;
}
