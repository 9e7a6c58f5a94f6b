// The broker configs Sluice honours, with Kafka's names, types, defaults and dynamic update modes.
// Sluice extensions (not in Kafka) are marked `sluice: true`.

import { KAFKA_BROKER_CONFIGS } from '../generated/kafka-broker-configs.js';
import { type ConfigDef, ConfigException, type ConfigTypeName, type DynamicMode, type ValueOf } from './types.js';

export interface BrokerConfigDef extends ConfigDef {
  dynamic: DynamicMode;
  sluice?: boolean;
  /** A Kafka config Sluice knows (lists, stores, validates by type) but does not act on. */
  notActedOn?: boolean;
}

const LONG_MAX_STR = '9223372036854775807';
const INT_MAX_STR = '2147483647';
const CLEANUP_POLICIES = ['compact', 'delete'] as const;
export const COMPRESSION_TYPES = ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'] as const;
export const TIMESTAMP_TYPES = ['CreateTime', 'LogAppendTime'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function def<const T extends ConfigTypeName>(
  type: T,
  dflt: string | null,
  dynamic: DynamicMode,
  doc: string,
  extra: Partial<Pick<BrokerConfigDef, 'validator' | 'sluice'>> = {},
) {
  return { type, default: dflt, dynamic, doc, ...extra };
}

/** Every broker config by Kafka name. Order is the order DescribeConfigs lists them in. */
export const BROKER_CONFIGS = {
  // Sluice's defaults differ from Kafka's for these two: a local broker on 127.0.0.1:9092 storing under ./data.
  listeners: def(
    'STRING',
    'PLAINTEXT://127.0.0.1:9092',
    'read-only',
    'Comma-separated listener URIs to bind, NAME://host:port; port 0 picks an ephemeral port',
  ),
  'advertised.listeners': def(
    'STRING',
    null,
    'read-only',
    'Listeners published to clients if different from listeners',
  ),
  'listener.security.protocol.map': def(
    'STRING',
    'SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT',
    'read-only',
    'Map between listener names and security protocols',
  ),
  'node.id': def('INT', null, 'read-only', 'The node ID (falls back to broker.id, then 1)'),
  'broker.id': def('INT', '-1', 'read-only', 'The broker ID; must equal node.id when both are set'),
  'cluster.id': def(
    'STRING',
    null,
    'read-only',
    'Cluster ID; generated and stored in the data directory when not set',
    { sluice: true },
  ),
  'broker.rack': def('STRING', null, 'read-only', 'Rack of the broker, used in rack-aware replica placement'),
  'metadata.etcd.endpoints': def(
    'LIST',
    null,
    'read-only',
    'etcd client URLs of the cluster metadata (http://host:port,...); unset: single node, metadata in the data directory',
    { sluice: true },
  ),
  // In a cluster the broker's etcd lease lasts this long (rounded up to whole seconds, etcd's unit).
  'broker.session.timeout.ms': def(
    'INT',
    '9000',
    'read-only',
    'The length of time in milliseconds that a broker lease lasts if no heartbeats are made.',
  ),
  'log.dirs': def(
    'LIST',
    null,
    'read-only',
    'Comma-separated directories where the log data is stored; log.dir is used if not set',
    { validator: { nonEmptyDistinct: true } },
  ),
  'log.dir': def(
    'LIST',
    './data',
    'read-only',
    'The directory in which the log data is kept (supplemental for log.dirs)',
    { validator: { nonEmptyDistinct: true } },
  ),
  'num.partitions': def('INT', '1', 'read-only', 'The default number of log partitions per topic', {
    validator: { min: 1 },
  }),
  'default.replication.factor': def(
    'INT',
    '1',
    'read-only',
    'The default replication factor for automatically created topics',
  ),
  'auto.create.topics.enable': def('BOOLEAN', 'true', 'read-only', 'Enable auto creation of topic on the server'),
  'delete.topic.enable': def('BOOLEAN', 'true', 'read-only', 'Enables topic deletion'),
  'socket.request.max.bytes': def('INT', '104857600', 'read-only', 'The maximum number of bytes in a socket request', {
    validator: { min: 1 },
  }),
  // Kafka's default is -1 (no bound). Sluice bounds it by default at 100 MiB, the size of the
  // largest request (socket.request.max.bytes): bytes of requests in flight, across every
  // connection, then stay under 200 MiB however many clients send at once, and the measured
  // loads (clients.test, the benchmark harness) have never more than a few MiB in flight.
  'queued.max.request.bytes': def(
    'LONG',
    '104857600',
    'read-only',
    'The number of queued bytes allowed before no more requests are read; -1 (or 0) for no bound',
    { validator: { min: -1 } },
  ),
  'connections.max.idle.ms': def(
    'LONG',
    '600000',
    'read-only',
    'Idle connections timeout: connections idle longer than this are closed',
  ),
  'max.connections': def(
    'INT',
    INT_MAX_STR,
    'cluster-wide',
    'The maximum number of connections allowed in the broker at any time; a new connection over it is closed',
    { validator: { min: 0 } },
  ),
  'max.connections.per.ip': def(
    'INT',
    INT_MAX_STR,
    'cluster-wide',
    'The maximum number of connections allowed from each ip address; a new connection over it is closed',
    { validator: { min: 0 } },
  ),
  'max.connections.per.ip.overrides': def(
    'STRING',
    '',
    'cluster-wide',
    'A comma-separated list of per-ip overrides of the default maximum number of connections, e.g. 127.0.0.1:200',
  ),
  'message.max.bytes': def(
    'INT',
    '1048588',
    'cluster-wide',
    'The largest record batch size allowed by Kafka (after compression if compression is enabled)',
    { validator: { min: 0 } },
  ),
  'log.segment.bytes': def('INT', '1073741824', 'cluster-wide', 'The maximum size of a single log file', {
    validator: { min: 1048576 },
  }),
  'log.roll.ms': def(
    'LONG',
    null,
    'cluster-wide',
    'The maximum time before a new log segment is rolled out (in milliseconds); log.roll.hours is used if not set',
  ),
  'log.roll.hours': def(
    'INT',
    '168',
    'read-only',
    'The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms',
    { validator: { min: 1 } },
  ),
  'log.roll.jitter.ms': def(
    'LONG',
    null,
    'cluster-wide',
    'The maximum jitter to subtract from the roll time (in milliseconds)',
  ),
  'log.roll.jitter.hours': def(
    'INT',
    '0',
    'read-only',
    'The maximum jitter to subtract from the roll time (in hours), secondary to log.roll.jitter.ms',
    { validator: { min: 0 } },
  ),
  'log.retention.ms': def(
    'LONG',
    null,
    'cluster-wide',
    'The number of milliseconds to keep a log file before deleting it; -1 means no time limit',
  ),
  'log.retention.minutes': def(
    'INT',
    null,
    'read-only',
    'The number of minutes to keep a log file before deleting it, secondary to log.retention.ms',
  ),
  'log.retention.hours': def(
    'INT',
    '168',
    'read-only',
    'The number of hours to keep a log file before deleting it, tertiary to log.retention.ms',
  ),
  'log.retention.bytes': def('LONG', '-1', 'cluster-wide', 'The maximum size of the log before deleting it'),
  'log.retention.check.interval.ms': def(
    'LONG',
    '300000',
    'read-only',
    'How often the log cleaner checks whether any log is eligible for deletion',
    { validator: { min: 1 } },
  ),
  'log.local.retention.ms': def(
    'LONG',
    '-2',
    'cluster-wide',
    'Local retention for tiered storage topics; -2 means log.retention.ms',
    { validator: { min: -2 } },
  ),
  'log.local.retention.bytes': def(
    'LONG',
    '-2',
    'cluster-wide',
    'Local retention size for tiered storage topics; -2 means log.retention.bytes',
    { validator: { min: -2 } },
  ),
  'log.cleanup.policy': def(
    'LIST',
    'delete',
    'cluster-wide',
    'The default cleanup policy for segments beyond the retention window',
    { validator: { oneOf: CLEANUP_POLICIES } },
  ),
  'log.flush.interval.messages': def(
    'LONG',
    LONG_MAX_STR,
    'cluster-wide',
    'The number of messages accumulated on a log partition before messages are flushed to disk',
    { validator: { min: 1 } },
  ),
  'log.flush.interval.ms': def(
    'LONG',
    null,
    'cluster-wide',
    'The maximum time in ms that a message is kept in memory before flushed to disk; log.flush.scheduler.interval.ms is used if not set',
  ),
  'log.flush.scheduler.interval.ms': def(
    'LONG',
    LONG_MAX_STR,
    'read-only',
    'How often the log flusher checks whether any log needs to be flushed to disk',
  ),
  'log.index.interval.bytes': def(
    'INT',
    '4096',
    'cluster-wide',
    'The interval with which an entry is added to the offset index',
    { validator: { min: 0 } },
  ),
  'log.index.size.max.bytes': def('INT', '10485760', 'cluster-wide', 'The maximum size in bytes of the offset index', {
    validator: { min: 4 },
  }),
  'log.segment.delete.delay.ms': def(
    'LONG',
    '60000',
    'cluster-wide',
    'The amount of time to wait before deleting a file from the filesystem',
    { validator: { min: 0 } },
  ),
  'log.preallocate': def(
    'BOOLEAN',
    'false',
    'cluster-wide',
    'Whether to preallocate the file when creating a new segment',
  ),
  'log.message.timestamp.type': def(
    'STRING',
    'CreateTime',
    'cluster-wide',
    'Whether the timestamp in the message is create time or log append time',
    { validator: { oneOf: TIMESTAMP_TYPES } },
  ),
  'log.message.timestamp.before.max.ms': def(
    'LONG',
    LONG_MAX_STR,
    'cluster-wide',
    'How far a CreateTime message timestamp may be behind the broker clock',
    { validator: { min: 0 } },
  ),
  'log.message.timestamp.after.max.ms': def(
    'LONG',
    // One hour since Kafka 4.0 (KIP-1030); Long.MAX_VALUE before.
    '3600000',
    'cluster-wide',
    'How far a CreateTime message timestamp may be ahead of the broker clock',
    { validator: { min: 0 } },
  ),
  'log.cleaner.delete.retention.ms': def(
    'LONG',
    '86400000',
    'cluster-wide',
    'How long delete records (tombstones) are retained in compacted topics',
    { validator: { min: 0 } },
  ),
  'log.cleaner.min.cleanable.ratio': def(
    'DOUBLE',
    '0.5',
    'cluster-wide',
    'The minimum ratio of dirty log to total log for a log to be eligible for cleaning',
    { validator: { min: 0, max: 1 } },
  ),
  'log.cleaner.min.compaction.lag.ms': def(
    'LONG',
    '0',
    'cluster-wide',
    'The minimum time a message will remain uncompacted in the log',
    { validator: { min: 0 } },
  ),
  'log.cleaner.max.compaction.lag.ms': def(
    'LONG',
    LONG_MAX_STR,
    'cluster-wide',
    'The maximum time a message will remain ineligible for compaction in the log',
    { validator: { min: 1 } },
  ),
  'min.insync.replicas': def(
    'INT',
    '1',
    'cluster-wide',
    'The minimum number of replicas that must acknowledge a write with acks=all',
    { validator: { min: 1 } },
  ),
  'unclean.leader.election.enable': def(
    'BOOLEAN',
    'false',
    'cluster-wide',
    'Whether replicas not in the ISR may be elected as leader',
  ),
  'compression.type': def(
    'STRING',
    'producer',
    'cluster-wide',
    "The final compression type for a topic; 'producer' retains the producer's codec",
    { validator: { oneOf: COMPRESSION_TYPES } },
  ),
  'compression.gzip.level': def(
    'INT',
    '-1',
    'cluster-wide',
    'The compression level for gzip (1..9, or -1 for the default)',
  ),
  'compression.lz4.level': def('INT', '9', 'cluster-wide', 'The compression level for lz4', {
    validator: { min: 1, max: 17 },
  }),
  'compression.zstd.level': def('INT', '3', 'cluster-wide', 'The compression level for zstd', {
    validator: { min: -131072, max: 22 },
  }),
  'offsets.topic.num.partitions': def(
    'INT',
    '50',
    'read-only',
    'The number of partitions for the offset commit topic',
    { validator: { min: 1 } },
  ),
  'offsets.topic.replication.factor': def(
    'SHORT',
    '3',
    'read-only',
    'The replication factor of the offsets topic; in a cluster its creation waits until this many brokers are registered (a single node keeps one replica)',
    { validator: { min: 1 } },
  ),
  'offsets.commit.timeout.ms': def(
    'INT',
    '5000',
    'read-only',
    'How long a coordinator write (offset commit, group or transaction state) waits for the in-sync replicas',
    { validator: { min: 1 } },
  ),
  'offsets.retention.minutes': def(
    'INT',
    '10080',
    'read-only',
    'Committed offsets of a group without active consumers are kept this long',
    { validator: { min: 1 } },
  ),
  'group.initial.rebalance.delay.ms': def(
    'INT',
    '3000',
    'read-only',
    'How long the coordinator waits for more consumers to join a new group before the first rebalance',
  ),
  'group.min.session.timeout.ms': def(
    'INT',
    '6000',
    'read-only',
    'The minimum allowed session timeout for registered consumers',
  ),
  'group.max.session.timeout.ms': def(
    'INT',
    '1800000',
    'read-only',
    'The maximum allowed session timeout for registered consumers',
  ),
  'group.max.size': def(
    'INT',
    INT_MAX_STR,
    'read-only',
    'The maximum number of consumers that a single consumer group can accommodate',
    { validator: { min: 1 } },
  ),
  'group.consumer.session.timeout.ms': def(
    'INT',
    '45000',
    'read-only',
    'The timeout to detect client failures when using the consumer group protocol',
    { validator: { min: 1 } },
  ),
  'group.consumer.heartbeat.interval.ms': def(
    'INT',
    '5000',
    'read-only',
    'The heartbeat interval given to the members of a consumer group',
    { validator: { min: 1 } },
  ),
  'group.consumer.max.size': def(
    'INT',
    INT_MAX_STR,
    'read-only',
    'The maximum number of consumers that a single consumer group can accommodate',
    { validator: { min: 1 } },
  ),
  'group.consumer.assignors': def(
    'LIST',
    'uniform,range',
    'read-only',
    'The server-side assignors (uniform, range) as a list of names or Kafka class names; the first one is the default',
  ),
  'group.consumer.migration.policy': def(
    'STRING',
    'bidirectional',
    'read-only',
    'Online conversion of non-empty groups: upgrade (classic to consumer group when a ConsumerGroupHeartbeat member joins), downgrade (back when the last one leaves), bidirectional or disabled',
    { validator: { oneOf: ['disabled', 'upgrade', 'downgrade', 'bidirectional'] } },
  ),
  'group.share.session.timeout.ms': def(
    'INT',
    '45000',
    'read-only',
    'The timeout to detect client failures when using the share group protocol',
    { validator: { min: 1 } },
  ),
  'group.share.heartbeat.interval.ms': def(
    'INT',
    '5000',
    'read-only',
    'The heartbeat interval given to the members of a share group',
    { validator: { min: 1 } },
  ),
  'group.share.max.size': def(
    'INT',
    '200',
    'read-only',
    'The maximum number of members that a single share group can accommodate',
    { validator: { min: 1, max: 1000 } },
  ),
  'group.share.record.lock.duration.ms': def(
    'INT',
    '30000',
    'read-only',
    'The record acquisition lock duration in milliseconds for share groups',
    { validator: { min: 1000, max: 3600000 } },
  ),
  'group.share.delivery.count.limit': def(
    'INT',
    '5',
    'read-only',
    'The maximum number of delivery attempts for a record delivered to a share group',
    { validator: { min: 2, max: 10 } },
  ),
  'group.share.partition.max.record.locks': def(
    'INT',
    '2000',
    'read-only',
    'Share-group record lock limit per share-partition',
    { validator: { min: 100, max: 10000 } },
  ),
  'group.share.max.share.sessions': def('INT', '2000', 'read-only', 'The maximum number of share sessions per broker', {
    validator: { min: 1 },
  }),
  'share.coordinator.state.topic.num.partitions': def(
    'INT',
    '50',
    'read-only',
    'The number of partitions for the share-group state topic (should not change after deployment)',
    { validator: { min: 1 } },
  ),
  'share.coordinator.state.topic.replication.factor': def(
    'SHORT',
    '3',
    'read-only',
    'The replication factor of the share-group state topic; in a cluster its creation waits until this many brokers are registered (a single node keeps one replica)',
    { validator: { min: 1 } },
  ),
  'share.coordinator.state.topic.min.isr': def(
    'SHORT',
    '2',
    'read-only',
    'min.insync.replicas of the share-group state topic (in a cluster)',
    { validator: { min: 1 } },
  ),
  'share.coordinator.write.timeout.ms': def(
    'INT',
    '5000',
    'read-only',
    'How long the share coordinator waits for the in-sync replicas of the share-group state topic to have a write',
    { validator: { min: 1 } },
  ),
  'share.version': def(
    'INT',
    '2',
    'read-only',
    'The share.version feature level this broker finalizes (Kafka sets it with kafka-features / kafka-storage format): 0 turns share groups off, 1-2 on',
    { validator: { min: 0, max: 2 }, sluice: true },
  ),
  'transaction.state.log.num.partitions': def(
    'INT',
    '50',
    'read-only',
    'The number of partitions for the transaction topic (should not change after deployment).',
    { validator: { min: 1 } },
  ),
  'transaction.state.log.replication.factor': def(
    'SHORT',
    '3',
    'read-only',
    'The replication factor of the transaction topic; in a cluster its creation waits until this many brokers are registered (a single node keeps one replica)',
    { validator: { min: 1 } },
  ),
  'transaction.state.log.min.isr': def(
    'INT',
    '2',
    'read-only',
    'min.insync.replicas of the transaction topic (in a cluster)',
    { validator: { min: 1 } },
  ),
  'transaction.max.timeout.ms': def(
    'INT',
    '900000',
    'read-only',
    'The maximum allowed timeout for transactions; InitProducerId refuses a larger one',
    { validator: { min: 1 } },
  ),
  'transactional.id.expiration.ms': def(
    'INT',
    '604800000',
    'read-only',
    'How long a transactional id without transaction status updates is kept before it expires',
    { validator: { min: 1 } },
  ),
  'transaction.abort.timed.out.transaction.cleanup.interval.ms': def(
    'INT',
    '10000',
    'read-only',
    'The interval at which to roll back transactions that have timed out',
    { validator: { min: 1 } },
  ),
  'transaction.remove.expired.transaction.cleanup.interval.ms': def(
    'INT',
    '3600000',
    'read-only',
    'The interval at which to remove transactional ids that have expired',
    { validator: { min: 1 } },
  ),
  'metrics.port': def('INT', '-1', 'read-only', 'Port of the Prometheus /metrics HTTP endpoint; 0 or -1 disables it', {
    sluice: true,
    validator: { min: -1, max: 65535 },
  }),
  'metrics.host': def('STRING', '127.0.0.1', 'read-only', 'Address the Prometheus /metrics HTTP endpoint binds to', {
    sluice: true,
  }),
  'console.port': def(
    'INT',
    '-1',
    'read-only',
    'Port of the web console (@sluice/console) served by the broker; 0 or -1 disables it',
    {
      sluice: true,
      validator: { min: -1, max: 65535 },
    },
  ),
  'console.host': def('STRING', '127.0.0.1', 'read-only', 'Address the web console binds to', {
    sluice: true,
  }),
  'log.io': def(
    'STRING',
    'fd',
    'read-only',
    'How segments are read: fd (positional reads into recycled buffers; the default: about half the CPU per GiB fetched) or mmap (views of memory-mapped windows)',
    { sluice: true, validator: { oneOf: ['mmap', 'fd'] } },
  ),
  'log.io.sendfile': def(
    'BOOLEAN',
    'true',
    'read-only',
    'With log.io=fd, Fetch responses on plaintext connections send records of 32 KiB or more straight from the segment files with sendfile (as Kafka does), instead of reading them into memory first',
    { sluice: true },
  ),
  // With log.io=fd a Fetch response holds what it read until the socket has taken it: memory of the
  // broker's own (mmap views and Kafka's sendfile hold page cache). Consumers that read slowly, or many
  // fetching 50 MiB at once, would otherwise hold any amount of it.
  'log.io.read.max.bytes': def(
    'LONG',
    '67108864',
    'read-only',
    'Bytes read from segments (log.io=fd) that Fetch responses not yet written may hold across the broker; beyond it a Fetch gets its first batch only',
    { sluice: true, validator: { min: 1 } },
  ),
  'log.level': def('STRING', 'info', 'read-only', 'Log level of the broker process (pino levels)', {
    sluice: true,
    validator: { oneOf: LOG_LEVELS },
  }),
} as const satisfies Record<string, Omit<BrokerConfigDef, 'name'>>;

export type BrokerConfigName = keyof typeof BROKER_CONFIGS;

/** The parsed type of broker config K: null where it has no default and is not set. */
export type BrokerValue<K extends BrokerConfigName> =
  | ValueOf<(typeof BROKER_CONFIGS)[K]['type']>
  | ((typeof BROKER_CONFIGS)[K]['default'] extends null ? null : never);

const DEFS = new Map<string, BrokerConfigDef>(
  Object.entries(BROKER_CONFIGS).map(([name, d]) => [name, { name, ...d } as BrokerConfigDef]),
);
// Every other broker config Kafka defines (a generated table, see scripts/kafka-broker-configs.ts):
// DescribeConfigs lists it with Kafka's default, and AlterConfigs stores it where Kafka would allow
// the update, so that admin tools that set them work; Sluice does not act on them.
for (const k of KAFKA_BROKER_CONFIGS) {
  if (DEFS.has(k.name)) continue;
  DEFS.set(k.name, {
    name: k.name,
    type: k.type,
    default: k.default,
    dynamic: k.dynamic,
    doc: k.doc ?? '',
    notActedOn: true,
  });
}

export function brokerConfigDef(name: string): BrokerConfigDef | undefined {
  return DEFS.get(name);
}

export function brokerConfigNames(): string[] {
  return [...DEFS.keys()];
}

/**
 * Broker configs that stand for the same setting, in Kafka's priority order (the first one set
 * wins): DynamicBrokerConfig.brokerConfigSynonyms.
 */
export function brokerSynonyms(name: string): string[] {
  for (const group of SYNONYM_GROUPS) if (group.includes(name)) return [...group];
  return [name];
}

const SYNONYM_GROUPS: readonly (readonly string[])[] = [
  ['log.roll.ms', 'log.roll.hours'],
  ['log.roll.jitter.ms', 'log.roll.jitter.hours'],
  ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'],
  ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'],
  ['log.dirs', 'log.dir'],
];

/** A parsed `listeners` entry. host '' means every interface; port 0 means an ephemeral port. */
export interface Listener {
  name: string;
  securityProtocol: string;
  host: string;
  port: number;
}

// NAME://host:port, with IPv6 hosts in brackets (as Kafka's listener parsing accepts them).
const LISTENER_RE = /^([A-Za-z0-9_-]+):\/\/(\[[0-9A-Fa-f:.%a-zA-Z]*\]|[0-9A-Za-z\-%._]*):(-?\d+)$/;
const MAX_LISTENERS = 64;
export const SECURITY_PROTOCOLS: readonly string[] = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];

/** Parses `listeners`/`advertised.listeners` against `listener.security.protocol.map`. */
export function parseListeners(value: string, protocolMap: string, configName = 'listeners'): Listener[] {
  const map = new Map<string, string>();
  for (const entry of protocolMap.split(',')) {
    const e = entry.trim();
    if (e === '') continue;
    const i = e.indexOf(':');
    if (i <= 0)
      throw new ConfigException(`Invalid value ${protocolMap} for configuration listener.security.protocol.map`);
    map.set(
      e.slice(0, i).trim().toUpperCase(),
      e
        .slice(i + 1)
        .trim()
        .toUpperCase(),
    );
  }
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length > MAX_LISTENERS) throw new ConfigException(`Too many entries in ${configName}`);
  const seen = new Set<string>();
  const out: Listener[] = [];
  for (const p of parts) {
    const m = LISTENER_RE.exec(p);
    if (!m) {
      throw new ConfigException(
        `Invalid value ${value} for configuration ${configName}: Unable to parse ${p} to a broker endpoint`,
      );
    }
    const name = m[1]!.toUpperCase();
    const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
    const port = Number(m[3]);
    if (port < 0 || port > 65535) {
      throw new ConfigException(
        `Invalid value ${value} for configuration ${configName}: port ${port} out of range 0..65535`,
      );
    }
    const securityProtocol = map.get(name);
    if (securityProtocol === undefined) {
      throw new ConfigException(`No security protocol defined for listener ${name}`);
    }
    if (!SECURITY_PROTOCOLS.includes(securityProtocol)) {
      throw new ConfigException(`Listener ${name} uses unknown security protocol ${securityProtocol}`);
    }
    if (seen.has(name)) {
      throw new ConfigException(`Each listener must have a different name, listeners: ${value}`);
    }
    seen.add(name);
    out.push({ name, securityProtocol, host, port });
  }
  return out;
}
