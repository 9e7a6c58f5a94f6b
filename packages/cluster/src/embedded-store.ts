import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@sluice/log';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { checkTopicId, partitionJson, RecordReader, readPartition } from './codec.js';
import { allocateProducerIdBlock } from './controller/producer-ids.js';
import { CorruptMetadataError, MetadataConflictError } from './errors.js';
import {
  ClusterImage,
  KEYED_RECORD_KINDS,
  type MetadataChange,
  type MetadataImage,
  type SecurityRecordChange,
} from './image.js';
import {
  type BrokerConfigTarget,
  type BrokerRegistration,
  type BrokerRegistrationRequest,
  type ControllerRecord,
  DEFAULT_BROKER_CONFIG_KEY,
  type PartitionRecord,
  type ProducerIdBlock,
  type TopicRecord,
} from './model.js';
import type { ChangeListener, MetadataStore, PartitionUpdate, WriteFence } from './store.js';

/** The file name the single-node broker has always used; existing data directories keep working. */
export const METADATA_FILE = 'sluice-cluster-metadata.json';
const MAX_METADATA_BYTES = 64 << 20;
const MAX_PARTITIONS = 1 << 20;

/**
 * The file's layout, version 1 as the broker wrote it before `@sluice/cluster`, plus optional
 * fields a version-1 reader ignores: per-topic `replication` (partition records), `brokerEpoch`,
 * `revision`. Files without them read as one node leading every partition at epoch 0.
 */
interface MetadataFileV1 {
  version: 1;
  clusterId: string;
  topics: { name: string; topicId: string; partitions: number; replication?: Record<string, unknown>[] }[];
  configs: {
    dynamicBroker: Record<string, string>;
    dynamicDefault: Record<string, string>;
    topics: Record<string, Record<string, string>>;
  };
  nextProducerId: string;
  brokerEpoch?: number;
  revision?: number;
  /** ACLs, SCRAM credentials and quotas by kind: key → JSON text. */
  security?: Record<string, Record<string, string>>;
}

/** Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. */
export function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

export interface EmbeddedStoreOptions {
  /** The data directory (the broker's first `log.dirs` entry). */
  dir: string;
  /** This node's id: the only broker the embedded store knows. */
  nodeId: number;
  /** The configured `cluster.id`, or null to keep the file's (or make one for a new directory). */
  clusterId: string | null;
}

/**
 * The single-node store: the whole metadata in one JSON file in the data directory, rewritten
 * atomically (temp file, fsync, rename) on every change. Changes are rare (topic and config
 * admin), so a whole-file rewrite is simpler than a log and cheap enough. The same compare-and-swap
 * rules as the etcd store apply, so code written against one behaves the same on the other.
 */
export class EmbeddedMetadataStore implements MetadataStore {
  readonly kind = 'embedded' as const;
  private readonly file: string;
  private current: ClusterImage;
  private brokerEpoch: number;
  private registration: BrokerRegistration | null = null;
  private readonly listeners = new Set<ChangeListener>();
  private closed = false;

  private constructor(
    private readonly nodeId: number,
    file: string,
    image: ClusterImage,
    brokerEpoch: number,
  ) {
    this.file = file;
    this.current = image;
    this.brokerEpoch = brokerEpoch;
  }

  /** Reads the file (or starts empty); writes nothing until `save()` or the first change. */
  static open(options: EmbeddedStoreOptions): EmbeddedMetadataStore {
    const file = join(options.dir, METADATA_FILE);
    if (!existsSync(file)) {
      return new EmbeddedMetadataStore(options.nodeId, file, new ClusterImage(options.clusterId ?? newClusterId()), 0);
    }
    const { image, brokerEpoch } = readMetadataFile(file, options.nodeId);
    if (options.clusterId !== null && options.clusterId !== image.clusterId) {
      throw new Error(
        `${file}: cluster id ${image.clusterId} does not match the configured cluster.id ${options.clusterId}`,
      );
    }
    return new EmbeddedMetadataStore(options.nodeId, file, image, brokerEpoch);
  }

  get image(): MetadataImage {
    return this.current;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onFenced(): () => void {
    // A single node's registration cannot lapse.
    return () => {};
  }

  /** Writes the file as it is now (the broker calls this once it holds the data directory's lock). */
  save(): void {
    writeFileAtomic(this.file, JSON.stringify(toFile(this.current, this.nodeId, this.brokerEpoch), null, 1));
  }

  async registerBroker(request: BrokerRegistrationRequest): Promise<BrokerRegistration> {
    this.checkOpen();
    if (request.nodeId !== this.nodeId) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REQUEST,
        `the embedded store of node ${this.nodeId} cannot register node ${request.nodeId}`,
      );
    }
    if (this.registration && this.registration.incarnationId !== request.incarnationId) {
      throw new MetadataConflictError(
        ERROR_CODES.DUPLICATE_BROKER_REGISTRATION,
        `Node ${request.nodeId} is already registered.`,
      );
    }
    const registration: BrokerRegistration = {
      ...request,
      brokerEpoch: this.brokerEpoch + 1,
      inControlledShutdown: false,
    };
    this.commit((out) => {
      this.brokerEpoch = registration.brokerEpoch;
      this.registration = registration;
      this.current.setBroker(request.nodeId, registration, out);
    });
    return registration;
  }

  async setControlledShutdown(nodeId: number, brokerEpoch: number, inControlledShutdown: boolean): Promise<void> {
    this.checkOpen();
    const reg = this.checkBroker(nodeId, brokerEpoch);
    this.commit((out) => {
      this.registration = { ...reg, inControlledShutdown };
      this.current.setBroker(nodeId, this.registration, out);
    });
  }

  async unregisterBroker(nodeId: number, brokerEpoch: number): Promise<void> {
    this.checkOpen();
    this.checkBroker(nodeId, brokerEpoch);
    this.commit((out) => {
      this.registration = null;
      this.current.setController(null, out);
      this.current.setBroker(nodeId, undefined, out);
    });
  }

  async campaign(nodeId: number): Promise<ControllerRecord> {
    this.checkOpen();
    const reg = this.registration;
    if (!reg || reg.nodeId !== nodeId) {
      throw new MetadataConflictError(ERROR_CODES.BROKER_ID_NOT_REGISTERED, `Node ${nodeId} is not registered.`);
    }
    // The only broker is the controller; its term is its registration.
    const record: ControllerRecord = { nodeId, controllerEpoch: reg.brokerEpoch };
    this.commit((out) => this.current.setController(record, out));
    return record;
  }

  async resign(): Promise<void> {
    this.checkOpen();
    if (this.current.controller) this.commit((out) => this.current.setController(null, out));
  }

  async createTopic(topic: TopicRecord, partitions: readonly PartitionRecord[], fence: WriteFence): Promise<void> {
    this.checkOpen();
    this.checkFence(fence);
    if (this.current.topics.has(topic.name)) {
      throw new MetadataConflictError(ERROR_CODES.TOPIC_ALREADY_EXISTS, `Topic '${topic.name}' already exists.`);
    }
    if (this.current.topicById(topic.topicId)) {
      throw new MetadataConflictError(ERROR_CODES.TOPIC_ALREADY_EXISTS, `Topic id ${topic.topicId} is in use.`);
    }
    checkNewPartitions(topic.topicId, 0, topic.partitionCount, partitions);
    this.commit((out) => {
      for (const p of partitions) this.current.setPartition(p.topicId, p.partition, p, out);
      this.current.setTopic(topic.name, topic, out);
    });
  }

  async addPartitions(
    name: string,
    topicId: string,
    partitions: readonly PartitionRecord[],
    fence: WriteFence,
  ): Promise<void> {
    this.checkOpen();
    this.checkFence(fence);
    const topic = existingTopic(this.current, name, topicId);
    checkNewPartitions(topicId, topic.partitionCount, topic.partitionCount + partitions.length, partitions);
    this.commit((out) => {
      for (const p of partitions) this.current.setPartition(p.topicId, p.partition, p, out);
      this.current.setTopic(name, { ...topic, partitionCount: topic.partitionCount + partitions.length }, out);
    });
  }

  async setTopicConfigs(
    name: string,
    topicId: string,
    configs: Record<string, string>,
    fence: WriteFence,
  ): Promise<void> {
    this.checkOpen();
    this.checkFence(fence);
    const topic = existingTopic(this.current, name, topicId);
    this.commit((out) => this.current.setTopic(name, { ...topic, configs: { ...configs } }, out));
  }

  async deleteTopic(name: string, topicId: string, fence: WriteFence): Promise<void> {
    this.checkOpen();
    this.checkFence(fence);
    const topic = existingTopic(this.current, name, topicId);
    this.commit((out) => {
      this.current.setTopic(name, undefined, out);
      for (let p = 0; p < topic.partitionCount; p++) this.current.setPartition(topicId, p, undefined, out);
    });
  }

  async alterPartitions(updates: readonly PartitionUpdate[], fence: WriteFence): Promise<void> {
    this.checkOpen();
    this.checkFence(fence);
    for (const u of updates) {
      const stored = this.current.partition(u.next.topicId, u.next.partition);
      checkPartitionUpdate(u, stored);
    }
    this.commit((out) => {
      for (const u of updates) this.current.setPartition(u.next.topicId, u.next.partition, u.next, out);
    });
  }

  async setBrokerConfigs(target: BrokerConfigTarget, configs: Record<string, string>): Promise<void> {
    this.checkOpen();
    if (target !== DEFAULT_BROKER_CONFIG_KEY && target !== this.nodeId) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REQUEST,
        `the embedded store of node ${this.nodeId} holds no configs of node ${target}`,
      );
    }
    this.commit((out) => this.current.setBrokerConfigs(String(target), { ...configs }, out));
  }

  async setSecurityRecords(changes: readonly SecurityRecordChange[]): Promise<void> {
    this.checkOpen();
    for (const c of changes) {
      if (c.expected === undefined) continue;
      if ((this.current.securityRecords(c.kind).get(c.key) ?? null) !== c.expected) {
        throw new MetadataConflictError(ERROR_CODES.INVALID_UPDATE_VERSION, `${c.kind} record ${c.key} changed`);
      }
    }
    this.commit((out) => {
      for (const c of changes) this.current.setSecurityRecord(c.kind, c.key, c.value ?? undefined, out);
    });
  }

  async allocateProducerIds(nodeId: number, brokerEpoch: number): Promise<ProducerIdBlock> {
    this.checkOpen();
    // Producer ids outlive registrations: a broker starting up may reserve before it registers.
    if (this.registration) this.checkBroker(nodeId, brokerEpoch);
    const { block, nextProducerId } = allocateProducerIdBlock(this.current.nextProducerId, nodeId);
    this.commit((out) => this.current.setNextProducerId(nextProducerId, out));
    return block;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  /** Applies a checked change, writes the file, then tells listeners; a failed write undoes it. */
  private commit(apply: (out: MetadataChange[]) => void): void {
    const before = { image: this.current, brokerEpoch: this.brokerEpoch, registration: this.registration };
    const next = cloneImage(this.current);
    this.current = next;
    const out: MetadataChange[] = [];
    try {
      apply(out);
      if (out.length === 0) return;
      next.revision += 1;
      this.save();
    } catch (err) {
      this.current = before.image;
      this.brokerEpoch = before.brokerEpoch;
      this.registration = before.registration;
      if (err instanceof KafkaError) throw err;
      throw new KafkaError(ERROR_CODES.KAFKA_STORAGE_ERROR, `${this.file}: ${(err as Error).message}`, { cause: err });
    }
    for (const listener of [...this.listeners]) listener(out, this.current);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the metadata store is closed');
  }

  private checkBroker(nodeId: number, brokerEpoch: number): BrokerRegistration {
    const reg = this.registration;
    if (!reg || reg.nodeId !== nodeId) {
      throw new MetadataConflictError(ERROR_CODES.BROKER_ID_NOT_REGISTERED, `Node ${nodeId} is not registered.`);
    }
    if (reg.brokerEpoch !== brokerEpoch) {
      throw new MetadataConflictError(
        ERROR_CODES.STALE_BROKER_EPOCH,
        `Broker epoch ${brokerEpoch} of node ${nodeId} is stale (current ${reg.brokerEpoch}).`,
      );
    }
    return reg;
  }

  private checkFence(fence: WriteFence): void {
    if (fence.kind === 'broker') {
      this.checkBroker(fence.nodeId, fence.brokerEpoch);
      return;
    }
    const c = this.current.controller;
    if (!c || c.nodeId !== fence.nodeId || c.controllerEpoch !== fence.controllerEpoch) {
      throw new MetadataConflictError(
        ERROR_CODES.NOT_CONTROLLER,
        `Node ${fence.nodeId} (epoch ${fence.controllerEpoch}) is not the active controller.`,
      );
    }
  }
}

/** The topic `name` as the image has it, refused unless it still has id `topicId`. */
export function existingTopic(image: MetadataImage, name: string, topicId: string): TopicRecord {
  const topic = image.topics.get(name);
  if (!topic || topic.topicId !== topicId) {
    throw new MetadataConflictError(
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
      `Topic '${name}' with id ${topicId} does not exist.`,
    );
  }
  return topic;
}

/** The partition records of new partitions must be exactly partitions [from, to) of the topic, at epoch 0. */
export function checkNewPartitions(
  topicId: string,
  from: number,
  to: number,
  partitions: readonly PartitionRecord[],
): void {
  if (partitions.length !== to - from) {
    throw new KafkaError(
      ERROR_CODES.INVALID_REQUEST,
      `expected ${to - from} partition records, got ${partitions.length}`,
    );
  }
  partitions.forEach((p, i) => {
    if (p.topicId !== topicId || p.partition !== from + i) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REQUEST,
        `partition record ${i} is ${p.topicId}-${p.partition}, expected ${topicId}-${from + i}`,
      );
    }
  });
}

/** The compare of a partition update against what is stored. */
export function checkPartitionUpdate(u: PartitionUpdate, stored: PartitionRecord | undefined): void {
  const { topicId, partition } = u.next;
  if (!stored) {
    throw new MetadataConflictError(
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
      `Partition ${topicId}-${partition} does not exist.`,
    );
  }
  if (u.next.partitionEpoch !== u.expectedPartitionEpoch + 1) {
    throw new KafkaError(
      ERROR_CODES.INVALID_REQUEST,
      `partition ${topicId}-${partition}: the new epoch must be the expected one plus 1`,
    );
  }
  if (stored.partitionEpoch !== u.expectedPartitionEpoch) {
    throw new MetadataConflictError(
      ERROR_CODES.INVALID_UPDATE_VERSION,
      `Partition ${topicId}-${partition} is at partition epoch ${stored.partitionEpoch}, not ${u.expectedPartitionEpoch}.`,
    );
  }
}

function cloneImage(image: ClusterImage): ClusterImage {
  const copy = new ClusterImage(image.clusterId);
  copy.replaceWith(image, []);
  return copy;
}

function defaultPartition(topicId: string, partition: number, nodeId: number): PartitionRecord {
  return {
    topicId,
    partition,
    replicas: [nodeId],
    isr: [nodeId],
    leader: nodeId,
    leaderEpoch: 0,
    partitionEpoch: 0,
    addingReplicas: [],
    removingReplicas: [],
  };
}

/** Reads and checks a metadata file of version 1 (with or without the optional fields). */
export function readMetadataFile(file: string, nodeId: number): { image: ClusterImage; brokerEpoch: number } {
  const text = readFileSync(file);
  if (text.length > MAX_METADATA_BYTES)
    throw new Error(`${file}: ${text.length} bytes is more than a metadata file holds`);
  let raw: unknown;
  try {
    raw = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const data = raw as Partial<MetadataFileV1>;
  if (
    typeof raw !== 'object' ||
    raw === null ||
    data.version !== 1 ||
    typeof data.clusterId !== 'string' ||
    !Array.isArray(data.topics)
  ) {
    throw new Error(`${file}: not a Sluice cluster metadata file of version 1`);
  }
  try {
    const root = RecordReader.of(file, raw);
    const image = new ClusterImage(data.clusterId);
    const out: MetadataChange[] = [];
    const configs = RecordReader.of(`${file} configs`, data.configs ?? {});
    const topicConfigs = RecordReader.of(`${file} configs.topics`, (data.configs?.topics as unknown) ?? {});
    data.topics.forEach((t, i) => {
      const r = RecordReader.of(`${file} topics[${i}]`, t);
      const name = r.string('name');
      const topicId = checkTopicId(r, 'topicId', r.string('topicId'));
      const count = r.int('partitions', 1);
      if (count > MAX_PARTITIONS) r.fail('partitions', `more than ${MAX_PARTITIONS}`);
      const replication = t.replication;
      if (replication !== undefined && (!Array.isArray(replication) || replication.length !== count)) {
        r.fail('replication', `expected ${count} partition records`);
      }
      for (let p = 0; p < count; p++) {
        const record = replication
          ? readPartition(RecordReader.of(`${file} topics[${i}].replication[${p}]`, replication[p]), topicId, p)
          : defaultPartition(topicId, p, nodeId);
        image.setPartition(topicId, p, record, out);
      }
      image.setTopic(name, { name, topicId, configs: topicConfigs.stringMap(name), partitionCount: count }, out);
    });
    image.setBrokerConfigs(String(nodeId), configs.stringMap('dynamicBroker'), out);
    image.setBrokerConfigs(DEFAULT_BROKER_CONFIG_KEY, configs.stringMap('dynamicDefault'), out);
    image.setNextProducerId(root.bigint('nextProducerId'), out);
    const security = RecordReader.of(`${file} security`, data.security ?? {});
    for (const kind of KEYED_RECORD_KINDS) {
      for (const [key, value] of Object.entries(security.stringMap(kind)))
        image.setSecurityRecord(kind, key, value, out);
    }
    image.revision = root.optionalInt('revision', 0, 0);
    return { image, brokerEpoch: root.optionalInt('brokerEpoch', 0, 0) };
  } catch (err) {
    if (err instanceof CorruptMetadataError) throw new Error(`${err.message}`);
    throw err;
  }
}

function toFile(image: ClusterImage, nodeId: number, brokerEpoch: number): MetadataFileV1 {
  const topicConfigs: Record<string, Record<string, string>> = {};
  const topics: MetadataFileV1['topics'] = [];
  for (const t of image.topics.values()) {
    if (Object.keys(t.configs).length > 0) topicConfigs[t.name] = { ...t.configs };
    const replication: Record<string, unknown>[] = [];
    for (let p = 0; p < t.partitionCount; p++) {
      replication.push(partitionJson(image.partition(t.topicId, p) ?? defaultPartition(t.topicId, p, nodeId)));
    }
    topics.push({ name: t.name, topicId: t.topicId, partitions: t.partitionCount, replication });
  }
  return {
    version: 1,
    clusterId: image.clusterId,
    topics,
    configs: {
      dynamicBroker: { ...image.brokerConfigs(nodeId) },
      dynamicDefault: { ...image.brokerConfigs(DEFAULT_BROKER_CONFIG_KEY) },
      topics: topicConfigs,
    },
    nextProducerId: image.nextProducerId.toString(),
    brokerEpoch,
    revision: image.revision,
    security: securityJson(image),
  };
}

function securityJson(image: ClusterImage): Record<string, Record<string, string>> | undefined {
  const out: Record<string, Record<string, string>> = {};
  for (const kind of KEYED_RECORD_KINDS) {
    const records = image.securityRecords(kind);
    if (records.size > 0) out[kind] = Object.fromEntries(records);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
