import { ERROR_CODES, KafkaError } from '../errors.js';

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * buffer.memory: the bytes of records accepted by send() and not yet acknowledged. When full,
 * acquire() waits (first come, first served) until batches complete, or fails after maxBlockMs.
 */
export class MemoryLimiter {
  used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly limit: number,
    private readonly maxBlockMs: number,
  ) {}

  /** Takes `bytes` if they are free now and nobody waits; never queues. */
  tryAcquire(bytes: number): boolean {
    if (bytes > this.limit || this.waiters.length > 0 || this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  /** Takes `bytes` now (returns true) or returns a promise that resolves once they are taken. */
  acquire(bytes: number): true | Promise<void> {
    if (bytes > this.limit) {
      throw new KafkaError(
        ERROR_CODES.RECORD_LIST_TOO_LARGE,
        `a record of ${bytes} bytes is larger than buffer.memory (${this.limit})`,
      );
    }
    if (this.waiters.length === 0 && this.used + bytes <= this.limit) {
      this.used += bytes;
      return true;
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        bytes,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(
            new KafkaError(
              ERROR_CODES.REQUEST_TIMED_OUT,
              `buffer.memory full for ${this.maxBlockMs} ms (max.block.ms)`,
            ),
          );
          this.wake();
        }, this.maxBlockMs),
      };
      this.waiters.push(w);
    });
  }

  get waiting(): number {
    return this.waiters.length;
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) throw new Error(`buffer.memory accounting went negative (${this.used})`);
    this.wake();
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0].bytes <= this.limit) {
      const w = this.waiters.shift() as Waiter;
      clearTimeout(w.timer);
      this.used += w.bytes;
      w.resolve();
    }
  }

  failAll(err: unknown): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
