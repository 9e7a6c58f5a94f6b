// Topic-level configs with Kafka's names, defaults, validation and the broker configs each one
// falls back to (ServerTopicConfigSynonyms), in Kafka's priority order.

import { COMPRESSION_TYPES, TIMESTAMP_TYPES } from './broker-config.js';
import {
  type ConfigDef,
  ConfigException,
  type ConfigTypeName,
  type ConfigValue,
  parseConfigValue,
  type ValueOf,
} from './types.js';

/** A broker synonym and the factor that turns its unit into the topic config's (hours → ms). */
export interface TopicSynonym {
  name: string;
  multiplier?: number;
}

export interface TopicConfigDef extends ConfigDef {
  /** Broker configs this topic config falls back to, first set wins; empty: no server default. */
  synonyms: readonly TopicSynonym[];
}

const LONG_MAX_STR = '9223372036854775807';
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

function def<const T extends ConfigTypeName>(
  type: T,
  dflt: string,
  synonyms: readonly (string | TopicSynonym)[],
  doc: string,
  validator?: ConfigDef['validator'],
) {
  return {
    type,
    default: dflt,
    synonyms: synonyms.map((s) => (typeof s === 'string' ? { name: s } : s)),
    doc,
    ...(validator ? { validator } : {}),
  };
}

/** Every topic config by Kafka name, sorted as Kafka lists them. */
export const TOPIC_CONFIGS = {
  'cleanup.policy': def(
    'LIST',
    'delete',
    ['log.cleanup.policy'],
    'Retention policy for old log segments: delete, compact or both',
    { oneOf: ['compact', 'delete'] },
  ),
  'compression.gzip.level': def(
    'INT',
    '-1',
    ['compression.gzip.level'],
    'The compression level to use if compression.type is gzip',
  ),
  'compression.lz4.level': def(
    'INT',
    '9',
    ['compression.lz4.level'],
    'The compression level to use if compression.type is lz4',
    { min: 1, max: 17 },
  ),
  'compression.type': def(
    'STRING',
    'producer',
    ['compression.type'],
    "The final compression type for the topic; 'producer' retains the producer's codec",
    { oneOf: COMPRESSION_TYPES },
  ),
  'compression.zstd.level': def(
    'INT',
    '3',
    ['compression.zstd.level'],
    'The compression level to use if compression.type is zstd',
    { min: -131072, max: 22 },
  ),
  'delete.retention.ms': def(
    'LONG',
    '86400000',
    ['log.cleaner.delete.retention.ms'],
    'How long delete tombstone markers are retained for compacted topics',
    { min: 0 },
  ),
  'errors.deadletterqueue.group.enable': def(
    'BOOLEAN',
    'false',
    [],
    'Whether share groups may write records they cannot deliver to a dead-letter queue topic (Kafka 4.4; accepted, Sluice has no share groups)',
  ),
  'file.delete.delay.ms': def(
    'LONG',
    '60000',
    ['log.segment.delete.delay.ms'],
    'The time to wait before deleting a file from the filesystem',
    { min: 0 },
  ),
  'flush.messages': def(
    'LONG',
    LONG_MAX_STR,
    ['log.flush.interval.messages'],
    'Force an fsync of the log after this many messages',
    { min: 1 },
  ),
  'flush.ms': def(
    'LONG',
    LONG_MAX_STR,
    ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'],
    'Force an fsync of the log after this much time',
    { min: 0 },
  ),
  'index.interval.bytes': def(
    'INT',
    '4096',
    ['log.index.interval.bytes'],
    'How frequently an index entry is added to the offset index',
    { min: 0 },
  ),
  'follower.replication.throttled.replicas': def(
    'LIST',
    '',
    [],
    'Replicas whose log replication is throttled on the follower side (accepted; Sluice has no throttling)',
  ),
  'leader.replication.throttled.replicas': def(
    'LIST',
    '',
    [],
    'Replicas whose log replication is throttled on the leader side (accepted; Sluice has no throttling)',
  ),
  'local.retention.bytes': def(
    'LONG',
    '-2',
    ['log.local.retention.bytes'],
    'Local retention for tiered storage; -2 means retention.bytes (accepted; Sluice has no tiered storage)',
    { min: -2 },
  ),
  'local.retention.ms': def(
    'LONG',
    '-2',
    ['log.local.retention.ms'],
    'Local retention for tiered storage; -2 means retention.ms (accepted; Sluice has no tiered storage)',
    { min: -2 },
  ),
  'max.compaction.lag.ms': def(
    'LONG',
    LONG_MAX_STR,
    ['log.cleaner.max.compaction.lag.ms'],
    'The maximum time a message will remain ineligible for compaction',
    { min: 1 },
  ),
  'max.decompressed.message.bytes': def(
    'INT',
    '2147483639',
    ['max.decompressed.message.bytes'],
    'The largest size a record batch may decompress to (Kafka 4.4; accepted, not enforced by Sluice)',
  ),
  'max.message.bytes': def('INT', '1048588', ['message.max.bytes'], 'The largest record batch size allowed', {
    min: 0,
  }),
  'message.timestamp.after.max.ms': def(
    'LONG',
    // One hour since Kafka 4.0 (KIP-1030); Long.MAX_VALUE before.
    '3600000',
    ['log.message.timestamp.after.max.ms'],
    'How far a CreateTime timestamp may be ahead of the broker clock',
    { min: 0 },
  ),
  'message.timestamp.before.max.ms': def(
    'LONG',
    LONG_MAX_STR,
    ['log.message.timestamp.before.max.ms'],
    'How far a CreateTime timestamp may be behind the broker clock',
    { min: 0 },
  ),
  'message.timestamp.type': def(
    'STRING',
    'CreateTime',
    ['log.message.timestamp.type'],
    'Whether the timestamp in the message is create time or log append time',
    { oneOf: TIMESTAMP_TYPES },
  ),
  'min.cleanable.dirty.ratio': def(
    'DOUBLE',
    '0.5',
    ['log.cleaner.min.cleanable.ratio'],
    'How frequently the log compactor will attempt to clean the log',
    { min: 0, max: 1 },
  ),
  'min.compaction.lag.ms': def(
    'LONG',
    '0',
    ['log.cleaner.min.compaction.lag.ms'],
    'The minimum time a message will remain uncompacted in the log',
    { min: 0 },
  ),
  'min.insync.replicas': def(
    'INT',
    '1',
    ['min.insync.replicas'],
    'The minimum number of replicas that must acknowledge a write with acks=all',
    { min: 1 },
  ),
  preallocate: def(
    'BOOLEAN',
    'false',
    ['log.preallocate'],
    'Whether to preallocate the file on disk when creating a new log segment',
  ),
  'remote.log.copy.disable': def(
    'BOOLEAN',
    'false',
    [],
    'Whether tiered data of the topic becomes read-only, with no more uploads (accepted; Sluice has no tiered storage)',
  ),
  'remote.log.delete.on.disable': def(
    'BOOLEAN',
    'false',
    [],
    'Whether tiered data is deleted once tiered storage is disabled for the topic (accepted; Sluice has no tiered storage)',
  ),
  'remote.copy.lag.bytes': def(
    'LONG',
    '-1',
    ['log.remote.copy.lag.bytes'],
    'How far the tiered copy may lag, in bytes (Kafka 4.4; accepted, Sluice has no tiered storage)',
  ),
  'remote.copy.lag.ms': def(
    'LONG',
    '0',
    ['log.remote.copy.lag.ms'],
    'How far the tiered copy may lag, in ms (Kafka 4.4; accepted, Sluice has no tiered storage)',
  ),
  'remote.storage.enable': def(
    'BOOLEAN',
    'false',
    [],
    'Whether tiered storage is enabled for the topic (Sluice has none: only false is accepted)',
    { oneOf: ['false'] },
  ),
  'retention.bytes': def(
    'LONG',
    '-1',
    ['log.retention.bytes'],
    'The maximum size a partition can grow to before old segments are discarded',
  ),
  'retention.ms': def(
    'LONG',
    '604800000',
    [
      'log.retention.ms',
      { name: 'log.retention.minutes', multiplier: MINUTE_MS },
      { name: 'log.retention.hours', multiplier: HOUR_MS },
    ],
    'The maximum time a log is retained before old segments are discarded; -1 means no time limit',
    { min: -1 },
  ),
  'segment.bytes': def('INT', '1073741824', ['log.segment.bytes'], 'The segment file size for the log', {
    min: 1048576,
  }),
  'segment.index.bytes': def(
    'INT',
    '10485760',
    ['log.index.size.max.bytes'],
    'The size of the index that maps offsets to file positions',
    { min: 4 },
  ),
  'segment.jitter.ms': def(
    'LONG',
    '0',
    ['log.roll.jitter.ms', { name: 'log.roll.jitter.hours', multiplier: HOUR_MS }],
    'The maximum random jitter subtracted from the scheduled segment roll time',
    { min: 0 },
  ),
  'segment.ms': def(
    'LONG',
    '604800000',
    ['log.roll.ms', { name: 'log.roll.hours', multiplier: HOUR_MS }],
    'The period of time after which the log rolls even if the segment file is not full',
    { min: 1 },
  ),
  'unclean.leader.election.enable': def(
    'BOOLEAN',
    'false',
    ['unclean.leader.election.enable'],
    'Whether replicas not in the ISR may be elected as leader as a last resort',
  ),
} as const satisfies Record<string, Omit<TopicConfigDef, 'name'>>;

export type TopicConfigName = keyof typeof TOPIC_CONFIGS;
export type TopicValue<K extends TopicConfigName> = ValueOf<(typeof TOPIC_CONFIGS)[K]['type']>;

/** Effective values of every topic config, typed by name (LONG as bigint). */
export type TopicConfigValues = { [K in TopicConfigName]: TopicValue<K> };

const DEFS = new Map<string, TopicConfigDef>(
  Object.entries(TOPIC_CONFIGS).map(([name, d]) => [name, { name, ...d } as TopicConfigDef]),
);

export function topicConfigDef(name: string): TopicConfigDef | undefined {
  return DEFS.get(name);
}

export function topicConfigNames(): string[] {
  return [...DEFS.keys()];
}

/** The topic config a broker config is the primary synonym of (log.retention.ms → retention.ms). */
export function topicConfigForBrokerSynonym(brokerName: string): string | undefined {
  for (const d of DEFS.values()) if (d.synonyms.some((s) => s.name === brokerName)) return d.name;
  return undefined;
}

/** Parses one topic config, with Kafka's messages for unknown names and bad values. */
export function parseTopicConfig(name: string, value: string | null): ConfigValue {
  const d = DEFS.get(name);
  if (!d) throw new ConfigException(`Unknown topic config name: ${name}`);
  if (value === null) throw new ConfigException(`Null value not supported for topic configs: ${name}`);
  return parseConfigValue(d, value);
}

/**
 * Validates a whole set of topic overrides as CreateTopics and AlterConfigs do (LogConfig.validate):
 * names, each value, then the cross-field rules. Throws ConfigException.
 */
export function validateTopicConfigs(overrides: ReadonlyMap<string, string> | Record<string, string>): void {
  const entries = overrides instanceof Map ? [...overrides] : Object.entries(overrides);
  for (const [name, value] of entries) parseTopicConfig(name, value);
}

/** Cross-field rules, checked on the effective values (LogConfig.validateValues). */
export function validateTopicValues(values: TopicConfigValues): void {
  const min = values['min.compaction.lag.ms'];
  const max = values['max.compaction.lag.ms'];
  if (min > max) {
    throw new ConfigException(
      `conflict topic config setting min.compaction.lag.ms (${min}) > max.compaction.lag.ms (${max})`,
    );
  }
}
