import { defaultMetadataRequest, defaultMetadataRequestMetadataRequestTopic, MetadataApi } from '@sluice/protocol';
import type { BrokerAddress, BrokerPool } from './broker-pool.js';
import { ERROR_CODES, KafkaError } from './errors.js';
import { withRetry } from './retry.js';

export interface PartitionInfo {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  errorCode: number;
}

export interface TopicInfo {
  name: string;
  topicId: string;
  isInternal: boolean;
  /** Ordered by partition index. */
  partitions: PartitionInfo[];
}

export interface BrokerInfo extends BrokerAddress {
  nodeId: number;
  rack: string | null;
}

export interface MetadataOptions {
  /** Ask the broker to create unknown topics (it decides, per auto.create.topics.enable). */
  allowAutoTopicCreation?: boolean;
  /** Cached topic metadata older than this is refreshed on use. Default 5 minutes (metadata.max.age.ms). */
  maxAgeMs?: number;
}

/**
 * The cluster as last seen: brokers, topics, partition leaders. Concurrent refreshes coalesce
 * into one Metadata request; callers that hit a leadership error call `invalidate()` and look up
 * again, which refreshes.
 */
export class Metadata {
  readonly brokers = new Map<number, BrokerInfo>();
  private readonly topics = new Map<string, { info: TopicInfo; at: number }>();
  clusterId: string | null = null;
  controllerId = -1;
  private inflight: Promise<void> | null = null;
  private wanted = new Set<string>();

  constructor(
    private readonly pool: BrokerPool,
    private readonly options: MetadataOptions = {},
  ) {}

  /** The address of broker `nodeId`, refreshing once if it is unknown. */
  async broker(nodeId: number): Promise<BrokerInfo> {
    let b = this.brokers.get(nodeId);
    if (b === undefined) {
      await this.refresh([]);
      b = this.brokers.get(nodeId);
    }
    if (b === undefined)
      throw new KafkaError(ERROR_CODES.BROKER_NOT_AVAILABLE, `broker ${nodeId} is not in the metadata`);
    return b;
  }

  cached(topic: string): TopicInfo | undefined {
    return this.topics.get(topic)?.info;
  }

  /** A cached topic by its id (KIP-848 assignments name topics by id only). */
  cachedById(topicId: string): TopicInfo | undefined {
    for (const { info } of this.topics.values()) if (info.topicId === topicId) return info;
    return undefined;
  }

  /** A topic's metadata; refreshes when missing, stale, or when a partition has no leader. Retries while the topic is being created. */
  async topic(name: string): Promise<TopicInfo> {
    const hit = this.topics.get(name);
    if (hit !== undefined && Date.now() - hit.at < (this.options.maxAgeMs ?? 300_000)) return hit.info;
    // Callers asking for the same topic at once share one lookup.
    const pending = this.lookups.get(name);
    if (pending !== undefined) return pending;
    const p = this.lookup(name).finally(() => this.lookups.delete(name));
    this.lookups.set(name, p);
    return p;
  }

  private readonly lookups = new Map<string, Promise<TopicInfo>>();
  /** Topics the last Metadata refused with an error that retrying does not fix (authorization). */
  private readonly refused = new Map<string, number>();

  private lookup(name: string): Promise<TopicInfo> {
    return withRetry(
      async () => {
        await this.refresh([name]);
        const t = this.topics.get(name)?.info;
        const refused = this.refused.get(name);
        if (t === undefined && refused !== undefined)
          throw new KafkaError(refused, `topic ${name}: not authorized (TOPIC_AUTHORIZATION_FAILED)`);
        if (t === undefined) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `topic ${name}`);
        return t;
      },
      { retries: 8, initialBackoffMs: 50, maxBackoffMs: 500 },
    );
  }

  /** The leader's address of a partition (refreshing as needed). */
  async leader(topic: string, partition: number): Promise<BrokerInfo> {
    const t = await this.topic(topic);
    const p = t.partitions[partition];
    if (p === undefined) {
      throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `${topic} has no partition ${partition}`);
    }
    if (p.leader < 0) {
      this.invalidate(topic);
      throw new KafkaError(ERROR_CODES.LEADER_NOT_AVAILABLE, `${topic}-${partition} has no leader`);
    }
    return this.broker(p.leader);
  }

  /**
   * Marks a topic stale after a leadership or connection error: `topic()` refreshes it, while
   * `cached()` keeps answering with what was known so senders do not stall meanwhile.
   */
  invalidate(topic: string): void {
    const hit = this.topics.get(topic);
    if (hit !== undefined) hit.at = 0;
  }

  /** True when the topic is unknown or marked stale. */
  stale(topic: string): boolean {
    const hit = this.topics.get(topic);
    return hit === undefined || hit.at === 0;
  }

  /** Refreshes the given topics (with [] only the brokers; with null every topic). */
  async refresh(topics: readonly string[] | null): Promise<void> {
    if (topics === null) return this.fetch(null);
    for (const t of topics) this.wanted.add(t);
    // Wait for a refresh already under way, then send one for what it did not cover.
    while (this.inflight !== null) await this.inflight.catch(() => {});
    if (topics.length > 0 && topics.every((t) => !this.wanted.has(t))) return;
    const names = [...this.wanted];
    this.wanted = new Set();
    const p = this.fetch(names);
    this.inflight = p;
    try {
      await p;
    } finally {
      if (this.inflight === p) this.inflight = null;
    }
  }

  private async fetch(names: string[] | null): Promise<void> {
    const conn = await this.pool.any();
    const req = defaultMetadataRequest();
    req.allowAutoTopicCreation = this.options.allowAutoTopicCreation ?? false;
    req.topics =
      names === null ? null : names.map((name) => ({ ...defaultMetadataRequestMetadataRequestTopic(), name }));
    const res = await conn.request(MetadataApi, req);
    this.clusterId = res.clusterId;
    this.controllerId = res.controllerId;
    for (const b of res.brokers)
      this.brokers.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack });
    const now = Date.now();
    for (const t of res.topics) {
      if (t.name === null) continue;
      if (t.errorCode !== 0) {
        this.topics.delete(t.name);
        if (t.errorCode === ERROR_CODES.TOPIC_AUTHORIZATION_FAILED) this.refused.set(t.name, t.errorCode);
        continue;
      }
      this.refused.delete(t.name);
      const partitions = t.partitions
        .map((p) => ({
          partition: p.partitionIndex,
          leader: p.leaderId,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
          errorCode: p.errorCode,
        }))
        .sort((a, b) => a.partition - b.partition);
      // A topic being created may have no partitions or leaders yet: do not cache it.
      if (partitions.length === 0 || partitions.some((p) => p.leader < 0)) {
        this.topics.delete(t.name);
        continue;
      }
      this.topics.set(t.name, {
        info: { name: t.name, topicId: t.topicId, isInternal: t.isInternal, partitions },
        at: now,
      });
    }
  }
}
