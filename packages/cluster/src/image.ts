import {
  type BrokerConfigTarget,
  type BrokerRegistration,
  type ControllerRecord,
  DEFAULT_BROKER_CONFIG_KEY,
  type PartitionRecord,
  partitionKey,
  type TopicRecord,
} from './model.js';

/** The read side of the metadata: what a broker's local cache holds. Reads are synchronous. */
export interface MetadataImage {
  readonly clusterId: string;
  /** The store's revision this image reflects (etcd's revision; a change counter in the embedded store). */
  readonly revision: number;
  readonly controller: ControllerRecord | null;
  readonly brokers: ReadonlyMap<number, BrokerRegistration>;
  /** Topics by name. A topic is visible only once its topic record is written (partitions first). */
  readonly topics: ReadonlyMap<string, TopicRecord>;
  topicById(topicId: string): TopicRecord | undefined;
  partition(topicId: string, partition: number): PartitionRecord | undefined;
  /** The partitions of a visible topic in partition order; missing records are skipped. */
  partitionsOf(topicId: string): PartitionRecord[];
  /** Dynamic broker configs of one node id, or the cluster-wide default (`'default'`). */
  brokerConfigs(target: BrokerConfigTarget): Readonly<Record<string, string>>;
  /** The first producer id not yet handed out in any block. */
  readonly nextProducerId: bigint;
  /** The keyed records of one kind (see KEYED_RECORD_KINDS): key → JSON text. */
  securityRecords(kind: KeyedRecordKind): ReadonlyMap<string, string>;
}

/**
 * The kinds of keyed records the store keeps beside the cluster model: each kind a map of key → JSON
 * text that the store does not read, the broker gives each key and value its meaning. `acls`, `scram`
 * (credentials), `quotas` (client quotas), `group-configs` (a group's configs, which Kafka keeps as GROUP
 * ConfigRecords in its metadata log: group id → JSON of config name → value) and `tokens` (delegation
 * tokens by id). The first kinds were security's, so the store's methods, change type and stored section
 * (the embedded file's `security`, etcd's `/security/` prefix) still say "security" for all of them.
 */
export const KEYED_RECORD_KINDS = ['acls', 'scram', 'quotas', 'group-configs', 'tokens'] as const;
export type KeyedRecordKind = (typeof KEYED_RECORD_KINDS)[number];

/** One keyed record to write; value null deletes it. */
export interface SecurityRecordChange {
  kind: KeyedRecordKind;
  key: string;
  value: string | null;
  /**
   * Compare-and-swap: the write lands only if the record still holds this value (null: absent);
   * otherwise the store rejects with MetadataConflictError and nothing of the chunk is written.
   */
  expected?: string | null;
}

/** What changed in one store update; listeners get them in the order they were applied. */
export type MetadataChange =
  | { type: 'broker'; nodeId: number; before?: BrokerRegistration; after?: BrokerRegistration }
  | { type: 'controller'; before: ControllerRecord | null; after: ControllerRecord | null }
  | { type: 'topic'; name: string; before?: TopicRecord; after?: TopicRecord }
  | { type: 'partition'; topicId: string; partition: number; before?: PartitionRecord; after?: PartitionRecord }
  | { type: 'brokerConfig'; target: string; before?: Record<string, string>; after?: Record<string, string> }
  | { type: 'producerIds'; before: bigint; after: bigint }
  | { type: 'security'; kind: KeyedRecordKind; key: string; before?: string; after?: string };

const EMPTY_CONFIGS: Readonly<Record<string, string>> = Object.freeze({});
const EMPTY_RECORDS: ReadonlyMap<string, string> = new Map();

/**
 * The mutable image both backends keep. Every setter records a MetadataChange when the value
 * differs, so the backend can hand listeners exactly what moved.
 */
export class ClusterImage implements MetadataImage {
  revision = 0;
  controller: ControllerRecord | null = null;
  readonly brokers = new Map<number, BrokerRegistration>();
  readonly topics = new Map<string, TopicRecord>();
  private readonly topicsById = new Map<string, TopicRecord>();
  private readonly partitions = new Map<string, PartitionRecord>();
  private readonly configs = new Map<string, Record<string, string>>();
  nextProducerId = 0n;
  private readonly security = new Map<KeyedRecordKind, Map<string, string>>();

  constructor(readonly clusterId: string) {}

  securityRecords(kind: KeyedRecordKind): ReadonlyMap<string, string> {
    return this.security.get(kind) ?? EMPTY_RECORDS;
  }

  setSecurityRecord(kind: KeyedRecordKind, key: string, after: string | undefined, out: MetadataChange[]): void {
    let records = this.security.get(kind);
    const before = records?.get(key);
    if (before === after) return;
    if (after === undefined) records?.delete(key);
    else {
      if (!records) this.security.set(kind, (records = new Map()));
      records.set(key, after);
    }
    out.push({ type: 'security', kind, key, before, after });
  }

  topicById(topicId: string): TopicRecord | undefined {
    return this.topicsById.get(topicId);
  }

  partition(topicId: string, partition: number): PartitionRecord | undefined {
    return this.partitions.get(partitionKey(topicId, partition));
  }

  partitionsOf(topicId: string): PartitionRecord[] {
    const topic = this.topicsById.get(topicId);
    if (!topic) return [];
    const out: PartitionRecord[] = [];
    for (let p = 0; p < topic.partitionCount; p++) {
      const record = this.partitions.get(partitionKey(topicId, p));
      if (record) out.push(record);
    }
    return out;
  }

  /** Every partition record held, including those of topics whose record is not written yet. */
  allPartitions(): IterableIterator<PartitionRecord> {
    return this.partitions.values();
  }

  brokerConfigs(target: BrokerConfigTarget): Readonly<Record<string, string>> {
    return this.configs.get(String(target)) ?? EMPTY_CONFIGS;
  }

  brokerConfigTargets(): IterableIterator<string> {
    return this.configs.keys();
  }

  setBroker(nodeId: number, after: BrokerRegistration | undefined, out: MetadataChange[]): void {
    const before = this.brokers.get(nodeId);
    if (sameJson(before, after)) return;
    if (after) this.brokers.set(nodeId, after);
    else this.brokers.delete(nodeId);
    out.push({ type: 'broker', nodeId, before, after });
  }

  setController(after: ControllerRecord | null, out: MetadataChange[]): void {
    const before = this.controller;
    if (sameJson(before, after)) return;
    this.controller = after;
    out.push({ type: 'controller', before, after });
  }

  setTopic(name: string, after: TopicRecord | undefined, out: MetadataChange[]): void {
    const before = this.topics.get(name);
    if (sameJson(before, after)) return;
    if (before) this.topicsById.delete(before.topicId);
    if (after) {
      this.topics.set(name, after);
      this.topicsById.set(after.topicId, after);
    } else {
      this.topics.delete(name);
    }
    out.push({ type: 'topic', name, before, after });
  }

  setPartition(topicId: string, partition: number, after: PartitionRecord | undefined, out: MetadataChange[]): void {
    const key = partitionKey(topicId, partition);
    const before = this.partitions.get(key);
    if (sameJson(before, after)) return;
    if (after) this.partitions.set(key, after);
    else this.partitions.delete(key);
    out.push({ type: 'partition', topicId, partition, before, after });
  }

  setBrokerConfigs(target: string, after: Record<string, string> | undefined, out: MetadataChange[]): void {
    const before = this.configs.get(target);
    const empty = after === undefined || Object.keys(after).length === 0;
    if (sameJson(before, empty ? undefined : after)) return;
    if (empty) this.configs.delete(target);
    else this.configs.set(target, after);
    out.push({ type: 'brokerConfig', target, before, after: empty ? undefined : after });
  }

  setNextProducerId(after: bigint, out: MetadataChange[]): void {
    const before = this.nextProducerId;
    if (before === after) return;
    this.nextProducerId = after;
    out.push({ type: 'producerIds', before, after });
  }

  /** Makes this image equal to `other`, recording each difference (used after a full re-read). */
  replaceWith(other: ClusterImage, out: MetadataChange[]): void {
    for (const id of [...this.brokers.keys()]) if (!other.brokers.has(id)) this.setBroker(id, undefined, out);
    for (const [id, b] of other.brokers) this.setBroker(id, b, out);
    this.setController(other.controller, out);
    for (const name of [...this.topics.keys()]) if (!other.topics.has(name)) this.setTopic(name, undefined, out);
    for (const [name, t] of other.topics) this.setTopic(name, t, out);
    for (const p of [...this.partitions.values()]) {
      if (!other.partition(p.topicId, p.partition)) this.setPartition(p.topicId, p.partition, undefined, out);
    }
    for (const p of other.partitions.values()) this.setPartition(p.topicId, p.partition, p, out);
    for (const target of [...this.configs.keys()]) {
      if (!other.configs.has(target)) this.setBrokerConfigs(target, undefined, out);
    }
    for (const [target, c] of other.configs) this.setBrokerConfigs(target, c, out);
    this.setNextProducerId(other.nextProducerId, out);
    for (const kind of KEYED_RECORD_KINDS) {
      const theirs = other.securityRecords(kind);
      for (const key of [...this.securityRecords(kind).keys()]) {
        if (!theirs.has(key)) this.setSecurityRecord(kind, key, undefined, out);
      }
      for (const [key, value] of theirs) this.setSecurityRecord(kind, key, value, out);
    }
    this.revision = other.revision;
  }
}

export { DEFAULT_BROKER_CONFIG_KEY };

/** Records are small plain JSON; comparing their text is simple and exact. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
