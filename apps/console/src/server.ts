// Starts the console's HTTP server (Hono on Node's http through @hono/node-server).
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ConfigResource, type SaslOptions, type SslOptions } from '@sluice/client';
import { createApp } from './app.js';
import { ClusterView } from './cluster.js';
import { type Mechanism, Sessions } from './sessions.js';

export interface ConsoleOptions {
  /** Bootstrap servers, `host:port`. */
  bootstrap: readonly string[];
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: the console can delete topics, so it is not on the network unless asked. */
  host?: string;
  /**
   * Prometheus endpoints of the brokers. Default: asked of each broker through DescribeConfigs
   * (`metrics.port`, a Sluice setting); none found → the live view samples end offsets.
   */
  metricsUrls?: readonly string[];
  /** Host header values accepted besides loopback names. */
  allowedHosts?: readonly string[];
  /** Log in to the brokers with these SASL credentials (a SASL_PLAINTEXT or SASL_SSL listener). */
  sasl?: SaslOptions;
  /** TLS to the brokers (an SSL or SASL_SSL listener). */
  ssl?: SslOptions;
  /**
   * Each browser session logs in with its own SASL credentials on a login page (no `sasl` then):
   * true, or the limits of the sessions.
   */
  login?:
    | boolean
    | { maxSessions?: number; idleTimeoutMs?: number /** Proposed on the login page. */; mechanism?: Mechanism };
}

export interface RunningConsole {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The brokers' metrics endpoints as their configs say (Sluice's metrics.port); [] for Apache Kafka. */
export async function discoverMetricsUrls(cluster: ClusterView): Promise<string[]> {
  const snap = await cluster.snapshot();
  const urls: string[] = [];
  for (const b of snap.brokers.slice(0, 64)) {
    const configs = await cluster.admin
      .describeConfigs(ConfigResource.BROKER, String(b.nodeId), ['metrics.port', 'metrics.host'])
      .catch(() => []);
    const port = Number(configs.find((c) => c.name === 'metrics.port')?.value ?? '-1');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) continue;
    const host = configs.find((c) => c.name === 'metrics.host')?.value;
    const reachable = !host || host === '0.0.0.0' || host === '::' ? b.host : host;
    urls.push(`http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/metrics`);
  }
  return urls;
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const { ssl } = options;
  if (options.login && options.sasl)
    throw new Error('console: login per session and a fixed SASL identity exclude each other');
  const limits = typeof options.login === 'object' ? options.login : {};
  const sessions = options.login
    ? new Sessions((sasl) => new ClusterView(options.bootstrap, { ssl, sasl }), limits)
    : null;
  const cluster = sessions === null ? new ClusterView(options.bootstrap, { ssl, sasl: options.sasl }) : null;
  const fixed = options.metricsUrls ? [...options.metricsUrls] : null;
  // Discovered once per connection (what a user may describe differs); a failure is tried again next time.
  const discovered = new WeakMap<ClusterView, Promise<string[]>>();
  const metricsUrls = async (c: ClusterView) => {
    if (fixed !== null) return fixed;
    let p = discovered.get(c);
    if (p === undefined) {
      p = discoverMetricsUrls(c).catch((err) => {
        discovered.delete(c);
        throw err;
      });
      discovered.set(c, p);
    }
    return p;
  };
  const common = { metricsUrls, allowedHosts: options.allowedHosts };
  const app =
    sessions === null
      ? createApp({ ...common, cluster: cluster as ClusterView })
      : createApp({ ...common, sessions, defaultMechanism: limits.mechanism });
  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 8080, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await Promise.all([cluster?.close(), sessions?.close()]);
    },
  };
}
