import fs from 'node:fs';
import path from 'node:path';
import {
  offsetCheckpointText,
  readOffsetCheckpoint,
  syncDir,
  syncDirInBackground,
  writeFileAtomic,
  writeTempInBackground,
} from './checkpoint.js';
import { cleanLog } from './cleaner.js';
import { type LogConfig, logConfig } from './config.js';
import { isDiskFailure } from './errors.js';
import { lockDataDir } from './lock-file.js';
import { PartitionLog, parsePartitionDir } from './partition-log.js';
import { applyRetention } from './retention.js';

export const RECOVERY_POINT_CHECKPOINT = 'recovery-point-offset-checkpoint';
export const LOG_START_OFFSET_CHECKPOINT = 'log-start-offset-checkpoint';
export const CLEAN_SHUTDOWN_FILE = '.kafka_cleanshutdown';
/** How far each compacted log is clean, so a restart does not compact everything again. */
export const CLEANER_OFFSET_CHECKPOINT = 'cleaner-offset-checkpoint';

export interface LogManagerOptions {
  /** Per-topic overrides of the data dir's defaults. */
  topicConfig?: (topic: string) => Partial<LogConfig>;
  /** Runs flush.ms checks, retention and checkpoints on a timer (ms); 0 turns the timer off. */
  maintenanceIntervalMs?: number;
}

/**
 * All partition logs of one data directory: holds the directory lock, opens every partition
 * found (recovering those after an unclean stop), and owns the data dir's checkpoints and the
 * clean shutdown marker.
 */
export class LogManager {
  readonly dataDir: string;
  readonly defaults: Partial<LogConfig>;
  private readonly options: LogManagerOptions;
  private readonly logs = new Map<string, PartitionLog>();
  /** The text last written to each checkpoint file, by file name. */
  private readonly writtenCheckpoints = new Map<string, string>();
  private readonly release: () => void;
  private timer: NodeJS.Timeout | null = null;
  /** The maintenance round's checkpoint write on the libuv threadpool, if one is under way. */
  private checkpointing: Promise<void> | null = null;
  /** Its failure, thrown by the next runMaintenance (whose caller handles disk failures). */
  private checkpointFailure: Error | null = null;
  /** Synchronous checkpoint writes so far: a background write that started before one is dropped, not renamed over it. */
  private checkpointWrites = 0;
  /** The compaction pass under way, if any. */
  private cleaning: Promise<void> | null = null;
  private closed = false;

  private constructor(dataDir: string, defaults: Partial<LogConfig>, options: LogManagerOptions, release: () => void) {
    this.dataDir = dataDir;
    this.defaults = defaults;
    this.options = options;
    this.release = release;
  }

  static open(dataDir: string, defaults: Partial<LogConfig> = {}, options: LogManagerOptions = {}): LogManager {
    fs.mkdirSync(dataDir, { recursive: true });
    const release = lockDataDir(dataDir);
    const m = new LogManager(dataDir, defaults, options, release);
    try {
      m.loadAll();
    } catch (e) {
      try {
        m.closeLogs();
      } finally {
        release();
      }
      throw e;
    }
    const interval = options.maintenanceIntervalMs ?? 0;
    if (interval > 0) {
      m.timer = setInterval(() => m.runMaintenance(), interval);
      m.timer.unref();
    }
    return m;
  }

  private configFor(topic: string): LogConfig {
    return logConfig({ ...this.defaults, ...this.options.topicConfig?.(topic) });
  }

  private loadAll(): void {
    const marker = path.join(this.dataDir, CLEAN_SHUTDOWN_FILE);
    const hadCleanShutdown = fs.existsSync(marker);
    const recoveryPoints = readOffsetCheckpoint(path.join(this.dataDir, RECOVERY_POINT_CHECKPOINT));
    const startOffsets = readOffsetCheckpoint(path.join(this.dataDir, LOG_START_OFFSET_CHECKPOINT));
    const cleanerOffsets = readOffsetCheckpoint(path.join(this.dataDir, CLEANER_OFFSET_CHECKPOINT));
    // What the files hold counts as written (each was fsynced before its rename), so the start-up
    // checkpoint below rewrites and fsyncs only the files whose content the recovery changed.
    for (const name of [RECOVERY_POINT_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, CLEANER_OFFSET_CHECKPOINT]) {
      const text = readTextIfExists(path.join(this.dataDir, name));
      if (text !== null) this.writtenCheckpoints.set(name, text);
    }
    // One config per topic, not per partition: a topic of thousands of partitions shares it.
    const configs = new Map<string, LogConfig>();
    for (const entry of fs.readdirSync(this.dataDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      let parsed: { topic: string; partition: number };
      try {
        parsed = parsePartitionDir(entry.name);
      } catch {
        this.configOrDefaultLogger().warn(`ignoring directory ${path.join(this.dataDir, entry.name)}: not a partition`);
        continue;
      }
      let config = configs.get(parsed.topic);
      if (config === undefined) {
        config = this.configFor(parsed.topic);
        configs.set(parsed.topic, config);
      }
      const log = PartitionLog.open(path.join(this.dataDir, entry.name), config, {
        hadCleanShutdown,
        recoveryPoint: recoveryPoints.get(entry.name) ?? 0n,
        logStartOffset: startOffsets.get(entry.name),
      });
      // A recovery that cut the log also cuts what counts as clean.
      const clean = cleanerOffsets.get(entry.name) ?? 0n;
      log.cleanerCheckpoint = clean < log.logEndOffset ? clean : log.logEndOffset;
      this.logs.set(entry.name, log);
    }
    // From here on a crash is an unclean stop.
    fs.rmSync(marker, { force: true });
    try {
      this.checkpoint();
    } catch (err) {
      // A full disk leaves the logs readable: the checkpoints are written by a later round.
      if (!isDiskFailure(err)) throw err;
      this.configOrDefaultLogger().warn(`checkpoints not written at start-up: ${(err as Error).message}`);
    }
  }

  private configOrDefaultLogger() {
    return logConfig(this.defaults).logger;
  }

  get(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(`${topic}-${partition}`);
  }

  all(): IterableIterator<PartitionLog> {
    return this.logs.values();
  }

  getOrCreate(topic: string, partition: number, overrides: Partial<LogConfig> = {}): PartitionLog {
    const key = `${topic}-${partition}`;
    let log = this.logs.get(key);
    if (log === undefined) {
      parsePartitionDir(key);
      const dir = path.join(this.dataDir, key);
      const existed = fs.existsSync(dir);
      try {
        log = PartitionLog.open(dir, { ...this.configFor(topic), ...overrides }, { hadCleanShutdown: true });
      } catch (e) {
        // A partition that could not be created (out of descriptors or space) leaves no directory.
        if (!existed) fs.rmSync(dir, { recursive: true, force: true });
        throw e;
      }
      syncDir(this.dataDir);
      this.logs.set(key, log);
    }
    return log;
  }

  deleteLog(topic: string, partition: number): boolean {
    return this.deleteLogs(topic, partition, partition + 1) > 0;
  }

  /**
   * Deletes the logs of partitions [from, to) of `topic` that exist, then checkpoints once (not
   * once per partition: a topic of thousands would rewrite the checkpoints thousands of times).
   * Returns how many it deleted.
   */
  deleteLogs(topic: string, from: number, to: number): number {
    let deleted = 0;
    for (let p = from; p < to; p++) {
      const key = `${topic}-${p}`;
      const log = this.logs.get(key);
      if (log === undefined) continue;
      this.logs.delete(key);
      log.delete();
      deleted++;
    }
    if (deleted > 0) this.checkpoint();
    return deleted;
  }

  /**
   * Writes the recovery-point, log-start-offset and cleaner-offset checkpoints of this data dir —
   * each only when its content changed since this manager last wrote it, so an idle broker does
   * not rewrite and fsync three files every maintenance round.
   */
  checkpoint(): void {
    for (const [name, text] of this.changedCheckpoints()) {
      writeFileAtomic(path.join(this.dataDir, name), text);
      this.writtenCheckpoints.set(name, text);
      this.checkpointWrites++;
    }
  }

  /** The checkpoint files whose text differs from what this manager last wrote, with their new text. */
  private changedCheckpoints(): [name: string, text: string][] {
    const logs = [...this.logs.values()];
    const all: [string, string][] = [
      [RECOVERY_POINT_CHECKPOINT, offsetCheckpointText(logs.map((l) => [l.topic, l.partition, l.recoveryPoint]))],
      [LOG_START_OFFSET_CHECKPOINT, offsetCheckpointText(logs.map((l) => [l.topic, l.partition, l.logStartOffset]))],
      [
        CLEANER_OFFSET_CHECKPOINT,
        offsetCheckpointText(
          logs.filter((l) => l.cleanerCheckpoint > 0n).map((l) => [l.topic, l.partition, l.cleanerCheckpoint]),
        ),
      ],
    ];
    return all.filter(([name, text]) => this.writtenCheckpoints.get(name) !== text);
  }

  /**
   * checkpoint() for the maintenance round: the temp files are written and fsynced on the libuv
   * threadpool (the recovery point moves after every roll, and these fsyncs held the event loop for up
   * to 61 ms every round), then renamed on the event loop unless a synchronous checkpoint (close,
   * topic deletion) was written meanwhile. One at a time; a round that finds one under way skips.
   */
  checkpointInBackground(): Promise<void> {
    if (this.checkpointing !== null) return this.checkpointing;
    const due = this.changedCheckpoints();
    if (due.length === 0) return Promise.resolve();
    const writes = this.checkpointWrites;
    const stale = () => this.closed || writes !== this.checkpointWrites;
    const run = async () => {
      const temps = await Promise.all(
        due.map(([name, text]) => writeTempInBackground(path.join(this.dataDir, name), text)),
      );
      if (stale()) {
        for (const t of temps) fs.rmSync(t, { force: true });
        return;
      }
      for (const [i, [name]] of due.entries()) fs.renameSync(temps[i], path.join(this.dataDir, name));
      await syncDirInBackground(this.dataDir);
      if (!stale()) for (const [name, text] of due) this.writtenCheckpoints.set(name, text);
    };
    this.checkpointing = run()
      .catch((err: Error) => {
        this.checkpointFailure = err;
      })
      .finally(() => {
        this.checkpointing = null;
      });
    return this.checkpointing;
  }

  /**
   * flush.ms, retention and checkpoints; for the timer or a caller's own scheduler. The checkpoints
   * are written in the background (the returned promise; it does not reject: a failure is thrown by
   * the next call instead, to the caller that handles disk failures).
   */
  runMaintenance(nowMs = Date.now()): Promise<void> {
    if (this.closed) return Promise.resolve();
    for (const log of this.logs.values()) {
      try {
        log.maybeFlushByTime(nowMs);
        applyRetention(log, nowMs);
      } catch (e) {
        log.config.logger.error(`${log.topic}-${log.partition}: maintenance failed: ${(e as Error).message}`);
      }
    }
    const failure = this.checkpointFailure;
    this.checkpointFailure = null;
    if (failure !== null) throw failure;
    const checkpointed = this.checkpointInBackground();
    this.startCleaning(nowMs);
    return checkpointed;
  }

  /**
   * Compacts the logs whose cleanup.policy includes compact, one log at a time, in the cleaner's
   * worker thread (see cleanLog), so appends never wait behind it. At most one pass
   * runs; a maintenance round that finds one running leaves it be.
   */
  startCleaning(nowMs = Date.now()): Promise<void> {
    if (this.cleaning !== null) return this.cleaning;
    const due = [...this.logs.values()].filter((l) => l.config.cleanupPolicy !== 'delete');
    if (due.length === 0) return Promise.resolve();
    this.cleaning = (async () => {
      for (const log of due) {
        if (this.closed) break;
        try {
          const r = await cleanLog(log, nowMs);
          if (r !== null && r.recordsRemoved > 0) {
            log.config.logger.info(
              `${log.topic}-${log.partition}: compacted ${r.segmentsCleaned} segment(s), removed ${r.recordsRemoved} record(s), ${r.bytesBefore} → ${r.bytesAfter} bytes`,
            );
          }
        } catch (e) {
          if (!log.isClosed) {
            log.config.logger.error(`${log.topic}-${log.partition}: compaction failed: ${(e as Error).message}`);
          }
        }
      }
    })().finally(() => {
      this.cleaning = null;
    });
    return this.cleaning;
  }

  /** Closes every log even when one fails to (a full disk); the first failure is thrown after. */
  private closeLogs(): void {
    let failure: unknown;
    for (const log of this.logs.values()) {
      try {
        log.close();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Flushes and closes every log, writes checkpoints and the clean shutdown marker, unlocks. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    // The lock goes even when a full disk fails the last writes (then there is no clean shutdown marker).
    try {
      this.closeLogs();
      this.checkpoint();
      fs.writeFileSync(path.join(this.dataDir, CLEAN_SHUTDOWN_FILE), '');
      syncDir(this.dataDir);
    } finally {
      this.release();
    }
  }
}

function readTextIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
