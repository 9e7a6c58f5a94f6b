import type { MetadataImage } from '@sluice/cluster';
import {
  type AppendFunction,
  type ConsumerGroupCoordinator,
  type CoordinatorLogger,
  type CoordinatorRecord,
  GroupCoordinator,
  type Scheduler,
} from '@sluice/coordinator';
import {
  buildRecordBatchSync,
  ControlRecordType,
  decodeControlRecordKey,
  ERROR_CODES,
  iterateBatches,
  KafkaError,
} from '@sluice/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../../config/index.js';
import type { LogDirHealth } from '../../state/log-dir-health.js';
import type { Partition } from '../../state/partition.js';
import type { TopicManager, TopicState } from '../../state/topic-manager.js';
import { createConsumerGroupCoordinator } from './consumer-groups.js';

export const OFFSETS_TOPIC = '__consumer_offsets';
/** Bytes read per step while loading a partition of the offsets topic. */
const LOAD_CHUNK_BYTES = 4 << 20;
/** A bound on read steps per partition while loading (4 MiB each: far beyond any offsets partition here). */
const MAX_LOAD_STEPS = 1_000_000;
const MINUTE_MS = 60_000;
const EMPTY = Buffer.alloc(0);

export interface GroupCoordinatorSetup {
  config: BrokerConfig;
  topics: TopicManager;
  logger: Logger;
  scheduler?: Scheduler;
  /** Appends are refused while the data dir is offline, and a storage error takes it offline. */
  logDir?: LogDirHealth;
  /** Whether this broker leads a partition (in a cluster, a group's coordinator is its offsets partition's leader). */
  leads?: (topicId: string, partition: number) => boolean;
  /** The cluster image, for rack-aware assignment of consumer groups. */
  image?: () => MetadataImage;
  /** Runs an append to a coordinator partition as acks=all (see ReplicationService.appendAcksAll); none: local only. */
  replicatedAppend?: ReplicatedAppend;
}

/** Runs `append` on `partition` of internal topic `topic` and settles once the in-sync replicas have it. */
export type ReplicatedAppend = (
  topic: string,
  partition: Partition,
  append: () => { lastOffset: bigint },
) => void | Promise<void>;

/**
 * Builds the broker's group coordinator over `__consumer_offsets`: loads every partition of the
 * topic if it exists, and appends through the partition logs, creating the topic (compacted) on
 * first use as Kafka does.
 */
export function createGroupCoordinator(setup: GroupCoordinatorSetup): {
  coordinator: GroupCoordinator;
  /** KIP-848 consumer groups, in the same offsets partitions. */
  consumerGroups: ConsumerGroupCoordinator;
  ensureOffsetsTopic: () => TopicState;
  loadLedPartition: (partition: number) => void;
  unloadPartition: (partition: number) => void;
  /** Appends records to an offsets partition this broker leads (share groups write their ShareGroupMetadata). */
  appendRecords: AppendFunction;
} {
  const { config, topics, logger } = setup;
  const existing = topics.get(OFFSETS_TOPIC);
  const numPartitions = existing?.partitions.length ?? config.get('offsets.topic.num.partitions');
  // In a cluster, offsets.topic.replication.factor replicas: creation fails (COORDINATOR_NOT_AVAILABLE)
  // until that many brokers are registered, as in Kafka; a single node keeps one.
  const ensureOffsetsTopic = (): TopicState =>
    topics.get(OFFSETS_TOPIC) ??
    topics.create(
      OFFSETS_TOPIC,
      numPartitions,
      { 'cleanup.policy': 'compact' },
      undefined,
      config.get('offsets.topic.replication.factor'),
    );
  const log = logger.child({ component: 'group-coordinator' });
  const coordinatorLogger: CoordinatorLogger = {
    info: (m) => log.info(m),
    warn: (m) => log.warn(m),
    error: (m) => log.error(m),
  };
  const append: AppendFunction = (partition, records, txn) => {
    const topic = ensureOffsetsTopic();
    // Another broker coordinates this group: the coordinator answers NOT_COORDINATOR, the client looks again.
    if (setup.leads && !setup.leads(topic.topicId, partition)) {
      throw new KafkaError(ERROR_CODES.NOT_LEADER_OR_FOLLOWER, `${OFFSETS_TOPIC}-${partition} is led elsewhere`);
    }
    const p = topic.partitions[partition];
    if (p === undefined) throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `${OFFSETS_TOPIC}-${partition}`);
    const batch = buildRecordBatchSync({
      records: records.map((r) => ({ key: r.key, value: r.value })),
      // TxnOffsetCommit: the records belong to the producer's transaction until its marker.
      ...(txn && { producerId: txn.producerId, producerEpoch: txn.producerEpoch, isTransactional: true }),
    });
    setup.logDir?.checkWritable();
    const write = () => {
      try {
        return txn ? p.appendFromCoordinator(batch) : p.appendFromClient(batch);
      } catch (err) {
        // A full disk is KAFKA_STORAGE_ERROR, which the coordinator answers as COORDINATOR_NOT_AVAILABLE.
        if (setup.logDir?.noteError(err, `append to ${OFFSETS_TOPIC}-${partition}`)) {
          throw new KafkaError(ERROR_CODES.KAFKA_STORAGE_ERROR, (err as Error).message);
        }
        throw err;
      }
    };
    if (setup.replicatedAppend) return setup.replicatedAppend(OFFSETS_TOPIC, p, write);
    write();
  };
  const coordinator = new GroupCoordinator({
    config: {
      numPartitions,
      groupInitialRebalanceDelayMs: config.get('group.initial.rebalance.delay.ms'),
      groupMinSessionTimeoutMs: config.get('group.min.session.timeout.ms'),
      groupMaxSessionTimeoutMs: config.get('group.max.session.timeout.ms'),
      groupMaxSize: config.get('group.max.size'),
      offsetsRetentionMs: config.get('offsets.retention.minutes') * MINUTE_MS,
    },
    scheduler: setup.scheduler,
    logger: coordinatorLogger,
    append,
    // Runs on the expiry timer, after consumerGroups below exists.
    offsetsInUse: (groupId) => (consumerGroups.has(groupId) ? consumerGroups.subscribedTopics(groupId) : null),
  });
  const consumerGroups = createConsumerGroupCoordinator({
    config,
    topics,
    logger,
    append,
    classic: coordinator,
    numPartitions,
    scheduler: setup.scheduler,
    image: setup.image,
  });
  if (existing) {
    let count = 0;
    for (const p of existing.partitions) {
      if (p === undefined) continue;
      coordinator.loadPartition(readPartition(p.log));
      consumerGroups.loadPartition(readPartition(p.log));
      count++;
    }
    log.info({ partitions: count, groups: coordinator.listGroups().length }, 'loaded consumer groups');
  }
  /** Loads the groups of an offsets partition this broker has just become the leader of. */
  const loadLedPartition = (partition: number): void => {
    const p = topics.get(OFFSETS_TOPIC)?.partitions[partition];
    if (p === undefined) return;
    coordinator.loadPartition(readPartition(p.log));
    consumerGroups.loadPartition(readPartition(p.log));
    log.info({ partition }, 'loaded the consumer groups of a partition this broker now leads');
  };
  /** Drops the groups of an offsets partition another broker leads now. */
  const unloadPartition = (partition: number): void => {
    const groups = coordinator.unloadPartition(partition);
    consumerGroups.unloadPartition(partition);
    log.info({ partition, groups }, 'unloaded the consumer groups of a partition this broker no longer leads');
  };
  return { coordinator, consumerGroups, ensureOffsetsTopic, loadLedPartition, unloadPartition, appendRecords: append };
}

interface ReadableLog {
  readonly logStartOffset: bigint;
  readonly logEndOffset: bigint;
  read(offset: bigint, maxBytes: number): { records: Buffer };
}

/**
 * Every key/value record of one coordinator partition, in offset order; records of transactions
 * carry their producer id, and transaction markers come as `marker` records (other control batches skipped).
 */
export function* readPartition(log: ReadableLog): Generator<CoordinatorRecord> {
  let offset = log.logStartOffset;
  const end = log.logEndOffset;
  for (let step = 0; offset < end && step < MAX_LOAD_STEPS; step++) {
    const { records } = log.read(offset, LOAD_CHUNK_BYTES);
    if (records.length === 0) break;
    let advanced = false;
    for (const batch of iterateBatches(records)) {
      if (batch.lastOffset < offset) continue;
      advanced = true;
      offset = batch.nextOffset;
      const txnProducerId = batch.isTransactional ? batch.producerId : undefined;
      if (batch.isControl) {
        if (txnProducerId === undefined) continue;
        for (const r of batch.records()) {
          const { type } = decodeControlRecordKey(r.key);
          if (type === ControlRecordType.Commit || type === ControlRecordType.Abort) {
            yield {
              key: EMPTY,
              value: null,
              txnProducerId,
              marker: type === ControlRecordType.Commit ? 'commit' : 'abort',
            };
          }
        }
        continue;
      }
      for (const r of batch.records()) {
        if (r.key === null || r.offset < log.logStartOffset) continue;
        yield txnProducerId === undefined
          ? { key: r.key, value: r.value }
          : { key: r.key, value: r.value, txnProducerId };
      }
    }
    if (!advanced) break;
  }
}
