// Starts the console's HTTP server (Hono on Node's http through @hono/node-server).
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ConfigResource, type SaslOptions } from '@sluice/client';
import { createApp } from './app.js';
import { ClusterView } from './cluster.js';

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
  /** Log in to the brokers with these SASL credentials (a SASL_PLAINTEXT listener). */
  sasl?: SaslOptions;
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
  const cluster = new ClusterView(options.bootstrap, options.sasl);
  let metrics: Promise<string[]> | null = options.metricsUrls ? Promise.resolve([...options.metricsUrls]) : null;
  const metricsUrls = () => {
    // Discovered once; a failed discovery is tried again on the next reading.
    metrics ??= discoverMetricsUrls(cluster).catch((err) => {
      metrics = null;
      throw err;
    });
    return metrics;
  };
  const app = createApp({ cluster, metricsUrls, allowedHosts: options.allowedHosts });
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
      await cluster.close();
    },
  };
}
