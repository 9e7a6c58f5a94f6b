import { randomUUID } from 'node:crypto';
import {
  activeBrokers,
  initialPartitionRecords,
  type MetadataChange,
  type MetadataStore,
  placeReplicas,
  type TopicRecord,
  validateAssignments,
  type WriteFence,
} from '@sluice/cluster/core';
import type { LogConfig, LogManager } from '@sluice/log';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import type { ConfigRegistry, TopicConfigValues } from '../config/index.js';
import { Partition } from './partition.js';
import type { ProducerSnapshot } from './producer-snapshots.js';

/**
 * A topic and the logs of its partitions (index = partition id; the length is the partition
 * count). In a cluster a broker holds only the partitions it is a replica of: the others are
 * undefined.
 */
export interface TopicState {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: (Partition | undefined)[];
}

export const MAX_TOPIC_NAME_LENGTH = 249;
/** A bound on partitions per topic, well above what one node serves, so a request cannot exhaust file handles. */
export const MAX_PARTITIONS_PER_TOPIC = 10_000;
const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
/** A bound on auto-creations in flight at once in a cluster (each is one etcd write). */
const MAX_PENDING_CREATIONS = 1000;
export const INTERNAL_TOPICS = new Set(['__consumer_offsets', '__transaction_state', '__share_group_state']);

/**
 * Replicas per partition the brokers keep today. Replication (#12) raises it; this is the one place
 * that refuses more, for placement and explicit assignments alike.
 */
/** Kafka's Topic.validate (4.x wording): an error message, or null for a legal name. */
export function topicNameError(name: string): string | null {
  if (name.length === 0) return 'Topic name is invalid: the empty string is not allowed';
  if (name === '.' || name === '..') return `Topic name is invalid: '${name}' is not allowed`;
  if (name.length > MAX_TOPIC_NAME_LENGTH) {
    return `Topic name is invalid: the length of '${name}' is longer than the max allowed length ${MAX_TOPIC_NAME_LENGTH}`;
  }
  if (!LEGAL_TOPIC_NAME.test(name)) {
    return `Topic name is invalid: '${name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'`;
  }
  return null;
}

/** Topics whose names differ only in '.' versus '_' collide in metric names; Kafka refuses the second. */
function collisionKey(name: string): string {
  return name.replaceAll('.', '_');
}

const clampToNumber = (v: bigint | number): number =>
  typeof v === 'number' ? v : v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);

/** Out of file descriptors, for the process (EMFILE) or the whole system (ENFILE). */
export function isOutOfDescriptors(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * A failure to create partition logs, as the client should see it: running out of descriptors is
 * KAFKA_STORAGE_ERROR (retriable: it passes when files are closed or the limit is raised), with
 * what to do about it; anything else goes on as it is.
 */
function resourceError(err: unknown, what: string): unknown {
  if (!isOutOfDescriptors(err)) return err;
  return new KafkaError(
    ERROR_CODES.KAFKA_STORAGE_ERROR,
    `Cannot create ${what}: the broker is out of file descriptors (${(err as NodeJS.ErrnoException).code}). Each partition needs about one open file per segment; raise the open-file limit (ulimit -n).`,
  );
}

/** The log settings of a topic, from its effective topic config. */
export function logConfigFor(values: TopicConfigValues): Partial<LogConfig> {
  const policy = values['cleanup.policy'];
  return {
    segmentBytes: clampToNumber(values['segment.bytes']),
    segmentMs: clampToNumber(values['segment.ms']),
    segmentIndexBytes: clampToNumber(values['segment.index.bytes']),
    indexIntervalBytes: clampToNumber(values['index.interval.bytes']),
    flushMessages: clampToNumber(values['flush.messages']),
    flushMs: clampToNumber(values['flush.ms']),
    preallocate: values.preallocate,
    retentionMs: clampToNumber(values['retention.ms']),
    retentionBytes: clampToNumber(values['retention.bytes']),
    cleanupPolicy: policy.includes('compact') ? (policy.includes('delete') ? 'compact,delete' : 'compact') : 'delete',
    deleteRetentionMs: clampToNumber(values['delete.retention.ms']),
    minCleanableDirtyRatio: values['min.cleanable.dirty.ratio'],
    minCompactionLagMs: clampToNumber(values['min.compaction.lag.ms']),
    maxMessageBytes: clampToNumber(values['max.message.bytes']),
    messageTimestampType: values['message.timestamp.type'] as LogConfig['messageTimestampType'],
  };
}

/** Who writes this node's topic changes to the metadata store. */
export interface TopicWriter {
  readonly nodeId: number;
  /** This broker's registration (throws while it is not registered). */
  fence(): WriteFence;
  /** A store write that failed (the request gets KAFKA_STORAGE_ERROR). */
  onError(err: unknown, what: string): void;
}

/**
 * The topics of this node: their ids and partition logs, following the metadata store. Changes go
 * to the store first (after the new logs are created), and the logs follow the store's change
 * events, so a crash between the two leaves a state that start-up repairs (missing partition logs
 * are created again; logs of unknown topics are left alone and logged).
 *
 * Topic admin stays synchronous (auto-creation and the group coordinator's first append need the
 * topic at once): the embedded store commits a write before its promise is returned, and
 * `writeNow` checks the image for the result.
 */
export class TopicManager {
  private readonly byName = new Map<string, TopicState>();
  private readonly byId = new Map<string, TopicState>();
  /** Auto-creations under way in a cluster. */
  private readonly creating = new Set<string>();
  constructor(
    private readonly store: MetadataStore,
    private readonly logs: LogManager,
    private readonly configs: ConfigRegistry,
    private readonly onNewPartition: (partition: Partition) => void,
    private readonly producerSnapshots: ReadonlyMap<string, ProducerSnapshot> = new Map(),
    private readonly writer: TopicWriter,
  ) {
    for (const t of store.image.topics.values()) this.open(t);
    store.onChange((changes) => this.follow(changes));
  }

  /** Applies the store's topic changes to the open logs. */
  private follow(changes: readonly MetadataChange[]): void {
    for (const change of changes) {
      if (change.type === 'partition' && change.after) this.openIfReplica(change.after.topicId, change.after.partition);
      if (
        change.type === 'partition' &&
        change.before?.replicas.includes(this.writer.nodeId) &&
        change.after &&
        !change.after.replicas.includes(this.writer.nodeId)
      ) {
        this.dropReplica(change.after.topicId, change.after.partition);
      }
      if (change.type !== 'topic') continue;
      const { before, after } = change;
      if (before && (!after || after.topicId !== before.topicId)) this.close(before.name, before.topicId);
      if (after && (!before || after.topicId !== before.topicId)) {
        // A topic another broker created comes with its overrides; the log settings need them.
        try {
          this.configs.setTopicOverrides(after.name, after.configs);
        } catch (err) {
          this.writer.onError(err, `configs of topic '${after.name}'`);
        }
        this.open(after);
      } else if (after && before && after.partitionCount > before.partitionCount) this.grow(after);
    }
  }

  /** Whether this node holds a replica of the partition (a single node holds every one). */
  private isReplica(topicId: string, partition: number): boolean {
    if (this.store.kind === 'embedded') return true;
    return this.store.image.partition(topicId, partition)?.replicas.includes(this.writer.nodeId) ?? false;
  }

  private open(t: TopicRecord): TopicState {
    const overrides = logConfigFor(this.configs.topicConfig(t.name));
    const partitions: (Partition | undefined)[] = [];
    for (let p = 0; p < t.partitionCount; p++) {
      partitions.push(this.isReplica(t.topicId, p) ? this.openPartition(t.name, p, overrides) : undefined);
    }
    const state: TopicState = { name: t.name, topicId: t.topicId, partitions };
    this.byName.set(t.name, state);
    this.byId.set(t.topicId, state);
    return state;
  }

  /** Opens the log of a partition of a visible topic once this node becomes one of its replicas. */
  private openIfReplica(topicId: string, partition: number): void {
    const state = this.byId.get(topicId);
    if (!state || partition >= state.partitions.length || state.partitions[partition] !== undefined) return;
    if (!this.isReplica(topicId, partition)) return;
    state.partitions[partition] = this.openPartition(
      state.name,
      partition,
      logConfigFor(this.configs.topicConfig(state.name)),
    );
  }

  /**
   * A completed reassignment took this node out of a partition's replicas: its log goes (Kafka's
   * StopReplica with deletion). Only in a cluster; a single node holds every partition.
   */
  private dropReplica(topicId: string, partition: number): void {
    const state = this.byId.get(topicId);
    if (this.store.kind === 'embedded' || !state || state.partitions[partition] === undefined) return;
    state.partitions[partition] = undefined;
    this.logs.deleteLog(state.name, partition);
  }

  private grow(t: TopicRecord): void {
    const state = this.byName.get(t.name);
    if (!state) return;
    const overrides = logConfigFor(this.configs.topicConfig(t.name));
    for (let p = state.partitions.length; p < t.partitionCount; p++) {
      state.partitions.push(this.isReplica(t.topicId, p) ? this.openPartition(t.name, p, overrides) : undefined);
    }
  }

  private close(name: string, topicId: string): void {
    const state = this.byId.get(topicId);
    if (!state) return;
    this.byName.delete(name);
    this.byId.delete(topicId);
    this.configs.deleteTopic(name);
    this.logs.deleteLogs(name, 0, state.partitions.length);
  }

  private openPartition(topic: string, index: number, overrides: Partial<LogConfig>): Partition {
    const log = this.logs.getOrCreate(topic, index, overrides);
    const partition = new Partition(topic, index, log, this.producerSnapshots.get(`${topic}-${index}`));
    this.onNewPartition(partition);
    return partition;
  }

  /**
   * Starts a store write and checks that it took effect at once (the embedded store commits before
   * returning); the store's own error goes to `writer.onError` (logged), the caller gets
   * KAFKA_STORAGE_ERROR.
   */
  private writeNow(write: Promise<void>, applied: () => boolean, what: string): void {
    write.catch((err) => this.writer.onError(err, what));
    if (applied()) return;
    throw new KafkaError(ERROR_CODES.KAFKA_STORAGE_ERROR, `The metadata store did not take the change (${what}).`);
  }

  /** Whether topics are replicated over several brokers (a cluster store); a single node keeps one replica. */
  get replicated(): boolean {
    return this.store.kind !== 'embedded';
  }

  /** Whether the topic has this partition (anywhere in the cluster). */
  hasPartition(topic: string, partition: number): boolean {
    const state = this.byName.get(topic);
    return state !== undefined && partition >= 0 && partition < state.partitions.length;
  }

  get(name: string): TopicState | undefined {
    return this.byName.get(name);
  }

  getById(topicId: string): TopicState | undefined {
    return this.byId.get(topicId);
  }

  all(): IterableIterator<TopicState> {
    return this.byName.values();
  }

  get size(): number {
    return this.byName.size;
  }

  partition(topic: string, partition: number): Partition | undefined {
    return this.byName.get(topic)?.partitions[partition];
  }

  /** A new topic's name: legal, not taken, not colliding with another in '.' versus '_' (Kafka's order of checks). */
  validateNewName(name: string): void {
    const nameError = topicNameError(name);
    if (nameError !== null) throw new KafkaError(ERROR_CODES.INVALID_TOPIC_EXCEPTION, nameError);
    if (this.byName.has(name))
      throw new KafkaError(ERROR_CODES.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
    const key = collisionKey(name);
    for (const other of this.byName.keys()) {
      if (collisionKey(other) === key) {
        throw new KafkaError(
          ERROR_CODES.INVALID_TOPIC_EXCEPTION,
          `Topic '${name}' collides with existing topic: ${other}`,
        );
      }
    }
  }

  /**
   * Checks a CreateTopics entry as Kafka does, without creating anything. Throws KafkaError
   * with the code and message CreateTopics answers.
   */
  validateCreate(name: string, partitions: number): void {
    this.validateNewName(name);
    if (partitions < 1) {
      throw new KafkaError(ERROR_CODES.INVALID_PARTITIONS, 'Number of partitions must be larger than 0.');
    }
    if (partitions > MAX_PARTITIONS_PER_TOPIC) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PARTITIONS,
        `Number of partitions ${partitions} is above the limit of ${MAX_PARTITIONS_PER_TOPIC} per topic.`,
      );
    }
  }

  /**
   * Replica lists for `count` new partitions from `firstPartition` on: explicit ones checked as
   * Kafka's controller checks them (registered brokers, none twice, one replication factor, at
   * least one live replica each), else Kafka's placement over the registered brokers. Throws
   * INVALID_REPLICA_ASSIGNMENT / INVALID_REPLICATION_FACTOR with Kafka's messages.
   */
  assignmentsFor(
    count: number,
    replicationFactor: number,
    explicit?: readonly (readonly number[])[],
    firstPartition = 0,
  ): number[][] {
    const image = this.store.image;
    const registered = new Map(
      [...image.brokers.values()].map((b) => [
        b.nodeId,
        { id: b.nodeId, rack: b.rack, fenced: b.inControlledShutdown },
      ]),
    );
    // A single node answers before its registration shows (a full disk at start): it is the broker.
    if (this.store.kind === 'embedded' && !registered.has(this.writer.nodeId)) {
      registered.set(this.writer.nodeId, { id: this.writer.nodeId, rack: null, fenced: false });
    }
    let assignments: number[][];
    if (explicit) {
      validateAssignments(
        explicit,
        new Set(registered.keys()),
        replicationFactor === -1 ? undefined : replicationFactor,
      );
      assignments = explicit.map((r) => [...r]);
      const live = (id: number) => registered.get(id)?.fenced === false;
      // Throws INVALID_REPLICA_ASSIGNMENT for a partition with no live replica.
      initialPartitionRecords('', firstPartition, assignments, live);
    } else {
      try {
        assignments = placeReplicas(count, replicationFactor, [...registered.values()]);
      } catch (err) {
        if (err instanceof KafkaError && err.code === ERROR_CODES.INVALID_REPLICATION_FACTOR) {
          throw new KafkaError(
            err.code,
            `Unable to replicate the partition ${replicationFactor} time(s): ${err.message}`,
          );
        }
        throw err;
      }
    }
    return assignments;
  }

  /**
   * Creates a topic whole or not at all: every partition log is created before the topic is
   * saved, and when one cannot be (out of descriptors, say) those made so far are deleted and
   * nothing is saved. In a cluster the partitions get `replicationFactor` replicas (by default
   * default.replication.factor); a single node keeps one.
   */
  create(
    name: string,
    partitions: number,
    overrides: Record<string, string> = {},
    explicit?: number[][],
    replicationFactor?: number,
  ): TopicState {
    if (this.store.kind !== 'embedded') {
      // A cluster store writes asynchronously: start the creation, and answer as Kafka's
      // auto-creation does until the topic shows (retriable).
      // One creation at a time per name: clients ask again while it is under way.
      if (!this.creating.has(name) && this.creating.size < MAX_PENDING_CREATIONS) {
        // A replication factor above the registered brokers fails here, at once (Kafka's controller
        // refuses it with INVALID_REPLICATION_FACTOR; internal topics wait until enough brokers register).
        const assignments =
          explicit ??
          (replicationFactor === undefined ? undefined : this.assignmentsFor(partitions, replicationFactor));
        this.creating.add(name);
        this.createAsync(name, partitions, overrides, assignments)
          .catch((err) => this.writer.onError(err, `create topic '${name}'`))
          .finally(() => this.creating.delete(name));
      }
      throw new KafkaError(ERROR_CODES.LEADER_NOT_AVAILABLE, `Topic '${name}' is being created.`);
    }
    this.validateCreate(name, partitions);
    const assignments = explicit ?? this.assignmentsFor(partitions, 1);
    const record: TopicRecord = { name, topicId: randomUUID(), configs: { ...overrides }, partitionCount: partitions };
    this.configs.setTopicOverrides(name, overrides);
    try {
      this.createLogs(name, 0, partitions);
      const records = initialPartitionRecords(record.topicId, 0, assignments, () => true);
      this.writeNow(
        this.store.createTopic(record, records, this.writer.fence()),
        () => this.store.image.topics.get(name)?.topicId === record.topicId,
        `create topic '${name}'`,
      );
    } catch (err) {
      this.configs.deleteTopic(name);
      this.logs.deleteLogs(name, 0, partitions);
      throw resourceError(err, `topic '${name}' with ${partitions} partitions`);
    }
    return this.byName.get(name) ?? this.open(record);
  }

  /**
   * Creates a topic through the store and resolves once it is open here. In a cluster the
   * partitions go where `assignments` says (by default Kafka's placement over the registered
   * brokers, see assignmentsFor); a single node writes synchronously through `create`.
   */
  async createAsync(
    name: string,
    partitions: number,
    overrides: Record<string, string> = {},
    explicit?: number[][],
  ): Promise<TopicState> {
    if (this.store.kind === 'embedded') return this.create(name, partitions, overrides, explicit);
    this.validateCreate(name, partitions);
    // Auto-creation (no assignment given) uses default.replication.factor, as Kafka's.
    const assignments =
      explicit ?? this.assignmentsFor(partitions, Number(this.configs.brokerValue('default.replication.factor')));
    this.configs.validateNewTopic(Object.entries(overrides).map(([n, value]) => ({ name: n, value })));
    const image = this.store.image;
    const record: TopicRecord = { name, topicId: randomUUID(), configs: { ...overrides }, partitionCount: partitions };
    const records = initialPartitionRecords(record.topicId, 0, assignments, activeBrokers(image));
    try {
      await this.store.createTopic(record, records, this.writer.fence());
    } catch (err) {
      throw resourceError(err, `topic '${name}' with ${partitions} partitions`);
    }
    const state = this.byId.get(record.topicId);
    if (!state) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' was deleted meanwhile.`);
    return state;
  }

  /** Creates the logs of partitions [from, to) of `topic`; on failure deletes those it made and throws. */
  private createLogs(topic: string, from: number, to: number): void {
    const overrides = logConfigFor(this.configs.topicConfig(topic));
    let p = from;
    try {
      for (; p < to; p++) this.logs.getOrCreate(topic, p, overrides);
    } catch (err) {
      this.logs.deleteLogs(topic, from, p);
      throw err;
    }
  }

  delete(name: string): TopicState {
    const state = this.byName.get(name);
    if (!state) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    this.writeNow(
      this.store.deleteTopic(name, state.topicId, this.writer.fence()),
      () => !this.store.image.topics.has(name),
      `delete topic '${name}'`,
    );
    // The change event closed and deleted the logs.
    this.close(name, state.topicId);
    return state;
  }

  /** Deletes a topic through the store; every broker's logs follow the change (here: before this resolves). */
  async deleteAsync(name: string): Promise<TopicState> {
    if (this.store.kind === 'embedded') return this.delete(name);
    const state = this.byName.get(name);
    if (!state) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    await this.store.deleteTopic(name, state.topicId, this.writer.fence());
    return state;
  }

  /** Stores a topic's config overrides (AlterConfigs); every broker's registry follows the change event. */
  async storeConfigs(name: string, overrides: Record<string, string>): Promise<void> {
    const state = this.byName.get(name);
    if (!state) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    await this.store.setTopicConfigs(name, state.topicId, overrides, this.writer.fence());
  }

  /** CreatePartitions: grows a topic to `total` partitions. */
  validateAddPartitions(name: string, total: number): TopicState {
    const state = this.byName.get(name);
    if (!state) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `The topic '${name}' does not exist.`);
    const current = state.partitions.length;
    if (total < current) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PARTITIONS,
        `The topic ${name} currently has ${current} partition(s); ${total} would not be an increase.`,
      );
    }
    if (total === current) {
      throw new KafkaError(ERROR_CODES.INVALID_PARTITIONS, `Topic already has ${current} partition(s).`);
    }
    if (total > MAX_PARTITIONS_PER_TOPIC) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PARTITIONS,
        `Number of partitions ${total} is above the limit of ${MAX_PARTITIONS_PER_TOPIC} per topic.`,
      );
    }
    return state;
  }

  /**
   * Replica lists for the partitions a CreatePartitions entry adds: explicit ones held to the topic's
   * replication factor, else placement with it.
   */
  assignmentsToGrow(name: string, total: number, explicit?: readonly (readonly number[])[]): number[][] {
    const state = this.validateAddPartitions(name, total);
    const from = state.partitions.length;
    if (explicit && explicit.length !== total - from) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
        `Attempted to add ${total - from} additional partition(s), but only ${explicit.length} assignment(s) were specified.`,
      );
    }
    const factor = this.store.image.partition(state.topicId, 0)?.replicas.length ?? 1;
    return this.assignmentsFor(total - from, factor, explicit, from);
  }

  /** Grows a topic through the store; in a cluster the new partitions are spread over the brokers. */
  async addPartitionsAsync(name: string, total: number, explicit?: number[][]): Promise<void> {
    if (this.store.kind === 'embedded') return this.addPartitions(name, total, explicit);
    const state = this.validateAddPartitions(name, total);
    const assignments = explicit ?? this.assignmentsToGrow(name, total);
    const image = this.store.image;
    const from = state.partitions.length;
    const records = initialPartitionRecords(state.topicId, from, assignments, activeBrokers(image));
    await this.store.addPartitions(name, state.topicId, records, this.writer.fence());
  }

  addPartitions(name: string, total: number, explicit?: number[][]): void {
    const state = this.validateAddPartitions(name, total);
    const assignments = explicit ?? this.assignmentsToGrow(name, total);
    const from = state.partitions.length;
    try {
      this.createLogs(name, from, total);
      const records = initialPartitionRecords(state.topicId, from, assignments, () => true);
      this.writeNow(
        this.store.addPartitions(name, state.topicId, records, this.writer.fence()),
        () => this.store.image.topics.get(name)?.partitionCount === total,
        `grow topic '${name}'`,
      );
    } catch (err) {
      this.logs.deleteLogs(name, from, total);
      throw resourceError(err, `${total - from} new partitions of topic '${name}'`);
    }
    // The change event opened the new partitions.
    this.grow({ ...this.store.image.topics.get(name)!, partitionCount: total });
  }
}
