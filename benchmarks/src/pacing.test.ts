import { describe, expect, it } from 'vitest';
import { mergeLatencies, paced, Schedule } from './pacing.js';

/** A fake clock: sleep(ms) advances it by ms plus the lateness the test gives that wake-up. */
function fakeClock(lateness: (wakeUp: number) => number) {
  let t = 1000;
  let wakeUps = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += Math.max(ms, 1) + lateness(wakeUps++);
    },
  };
}

describe('pacing', () => {
  it('issues each record once it is due, overdue ones together after a stall, each with its own due time', async () => {
    const rate = 1000; // one record per ms
    // Wake-ups are 1 ms late, except the 10th, which comes 50 ms late (a GC pause in the generator).
    const clock = fakeClock((n) => (n === 10 ? 50 : 1));
    const calls: Array<{ i: number; dueAt: number; at: number }> = [];
    const t0 = await paced(
      new Schedule(rate, 200),
      (i, dueAt) => calls.push({ i, dueAt, at: clock.now() }),
      clock.now,
      clock.sleep,
    );
    expect(calls.map((c) => c.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const c of calls) {
      // Due at i / rate after the start, never issued before then.
      expect(c.dueAt).toBe(t0 + c.i);
      expect(c.at).toBeGreaterThanOrEqual(c.dueAt);
    }
    // The records due during the 50 ms stall went in one go, after it, still carrying their due times:
    // their latency counts the stall (measured from the call, it would be hidden).
    const burst = calls.filter((c) => c.at - c.dueAt >= 40);
    expect(burst.length).toBeGreaterThanOrEqual(10);
    expect(new Set(burst.map((c) => c.at)).size).toBe(1);
  });

  it('counts due records from the schedule: one at the start, the rest at their times, none past the end', () => {
    const s = new Schedule(83_887, 1000);
    expect(s.dueBy(-1)).toBe(0);
    expect(s.dueBy(0)).toBe(1);
    expect(s.dueBy(s.at(499))).toBe(500);
    expect(s.dueBy(1e9)).toBe(1000);
    expect(() => new Schedule(0, 10)).toThrow(RangeError);
  });

  it('merges processes by their samples: the p99 of the whole load is neither the mean nor the max of the p99s', () => {
    // Process A: 1,000 records, 8 of them (0.8%) slow; B: 500 records, 8 of them (1.6%) slower.
    const a = Float64Array.from({ length: 1000 }, (_, i) => (i < 8 ? 50 : 1));
    const b = Float64Array.from({ length: 500 }, (_, i) => (i < 8 ? 80 : 2));
    const pa = mergeLatencies([a]).p99;
    const pb = mergeLatencies([b]).p99;
    expect([pa, pb]).toEqual([1, 80]);
    const m = mergeLatencies([a, b]);
    // 16 of 1,500 records (1.07%) are at 50 ms or more: the p99 is 50.
    expect(m.p99).toBe(50);
    expect(m.p99).not.toBe(Math.max(pa, pb));
    expect(m.p99).not.toBe((pa + pb) / 2);
    expect(m.count).toBe(1500);
    expect(m.max).toBe(80);
    expect(m.p50).toBe(1);
    expect(m.avg).toBeCloseTo((992 + 8 * 50 + 492 * 2 + 8 * 80) / 1500);
  });
});
