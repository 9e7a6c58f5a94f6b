// What the console asks a cluster, in the shapes its pages show. Everything goes through
// @sluice/client: its Admin for what it covers, its connections for the few requests the Admin
// has no call for (Metadata of every topic at once, ApiVersions ranges, DescribeLogDirs,
// DescribeConfigs with synonyms). An API the cluster does not have is reported as missing
// (`null`), never as an error page.
import {
  Admin,
  type ClientContext,
  type ClientOptions,
  ConfigOp,
  ConfigResource,
  Consumer,
  createContext,
  ERROR_CODES,
  KafkaError,
  type SaslOptions,
  type SslOptions,
  throwIfError,
} from '@sluice/client';
import {
  ApiVersionsApi,
  apiByKey,
  DescribeConfigsApi,
  DescribeLogDirsApi,
  defaultDescribeConfigsRequest,
  defaultDescribeLogDirsRequest,
  defaultMetadataRequest,
  defaultMetadataRequestMetadataRequestTopic,
  MetadataApi,
} from '@sluice/protocol';

export interface PartitionView {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offline: number[];
  errorCode: number;
}

export interface TopicView {
  name: string;
  topicId: string;
  isInternal: boolean;
  partitions: PartitionView[];
}

export interface BrokerView {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface ClusterSnapshot {
  clusterId: string | null;
  controllerId: number;
  brokers: BrokerView[];
  topics: TopicView[];
  /** Topics the request named that came back with an error (TOPIC_AUTHORIZATION_FAILED, …) → its code. */
  refused: Map<string, number>;
}

export interface ApiRange {
  apiKey: number;
  name: string;
  minVersion: number;
  maxVersion: number;
}

export interface ConfigView {
  name: string;
  value: string | null;
  source: string;
  readOnly: boolean;
  isSensitive: boolean;
  /** The value the key falls back to when its override is removed (from the synonyms), if the cluster says. */
  defaultValue: string | null;
  defaultSource: string | null;
  documentation: string | null;
}

/** Kafka's ConfigSource enum (DescribeConfigs v1+). */
const CONFIG_SOURCES: Record<number, string> = {
  [-1]: 'UNKNOWN',
  0: 'UNKNOWN',
  1: 'DYNAMIC_TOPIC_CONFIG',
  2: 'DYNAMIC_BROKER_CONFIG',
  3: 'DYNAMIC_DEFAULT_BROKER_CONFIG',
  4: 'STATIC_BROKER_CONFIG',
  5: 'DEFAULT_CONFIG',
  6: 'DYNAMIC_BROKER_LOGGER_CONFIG',
  7: 'CLIENT_METRICS_CONFIG',
  8: 'GROUP_CONFIG',
};

export function configSourceName(source: number): string {
  return CONFIG_SOURCES[source] ?? `SOURCE_${source}`;
}

/** True for the error a request gets when the broker has no version of its API in common with the client. */
export function isUnsupported(err: unknown): boolean {
  return err instanceof KafkaError && err.code === ERROR_CODES.UNSUPPORTED_VERSION;
}

export class ClusterView {
  readonly admin: Admin;
  private readonly ctx: ClientContext;

  constructor(
    readonly bootstrap: readonly string[],
    /** TLS to the brokers, and the SASL identity (the console's one, or a logged-in user's). */
    private readonly security: { ssl?: SslOptions; sasl?: SaslOptions } = {},
  ) {
    const options = { ...this.clientOptions('sluice-console'), requestTimeoutMs: 15_000 };
    this.admin = new Admin(options);
    this.ctx = createContext(options, false);
  }

  /** Client options for the console's own producers and consumers: same brokers, same identity. */
  clientOptions(clientId: string): ClientOptions {
    return { brokers: [...this.bootstrap], clientId, retries: 2, ssl: this.security.ssl, sasl: this.security.sasl };
  }

  /** Brokers, controller and every topic (or the named ones) with its partitions, from one Metadata request. */
  async snapshot(only: readonly string[] | null = null): Promise<ClusterSnapshot> {
    const conn = await this.ctx.pool.any();
    const req = defaultMetadataRequest();
    req.topics = only === null ? null : only.map((name) => ({ ...defaultMetadataRequestMetadataRequestTopic(), name }));
    req.allowAutoTopicCreation = false;
    const res = await conn.request(MetadataApi, req);
    const topics: TopicView[] = [];
    const refused = new Map<string, number>();
    for (const t of res.topics) {
      if (t.name !== null && t.errorCode !== 0) refused.set(t.name, t.errorCode);
      if (t.name === null || t.errorCode !== 0) continue;
      topics.push({
        name: t.name,
        topicId: t.topicId,
        isInternal: t.isInternal,
        partitions: t.partitions
          .map((p) => ({
            partition: p.partitionIndex,
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
            offline: p.offlineReplicas,
            errorCode: p.errorCode,
          }))
          .sort((a, b) => a.partition - b.partition),
      });
    }
    topics.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      clusterId: res.clusterId,
      controllerId: res.controllerId,
      brokers: res.brokers
        .map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack }))
        .sort((a, b) => a.nodeId - b.nodeId),
      topics,
      refused,
    };
  }

  async topic(name: string): Promise<TopicView> {
    return this.topicIn(await this.snapshot([name]), name);
  }

  topicIn(snap: ClusterSnapshot, name: string): TopicView {
    const t = snap.topics.find((x) => x.name === name);
    const code = snap.refused.get(name);
    // Not allowed to describe it is not "does not exist": the user sees why.
    if (t === undefined && code !== undefined && code !== ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION) {
      throwIfError(code, `topic ${name}`);
    }
    if (t === undefined) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `topic ${name} does not exist`);
    return t;
  }

  /** The API version ranges the bootstrap broker announces, and its finalized features (metadata.version, …). */
  async apiVersions(): Promise<{ apis: ApiRange[]; features: Array<{ name: string; level: number }> }> {
    const conn = await this.ctx.pool.any();
    // v3+ brokers refuse an empty software name (INVALID_REQUEST).
    const req = {
      ...ApiVersionsApi.request.defaults(),
      clientSoftwareName: 'sluice-console',
      clientSoftwareVersion: '0.0.0',
    };
    const res = await conn.request(ApiVersionsApi, req);
    throwIfError(res.errorCode, 'ApiVersions');
    return {
      apis: res.apiKeys.map((k) => ({
        apiKey: k.apiKey,
        name: apiByKey(k.apiKey)?.name ?? `Api${k.apiKey}`,
        minVersion: k.minVersion,
        maxVersion: k.maxVersion,
      })),
      features: res.finalizedFeatures.map((f) => ({ name: f.name, level: f.maxVersionLevel })),
    };
  }

  /**
   * Bytes on disk per topic-partition (`topic\0partition` → bytes), summed over the brokers' log
   * dirs (the leader's copy only would hide replicas). Null when DescribeLogDirs is missing.
   */
  async partitionSizes(brokers: readonly BrokerView[], only?: TopicView): Promise<Map<string, bigint> | null> {
    const out = new Map<string, bigint>();
    try {
      for (const b of brokers) {
        const conn = await this.ctx.pool.get({ host: b.host, port: b.port });
        const req = defaultDescribeLogDirsRequest();
        req.topics = only ? [{ topic: only.name, partitions: only.partitions.map((p) => p.partition) }] : null;
        const res = await conn.request(DescribeLogDirsApi, req);
        for (const dir of res.results) {
          if (dir.errorCode !== 0) continue;
          for (const t of dir.topics) {
            for (const p of t.partitions) {
              if (p.isFutureKey) continue;
              const key = `${t.name}\u0000${p.partitionIndex}`;
              out.set(key, (out.get(key) ?? 0n) + p.partitionSize);
            }
          }
        }
      }
    } catch (err) {
      if (isUnsupported(err)) return null;
      throw err;
    }
    return out;
  }

  /** A resource's configs with the source of each value and the default it would fall back to. */
  async configs(resourceType: number, name: string): Promise<ConfigView[]> {
    const conn = await this.ctx.pool.any();
    const req = defaultDescribeConfigsRequest();
    req.resources = [{ resourceType, resourceName: name, configurationKeys: null }];
    // Synonyms from v1, documentation from v3: an older broker is asked for what it can give.
    const v = conn.version(DescribeConfigsApi);
    req.includeSynonyms = v >= 1;
    req.includeDocumentation = v >= 3;
    const res = await conn.request(DescribeConfigsApi, req);
    const r = res.results[0];
    if (r === undefined) throw new KafkaError(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'DescribeConfigs: no result');
    throwIfError(r.errorCode, `DescribeConfigs ${name}`, r.errorMessage);
    return r.configs
      .map((c) => {
        // The first synonym is the value in force; the next one is what removing it falls back to.
        const fallback = c.synonyms.find((s) => s.source !== c.configSource) ?? null;
        return {
          name: c.name,
          value: c.value,
          source: configSourceName(c.configSource),
          readOnly: c.readOnly,
          isSensitive: c.isSensitive,
          defaultValue: c.configSource === 5 ? c.value : (fallback?.value ?? null),
          defaultSource:
            c.configSource === 5 ? 'DEFAULT_CONFIG' : fallback === null ? null : configSourceName(fallback.source),
          documentation: c.documentation,
        };
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** One config key of many topics (`topic` → value; missing when the cluster did not say), 100 topics a request. */
  async topicConfigValue(topics: readonly string[], key: string): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    const conn = await this.ctx.pool.any();
    for (let i = 0; i < topics.length; i += 100) {
      const req = defaultDescribeConfigsRequest();
      req.resources = topics
        .slice(i, i + 100)
        .map((name) => ({ resourceType: ConfigResource.TOPIC, resourceName: name, configurationKeys: [key] }));
      const res = await conn.request(DescribeConfigsApi, req);
      for (const r of res.results) {
        if (r.errorCode === 0) out.set(r.resourceName, r.configs.find((c) => c.name === key)?.value ?? null);
      }
    }
    return out;
  }

  async setTopicConfig(topic: string, key: string, value: string | null): Promise<void> {
    await this.admin.incrementalAlterConfigs(ConfigResource.TOPIC, topic, [
      value === null ? { name: key, op: ConfigOp.DELETE } : { name: key, op: ConfigOp.SET, value },
    ]);
  }

  /** Earliest and latest offsets of every partition of a topic, in partition order. */
  async offsets(topic: string, partitions: readonly number[]): Promise<Array<{ start: bigint; end: bigint }>> {
    const tps = partitions.map((partition) => ({ topic, partition }));
    if (tps.length === 0) return [];
    const [starts, ends] = await Promise.all([
      this.admin.listOffsets(tps, 'earliest'),
      this.admin.listOffsets(tps, 'latest'),
    ]);
    return tps.map((_, i) => ({ start: starts[i].offset, end: ends[i].offset }));
  }

  /**
   * Commits `offsets` for a group that has no members (Kafka refuses a commit from outside the
   * generation of an active group with UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION).
   */
  async commitGroupOffsets(
    groupId: string,
    offsets: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>,
  ): Promise<void> {
    const consumer = new Consumer(this.clientOptions('sluice-console'), { groupId, autoCommit: false });
    try {
      await consumer.commitOffsets(offsets);
    } finally {
      await consumer.close();
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.admin.close(), this.ctx.pool.close()]);
  }
}
