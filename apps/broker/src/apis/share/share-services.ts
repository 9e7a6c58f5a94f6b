import {
  decodeShareSnapshotKey,
  decodeShareSnapshotValue,
  encodeShareSnapshotKey,
  encodeShareSnapshotValue,
  type Scheduler,
  SHARE_STATE_TOPIC,
  ShareGroupCoordinator,
  SharePartition,
  shareStatePartition,
} from '@sluice/coordinator';
import { buildRecordBatchSync } from '@sluice/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../../config/index.js';
import type { LogDirHealth } from '../../state/log-dir-health.js';
import type { TopicManager, TopicState } from '../../state/topic-manager.js';
import { topicMetadataView } from '../groups/consumer-groups.js';
import { readPartition } from '../groups/offsets-topic.js';
import { GroupConfigs } from './group-configs.js';

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
  /** Writes the snapshots of share-partitions changed since the last flush to `__share_group_state`. */
  flush(): void;
  /** share.auto.offset.reset of a group ('latest' unless set through IncrementalAlterConfigs on the group). */
  autoOffsetReset(groupId: string): 'earliest' | 'latest';
  readonly groupConfigs: GroupConfigs;
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
  logDir?: LogDirHealth;
  leads?: (topicId: string, partition: number) => boolean;
}

/**
 * The share-group coordinator with its state kept in `__share_group_state` (Kafka's ShareSnapshot records,
 * latest per share-partition): read back at start, written after each request that changed a share-partition.
 */
export function createShareServices(setup: ShareServicesSetup): ShareServices {
  const { config, topics, logger } = setup;
  const log = logger.child({ component: 'share-coordinator' });
  const numPartitions = (): number =>
    topics.get(SHARE_STATE_TOPIC)?.partitions.length ?? config.get('share.coordinator.state.topic.num.partitions');
  const ensureStateTopic = (): TopicState =>
    topics.get(SHARE_STATE_TOPIC) ?? topics.create(SHARE_STATE_TOPIC, numPartitions(), { 'cleanup.policy': 'compact' });
  const dirty = new Map<string, { groupId: string; topicId: string; partition: number; sp: SharePartition | null }>();
  const created = new Map<SharePartition, bigint>();
  let flushQueued = false;
  let warnedElsewhere = false;
  const flush = (): void => {
    flushQueued = false;
    if (dirty.size === 0) return;
    const byPartition = new Map<number, { key: Buffer; value: Buffer | null }[]>();
    const n = numPartitions();
    const now = BigInt(Date.now());
    for (const d of dirty.values()) {
      const key = { groupId: d.groupId, topicId: d.topicId, partition: d.partition };
      const p = shareStatePartition(key, n);
      const list = byPartition.get(p) ?? [];
      list.push({
        key: encodeShareSnapshotKey(key),
        value:
          d.sp === null
            ? null
            : encodeShareSnapshotValue({
                ...d.sp.snapshot(),
                snapshotEpoch: 0,
                leaderEpoch: 0,
                createTimestamp: created.get(d.sp) ?? now,
                writeTimestamp: now,
              }),
      });
      byPartition.set(p, list);
    }
    dirty.clear();
    try {
      const topic = ensureStateTopic();
      for (const [p, records] of byPartition) {
        // In a cluster the state partition may be led by another broker: the state stays in memory here.
        if (setup.leads && !setup.leads(topic.topicId, p)) {
          if (!warnedElsewhere) log.warn({ partition: p }, 'share state partition led elsewhere: not persisted');
          warnedElsewhere = true;
          continue;
        }
        const part = topic.partitions[p];
        if (part === undefined) continue;
        setup.logDir?.checkWritable();
        part.appendFromClient(buildRecordBatchSync({ records }));
      }
    } catch (err) {
      setup.logDir?.noteError(err, `append to ${SHARE_STATE_TOPIC}`);
      log.error({ err }, 'writing share-group state failed');
    }
  };
  const groupConfigs = new GroupConfigs(config);
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
    persist: (groupId, topicId, partition, sp) => {
      if (sp !== null && !created.has(sp)) created.set(sp, BigInt(Date.now()));
      dirty.set(`${groupId}\0${topicId}\0${partition}`, { groupId, topicId, partition, sp });
      if (!flushQueued) {
        flushQueued = true;
        setImmediate(flush);
      }
    },
  });
  const existing = topics.get(SHARE_STATE_TOPIC);
  if (existing) {
    let restored = 0;
    for (const p of existing.partitions) {
      if (p === undefined) continue;
      const latest = new Map<string, { groupId: string; topicId: string; partition: number; value: Buffer | null }>();
      for (const r of readPartition(p.log)) {
        try {
          const k = decodeShareSnapshotKey(r.key);
          if (k === null) continue;
          latest.set(`${k.groupId}\0${k.topicId}\0${k.partition}`, { ...k, value: r.value });
        } catch (err) {
          log.warn({ err, partition: p.index }, 'skipped an unreadable share state key');
        }
      }
      for (const s of latest.values()) {
        if (s.value === null) continue;
        try {
          const v = decodeShareSnapshotValue(s.value);
          const sp = SharePartition.restore(v, coordinator.config);
          created.set(sp, v.createTimestamp);
          coordinator.restoreSharePartition(s.groupId, s.topicId, s.partition, sp);
          restored++;
        } catch (err) {
          log.warn({ err, group: s.groupId, partition: s.partition }, 'skipped an unreadable share state snapshot');
        }
      }
    }
    log.info({ sharePartitions: restored }, 'loaded share-group state');
  }
  return {
    coordinator,
    shareVersion: config.get('share.version'),
    sessions: new Map(),
    maxSessions: config.get('group.share.max.share.sessions'),
    flush,
    groupConfigs,
    autoOffsetReset: (groupId) =>
      groupConfigs.get(groupId, 'share.auto.offset.reset') === 'earliest' ? 'earliest' : 'latest',
    close: () => {
      flush();
      coordinator.close();
    },
  };
}
