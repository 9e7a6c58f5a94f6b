// Event-loop stalls and GC pauses of a Sluice broker over one load, read from its Prometheus endpoint
// (prom-client's default metrics: an event-loop delay histogram from perf_hooks.monitorEventLoopDelay,
// reset at each scrape, and a cumulative GC pause histogram). Scrape once before the load (which starts
// a fresh event-loop window) and once after; `stallsBetween` gives the load's figures.

export interface StallSample {
  /** Event-loop delay since the previous scrape, ms (includes the monitor's 10 ms sampling interval). */
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  /** Cumulative GC pause seconds, pause count, and pauses of ≥ 10 ms / ≥ 100 ms (bucket bounds). */
  gcSeconds: number;
  gcCount: number;
  gcOver10ms: number;
  gcOver100ms: number;
  /** Cumulative Produce request count per duration bucket upper bound (s), from the broker's own histogram. */
  produceBuckets: Map<number, number>;
}

export interface Stalls {
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  gcMs: number;
  gcPauses: number;
  gcOver10ms: number;
  gcOver100ms: number;
  /** Produce requests in the load and the bucket bound under which 99% of them were answered (read → queued), ms. */
  produceRequests: number;
  produceP99Ms: number;
}

/** Sums every series of `name` (all label sets) in a Prometheus text exposition; NaN when absent. */
function metric(text: string, name: string, le?: string): number {
  let sum = Number.NaN;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (le !== undefined && !rest.includes(`le="${le}"`)) continue;
    const v = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (!Number.isFinite(v)) continue;
    sum = Number.isNaN(sum) ? v : sum + v;
  }
  return sum;
}

export function parseStalls(text: string, prefix = 'sluice_'): StallSample {
  const p = `${prefix}nodejs_`;
  const count = metric(text, `${p}gc_duration_seconds_count`);
  return {
    loopP50Ms: metric(text, `${p}eventloop_lag_p50_seconds`) * 1000,
    loopP99Ms: metric(text, `${p}eventloop_lag_p99_seconds`) * 1000,
    loopMaxMs: metric(text, `${p}eventloop_lag_max_seconds`) * 1000,
    gcSeconds: metric(text, `${p}gc_duration_seconds_sum`),
    gcCount: count,
    gcOver10ms: count - metric(text, `${p}gc_duration_seconds_bucket`, '0.01'),
    gcOver100ms: count - metric(text, `${p}gc_duration_seconds_bucket`, '0.1'),
    produceBuckets: produceBuckets(text, prefix),
  };
}

function produceBuckets(text: string, prefix: string): Map<number, number> {
  const out = new Map<number, number>();
  const name = `${prefix}request_duration_seconds_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !line.includes('api="Produce"')) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || !Number.isFinite(v)) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + v);
  }
  return out;
}

/** The smallest bucket bound holding 99% of the requests counted between two scrapes. */
function bucketP99(before: Map<number, number>, after: Map<number, number>): { count: number; p99: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  for (const b of bounds)
    if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= 0.99 * total) return { count: total, p99: b };
  return { count: total, p99: Number.NaN };
}

export async function scrapeStalls(url: string): Promise<StallSample> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`metrics ${url}: HTTP ${res.status}`);
  return parseStalls(await res.text());
}

/** The load's figures: the event-loop window of the `after` scrape, GC as the difference of the two. */
export function stallsBetween(before: StallSample, after: StallSample): Stalls {
  return {
    loopP50Ms: after.loopP50Ms,
    loopP99Ms: after.loopP99Ms,
    loopMaxMs: after.loopMaxMs,
    gcMs: (after.gcSeconds - before.gcSeconds) * 1000,
    gcPauses: after.gcCount - before.gcCount,
    gcOver10ms: after.gcOver10ms - before.gcOver10ms,
    gcOver100ms: after.gcOver100ms - before.gcOver100ms,
    produceRequests: bucketP99(before.produceBuckets, after.produceBuckets).count,
    produceP99Ms: bucketP99(before.produceBuckets, after.produceBuckets).p99 * 1000,
  };
}

export const stallsText = (s: Stalls) =>
  `event loop delay p50 ${s.loopP50Ms.toFixed(1)} ms, p99 ${s.loopP99Ms.toFixed(1)} ms, max ${s.loopMaxMs.toFixed(0)} ms; GC ${s.gcMs.toFixed(0)} ms in ${s.gcPauses} pauses (${s.gcOver10ms} ≥ 10 ms, ${s.gcOver100ms} ≥ 100 ms); Produce in the broker p99 ≤ ${s.produceP99Ms} ms (${s.produceRequests} requests)`;
