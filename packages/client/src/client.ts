import { BrokerPool, parseAddress } from './broker-pool.js';
import type { SaslOptions, SslOptions } from './connection.js';
import { Metadata } from './metadata.js';
import type { MetricsSink } from './metrics.js';

export interface ClientOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: readonly string[];
  clientId?: string;
  connectTimeoutMs?: number;
  /** Default 30 s. */
  requestTimeoutMs?: number;
  /** Unanswered requests per connection. Default 5. */
  maxInFlightPerConnection?: number;
  /** Retries of retriable errors (metadata, admin and group calls). Default 5. */
  retries?: number;
  metrics?: MetricsSink;
  /** TLS to every broker (Kafka's security.protocol SSL or SASL_SSL). */
  ssl?: SslOptions;
  /** SASL login on every connection (SASL_PLAINTEXT, or SASL_SSL with `ssl`). */
  sasl?: SaslOptions;
}

/** What producer, consumer and admin share: their own connections and metadata cache. */
export interface ClientContext {
  readonly options: ClientOptions;
  readonly pool: BrokerPool;
  readonly metadata: Metadata;
  readonly metrics: MetricsSink | undefined;
}

export function createContext(options: ClientOptions, allowAutoTopicCreation: boolean): ClientContext {
  const pool = new BrokerPool(options.brokers.map(parseAddress), {
    clientId: options.clientId,
    connectTimeoutMs: options.connectTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    maxInFlight: options.maxInFlightPerConnection,
    metrics: options.metrics,
    ssl: options.ssl,
    sasl: options.sasl,
  });
  return { options, pool, metadata: new Metadata(pool, { allowAutoTopicCreation }), metrics: options.metrics };
}
