/** A pending timer; cancel() is idempotent. */
export interface TimerHandle {
  cancel(): void;
}

/** Time and timers, injected so that the state machine can be driven deterministically in tests. */
export interface Scheduler {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `delayMs` (0 runs it on a later turn, never synchronously). */
  schedule(delayMs: number, fn: () => void): TimerHandle;
}

/** Node's clock and timers; timers do not keep the process alive. */
export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  schedule(delayMs, fn) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Upper bound on timers fired by one advance(), so a timer that keeps rescheduling itself at 0 ms cannot spin forever. */
const MAX_FIRES_PER_ADVANCE = 100_000;

/** A clock that only moves when told to: advance() fires due timers in time order. */
export class ManualScheduler implements Scheduler {
  private time: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(startMs = 1_700_000_000_000) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  schedule(delayMs: number, fn: () => void): TimerHandle {
    const timer: ManualTimer = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves the clock forward by `ms`, firing every timer due on the way (including ones they schedule). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (let fired = 0; fired < MAX_FIRES_PER_ADVANCE; fired++) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.at <= target && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq)))
          next = t;
      }
      if (next === undefined) {
        this.time = target;
        return;
      }
      this.time = next.at;
      next.cancelled = true;
      next.fn();
    }
    throw new Error(`ManualScheduler: more than ${MAX_FIRES_PER_ADVANCE} timers fired in one advance`);
  }
}
