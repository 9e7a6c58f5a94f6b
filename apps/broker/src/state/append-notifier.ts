import type { Partition } from './partition.js';

type Waiter = () => void;

/**
 * Wakes fetch requests waiting for data (long polling) when one of their partitions gets an
 * append. Waiting is event-driven: nothing polls a timer.
 */
export class AppendNotifier {
  private readonly waiters = new Map<Partition, Set<Waiter>>();

  /** Called by the partition after each append. */
  notify(partition: Partition): void {
    const set = this.waiters.get(partition);
    if (set === undefined) return;
    this.waiters.delete(partition);
    for (const w of set) w();
  }

  /**
   * Resolves when any of `partitions` gets an append, or after `timeoutMs`. The registrations
   * are removed once it fires.
   */
  waitForAppend(partitions: readonly Partition[], timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const wake: Waiter = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        for (const p of partitions) this.waiters.get(p)?.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, timeoutMs));
      for (const p of partitions) {
        let set = this.waiters.get(p);
        if (set === undefined) this.waiters.set(p, (set = new Set()));
        set.add(wake);
      }
    });
  }

  /** Waiters registered across all partitions (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }
}
