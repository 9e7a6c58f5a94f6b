// prom-client adapter for MetricsSink: `import { PrometheusSink } from '@sluice/client/prometheus'`.
// A separate entry point so that prom-client stays an optional peer dependency of the client.
import { Counter, register as defaultRegistry, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_MS, type MetricsSink } from './metrics.js';

export interface PrometheusSinkOptions {
  /** Where the metrics are registered. Default: prom-client's global registry. */
  registry?: Registry;
  /** Value of the `client_id` label that tells clients sharing a registry apart. Default 'sluice-client'. */
  clientId?: string;
  /** Prefix of every metric name. Default 'sluice_client_'. */
  prefix?: string;
  /** Histogram bucket upper bounds in seconds. Default: the client's latency buckets. */
  bucketsSeconds?: readonly number[];
}

const DEFAULT_BUCKETS_SECONDS = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);
/** Metric names come from the client's own code, but stay bounded should a caller feed arbitrary ones. */
const MAX_METRICS = 256;

/** A metric name in Prometheus' alphabet ([a-zA-Z_:][a-zA-Z0-9_:]*). */
function metricName(s: string): string {
  const n = s.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(n) ? `_${n}` : n;
}

/**
 * Feeds one client's metrics into a prom-client Registry: every `count(name)` becomes the counter
 * `<prefix><name>_total`, every `observe(name_ms)` the histogram `<prefix><name>_seconds`, and each
 * request `<prefix>requests_total`, `<prefix>request_errors_total` and
 * `<prefix>request_latency_seconds`, labelled by `api`. Every metric carries `client_id`, so several
 * clients (one sink each) can share one registry: sinks with the same registry and prefix share the
 * metric objects.
 */
export class PrometheusSink implements MetricsSink {
  readonly registry: Registry;
  readonly clientId: string;
  private readonly prefix: string;
  private readonly buckets: number[];
  private readonly counters = new Map<string, Counter<string>>();
  private readonly histograms = new Map<string, Histogram<string>>();
  private readonly requests: Counter<string>;
  private readonly requestErrors: Counter<string>;
  private readonly requestLatency: Histogram<string>;

  constructor(o: PrometheusSinkOptions = {}) {
    this.registry = o.registry ?? defaultRegistry;
    this.clientId = o.clientId ?? 'sluice-client';
    this.prefix = o.prefix ?? 'sluice_client_';
    this.buckets = [...(o.bucketsSeconds ?? DEFAULT_BUCKETS_SECONDS)];
    this.requests = this.counter('requests_total', 'Requests answered, by API', ['api']);
    this.requestErrors = this.counter('request_errors_total', 'Requests whose answer could not be used, by API', [
      'api',
    ]);
    this.requestLatency = this.histogram('request_latency_seconds', 'From request sent to response decoded, by API', [
      'api',
    ]);
  }

  request(api: string, latencyMs: number, failed: boolean): void {
    const labels = { client_id: this.clientId, api };
    if (failed) this.requestErrors.inc(labels);
    else this.requests.inc(labels);
    this.requestLatency.observe(labels, latencyMs / 1000);
  }

  count(name: string, value: number): void {
    let c = this.counters.get(name);
    if (c === undefined) {
      if (this.counters.size >= MAX_METRICS) return;
      c = this.counter(`${metricName(name)}_total`, `Client counter ${name}`, []);
      this.counters.set(name, c);
    }
    c.inc({ client_id: this.clientId }, value);
  }

  observe(name: string, valueMs: number): void {
    let h = this.histograms.get(name);
    if (h === undefined) {
      if (this.histograms.size >= MAX_METRICS) return;
      h = this.histogram(`${metricName(name.replace(/_ms$/, ''))}_seconds`, `Client latency ${name}`, []);
      this.histograms.set(name, h);
    }
    h.observe({ client_id: this.clientId }, valueMs / 1000);
  }

  /** The registry's text exposition (what a /metrics endpoint serves). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  private counter(name: string, help: string, labels: string[]): Counter<string> {
    const full = this.prefix + name;
    const existing = this.registry.getSingleMetric(full);
    if (existing !== undefined) {
      if (!(existing instanceof Counter)) throw new TypeError(`${full} is registered, and not as a counter`);
      return existing as Counter<string>;
    }
    return new Counter({ name: full, help, labelNames: ['client_id', ...labels], registers: [this.registry] });
  }

  private histogram(name: string, help: string, labels: string[]): Histogram<string> {
    const full = this.prefix + name;
    const existing = this.registry.getSingleMetric(full);
    if (existing !== undefined) {
      if (!(existing instanceof Histogram)) throw new TypeError(`${full} is registered, and not as a histogram`);
      return existing as Histogram<string>;
    }
    return new Histogram({
      name: full,
      help,
      labelNames: ['client_id', ...labels],
      buckets: this.buckets,
      registers: [this.registry],
    });
  }
}
