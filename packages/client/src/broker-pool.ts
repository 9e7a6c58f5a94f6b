import { Connection, type ConnectionOptions, type SaslOptions, type SslOptions } from './connection.js';
import { ClientClosedError, ConnectionError } from './errors.js';
import type { MetricsSink } from './metrics.js';

export interface BrokerAddress {
  host: string;
  port: number;
}

export interface PoolOptions {
  clientId?: string;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxInFlight?: number;
  maxFrameSize?: number;
  metrics?: MetricsSink;
  ssl?: SslOptions;
  sasl?: SaslOptions;
  /** Highest versions by API key in place of the client's own caps (see ConnectionOptions). */
  versionCaps?: ReadonlyMap<number, number>;
}

/**
 * Separate connections per purpose to the same broker: Kafka answers a connection's requests one
 * at a time, so a long-polling fetch or a JoinGroup waiting for a rebalance must not hold up
 * produce, metadata or heartbeat requests behind it.
 */
export type Lane = 'default' | 'produce' | 'fetch' | 'group' | 'heartbeat';

export function parseAddress(s: string): BrokerAddress {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new RangeError(`broker address must be host:port, got '${s}'`);
  const port = Number(s.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new RangeError(`bad port in '${s}'`);
  return { host: s.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}

/** The connections of one client: at most one per (broker, lane), opened lazily, reopened after a failure. */
export class BrokerPool {
  private readonly connections = new Map<string, Promise<Connection>>();
  private closed = false;
  private nextBootstrap = 0;

  constructor(
    readonly bootstrap: readonly BrokerAddress[],
    private readonly options: PoolOptions = {},
  ) {
    if (bootstrap.length === 0) throw new RangeError('at least one bootstrap broker is needed');
  }

  /** A connection to `address` on `lane`, connecting (and negotiating versions) if needed. */
  get(address: BrokerAddress, lane: Lane = 'default'): Promise<Connection> {
    if (this.closed) return Promise.reject(new ClientClosedError('broker pool'));
    const key = `${address.host}:${address.port}/${lane}`;
    const existing = this.connections.get(key);
    if (existing !== undefined) return existing;
    const opts: ConnectionOptions = {
      ...this.options,
      host: address.host,
      port: address.port,
      // Fetches long-poll and group calls block: one at a time, as Kafka serves them anyway.
      maxInFlight: lane === 'produce' || lane === 'default' ? (this.options.maxInFlight ?? 5) : 1,
    };
    const p = Connection.open(opts).then(
      (c) => {
        c.onClose(() => {
          if (this.connections.get(key) === p) this.connections.delete(key);
        });
        if (this.closed) c.close();
        return c;
      },
      (err) => {
        if (this.connections.get(key) === p) this.connections.delete(key);
        throw err;
      },
    );
    this.connections.set(key, p);
    return p;
  }

  /** A connection to any bootstrap broker, trying each in turn. */
  async any(lane: Lane = 'default'): Promise<Connection> {
    let last: unknown;
    for (let i = 0; i < this.bootstrap.length; i++) {
      const a = this.bootstrap[(this.nextBootstrap + i) % this.bootstrap.length];
      try {
        return await this.get(a, lane);
      } catch (err) {
        last = err;
      }
    }
    this.nextBootstrap = (this.nextBootstrap + 1) % this.bootstrap.length;
    throw last instanceof Error ? last : new ConnectionError('bootstrap', String(last));
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.connections.values()];
    this.connections.clear();
    for (const p of all) {
      try {
        (await p).close();
      } catch {
        // A connection that never opened has nothing to close.
      }
    }
  }
}
