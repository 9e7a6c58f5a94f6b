import {
  type Scheduler,
  ShareGroupCoordinator,
  type ShareGroupRecord,
  SharePartition,
  type ShareSnapshotKey,
  type ShareSnapshotValue,
} from '@sluice/coordinator';
import { ERROR_CODES } from '@sluice/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../../config/index.js';
import type { TopicManager } from '../../state/topic-manager.js';
import { topicMetadataView } from '../groups/consumer-groups.js';
import { type GroupConfigStore, GroupConfigs } from './group-configs.js';
import type { ShareStateService } from './share-state.js';

/** Share groups are on from share.version 1 (Kafka 4.2+); Kafka 4.4 finalizes share.version=2 on a new cluster. */
export const SHARE_VERSION_LATEST = 2;

/** One share session (KIP-932): the partitions a member fetches from this broker and the epoch of its next request. */
export interface ShareSession {
  readonly groupId: string;
  readonly memberId: string;
  epoch: number;
  /** `${topicId}:${partition}` */
  readonly partitions: Set<string>;
  /** The connection it was opened on; closing that connection releases the member's records. */
  readonly connection: { readonly closed: boolean };
}

export interface ShareServices {
  readonly coordinator: ShareGroupCoordinator;
  /** share.version as finalized (0: share groups off). */
  readonly shareVersion: number;
  readonly sessions: Map<string, ShareSession>;
  readonly maxSessions: number;
  /**
   * Writes the share-partitions changed since the last flush through the share coordinator; resolves once
   * they are written (flushes run one after another, so a share-partition's writes stay in order).
   */
  flush(): Promise<void>;
  /**
   * Makes sure this partition leader holds the share-partition: read from the share coordinator (a new
   * leader carries on from what the old one wrote), or initialized at `initialOffset()` the first time.
   * Resolves to an error code (0 when it is held).
   */
  load(groupId: string, topicId: string, partition: number, initialOffset: () => bigint): Promise<number>;
  /**
   * Reads share groups back from `__consumer_offsets` records (Kafka's ShareGroup* records): epochs,
   * members and their assignments, initialized share-partitions.
   */
  loadGroups(records: Iterable<{ key: Buffer; value: Buffer | null }>): number;
  /** Forgets the share-partitions of a topic partition another broker leads now (their state stays persisted). */
  unloadPartition(topicId: string, partition: number): void;
  /** share.auto.offset.reset of a group ('latest' unless set through IncrementalAlterConfigs on the group). */
  autoOffsetReset(groupId: string): 'earliest' | 'latest';
  /** share.isolation.level of a group ('read_uncommitted' unless set on the group). */
  isolationLevel(groupId: string): 'read_committed' | 'read_uncommitted';
  readonly groupConfigs: GroupConfigs;
  /** The share coordinator of this broker (FindCoordinator with key type SHARE answers with its placement). */
  readonly state: ShareStateService;
  close(): void;
}

export function sessionKey(groupId: string, memberId: string): string {
  return `${groupId}\0${memberId}`;
}

export interface ShareServicesSetup {
  config: BrokerConfig;
  topics: TopicManager;
  logger: Logger;
  scheduler?: Scheduler;
  /** The share coordinator; partition leaders read and write state through its persister (here, or on another broker). */
  state: ShareStateService;
  /** The leader epoch of a topic partition this broker leads (0 on a single node). */
  leaderEpoch: (topicId: string, partition: number) => number;
  /** Appends a share group's records (ShareGroupMetadata, members, assignments, …) to `__consumer_offsets`. */
  appendGroupRecords?: (groupId: string, records: ShareGroupRecord[]) => void;
  /** Where group configs are kept (the cluster metadata); none: in memory. */
  groupConfigStore?: GroupConfigStore;
  /** Share-partition states to hold from the start (a single node: all of them, read back at start). */
  restore?: Iterable<[ShareSnapshotKey, ShareSnapshotValue]>;
}

/**
 * The share-group coordinator of this broker, with the state of the share-partitions it leads read and
 * written through the share coordinator (Kafka's Persister): read when a partition is first fetched here,
 * written after each request that changed it.
 */
export function createShareServices(setup: ShareServicesSetup): ShareServices {
  const { config, topics, logger } = setup;
  const persister = setup.state.persister;
  const log = logger.child({ component: 'share-partitions' });
  const dirty = new Map<string, { groupId: string; topicId: string; partition: number; sp: SharePartition | null }>();
  let chain: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;
  /** Writes one share-partition's state (initializing it first if the coordinator has none). */
  const writeOne = async (d: { groupId: string; topicId: string; partition: number; sp: SharePartition | null }) => {
    const key = { groupId: d.groupId, topicId: d.topicId, partition: d.partition };
    if (d.sp === null) {
      const r = await persister.delete(key);
      if (r.errorCode !== 0) log.warn({ ...key, errorCode: r.errorCode }, 'deleting share-partition state failed');
      return;
    }
    const sp = d.sp;
    const state = { ...sp.snapshot(), leaderEpoch: setup.leaderEpoch(d.topicId, d.partition) };
    let r = await persister.write(key, state);
    if (r.errorCode === ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION) {
      // Never initialized (AlterShareGroupOffsets on a share-partition nobody fetched yet).
      const init = await persister.initialize(key, state.stateEpoch, state.startOffset);
      if (init.errorCode === 0 || init.errorCode === ERROR_CODES.FENCED_STATE_EPOCH)
        r = await persister.write(key, state);
    }
    if (r.errorCode === ERROR_CODES.FENCED_LEADER_EPOCH || r.errorCode === ERROR_CODES.FENCED_STATE_EPOCH) {
      // A newer leader (or an admin reset) owns the state now: this copy is stale.
      if (coordinator.existingSharePartition(d.groupId, d.topicId, d.partition) === sp) {
        coordinator.unloadSharePartition(d.groupId, d.topicId, d.partition);
      }
      log.warn({ ...key, errorCode: r.errorCode }, 'share-partition state fenced: dropped here');
    } else if (r.errorCode !== 0) {
      log.error({ ...key, errorCode: r.errorCode, message: r.errorMessage }, 'writing share-partition state failed');
    }
  };
  const flushNow = async (): Promise<void> => {
    queued = null;
    const batch = [...dirty.values()];
    dirty.clear();
    await Promise.all(batch.map((d) => writeOne(d).catch((err) => log.error({ err }, 'share state write failed'))));
  };
  const flush = (): Promise<void> => {
    if (dirty.size === 0) return chain;
    if (queued === null) {
      queued = chain.then(flushNow);
      chain = queued;
    }
    return queued;
  };
  const loading = new Map<string, Promise<number>>();
  const load = (groupId: string, topicId: string, partition: number, initialOffset: () => bigint): Promise<number> => {
    if (coordinator.existingSharePartition(groupId, topicId, partition) !== undefined) return Promise.resolve(0);
    const id = `${groupId}\0${topicId}\0${partition}`;
    const running = loading.get(id);
    if (running !== undefined) return running;
    const key = { groupId, topicId, partition };
    const run = (async (): Promise<number> => {
      const leaderEpoch = setup.leaderEpoch(topicId, partition);
      let r = await persister.read(key, leaderEpoch);
      if (r.errorCode === ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION) {
        const startOffset = initialOffset();
        const init = await persister.initialize(key, 0, startOffset);
        // FENCED_STATE_EPOCH: another leader initialized it meanwhile; read what it wrote.
        if (init.errorCode !== 0 && init.errorCode !== ERROR_CODES.FENCED_STATE_EPOCH) return init.errorCode;
        r = await persister.read(key, leaderEpoch);
      }
      if (r.errorCode !== 0) return r.errorCode;
      if (coordinator.existingSharePartition(groupId, topicId, partition) !== undefined) return 0;
      try {
        if (r.startOffset < 0n) {
          // Initialized by the group coordinator without a start offset (Kafka's -1): share.auto.offset.reset
          // decides it now, on first use, and the first write records it.
          const sp = new SharePartition(initialOffset(), coordinator.partitionConfig(groupId));
          sp.stateEpoch = r.stateEpoch;
          coordinator.restoreSharePartition(groupId, topicId, partition, sp);
          coordinator.persist(groupId, topicId, partition, sp);
          return 0;
        }
        const sp = SharePartition.restore(r, coordinator.partitionConfig(groupId));
        coordinator.restoreSharePartition(groupId, topicId, partition, sp);
        return 0;
      } catch (err) {
        log.error({ err, ...key }, 'unreadable share-partition state');
        return ERROR_CODES.UNKNOWN_SERVER_ERROR;
      }
    })().finally(() => loading.delete(id));
    loading.set(id, run);
    return run;
  };
  const groupConfigs = new GroupConfigs(config, setup.groupConfigStore);
  const intOf = (groupId: string, name: string): number | undefined => {
    const v = groupConfigs.get(groupId, name);
    return v === undefined ? undefined : Number(v);
  };
  const coordinator = new ShareGroupCoordinator({
    // A group's own share.record.lock.duration.ms / share.delivery.count.limit, for share-partitions created after.
    groupConfig: (groupId) => ({
      ...(intOf(groupId, 'share.record.lock.duration.ms') !== undefined && {
        lockDurationMs: intOf(groupId, 'share.record.lock.duration.ms'),
      }),
      ...(intOf(groupId, 'share.delivery.count.limit') !== undefined && {
        deliveryCountLimit: intOf(groupId, 'share.delivery.count.limit'),
      }),
    }),
    topics: topicMetadataView(topics),
    scheduler: setup.scheduler,
    config: {
      sessionTimeoutMs: config.get('group.share.session.timeout.ms'),
      heartbeatIntervalMs: config.get('group.share.heartbeat.interval.ms'),
      maxSize: config.get('group.share.max.size'),
      lockDurationMs: config.get('group.share.record.lock.duration.ms'),
      deliveryCountLimit: config.get('group.share.delivery.count.limit'),
      maxRecordLocks: config.get('group.share.partition.max.record.locks'),
    },
    appendRecords: setup.appendGroupRecords,
    // Subscribed share-partitions are initialized at the share coordinator when first assigned (Kafka's
    // InitializeShareGroupState at start offset -1; the partition leader resolves it on first fetch). State
    // epoch 0, as a partition leader that got there first initializes: whoever comes second is answered
    // FENCED_STATE_EPOCH, which means the state exists, and nothing is overwritten.
    initializeState: async (groupId, _stateEpoch, wanted) => {
      const calls = wanted.flatMap((t) =>
        t.partitions.map(async (partition) => {
          const r = await persister.initialize({ groupId, topicId: t.topicId, partition }, 0, -1n);
          const errorCode = r.errorCode === ERROR_CODES.FENCED_STATE_EPOCH ? 0 : r.errorCode;
          if (errorCode !== 0)
            log.warn({ groupId, topicId: t.topicId, partition, errorCode }, 'share state init failed');
          return { topicId: t.topicId, partition, errorCode };
        }),
      );
      return Promise.all(calls);
    },
    persist: (groupId, topicId, partition, sp) => {
      dirty.set(`${groupId}\0${topicId}\0${partition}`, { groupId, topicId, partition, sp });
      if (dirty.size === 1) setImmediate(() => void flush());
    },
  });
  let restored = 0;
  for (const [k, v] of setup.restore ?? []) {
    // Initialized without a start offset (-1): resolved by share.auto.offset.reset on first fetch (load).
    if (v.startOffset < 0n) continue;
    try {
      coordinator.restoreSharePartition(
        k.groupId,
        k.topicId,
        k.partition,
        SharePartition.restore(v, coordinator.partitionConfig(k.groupId)),
      );
      restored++;
    } catch (err) {
      log.warn({ err, group: k.groupId, partition: k.partition }, 'skipped an unreadable share state snapshot');
    }
  }
  if (restored > 0) log.info({ sharePartitions: restored }, 'restored share-partition state');
  return {
    coordinator,
    shareVersion: config.get('share.version'),
    sessions: new Map(),
    maxSessions: config.get('group.share.max.share.sessions'),
    flush,
    load,
    state: setup.state,
    unloadPartition: (topicId, partition) => coordinator.unloadTopicPartition(topicId, partition),
    loadGroups: (records) =>
      coordinator.loadRecords(records, (err) => log.warn({ err }, 'skipped an unreadable share group record')),
    groupConfigs,
    isolationLevel: (groupId) =>
      groupConfigs.get(groupId, 'share.isolation.level') === 'read_committed' ? 'read_committed' : 'read_uncommitted',
    autoOffsetReset: (groupId) =>
      groupConfigs.get(groupId, 'share.auto.offset.reset') === 'earliest' ? 'earliest' : 'latest',
    close: () => {
      void flush();
      coordinator.close();
    },
  };
}
