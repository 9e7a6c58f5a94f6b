// A fixed offered load's schedule, and the send → ack latency distribution it yields, merged across
// generator processes. Latency is measured from the time a record was due on the schedule, not from
// the time the generator got round to sending it: a late tick, a GC pause or a full queue in the
// generator then counts against the record instead of being hidden ("coordinated omission").
import { percentile } from './stats.js';

/** Record i of `total` is due at i / rate seconds after the start. */
export class Schedule {
  constructor(
    readonly rate: number,
    readonly total: number,
  ) {
    if (!(rate > 0 && Number.isInteger(total) && total >= 0)) throw new RangeError(`bad schedule ${rate}/s × ${total}`);
  }

  /** Milliseconds after the start at which record i is due. */
  at(i: number): number {
    return (i * 1000) / this.rate;
  }

  /** How many records are due by `elapsedMs` after the start: after a late wake-up, all the overdue ones at once. */
  dueBy(elapsedMs: number): number {
    if (elapsedMs < 0) return 0;
    return Math.min(this.total, Math.floor((elapsedMs * this.rate) / 1000) + 1);
  }
}

export interface LatencySummary {
  count: number;
  avg: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/**
 * One distribution from the raw samples of every generator process (each offering its share of the
 * rate): percentiles are taken over all samples together — the p99 of the whole load is neither the
 * mean nor the maximum of the processes' p99s.
 */
export function mergeLatencies(parts: readonly ArrayLike<number>[]): LatencySummary {
  let n = 0;
  for (const p of parts) n += p.length;
  const all = new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  all.sort();
  let sum = 0;
  for (const v of all) sum += v;
  return {
    count: n,
    avg: n ? sum / n : Number.NaN,
    p50: n ? percentile(all, 0.5) : Number.NaN,
    p99: n ? percentile(all, 0.99) : Number.NaN,
    p999: n ? percentile(all, 0.999) : Number.NaN,
    max: n ? all[n - 1] : Number.NaN,
  };
}

/**
 * Issues every record of `schedule` on time: `send(i, dueAt)` for each record once it is due (after a late
 * wake-up, all the overdue ones in one go, each still given its own due time), sleeping until the next one
 * is due in between. Resolves with the start time once all are issued. `now` and `sleep` are injectable
 * for tests (performance.now() and a timer otherwise).
 */
export async function paced(
  schedule: Schedule,
  send: (i: number, dueAt: number) => void,
  now: () => number = () => performance.now(),
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<number> {
  const t0 = now();
  let sent = 0;
  while (sent < schedule.total) {
    const due = schedule.dueBy(now() - t0);
    for (; sent < due; sent++) send(sent, t0 + schedule.at(sent));
    // Timers fire ≥ 1 ms late: the records due meanwhile go together at the next wake-up.
    if (sent < schedule.total) await sleep(Math.max(0, t0 + schedule.at(sent) - now()));
  }
  return t0;
}
