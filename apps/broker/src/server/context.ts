import type { MetadataStore, ProducerIdAllocator, WriteFence } from '@sluice/cluster/core';
import type { LogManager } from '@sluice/log';
import type { Logger } from 'pino';
import type { GroupServices } from '../apis/groups/index.js';
import type { TransactionServices } from '../apis/transactions/index.js';
import type { BrokerConfig, ConfigRegistry } from '../config/index.js';
import type { AppendNotifier } from '../state/append-notifier.js';
import type { FetchSessionCache } from '../state/fetch-sessions.js';
import type { LogDirHealth } from '../state/log-dir-health.js';
import type { ReplicationService } from '../state/replication.js';
import type { TopicManager, TopicState } from '../state/topic-manager.js';
import type { BrokerSecurity } from './broker-security.js';

/** The address clients are told to use for this broker. */
export interface AdvertisedEndpoint {
  host: string;
  port: number;
}

/** Counters the handlers feed (Prometheus, when enabled). */
export interface BrokerMetrics {
  bytesIn(topic: string, bytes: number): void;
  bytesOut(topic: string, bytes: number): void;
  /** An error code answered (by Kafka's name), per API. */
  requestError(api: string, error: string): void;
}

/** Everything the API handlers work with: the broker's state and services. */
export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly configs: ConfigRegistry;
  readonly nodeId: number;
  readonly clusterId: string;
  readonly logger: Logger;
  readonly logs: LogManager;
  /** Whether the data directory takes writes (offline after ENOSPC or an I/O error, until a probe succeeds). */
  readonly logDir: LogDirHealth;
  readonly store: MetadataStore;
  /** This broker's registration as a metadata write fence (throws BROKER_NOT_AVAILABLE before it registers). */
  writeFence(): WriteFence;
  readonly topics: TopicManager;
  readonly notifier: AppendNotifier;
  /** Replica state of every partition held here: ISR, high watermark, acks=all waiting. */
  readonly replication: ReplicationService;
  readonly fetchSessions: FetchSessionCache;
  readonly producerIds: ProducerIdAllocator;
  /** Consumer groups and committed offsets (apis/groups). */
  readonly groups: GroupServices;
  /** The transaction coordinator (apis/transactions). */
  readonly transactions: TransactionServices;
  readonly metrics?: BrokerMetrics;
  /** SCRAM credentials and the authorizer (on when `authorizer.class.name` is set). */
  readonly security?: BrokerSecurity;
  /** Filled in once the listener is bound (the port may be ephemeral). */
  advertised: AdvertisedEndpoint;
  /** The API versions the broker serves (ApiVersions answers this). */
  supportedApis(): { apiKey: number; minVersion: number; maxVersion: number }[];
  /** Creates a topic with the broker's defaults, as auto.create.topics.enable does. */
  autoCreateTopic(name: string): TopicState;
}
