// Prometheus metrics (prom-client) and the HTTP endpoint that serves them. Each broker has its
// own registry, so several brokers in one process (library use, tests) do not collide.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One partition's size for the partition-size gauge. */
export interface PartitionSize {
  topic: string;
  partition: number;
  bytes: number;
}

/** Broker-wide state read at each scrape. */
export interface BrokerState {
  logDirOffline: boolean;
  queuedRequestBytes: number;
}

export interface MetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
  /** Label values per series are bounded; past this many topics, new ones are counted as `_other`. */
  maxTopics?: number;
}

export interface MetricsServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

// From 100 µs (a cached Metadata) to 30 s (long-poll Fetch plus slow disks).
const LATENCY_BUCKETS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const DEFAULT_MAX_TOPICS = 10_000;
const OTHER_TOPIC = '_other';

export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'api' | 'version'>;
  private readonly requestErrors: Counter<'api' | 'error'>;
  private readonly latency: Histogram<'api' | 'version'>;
  private readonly bytesInTotal: Counter<'topic'>;
  private readonly bytesOutTotal: Counter<'topic'>;
  private readonly recordsInTotal: Counter<'topic'>;
  private readonly connections: Gauge;
  private readonly connectionsOpened: Counter;
  private readonly connectionsRejected: Counter<'limit'>;
  private readonly invalidRequests: Counter;
  private readonly logLinesSuppressed: Counter;
  private partitionSizes: () => Iterable<PartitionSize> = () => [];
  private brokerState: () => BrokerState = () => ({ logDirOffline: false, queuedRequestBytes: 0 });
  private readonly topics = new Set<string>();
  private readonly maxTopics: number;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    this.maxTopics = opts.maxTopics ?? DEFAULT_MAX_TOPICS;
    this.requests = new Counter({
      name: 'sluice_requests_total',
      help: 'Requests handled, by API and version',
      labelNames: ['api', 'version'],
      registers,
    });
    this.requestErrors = new Counter({
      name: 'sluice_request_errors_total',
      help: 'Error codes returned, by API and error name',
      labelNames: ['api', 'error'],
      registers,
    });
    this.latency = new Histogram({
      name: 'sluice_request_duration_seconds',
      help: 'Time from a request being read to its response being queued, by API and version',
      labelNames: ['api', 'version'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.bytesInTotal = new Counter({
      name: 'sluice_bytes_in_total',
      help: 'Record batch bytes appended, by topic',
      labelNames: ['topic'],
      registers,
    });
    this.bytesOutTotal = new Counter({
      name: 'sluice_bytes_out_total',
      help: 'Record batch bytes sent to consumers, by topic',
      labelNames: ['topic'],
      registers,
    });
    this.recordsInTotal = new Counter({
      name: 'sluice_records_in_total',
      help: 'Records appended, by topic',
      labelNames: ['topic'],
      registers,
    });
    this.connections = new Gauge({ name: 'sluice_connections', help: 'Open client connections', registers });
    this.connectionsOpened = new Counter({
      name: 'sluice_connections_opened_total',
      help: 'Client connections accepted',
      registers,
    });
    this.connectionsRejected = new Counter({
      name: 'sluice_connections_rejected_total',
      help: 'New connections closed at once for a connection limit (max.connections, max.connections.per.ip)',
      labelNames: ['limit'],
      registers,
    });
    this.invalidRequests = new Counter({
      name: 'sluice_invalid_requests_total',
      help: 'Connections closed because a request could not be parsed (framing, header, body) or served, each counted though its log line may be suppressed',
      registers,
    });
    this.logLinesSuppressed = new Counter({
      name: 'sluice_log_lines_suppressed_total',
      help: 'Log lines about connections not written because their source exceeded its lines per interval',
      registers,
    });
    const self = this;
    new Gauge({
      name: 'sluice_partition_size_bytes',
      help: 'Size of each partition log on disk',
      labelNames: ['topic', 'partition'],
      registers,
      collect() {
        this.reset();
        for (const p of self.partitionSizes()) {
          this.set({ topic: p.topic, partition: String(p.partition) }, p.bytes);
        }
      },
    });
    new Gauge({
      name: 'sluice_log_dir_offline',
      help: '1 while the data directory is offline (a full disk or an I/O error): writes are refused',
      registers,
      collect() {
        this.set(self.brokerState().logDirOffline ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sluice_queued_request_bytes',
      help: 'Bytes of requests read and not yet answered, partly received ones included (queued.max.request.bytes)',
      registers,
      collect() {
        this.set(self.brokerState().queuedRequestBytes);
      },
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'sluice_' });
  }

  /** One request handled: counts it and records its latency. */
  observeRequest(api: string, seconds: number, version?: number): void {
    const labels = { api, version: version === undefined ? '' : String(version) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  /** A non-zero error code in a response (Kafka's error name, e.g. NOT_LEADER_OR_FOLLOWER). */
  requestError(api: string, error: string): void {
    this.requestErrors.inc({ api, error });
  }

  bytesIn(topic: string, n: number, records?: number): void {
    const t = this.topicLabel(topic);
    this.bytesInTotal.inc({ topic: t }, n);
    if (records !== undefined) this.recordsInTotal.inc({ topic: t }, records);
  }

  bytesOut(topic: string, n: number): void {
    this.bytesOutTotal.inc({ topic: this.topicLabel(topic) }, n);
  }

  connectionOpened(): void {
    this.connections.inc();
    this.connectionsOpened.inc();
  }

  connectionClosed(): void {
    this.connections.dec();
  }

  connectionRejected(limit: 'max.connections' | 'max.connections.per.ip'): void {
    this.connectionsRejected.inc({ limit });
  }

  invalidRequest(): void {
    this.invalidRequests.inc();
  }

  logLineSuppressed(): void {
    this.logLinesSuppressed.inc();
  }

  /** The callback the partition-size gauge calls at each scrape. */
  setPartitionSizeSource(source: () => Iterable<PartitionSize>): void {
    this.partitionSizes = source;
  }

  /** The callback the log-dir and request-bytes gauges call at each scrape. */
  setBrokerStateSource(source: () => BrokerState): void {
    this.brokerState = source;
  }

  /** Drops a deleted topic's series. */
  forgetTopic(topic: string): void {
    if (!this.topics.delete(topic)) return;
    for (const c of [this.bytesInTotal, this.bytesOutTotal, this.recordsInTotal]) c.remove({ topic });
  }

  /** The exposition text, as /metrics serves it. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Serves GET /metrics on host:port (port 0: ephemeral). */
  async listen(port: number, host = '127.0.0.1'): Promise<MetricsServer> {
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: try /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      this.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`);
        },
      );
    });
    // Scrapers send no body; bound how long a slow or idle client may hold a socket.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 50;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    return {
      host: addr.address,
      port: addr.port,
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.close((err) => (err ? reject(err) : resolve()));
          server.closeAllConnections();
        }),
    };
  }

  private topicLabel(topic: string): string {
    if (this.topics.has(topic)) return topic;
    if (this.topics.size >= this.maxTopics) return OTHER_TOPIC;
    this.topics.add(topic);
    return topic;
  }
}

export function createMetrics(opts?: MetricsOptions): BrokerMetrics {
  return new BrokerMetrics(opts);
}
