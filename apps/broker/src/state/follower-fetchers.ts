import { Connection } from '@sluice/client';
import type { MetadataStore, PartitionRecord } from '@sluice/cluster/core';
import { FetchApi, ListOffsetsApi } from '@sluice/protocol';
import {
  type FollowedPartition,
  type LeaderConnection,
  ReplicaFetcher,
  ReplicaFetcherManager,
} from '@sluice/replication';
import type { ConfigRegistry } from '../config/index.js';
import type { Logger } from '../logger.js';
import { type InterBrokerSettings, interBrokerConnection } from '../server/inter-broker.js';
import type { Partition } from './partition.js';
import type { FollowerFetchers } from './replication.js';

/** The newest Fetch version the fetcher speaks (ReplicaState from v15, topic ids from v13). */
const FETCH_VERSION = 17;
/** Kafka's ListOffsets EARLIEST_TIMESTAMP. */
const EARLIEST = -2n;
/** One line per leader and this period at most about failing fetches (they retry every backoff). */
const ERROR_LOG_INTERVAL_MS = 10_000;

export interface FollowerFetchersOptions {
  nodeId: number;
  /** The listener and security followers reach leaders with (inter.broker.listener.name). */
  interBroker: InterBrokerSettings;
  store: MetadataStore;
  configs: ConfigRegistry;
  logger: Logger;
}

const num = (configs: ConfigRegistry, name: string) => Number(configs.brokerValue(name));

/** The leader's side over a @sluice/client connection, in the newest Fetch both brokers speak. */
export function leaderConnection(connection: Connection, nodeId: number, extraTimeoutMs: number): LeaderConnection {
  return {
    fetch(request) {
      const version = connection.version(FetchApi, FETCH_VERSION);
      // Before v15 the replica names itself in ReplicaId; from v15 in ReplicaState.
      const body =
        version >= 15
          ? request
          : {
              ...request,
              replicaId: request.replicaState.replicaId,
              replicaState: { replicaId: -1, replicaEpoch: -1n },
            };
      return connection.request(FetchApi, body, { maxVersion: FETCH_VERSION, extraTimeoutMs });
    },
    async logStartOffset(topic, partition, currentLeaderEpoch) {
      const r = await connection.request(ListOffsetsApi, {
        replicaId: nodeId,
        isolationLevel: 0,
        timeoutMs: 30_000,
        topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch, timestamp: EARLIEST }] }],
      });
      const p = r.topics[0]?.partitions[0];
      if (!p || p.errorCode !== 0) throw new Error(`ListOffsets for ${topic}-${partition} failed (${p?.errorCode})`);
      return p.offset;
    },
    close: () => connection.close(),
  };
}

/** A partition as its fetcher drives it: the log, and the partition's follower appends and truncations. */
export function followed(partition: Partition, topicId: string): FollowedPartition {
  const log = partition.log;
  return {
    topic: partition.topic,
    topicId,
    partition: partition.index,
    log: {
      get logStartOffset() {
        return log.logStartOffset;
      },
      get logEndOffset() {
        return log.logEndOffset;
      },
      get highWatermark() {
        return log.highWatermark;
      },
      set highWatermark(v: bigint) {
        log.highWatermark = v;
      },
      latestEpoch: () => log.leaderEpochCache.latestEpoch(),
      endOffsetFor: (epoch) => log.endOffsetFor(epoch),
    },
    append: (records) => {
      partition.appendAsFollower(records);
    },
    truncateTo: (offset) => partition.truncateTo(offset),
    truncateFullyAndStartAt: (offset) => partition.truncateFullyAndStartAt(offset),
  };
}

/**
 * The broker's replica fetchers (Kafka's ReplicaFetcherManager with its config names): one per
 * leader and fetcher id, each a connection to the leader's inter-broker listener.
 */
export function createFollowerFetchers(options: FollowerFetchersOptions): FollowerFetchers & { stop(): Promise<void> } {
  const { nodeId, store, configs, logger, interBroker } = options;
  const maxWaitMs = num(configs, 'replica.fetch.wait.max.ms');
  const lastLogged = new Map<number, number>();
  const manager = new ReplicaFetcherManager(Math.max(1, num(configs, 'num.replica.fetchers')), (leaderId) => {
    return new ReplicaFetcher({
      nodeId,
      brokerEpoch: () => BigInt(store.image.brokers.get(nodeId)?.brokerEpoch ?? -1),
      maxWaitMs,
      minBytes: num(configs, 'replica.fetch.min.bytes'),
      partitionMaxBytes: num(configs, 'replica.fetch.max.bytes'),
      responseMaxBytes: num(configs, 'replica.fetch.response.max.bytes'),
      backoffMs: num(configs, 'replica.fetch.backoff.ms'),
      connect: async () => {
        const registered = store.image.brokers.get(leaderId);
        if (!registered) throw new Error(`broker ${leaderId} is not registered`);
        const leader = interBrokerConnection(interBroker, registered.listeners);
        if (!leader)
          throw new Error(`broker ${leaderId} has no ${interBroker.listener} listener (inter.broker.listener.name)`);
        const connection = await Connection.open({
          ...leader,
          clientId: `sluice-replica-fetcher-${nodeId}`,
          requestTimeoutMs: num(configs, 'replica.socket.timeout.ms'),
          connectTimeoutMs: num(configs, 'replica.socket.timeout.ms'),
        });
        return leaderConnection(connection, nodeId, maxWaitMs);
      },
      onError: (err, what) => {
        const now = Date.now();
        if (now - (lastLogged.get(leaderId) ?? 0) < ERROR_LOG_INTERVAL_MS) return;
        lastLogged.set(leaderId, now);
        logger.warn({ err, leader: leaderId }, `${what} from broker ${leaderId} failed (retrying)`);
      },
    });
  });
  return {
    follow(partition: Partition, topicId: string, record: PartitionRecord) {
      if (record.leader < 0) {
        manager.unfollow({ topicId, partition: partition.index });
        return;
      }
      manager.follow(followed(partition, topicId), record.leader, record.leaderEpoch);
    },
    unfollow(partition: Partition) {
      const topicId = partition.replica?.record?.topicId;
      if (topicId) manager.unfollow({ topicId, partition: partition.index });
    },
    stop: () => manager.stop(),
  };
}
