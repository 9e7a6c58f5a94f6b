import { type BrokerAddress, BrokerPool, type Connection } from '@sluice/client';
import type { MetadataStore } from '@sluice/cluster/core';
import {
  noShareState,
  SHARE_STATE_TOPIC,
  type ShareSnapshotKey,
  ShareStateCoordinator,
  type ShareStateRead,
  type ShareStateResult,
  type ShareStateWrite,
} from '@sluice/coordinator';
import {
  buildRecordBatchSync,
  DeleteShareGroupStateApi,
  ERROR_CODES,
  InitializeShareGroupStateApi,
  KafkaError,
  ListOffsetsApi,
  ReadShareGroupStateApi,
  ReadShareGroupStateSummaryApi,
  WriteShareGroupStateApi,
} from '@sluice/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../../config/index.js';
import type { InterBrokerSettings } from '../../server/inter-broker.js';
import { interBrokerConnection } from '../../server/inter-broker.js';
import type { LogDirHealth } from '../../state/log-dir-health.js';
import type { TopicManager, TopicState } from '../../state/topic-manager.js';
import type { ReplicatedAppend } from '../groups/offsets-topic.js';
import { readPartition } from '../groups/offsets-topic.js';

/** Tries of one persister call while the state partition's leader moves (each waits a little longer). */
const MAX_ATTEMPTS = 25;
const MAX_BACKOFF_MS = 1_000;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * How a partition leader reads and writes its share-partitions' state (Kafka's Persister): through the
 * share coordinator that leads the key's `__share_group_state` partition — a call on this broker when
 * that is this broker, an Initialize/Read/Write/DeleteShareGroupState request over the inter-broker
 * listener when it is another one. Retriable errors (the state partition moving) are retried, bounded.
 */
export interface SharePersister {
  initialize(key: ShareSnapshotKey, stateEpoch: number, startOffset: bigint): Promise<ShareStateResult>;
  read(key: ShareSnapshotKey, leaderEpoch: number): Promise<ShareStateRead>;
  write(key: ShareSnapshotKey, w: ShareStateWrite): Promise<ShareStateResult>;
  delete(key: ShareSnapshotKey): Promise<ShareStateResult>;
  summary(key: ShareSnapshotKey, leaderEpoch: number): Promise<ShareStateRead>;
}

export interface ShareStateService {
  /** The share coordinator of the state partitions this broker leads. */
  readonly coordinator: ShareStateCoordinator;
  /** The coordinator's answers to the inter-broker requests: the key's state partition loaded or dropped first. */
  readonly local: SharePersister;
  readonly persister: SharePersister;
  /** The `__share_group_state` topic, created (compacted, replicated in a cluster) on first use as Kafka does. */
  ensureStateTopic(): TopicState;
  /** Loads or drops state partitions to match what this broker leads now (after a leadership change). */
  sync(): void;
  /**
   * A topic partition's high watermark as its leader has it (ListOffsets latest over the inter-broker
   * listener when another broker leads it; the share offsets' lag needs it); null when it cannot be had.
   */
  highWatermark(topicName: string, topicId: string, partition: number): Promise<bigint | null>;
  close(): Promise<void>;
}

export interface ShareStateSetup {
  config: BrokerConfig;
  topics: TopicManager;
  logger: Logger;
  nodeId: number;
  store: Pick<MetadataStore, 'image'>;
  logDir?: LogDirHealth;
  /** Whether this broker leads a partition; absent on a single node (it leads everything). */
  leads?: (topicId: string, partition: number) => boolean;
  replicatedAppend?: ReplicatedAppend;
  /** How to reach the other brokers; null on a single node. */
  interBroker: InterBrokerSettings | null;
  /** This broker's own address, the pool's bootstrap (never dialled for itself). */
  self: BrokerAddress;
}

/** The errors of a coordinator that is moving, starting or unreachable: asked again. */
const RETRIABLE = new Set<number>([
  ERROR_CODES.NOT_COORDINATOR,
  ERROR_CODES.COORDINATOR_NOT_AVAILABLE,
  ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS,
  ERROR_CODES.NETWORK_EXCEPTION,
  ERROR_CODES.REQUEST_TIMED_OUT,
  ERROR_CODES.LEADER_NOT_AVAILABLE,
  ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
  ERROR_CODES.NOT_ENOUGH_REPLICAS,
  ERROR_CODES.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
]);
const retriable = (code: number): boolean => RETRIABLE.has(code);

/** The share coordinator over `__share_group_state`, and the persister partition leaders use to reach it. */
export function createShareStateService(setup: ShareStateSetup): ShareStateService {
  const { config, topics, logger } = setup;
  const log = logger.child({ component: 'share-coordinator' });
  const numPartitions = (): number =>
    topics.get(SHARE_STATE_TOPIC)?.partitions.length ?? config.get('share.coordinator.state.topic.num.partitions');
  // In a cluster, share.coordinator.state.topic.replication.factor replicas and its min ISR (as Kafka);
  // a single node keeps one.
  const ensureStateTopic = (): TopicState =>
    topics.get(SHARE_STATE_TOPIC) ??
    topics.create(
      SHARE_STATE_TOPIC,
      numPartitions(),
      topics.replicated
        ? {
            'cleanup.policy': 'compact',
            'min.insync.replicas': String(config.get('share.coordinator.state.topic.min.isr')),
          }
        : { 'cleanup.policy': 'compact' },
      undefined,
      config.get('share.coordinator.state.topic.replication.factor'),
    );
  const leadsState = (p: number): boolean => {
    const topic = topics.get(SHARE_STATE_TOPIC);
    if (topic === undefined) return setup.leads === undefined;
    return setup.leads === undefined || setup.leads(topic.topicId, p);
  };
  const coordinator = new ShareStateCoordinator({
    numPartitions,
    append: async (statePartition, records) => {
      const topic = ensureStateTopic();
      if (!leadsState(statePartition)) {
        throw new KafkaError(ERROR_CODES.NOT_COORDINATOR, `${SHARE_STATE_TOPIC}-${statePartition} is led elsewhere`);
      }
      const part = topic.partitions[statePartition];
      if (part === undefined) {
        throw new KafkaError(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, `${SHARE_STATE_TOPIC}-${statePartition}`);
      }
      setup.logDir?.checkWritable();
      const write = () => {
        try {
          return part.appendFromClient(buildRecordBatchSync({ records }));
        } catch (err) {
          if (setup.logDir?.noteError(err, `append to ${SHARE_STATE_TOPIC}-${statePartition}`)) {
            throw new KafkaError(ERROR_CODES.KAFKA_STORAGE_ERROR, (err as Error).message);
          }
          throw err;
        }
      };
      if (setup.replicatedAppend) await setup.replicatedAppend(SHARE_STATE_TOPIC, part, write);
      else write();
    },
  });
  /** Loads a state partition this broker leads and has not loaded, drops one it no longer leads. */
  const syncPartition = (p: number): void => {
    const leads = leadsState(p);
    if (leads && !coordinator.isLoaded(p)) {
      const part = topics.get(SHARE_STATE_TOPIC)?.partitions[p];
      const n = coordinator.loadPartition(p, part === undefined ? [] : readPartition(part.log), (err) =>
        log.warn({ err, partition: p }, 'skipped an unreadable share state record'),
      );
      if (n > 0) log.info({ partition: p, sharePartitions: n }, 'loaded share-group state');
    } else if (!leads && coordinator.isLoaded(p)) {
      coordinator.unloadPartition(p);
      log.info({ partition: p }, 'unloaded share-group state led elsewhere now');
    }
  };
  const sync = (): void => {
    const n = numPartitions();
    for (let p = 0; p < n; p++) syncPartition(p);
  };
  sync();

  const pool =
    setup.interBroker === null
      ? null
      : new BrokerPool([setup.self], {
          clientId: `sluice-share-persister-${setup.nodeId}`,
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          connectTimeoutMs: REQUEST_TIMEOUT_MS,
          ssl: setup.interBroker.ssl,
          sasl: setup.interBroker.sasl,
        });
  /** The node leading the key's state partition: this one (-2 stands for "here"), another, or -1 (none yet). */
  const coordinatorOf = (key: ShareSnapshotKey): { here: true } | { nodeId: number } => {
    const p = coordinator.partitionFor(key);
    const topic = topics.get(SHARE_STATE_TOPIC);
    if (setup.leads === undefined || topic === undefined) return { here: true };
    const leader = setup.store.image.partition(topic.topicId, p)?.leader ?? -1;
    return leader === setup.nodeId ? { here: true } : { nodeId: leader };
  };
  const connectionTo = async (nodeId: number): Promise<Connection | null> => {
    if (pool === null || setup.interBroker === null) return null;
    const registered = setup.store.image.brokers.get(nodeId);
    if (registered === undefined) return null;
    const address = interBrokerConnection(setup.interBroker, registered.listeners);
    return address === null ? null : pool.get({ host: address.host, port: address.port });
  };
  /** Runs a call at the key's share coordinator, retrying while the coordinator is moving or busy. */
  const call = async <T extends ShareStateResult>(
    key: ShareSnapshotKey,
    local: () => Promise<T>,
    remote: (c: Connection) => Promise<T>,
    error: (code: number, message: string | null) => T,
  ): Promise<T> => {
    let result = error(ERROR_CODES.COORDINATOR_NOT_AVAILABLE, null);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, 50 * 2 ** attempt)));
      try {
        if (topics.get(SHARE_STATE_TOPIC) === undefined) ensureStateTopic();
        const where = coordinatorOf(key);
        if ('here' in where) {
          syncPartition(coordinator.partitionFor(key));
          result = await local();
        } else {
          const c = where.nodeId < 0 ? null : await connectionTo(where.nodeId);
          result = c === null ? error(ERROR_CODES.COORDINATOR_NOT_AVAILABLE, null) : await remote(c);
        }
      } catch (err) {
        const code = err instanceof KafkaError ? err.code : ERROR_CODES.NETWORK_EXCEPTION;
        result = error(retriable(code) ? code : ERROR_CODES.NETWORK_EXCEPTION, (err as Error).message);
      }
      if (!retriable(result.errorCode)) return result;
    }
    return result;
  };
  const one = <P>(key: ShareSnapshotKey, partition: P) => ({
    groupId: key.groupId,
    topics: [{ topicId: key.topicId, partitions: [partition] }],
  });
  const firstResult = (res: {
    results: { partitions: { errorCode: number; errorMessage: string | null }[] }[];
  }): ShareStateResult =>
    res.results[0]?.partitions[0] ?? { errorCode: ERROR_CODES.UNKNOWN_SERVER_ERROR, errorMessage: 'no result' };
  const plain = (errorCode: number, errorMessage: string | null): ShareStateResult => ({ errorCode, errorMessage });
  const failed = (errorCode: number, errorMessage: string | null): ShareStateRead =>
    noShareState({ errorCode, errorMessage });

  const persister: SharePersister = {
    initialize: (key, stateEpoch, startOffset) =>
      call(
        key,
        () => coordinator.initialize(key, stateEpoch, startOffset),
        async (c) =>
          firstResult(
            await c.request(
              InitializeShareGroupStateApi,
              one(key, { partition: key.partition, stateEpoch, startOffset }),
            ),
          ),
        plain,
      ),
    read: (key, leaderEpoch) =>
      call(
        key,
        () => coordinator.read(key, leaderEpoch),
        async (c) => {
          const res = await c.request(ReadShareGroupStateApi, one(key, { partition: key.partition, leaderEpoch }));
          const p = res.results[0]?.partitions[0];
          if (p === undefined) return failed(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'no result');
          return { ...p, leaderEpoch };
        },
        failed,
      ),
    write: (key, w) =>
      call(
        key,
        () => coordinator.write(key, w),
        async (c) =>
          firstResult(
            await c.request(
              WriteShareGroupStateApi,
              one(key, {
                partition: key.partition,
                stateEpoch: w.stateEpoch,
                leaderEpoch: w.leaderEpoch,
                startOffset: w.startOffset,
                deliveryCompleteCount: -1,
                stateBatches: w.stateBatches,
              }),
            ),
          ),
        plain,
      ),
    delete: (key) =>
      call(
        key,
        () => coordinator.delete(key),
        async (c) => firstResult(await c.request(DeleteShareGroupStateApi, one(key, { partition: key.partition }))),
        plain,
      ),
    summary: (key, leaderEpoch) =>
      call(
        key,
        async () => coordinator.summary(key),
        async (c) => {
          const res = await c.request(
            ReadShareGroupStateSummaryApi,
            one(key, { partition: key.partition, leaderEpoch }),
          );
          const p = res.results[0]?.partitions[0];
          if (p === undefined) return failed(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'no result');
          return { ...p, stateBatches: [] };
        },
        failed,
      ),
  };
  const synced = (key: ShareSnapshotKey): void => syncPartition(coordinator.partitionFor(key));
  const local: SharePersister = {
    initialize: async (key, stateEpoch, startOffset) => {
      synced(key);
      return coordinator.initialize(key, stateEpoch, startOffset);
    },
    read: async (key, leaderEpoch) => {
      synced(key);
      return coordinator.read(key, leaderEpoch);
    },
    write: async (key, w) => {
      synced(key);
      return coordinator.write(key, w);
    },
    delete: async (key) => {
      synced(key);
      return coordinator.delete(key);
    },
    summary: async (key) => {
      synced(key);
      return coordinator.summary(key);
    },
  };
  const highWatermark = async (topicName: string, topicId: string, partition: number): Promise<bigint | null> => {
    const here = topics.get(topicName)?.partitions[partition];
    const leader =
      setup.leads === undefined ? setup.nodeId : (setup.store.image.partition(topicId, partition)?.leader ?? -1);
    if (leader === setup.nodeId) return here?.log.highWatermark ?? null;
    try {
      const c = leader < 0 ? null : await connectionTo(leader);
      if (c === null) return null;
      const res = await c.request(ListOffsetsApi, {
        replicaId: -1,
        isolationLevel: 0,
        timeoutMs: 0,
        topics: [
          { name: topicName, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1n }] },
        ],
      });
      const p = res.topics[0]?.partitions[0];
      return p === undefined || p.errorCode !== 0 ? null : p.offset;
    } catch {
      return null;
    }
  };
  return {
    coordinator,
    local,
    persister,
    ensureStateTopic,
    sync,
    highWatermark,
    close: async () => pool?.close(),
  };
}
