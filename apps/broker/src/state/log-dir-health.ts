// Whether the data directory takes writes. A write that fails for lack of space or an I/O error
// takes the directory offline, as Kafka does (LogDirFailureChannel): writes are refused with
// KAFKA_STORAGE_ERROR, with one log line for the whole episode instead of one per write. Unlike
// Kafka, which needs a restart to bring an offline directory back, reads go on being served and
// the directory comes back online by itself once a probe write succeeds again.

import fs from 'node:fs';
import path from 'node:path';
import { isDiskFailure } from '@sluice/log';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import type { Logger } from 'pino';

/**
 * The disk, not the request, is at fault (Kafka's IOException on a log dir): a disk failure, or an
 * error that wraps one (the metadata store answers KAFKA_STORAGE_ERROR with the cause).
 */
export function isStorageError(err: unknown): boolean {
  return isDiskFailure(err) || isDiskFailure((err as { cause?: unknown } | null)?.cause);
}

/** A probe writes this much, so a directory with a few bytes free is not taken for usable. */
const PROBE_BYTES = 64 * 1024;
export const PROBE_FILE = '.sluice-space-probe';

export interface LogDirHealthOptions {
  /** How often an offline directory is probed. Default 1 s. */
  probeIntervalMs?: number;
  now?: () => number;
}

export class LogDirHealth {
  private offlineError: Error | null = null;
  private offlineSinceMs = 0;
  /** Storage errors since the directory went offline (reported when it comes back). */
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly probeIntervalMs: number;
  private readonly now: () => number;
  private readonly onlineListeners: (() => void)[] = [];

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
    opts: LogDirHealthOptions = {},
  ) {
    this.probeIntervalMs = opts.probeIntervalMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  get online(): boolean {
    return this.offlineError === null;
  }

  /**
   * Takes the directory offline when `err` is a storage error (logging once per episode); true
   * when it was one. `what` names the write that failed.
   */
  noteError(err: unknown, what: string): boolean {
    if (!isStorageError(err)) return false;
    this.failures++;
    if (this.offlineError !== null) return true;
    const cause = (err as { cause?: unknown }).cause;
    this.offlineError = (isDiskFailure(err) ? err : cause) as Error;
    this.offlineSinceMs = this.now();
    this.logger.error(
      { dir: this.dir, code: (this.offlineError as { code?: string }).code, during: what },
      `log dir ${this.dir} is offline: ${this.offlineError.message} (during ${what}); writes are refused with KAFKA_STORAGE_ERROR, reads go on, and it comes back once a probe write succeeds`,
    );
    this.timer = setInterval(() => this.probe(), this.probeIntervalMs);
    this.timer.unref();
    return true;
  }

  /** Runs `listener` each time the directory comes back online. */
  onOnline(listener: () => void): void {
    this.onlineListeners.push(listener);
  }

  /** Throws KAFKA_STORAGE_ERROR while the directory is offline. */
  checkWritable(): void {
    if (this.offlineError !== null) {
      throw new KafkaError(
        ERROR_CODES.KAFKA_STORAGE_ERROR,
        `log dir ${this.dir} is offline: ${this.offlineError.message}`,
      );
    }
  }

  /** Writes, syncs and removes a probe file; brings the directory back online when that works. */
  probe(): boolean {
    if (this.offlineError === null) return true;
    const file = path.join(this.dir, PROBE_FILE);
    try {
      const fd = fs.openSync(file, 'w');
      try {
        fs.writeFileSync(fd, Buffer.alloc(PROBE_BYTES));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return false;
    } finally {
      fs.rmSync(file, { force: true });
    }
    this.logger.info(
      { dir: this.dir, offlineMs: this.now() - this.offlineSinceMs, failedWrites: this.failures },
      `log dir ${this.dir} is back online`,
    );
    this.offlineError = null;
    this.failures = 0;
    this.stopProbing();
    for (const listener of this.onlineListeners) listener();
    return true;
  }

  private stopProbing(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.stopProbing();
  }
}
