import { join } from 'node:path';
import { activeBrokers, type MetadataStore, type PartitionRecord, type WriteFence } from '@sluice/cluster/core';
import { offsetCheckpointText, readOffsetCheckpoint, writeFileAtomic } from '@sluice/log';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { PartitionReplica, ProducePurgatory, updateIsr } from '@sluice/replication';
import type { Logger } from '../logger.js';
import type { AppendNotifier } from './append-notifier.js';
import type { Partition } from './partition.js';
import type { TopicManager } from './topic-manager.js';

/** What a follower fetcher needs to know of a partition's role changes (the fetchers themselves live elsewhere). */
export interface FollowerFetchers {
  /** Start (or restart, on a new leader epoch) fetching `partition` from `leaderId`. */
  follow(partition: Partition, topicId: string, record: PartitionRecord): void;
  /** Stop fetching `partition` (it leads now, or is gone). */
  unfollow(partition: Partition): void;
}

export interface ReplicationOptions {
  nodeId: number;
  store: MetadataStore;
  notifier: AppendNotifier;
  /** The broker's registration fence for AlterPartition (throws while unregistered). */
  fence: () => WriteFence;
  /** `replica.lag.time.max.ms`. */
  lagMaxMs: number;
  logger: Logger;
  /** acks=all appends waiting at once. */
  maxWaiting?: number;
  /** Where the high watermarks of replicated partitions are kept across restarts (none: not kept). */
  dataDir?: string;
  /** `replica.high.watermark.checkpoint.interval.ms`. */
  checkpointIntervalMs?: number;
}

/** Kafka's file of high watermarks per log dir. */
export const HIGH_WATERMARK_CHECKPOINT = 'replication-offset-checkpoint';

/** The purgatory key of a partition. */
export const partitionKeyOf = (p: Partition) => `${p.topic}-${p.index}`;

/**
 * The broker's replica manager (Kafka's ReplicaManager, the part that is not I/O): gives every
 * open partition a `PartitionReplica` that follows the metadata store, records follower fetches,
 * proposes ISR changes, and holds acks=all appends until the high watermark passes them.
 */
export class ReplicationService {
  readonly purgatory: ProducePurgatory;
  private readonly attached = new Set<Partition>();
  private readonly isrTimer: ReturnType<typeof setInterval>;
  private followers: FollowerFetchers | null = null;
  private topics: TopicManager | null = null;
  /** The high watermarks read at start-up, by `topic-partition`. */
  private readonly checkpointed: Map<string, bigint>;
  private readonly checkpointTimer: ReturnType<typeof setInterval> | null = null;
  // Nothing replicated, nothing written: a single node never writes the file.
  private lastCheckpoint = offsetCheckpointText([]);

  constructor(private readonly options: ReplicationOptions) {
    this.purgatory = new ProducePurgatory(options.maxWaiting);
    this.checkpointed = new Map();
    if (options.dataDir !== undefined) {
      try {
        this.checkpointed = readOffsetCheckpoint(join(options.dataDir, HIGH_WATERMARK_CHECKPOINT));
      } catch (err) {
        // Unreadable: every replicated partition starts from its log start, which is safe (it moves up).
        options.logger.warn({ err }, 'high watermark checkpoint not read');
      }
      this.checkpointTimer = setInterval(() => this.checkpointHighWatermarks(), options.checkpointIntervalMs ?? 5000);
      this.checkpointTimer.unref();
    }
    options.store.onChange((changes) => {
      for (const c of changes) {
        // A deleted topic: its fetchers stop before its logs close (this listener runs first).
        if (c.type === 'topic' && c.before && c.after?.topicId !== c.before.topicId) {
          for (const p of this.topics?.getById(c.before.topicId)?.partitions ?? []) if (p?.replica) this.detach(p);
          continue;
        }
        if (c.type !== 'partition') continue;
        const partition = this.topics?.getById(c.topicId)?.partitions[c.partition];
        if (!partition?.replica) continue;
        if (c.after) this.apply(partition, c.topicId, c.after);
        else this.detach(partition);
      }
    });
    // Kafka checks for lagging followers every half lag period (isr-expiration).
    this.isrTimer = setInterval(() => this.checkIsrs(), Math.max(100, Math.floor(options.lagMaxMs / 2)));
    this.isrTimer.unref();
  }

  /** The topics to look partitions up in (set once, after the topic manager exists). */
  setTopics(topics: TopicManager): void {
    this.topics = topics;
  }

  /** Sets who fetches for followers, and hands it the partitions already following. */
  setFollowerFetchers(followers: FollowerFetchers): void {
    this.followers = followers;
    for (const p of this.attached) {
      const record = p.replica?.record;
      if (p.replica?.role === 'follower' && record) followers.follow(p, record.topicId, record);
    }
  }

  /** Gives a newly opened partition its replica state, from the partition's record (this node alone without one). */
  attach(partition: Partition): void {
    const { nodeId, store } = this.options;
    const replica = new PartitionReplica(nodeId, partition.log);
    partition.replica = replica;
    this.attached.add(partition);
    const topicId = store.image.topics.get(partition.topic)?.topicId;
    const record = topicId === undefined ? undefined : store.image.partition(topicId, partition.index);
    if (record && topicId !== undefined) {
      // A replicated partition's log may end past what the ISR had: the high watermark comes back
      // from the checkpoint (Kafka's replication-offset-checkpoint), not from the log end.
      if (record.replicas.length > 1) {
        const hw = this.checkpointed.get(partitionKeyOf(partition)) ?? partition.log.logStartOffset;
        partition.log.highWatermark = hw;
      }
      this.apply(partition, topicId, record);
      return;
    }
    replica.applyRecord({
      topicId: topicId ?? '',
      partition: partition.index,
      replicas: [nodeId],
      isr: [nodeId],
      leader: nodeId,
      leaderEpoch: 0,
      partitionEpoch: 0,
      addingReplicas: [],
      removingReplicas: [],
    });
    partition.log.leaderEpochCache.assign(0, partition.log.logEndOffset);
  }

  private apply(partition: Partition, topicId: string, record: PartitionRecord): void {
    const replica = partition.replica!;
    if (!record.replicas.includes(this.options.nodeId)) {
      this.detach(partition);
      return;
    }
    const outcome = replica.applyRecord(record);
    if (outcome === 'unchanged') return;
    if (outcome === 'became-leader') {
      this.followers?.unfollow(partition);
      // As Kafka's makeLeader: the new epoch starts at this log's end, so a follower that fetches
      // with an older epoch learns where that one ended here even before anything is appended.
      // With one replica too: the checkpoint's fsync happens here, not inside the first Produce,
      // where it stalled every connection behind the disk's pending writeback.
      partition.log.leaderEpochCache.assign(record.leaderEpoch, partition.log.logEndOffset);
    } else if (outcome === 'became-follower') this.followers?.follow(partition, topicId, record);
    // Waiters complete (an ISR change), or learn that this broker no longer leads.
    this.purgatory.wake(partitionKeyOf(partition));
    this.options.notifier.notify(partition);
  }

  private detach(partition: Partition): void {
    partition.replica?.stop();
    this.followers?.unfollow(partition);
    this.attached.delete(partition);
    this.purgatory.wake(partitionKeyOf(partition));
  }

  /**
   * A follower fetched `partition` from `fetchOffset`: its position, and through it the high
   * watermark, moves; acks=all waiters and consumers waiting for the high watermark wake, and a
   * follower that caught up is proposed for the ISR. Throws NOT_LEADER_OR_FOLLOWER as the replica does.
   */
  onFollowerFetch(partition: Partition, followerId: number, fetchOffset: bigint, logStartOffset: bigint): void {
    const replica = partition.replica;
    if (!replica) return;
    if (replica.updateFollowerFetchState(followerId, fetchOffset, logStartOffset)) {
      this.purgatory.wake(partitionKeyOf(partition));
      this.options.notifier.notify(partition);
    }
    if (!replica.isr.includes(followerId) && !replica.isrChangePending) this.proposeIsr(partition);
  }

  /**
   * acks=all after an append ending at `lastOffset`: the partition's error code at once when the
   * high watermark already passed it (a single replica), else a promise that the purgatory settles.
   */
  awaitReplication(
    partition: Partition,
    lastOffset: bigint,
    timeoutMs: number,
    minInsyncReplicas: number,
  ): number | Promise<number> {
    const replica = partition.replica;
    if (!replica) return 0;
    const required = lastOffset + 1n;
    const check = () => replica.appendCompletion(required, minInsyncReplicas);
    const now = check();
    if (now !== null) return now;
    return this.purgatory.wait(partitionKeyOf(partition), required, timeoutMs, check);
  }

  /**
   * A coordinator's write to its own partition (offsets, transaction state), acks=all as Kafka's
   * coordinators write: refused before the append while the ISR is below `minInsyncReplicas`, done
   * once the in-sync replicas have it, so the coordinator that takes over after a failover finds
   * it. A write that is not replicated throws the partition's error (the coordinator maps it).
   */
  appendAcksAll(
    partition: Partition,
    minInsyncReplicas: number,
    timeoutMs: number,
    append: () => { lastOffset: bigint },
  ): void | Promise<void> {
    const name = partitionKeyOf(partition);
    partition.replica?.checkMinIsr(minInsyncReplicas, name);
    const { lastOffset } = append();
    const settle = (code: number): void => {
      if (code !== ERROR_CODES.NONE) {
        throw new KafkaError(
          code,
          `The write to ${name} at offset ${lastOffset} did not reach the in-sync replicas (error ${code}).`,
        );
      }
    };
    const waited = this.awaitReplication(partition, lastOffset, timeoutMs, minInsyncReplicas);
    return typeof waited === 'number' ? settle(waited) : waited.then(settle);
  }

  private proposeIsr(partition: Partition): void {
    const replica = partition.replica;
    if (!replica || replica.role !== 'leader' || replica.record!.replicas.length < 2) return;
    let fence: WriteFence;
    try {
      fence = this.options.fence();
    } catch {
      return;
    }
    const { store, lagMaxMs, logger } = this.options;
    updateIsr(replica, store, fence, lagMaxMs, activeBrokers(store.image)).then(
      (outcome) => {
        if (outcome === 'refused') logger.debug({ partition: partitionKeyOf(partition) }, 'ISR change refused');
      },
      (err) => logger.warn({ err }, 'ISR change failed'),
    );
  }

  private checkIsrs(): void {
    for (const p of this.attached) {
      if (p.log.isClosed) {
        this.attached.delete(p);
        continue;
      }
      if (p.replica?.role === 'leader') this.proposeIsr(p);
    }
  }

  /**
   * Controlled shutdown: resolves once this broker leads no partition that another live ISR
   * member could lead (the controller moves those once the broker is marked as shutting down),
   * or after `timeoutMs`. Resolves with how many it still leads then.
   */
  awaitLeadershipsMoved(timeoutMs: number): Promise<number> {
    const { store, nodeId } = this.options;
    const movable = () => {
      const active = activeBrokers(store.image);
      let n = 0;
      for (const p of this.attached) {
        const r = p.replica;
        if (r?.role === 'leader' && r.isr.some((id) => id !== nodeId && active(id))) n++;
      }
      return n;
    };
    return new Promise((resolve) => {
      if (movable() === 0) {
        resolve(0);
        return;
      }
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve(movable());
      };
      const timer = setTimeout(done, timeoutMs);
      const unsubscribe = store.onChange(() => {
        if (movable() === 0) done();
      });
    });
  }

  /** Writes the high watermarks of replicated partitions when they changed (Kafka's checkpointHighWatermarks). */
  checkpointHighWatermarks(): void {
    if (this.options.dataDir === undefined) return;
    const entries: [string, number, bigint][] = [];
    for (const p of this.attached) {
      if (p.log.isClosed || (p.replica?.record?.replicas.length ?? 1) < 2) continue;
      entries.push([p.topic, p.index, p.log.highWatermark]);
    }
    const text = offsetCheckpointText(entries);
    if (text === this.lastCheckpoint) return;
    try {
      writeFileAtomic(join(this.options.dataDir, HIGH_WATERMARK_CHECKPOINT), text);
      this.lastCheckpoint = text;
    } catch (err) {
      this.options.logger.warn({ err }, 'high watermark checkpoint not written');
    }
  }

  close(): void {
    clearInterval(this.isrTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointHighWatermarks();
    this.purgatory.failAll(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
  }
}
