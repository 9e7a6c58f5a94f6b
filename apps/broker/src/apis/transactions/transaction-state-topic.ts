import { type CoordinatorLogger, type Scheduler, TransactionCoordinator, type TxnMarkers } from '@sluice/coordinator';
import { buildRecordBatchSync, ERROR_CODES, KafkaError } from '@sluice/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../../config/index.js';
import type { LogDirHealth } from '../../state/log-dir-health.js';
import type { Partition } from '../../state/partition.js';
import type { TopicManager, TopicState } from '../../state/topic-manager.js';
import { readPartition } from '../groups/offsets-topic.js';

export const TRANSACTION_STATE_TOPIC = '__transaction_state';

export interface TransactionCoordinatorSetup {
  config: BrokerConfig;
  topics: TopicManager;
  logger: Logger;
  /** Hands out producer ids (the broker's block allocator); null while none is at hand. */
  nextProducerId: () => bigint | null;
  /** Writes markers to partitions' leaders (on one node: local appends, see markers.ts). */
  writeMarkers: (markers: TxnMarkers) => number[] | Promise<number[]>;
  scheduler?: Scheduler;
  logDir?: LogDirHealth;
  /** Whether this broker leads a partition (a transaction's coordinator leads its state partition). */
  leads?: (topicId: string, partition: number) => boolean;
  /**
   * The partition's leader epoch in the metadata (the coordinator epoch its markers carry, which
   * partitions check against a zombie coordinator's); the local replica's until then.
   */
  leaderEpoch?: (topicId: string, partition: number) => number | undefined;
  /**
   * Waits until the partition's in-sync replicas have the log up to `lastOffset` (a code, 0 when
   * they do): a state change is answered only once a new coordinator would load it, as Kafka's
   * acks=all appends to the transaction log.
   */
  awaitReplicated?: (partition: Partition, lastOffset: bigint) => number | Promise<number>;
}

/**
 * Builds the broker's transaction coordinator over `__transaction_state` (compacted, created on
 * first use as Kafka does): loads every partition of the topic that exists, and appends through
 * the partition logs.
 */
export function createTransactionCoordinator(setup: TransactionCoordinatorSetup): {
  coordinator: TransactionCoordinator;
  ensureTransactionTopic: () => TopicState;
  loadLedPartition: (partition: number) => void;
} {
  const { config, topics, logger } = setup;
  const existing = topics.get(TRANSACTION_STATE_TOPIC);
  const numPartitions = existing?.partitions.length ?? config.get('transaction.state.log.num.partitions');
  // In a cluster, transaction.state.log.replication.factor replicas (creation fails until that many
  // brokers are registered, as in Kafka) and transaction.state.log.min.isr; a single node keeps one.
  const ensureTransactionTopic = (): TopicState =>
    topics.get(TRANSACTION_STATE_TOPIC) ??
    topics.create(
      TRANSACTION_STATE_TOPIC,
      numPartitions,
      topics.replicated
        ? { 'cleanup.policy': 'compact', 'min.insync.replicas': String(config.get('transaction.state.log.min.isr')) }
        : { 'cleanup.policy': 'compact' },
      undefined,
      config.get('transaction.state.log.replication.factor'),
    );
  const log = logger.child({ component: 'transaction-coordinator' });
  const coordinatorLogger: CoordinatorLogger = {
    info: (m) => log.info(m),
    warn: (m) => log.warn(m),
    error: (m) => log.error(m),
  };
  const coordinator = new TransactionCoordinator({
    config: {
      numPartitions,
      transactionMaxTimeoutMs: config.get('transaction.max.timeout.ms'),
      transactionalIdExpirationMs: config.get('transactional.id.expiration.ms'),
      abortTimedOutTransactionsIntervalMs: config.get('transaction.abort.timed.out.transaction.cleanup.interval.ms'),
      removeExpiredTransactionalIdsIntervalMs: config.get('transaction.remove.expired.transaction.cleanup.interval.ms'),
    },
    scheduler: setup.scheduler,
    logger: coordinatorLogger,
    nextProducerId: setup.nextProducerId,
    writeMarkers: setup.writeMarkers,
    append: (partition, records) => {
      const topic = ensureTransactionTopic();
      if (setup.leads && !setup.leads(topic.topicId, partition)) {
        throw new KafkaError(
          ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
          `${TRANSACTION_STATE_TOPIC}-${partition} is led elsewhere`,
        );
      }
      const p = topic.partitions[partition];
      if (p === undefined) {
        throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `${TRANSACTION_STATE_TOPIC}-${partition}`);
      }
      const batch = buildRecordBatchSync({ records: records.map((r) => ({ key: r.key, value: r.value })) });
      setup.logDir?.checkWritable();
      let lastOffset: bigint;
      try {
        lastOffset = p.appendFromCoordinator(batch).lastOffset;
      } catch (err) {
        if (setup.logDir?.noteError(err, `append to ${TRANSACTION_STATE_TOPIC}-${partition}`)) {
          throw new KafkaError(ERROR_CODES.KAFKA_STORAGE_ERROR, (err as Error).message);
        }
        throw err;
      }
      if (setup.awaitReplicated === undefined) return;
      const replicated = (code: number) => {
        if (code !== ERROR_CODES.NONE) {
          throw new KafkaError(code, `${TRANSACTION_STATE_TOPIC}-${partition} was not replicated (error ${code})`);
        }
      };
      const waited = setup.awaitReplicated(p, lastOffset);
      return typeof waited === 'number' ? replicated(waited) : waited.then(replicated);
    },
  });
  if (existing) {
    let count = 0;
    for (const p of existing.partitions) {
      if (p === undefined) continue;
      if (setup.leads && !setup.leads(existing.topicId, p.index)) continue;
      const epoch = setup.leaderEpoch?.(existing.topicId, p.index) ?? p.leaderEpoch;
      count += coordinator.loadPartition(p.index, readPartition(p.log), epoch);
    }
    log.info({ transactions: count }, 'loaded transactions');
  }
  /** Loads the transactions of a state partition this broker has just become the leader of (and finishes decided ones). */
  const loadLedPartition = (partition: number): void => {
    const topic = topics.get(TRANSACTION_STATE_TOPIC);
    const p = topic?.partitions[partition];
    if (topic === undefined || p === undefined) return;
    const epoch = setup.leaderEpoch?.(topic.topicId, partition) ?? p.leaderEpoch;
    coordinator.loadPartition(partition, readPartition(p.log), epoch);
    log.info({ partition }, 'loaded the transactions of a partition this broker now leads');
  };
  return { coordinator, ensureTransactionTopic, loadLedPartition };
}
