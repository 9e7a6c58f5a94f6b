/** Where the client reports what it does. Implement it to feed any metrics system. */
export interface MetricsSink {
  /** One request answered (or failed): API name, latency from send to response. */
  request(api: string, latencyMs: number, failed: boolean): void;
  /** A counter grew, e.g. `records_sent`, `bytes_sent`, `records_consumed`, `retries`. */
  count(name: string, value: number): void;
  /** One observation of a latency, e.g. `produce_latency_ms` (send() to acknowledgement). */
  observe(name: string, valueMs: number): void;
}

/** Upper bounds (ms) of the latency histogram buckets; the last bucket is unbounded. */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

export class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  count = 0;
  sum = 0;
  max = 0;

  observe(v: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && v > LATENCY_BUCKETS_MS[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Upper bound of the bucket holding quantile q (0..1); Infinity for the overflow bucket. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= target) return i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[i] : Number.POSITIVE_INFINITY;
    }
    return Number.POSITIVE_INFINITY;
  }
}

/** An in-memory sink: counters and latency histograms per name, read with `snapshot()`. */
export class Metrics implements MetricsSink {
  readonly counters = new Map<string, number>();
  readonly histograms = new Map<string, Histogram>();

  request(api: string, latencyMs: number, failed: boolean): void {
    this.count(failed ? `requests_failed{api=${api}}` : `requests{api=${api}}`, 1);
    this.observe(`request_latency_ms{api=${api}}`, latencyMs);
  }

  count(name: string, value: number): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
  }

  observe(name: string, valueMs: number): void {
    let h = this.histograms.get(name);
    if (h === undefined) {
      h = new Histogram();
      this.histograms.set(name, h);
    }
    h.observe(valueMs);
  }

  snapshot(): {
    counters: Record<string, number>;
    histograms: Record<string, { count: number; sum: number; p50: number; p99: number; max: number }>;
  } {
    const histograms: Record<string, { count: number; sum: number; p50: number; p99: number; max: number }> = {};
    for (const [k, h] of this.histograms) {
      histograms[k] = { count: h.count, sum: h.sum, p50: h.quantile(0.5), p99: h.quantile(0.99), max: h.max };
    }
    return { counters: Object.fromEntries(this.counters), histograms };
  }
}

/** Fans one report out to several sinks. */
export function combineSinks(...sinks: Array<MetricsSink | undefined>): MetricsSink | undefined {
  const list = sinks.filter((s): s is MetricsSink => s !== undefined);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  return {
    request: (a, l, f) => {
      for (const s of list) s.request(a, l, f);
    },
    count: (n, v) => {
      for (const s of list) s.count(n, v);
    },
    observe: (n, v) => {
      for (const s of list) s.observe(n, v);
    },
  };
}
