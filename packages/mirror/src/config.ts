// MirrorMaker 2's configuration (mm2.properties) read into one flow config per enabled `A->B`:
// `A->B.<name>` overrides the top-level `<name>`, which overrides MM2's default; client settings
// come from `<alias>.bootstrap.servers`.
import { identityReplicationPolicy, type ReplicationPolicy, replicationPolicy } from './policy.js';

export class MirrorConfigError extends Error {
  override readonly name = 'MirrorConfigError';
}

export interface ClusterConfig {
  alias: string;
  bootstrapServers: string[];
}

export interface FlowConfig {
  source: ClusterConfig;
  target: ClusterConfig;
  policy: ReplicationPolicy;
  /** Whole-name regexes: a topic is mirrored when one of `topics` matches and none of `topicsExclude`. */
  topics: RegExp[];
  topicsExclude: RegExp[];
  groups: RegExp[];
  groupsExclude: RegExp[];
  /** Replication factor of topics created on the target; -1: the target's default. */
  replicationFactor: number;
  syncTopicConfigs: boolean;
  syncTopicConfigsIntervalMs: number;
  /** Topic config names never copied (MM2's config.properties.exclude). */
  configPropertiesExclude: RegExp[];
  emitCheckpoints: boolean;
  emitCheckpointsIntervalMs: number;
  emitHeartbeats: boolean;
  emitHeartbeatsIntervalMs: number;
  refreshTopics: boolean;
  refreshTopicsIntervalMs: number;
  refreshGroupsIntervalMs: number;
  syncGroupOffsets: boolean;
  syncGroupOffsetsIntervalMs: number;
  /** An offset sync is written at least every this many upstream offsets per partition. */
  offsetLagMax: number;
  /** Where `mm2-offset-syncs.<target>.internal` lives. */
  offsetSyncsTopicLocation: 'source' | 'target';
  /** How often copied positions are stored (Connect's offset.flush.interval.ms). */
  offsetFlushIntervalMs: number;
  /** Bytes sent to the target and not yet acknowledged before reading from the source pauses. */
  bufferMemory: number;
  /** How often progress and lag are logged and the lag gauges refreshed. */
  progressIntervalMs: number;
  /** Compression of the batches written to the target (producer.compression.type). */
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  /**
   * Exactly-once (MM2's `exactly.once.source.support = enabled` for the target cluster, KIP-618):
   * copied records and the source positions are written to the target in one transaction.
   */
  exactlyOnce: boolean;
}

export interface MirrorConfig {
  clusters: ClusterConfig[];
  flows: FlowConfig[];
}

// MM2's defaults (MirrorSourceConfig, MirrorCheckpointConfig, DefaultTopicFilter, DefaultGroupFilter,
// DefaultConfigPropertyFilter).
const DEFAULTS: Record<string, string> = {
  topics: '.*',
  'topics.exclude': '.*[\\-\\.]internal, .*\\.replica, __.*',
  groups: '.*',
  'groups.exclude': 'console-consumer-.*, connect-.*, __.*',
  'replication.policy.class': 'org.apache.kafka.connect.mirror.DefaultReplicationPolicy',
  'replication.policy.separator': '.',
  'replication.factor': '-1',
  'sync.topic.configs.enabled': 'true',
  'sync.topic.configs.interval.seconds': '600',
  'config.properties.exclude':
    'follower\\.replication\\.throttled\\.replicas, leader\\.replication\\.throttled\\.replicas, message\\.timestamp\\.difference\\.max\\.ms, message\\.timestamp\\.type, unclean\\.leader\\.election\\.enable, min\\.insync\\.replicas',
  'emit.checkpoints.enabled': 'true',
  'emit.checkpoints.interval.seconds': '60',
  'emit.heartbeats.enabled': 'true',
  'emit.heartbeats.interval.seconds': '1',
  'refresh.topics.enabled': 'true',
  'refresh.topics.interval.seconds': '600',
  'refresh.groups.interval.seconds': '600',
  'sync.group.offsets.enabled': 'false',
  'sync.group.offsets.interval.seconds': '60',
  'offset.lag.max': '100',
  'offset-syncs.topic.location': 'source',
  'offset.flush.interval.ms': '10000',
  'producer.buffer.memory': String(32 * 1024 * 1024),
  'progress.interval.seconds': '10',
  'producer.compression.type': 'none',
  'exactly.once.source.support': 'disabled',
};

const ALIAS = /^[A-Za-z0-9_-]+$/;

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function regexList(name: string, value: string): RegExp[] {
  return list(value).map((p) => {
    try {
      // Java's Pattern.matches(): the whole name must match.
      return new RegExp(`^(?:${p})$`);
    } catch (err) {
      throw new MirrorConfigError(`${name}: '${p}' is not a regular expression (${(err as Error).message})`);
    }
  });
}

function bool(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new MirrorConfigError(`${name}: expected true or false, got '${value}'`);
}

function int(name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value.trim();
  if (!/^-?\d+$/.test(v)) throw new MirrorConfigError(`${name}: expected an integer, got '${value}'`);
  const n = Number(v);
  if (n < min || n > max) throw new MirrorConfigError(`${name}: ${n} is not in ${min}..${max}`);
  return n;
}

/** Reads mm2.properties-style settings (already parsed into names and values). */
export function parseMirrorConfig(props: Readonly<Record<string, string>>): MirrorConfig {
  const clustersValue = props.clusters;
  if (clustersValue === undefined) throw new MirrorConfigError('clusters: missing (e.g. clusters = A, B)');
  const aliases = list(clustersValue);
  if (aliases.length < 2) throw new MirrorConfigError('clusters: name at least two clusters');
  const clusters = new Map<string, ClusterConfig>();
  for (const alias of aliases) {
    if (!ALIAS.test(alias)) throw new MirrorConfigError(`clusters: '${alias}' is not a valid alias ([A-Za-z0-9_-]+)`);
    if (clusters.has(alias)) throw new MirrorConfigError(`clusters: '${alias}' is named twice`);
    const servers = props[`${alias}.bootstrap.servers`];
    if (servers === undefined || list(servers).length === 0) {
      throw new MirrorConfigError(`${alias}.bootstrap.servers: missing`);
    }
    for (const s of list(servers)) {
      if (!/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(s)) {
        throw new MirrorConfigError(`${alias}.bootstrap.servers: expected host:port, got '${s}'`);
      }
    }
    clusters.set(alias, { alias, bootstrapServers: list(servers) });
  }
  for (const key of Object.keys(props)) {
    const m = /^([^.>]+)->([^.]+)\.enabled$/.exec(key);
    if (m && (!clusters.has(m[1]) || !clusters.has(m[2]))) {
      throw new MirrorConfigError(`${key}: ${clusters.has(m[1]) ? m[2] : m[1]} is not one of clusters`);
    }
  }
  const flows: FlowConfig[] = [];
  for (const source of clusters.values()) {
    for (const target of clusters.values()) {
      if (source === target) continue;
      const prefix = `${source.alias}->${target.alias}.`;
      const enabled = props[`${prefix}enabled`];
      if (enabled === undefined || !bool(`${prefix}enabled`, enabled)) continue;
      const get = (name: string): string => props[prefix + name] ?? props[name] ?? DEFAULTS[name];
      const seconds = (name: string) => int(name, get(name), 1, 86_400 * 365) * 1000;
      flows.push({
        source,
        target,
        policy: policyOf(get('replication.policy.class'), get('replication.policy.separator')),
        topics: regexList('topics', get('topics')),
        topicsExclude: regexList('topics.exclude', get('topics.exclude')),
        groups: regexList('groups', get('groups')),
        groupsExclude: regexList('groups.exclude', get('groups.exclude')),
        replicationFactor: int('replication.factor', get('replication.factor'), -1, 32_767),
        syncTopicConfigs: bool('sync.topic.configs.enabled', get('sync.topic.configs.enabled')),
        syncTopicConfigsIntervalMs: seconds('sync.topic.configs.interval.seconds'),
        configPropertiesExclude: regexList('config.properties.exclude', get('config.properties.exclude')),
        emitCheckpoints: bool('emit.checkpoints.enabled', get('emit.checkpoints.enabled')),
        emitCheckpointsIntervalMs: seconds('emit.checkpoints.interval.seconds'),
        emitHeartbeats: bool('emit.heartbeats.enabled', get('emit.heartbeats.enabled')),
        emitHeartbeatsIntervalMs: seconds('emit.heartbeats.interval.seconds'),
        refreshTopics: bool('refresh.topics.enabled', get('refresh.topics.enabled')),
        refreshTopicsIntervalMs: seconds('refresh.topics.interval.seconds'),
        refreshGroupsIntervalMs: seconds('refresh.groups.interval.seconds'),
        syncGroupOffsets: bool('sync.group.offsets.enabled', get('sync.group.offsets.enabled')),
        syncGroupOffsetsIntervalMs: seconds('sync.group.offsets.interval.seconds'),
        offsetLagMax: int('offset.lag.max', get('offset.lag.max'), 0),
        offsetSyncsTopicLocation: syncLocation(get('offset-syncs.topic.location')),
        offsetFlushIntervalMs: int('offset.flush.interval.ms', get('offset.flush.interval.ms'), 1, 3_600_000),
        bufferMemory: int('producer.buffer.memory', get('producer.buffer.memory'), 1024, 2 ** 31 - 1),
        progressIntervalMs: seconds('progress.interval.seconds'),
        compression: compressionOf(get('producer.compression.type')),
        // MM2 sets it per cluster written to (`B.exactly.once.source.support`); a flow or top-level key works too.
        exactlyOnce: exactlyOnceOf(
          props[`${prefix}exactly.once.source.support`] ??
            props[`${target.alias}.exactly.once.source.support`] ??
            get('exactly.once.source.support'),
        ),
      });
    }
  }
  if (flows.length === 0) {
    throw new MirrorConfigError(`no flow is enabled (e.g. ${aliases[0]}->${aliases[1]}.enabled = true)`);
  }
  return { clusters: [...clusters.values()], flows };
}

function compressionOf(value: string): FlowConfig['compression'] {
  const v = value.trim();
  if (v === 'none' || v === 'gzip' || v === 'snappy' || v === 'lz4' || v === 'zstd') return v;
  throw new MirrorConfigError(`producer.compression.type: expected none, gzip, snappy, lz4 or zstd, got '${value}'`);
}

/** Connect's values: `preparing` is the step of a rolling upgrade and still copies at least once. */
function exactlyOnceOf(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'enabled') return true;
  if (v === 'disabled' || v === 'preparing') return false;
  throw new MirrorConfigError(`exactly.once.source.support: expected enabled, preparing or disabled, got '${value}'`);
}

function syncLocation(value: string): 'source' | 'target' {
  const v = value.trim();
  if (v === 'source' || v === 'target') return v;
  throw new MirrorConfigError(`offset-syncs.topic.location: expected source or target, got '${value}'`);
}

/** MM2's class names (full or simple) and Sluice's short names `default` and `identity`. */
function policyOf(className: string, separator: string): ReplicationPolicy {
  const name = className.trim();
  const simple = name.slice(name.lastIndexOf('.') + 1);
  if (name === 'default' || simple === 'DefaultReplicationPolicy') {
    if (separator.length === 0) throw new MirrorConfigError('replication.policy.separator: must not be empty');
    return replicationPolicy(separator);
  }
  if (name === 'identity' || simple === 'IdentityReplicationPolicy') return identityReplicationPolicy(separator);
  throw new MirrorConfigError(
    `replication.policy.class: ${name} is not supported (DefaultReplicationPolicy or IdentityReplicationPolicy)`,
  );
}
