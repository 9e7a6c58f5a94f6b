import { ERROR_CODES, KafkaError } from '@sluice/protocol';

/** Whether a waiting acks=all append is done: null while not, else its error code (0: acknowledged). */
export type CompletionCheck = () => number | null;

interface Waiter {
  requiredOffset: bigint;
  check: CompletionCheck;
  resolve: (errorCode: number) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Timers, injected so that tests control time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clearTimeout(timer: ReturnType<typeof setTimeout>): void;
}

const NODE_TIMERS: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (t) => clearTimeout(t),
};

/** Kafka's default: no such bound exists there, but a broker here must not hold unbounded promises. */
export const DEFAULT_MAX_WAITING = 100_000;

/**
 * acks=all appends waiting for the high watermark (Kafka's DelayedProduce purgatory), per
 * partition in offset order. A follower's fetch that moves the high watermark wakes its
 * partition (`wake`); a waiter ends when its check says so, after its timeout
 * (REQUEST_TIMED_OUT), or when the leadership goes (`wake` again: the check answers
 * NOT_LEADER_OR_FOLLOWER). At most `maxWaiting` wait at once; past that `wait` throws a
 * retriable error (the record is in the log: an idempotent retry finds it).
 */
export class ProducePurgatory {
  private readonly byPartition = new Map<string, Waiter[]>();
  private waiting = 0;

  constructor(
    private readonly maxWaiting = DEFAULT_MAX_WAITING,
    private readonly timers: Timers = NODE_TIMERS,
  ) {}

  get size(): number {
    return this.waiting;
  }

  /**
   * Waits until `check` answers for the append ending before `requiredOffset` of partition `key`,
   * at most `timeoutMs`. Resolves with the partition's error code.
   */
  wait(key: string, requiredOffset: bigint, timeoutMs: number, check: CompletionCheck): Promise<number> {
    const now = check();
    if (now !== null) return Promise.resolve(now);
    if (this.waiting >= this.maxWaiting) {
      throw new KafkaError(
        ERROR_CODES.REQUEST_TIMED_OUT,
        `Too many acks=all produce requests waiting for replication (${this.maxWaiting}).`,
      );
    }
    return new Promise<number>((resolve) => {
      let list = this.byPartition.get(key);
      if (!list) {
        list = [];
        this.byPartition.set(key, list);
      }
      const waiter: Waiter = {
        requiredOffset,
        check,
        resolve,
        timer: this.timers.setTimeout(() => {
          this.remove(key, waiter);
          resolve(ERROR_CODES.REQUEST_TIMED_OUT);
        }, timeoutMs),
      };
      // Appends come in offset order; a later append that waits for less goes before those after it.
      let at = list.length;
      while (at > 0 && list[at - 1].requiredOffset > requiredOffset) at--;
      list.splice(at, 0, waiter);
      this.waiting++;
    });
  }

  /**
   * Completes the waiters of `key` whose checks now answer, in offset order; stops at the first
   * that is still waiting (the high watermark covers a prefix).
   */
  wake(key: string): void {
    const list = this.byPartition.get(key);
    if (!list) return;
    let done = 0;
    // Bounded by the list's length.
    while (done < list.length) {
      const w = list[done];
      const code = w.check();
      if (code === null) break;
      this.timers.clearTimeout(w.timer);
      w.resolve(code);
      done++;
    }
    if (done === 0) return;
    list.splice(0, done);
    this.waiting -= done;
    if (list.length === 0) this.byPartition.delete(key);
  }

  /** Every partition with waiters (after a leadership change, say). */
  wakeAll(): void {
    for (const key of [...this.byPartition.keys()]) this.wake(key);
  }

  /** Ends every waiter with `errorCode` (shutdown). */
  failAll(errorCode: number): void {
    for (const list of this.byPartition.values()) {
      for (const w of list) {
        this.timers.clearTimeout(w.timer);
        w.resolve(errorCode);
      }
    }
    this.byPartition.clear();
    this.waiting = 0;
  }

  private remove(key: string, waiter: Waiter): void {
    const list = this.byPartition.get(key);
    if (!list) return;
    const i = list.indexOf(waiter);
    if (i < 0) return;
    list.splice(i, 1);
    this.waiting--;
    if (list.length === 0) this.byPartition.delete(key);
  }
}
