import { describe, expect, it } from 'vitest';
import { parseStalls, stallsBetween } from './stalls.js';

const exposition = (gcCount: number, gcUnder10ms: number, produceUnder5ms: number, produceAll: number) => `
# HELP sluice_nodejs_eventloop_lag_p50_seconds The 50th percentile of the recorded event loop delays.
sluice_nodejs_eventloop_lag_p50_seconds 0.0101
sluice_nodejs_eventloop_lag_p99_seconds 0.0412
sluice_nodejs_eventloop_lag_max_seconds 0.257
sluice_nodejs_eventloop_lag_seconds 0.002
sluice_nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 1
sluice_nodejs_gc_duration_seconds_bucket{le="0.01",kind="minor"} ${gcUnder10ms}
sluice_nodejs_gc_duration_seconds_bucket{le="0.1",kind="minor"} ${gcCount}
sluice_nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} ${gcCount}
sluice_nodejs_gc_duration_seconds_sum{kind="minor"} ${gcCount * 0.004}
sluice_nodejs_gc_duration_seconds_count{kind="minor"} ${gcCount}
sluice_request_duration_seconds_bucket{le="0.005",api="Produce",version="9"} ${produceUnder5ms}
sluice_request_duration_seconds_bucket{le="0.025",api="Produce",version="9"} ${produceAll}
sluice_request_duration_seconds_bucket{le="+Inf",api="Produce",version="9"} ${produceAll}
sluice_request_duration_seconds_bucket{le="0.005",api="Fetch",version="16"} 0
sluice_request_duration_seconds_bucket{le="+Inf",api="Fetch",version="16"} 50
`;

describe('stalls', () => {
  it('reads the event-loop window, and GC and Produce figures as differences between two scrapes', () => {
    const before = parseStalls(exposition(10, 9, 100, 100));
    const after = parseStalls(exposition(30, 25, 1090, 1100));
    expect(after.loopP99Ms).toBeCloseTo(41.2);
    expect(after.loopMaxMs).toBeCloseTo(257);
    const s = stallsBetween(before, after);
    expect(s.gcPauses).toBe(20);
    expect(s.gcOver10ms).toBe(4);
    expect(s.gcOver100ms).toBe(0);
    expect(s.gcMs).toBeCloseTo(80);
    // 1,000 Produce requests, 990 under 5 ms: the 99% bound is 5 ms (Fetch is not counted).
    expect(s.produceRequests).toBe(1000);
    expect(s.produceP99Ms).toBe(5);
    const slow = stallsBetween(before, parseStalls(exposition(30, 25, 1080, 1100)));
    expect(slow.produceP99Ms).toBe(25);
  });
});
