import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Admin,
  type ClientOptions,
  Consumer,
  type ConsumerRecord,
  Producer,
  partitionForKey,
  type Serde,
  type Topic,
  type TopicPartition,
  topic,
} from '@sluice/client';
import { type StreamsAssignmentInfo, streamsAssignor, type TaskDef } from './assignor.js';
import type { GlobalKTable, KTable } from './dsl.js';
import { GlobalStateUpdater } from './global-stores.js';
import { MAX_BUFFERED_PER_PARTITION, TASK_IDLE_DISABLED } from './partition-group.js';
import { RecordCache } from './record-cache.js';
import { InMemoryStore, LmdbStore } from './stores.js';
import { type DeserializationPolicy, LoggedStore, type RecordCollector, StreamTask, type TaskMetrics } from './task.js';
import type { SubTopology, Topology } from './topology.js';

export interface StreamsConfig extends ClientOptions {
  /** The consumer group, the transactional id prefix and the prefix of internal topics. */
  applicationId: string;
  /** Where persistent stores and checkpoints live. Default `/tmp/sluice-streams`. */
  stateDir?: string;
  /** Default 'at_least_once'. */
  processingGuarantee?: 'at_least_once' | 'exactly_once_v2';
  /** Default 30 s (at-least-once) or 100 ms (exactly-once), as Kafka Streams. */
  commitIntervalMs?: number;
  /** Default 'stop' (Kafka's LogAndFail). */
  deserializationErrors?: DeserializationPolicy;
  /** Stable per instance: names its transactional id (a restarted instance fences its old self). Default random. */
  instanceId?: string;
  /** For internal topics; default the broker's. */
  replicationFactor?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Static group membership (`group.instance.id`): a restart within the session timeout keeps the tasks without a rebalance. */
  groupInstanceId?: string;
  /** The consumer's max.partition.fetch.bytes: how much of one partition a fetch brings. Default 1 MiB. */
  maxPartitionFetchBytes?: number;
  /** Producer linger for results and changelogs. Default 5 ms. */
  lingerMs?: number;
  /**
   * Kafka's `statestore.cache.max.bytes` (was `cache.max.bytes.buffering`): table updates held per key
   * and sent downstream once per commit interval, or when this many bytes are held. Default 0: every
   * update goes on at once (Kafka's default is 10 MiB).
   */
  cacheMaxBytesBuffering?: number;
  /** `repartition.purge.interval.ms`: at most this often, repartition records below the committed offsets are deleted. Default 30 s. */
  repartitionPurgeIntervalMs?: number;
  /** `num.standby.replicas`: other instances keep this many warm copies of each task's stores. Default 0. */
  numStandbyReplicas?: number;
  /** `application.server`: this instance's host:port, told to the others for `queryMetadataForKey`. */
  applicationServer?: string;
  /**
   * `max.task.idle.ms`, for tasks reading several partitions (joins, merges): how long a task waits for
   * records on an empty partition that the consumer has caught up with, so that records are processed in
   * timestamp order across the partitions. It always waits while records are known to be on the broker
   * and not yet fetched. Default 0 (wait only for those); -1: never wait for an empty partition.
   */
  maxTaskIdleMs?: number;
}

/** An instance of the application as `metadataForAllStreamsClients()` shows it. */
export interface StreamsMetadata {
  host: string;
  port: number;
  stateStoreNames: string[];
  topicPartitions: TopicPartition[];
  standbyStateStoreNames: string[];
  standbyTopicPartitions: TopicPartition[];
}

/** Where a key lives: the instance with its active task, those with standbys, and its partition. */
export interface KeyQueryMetadata {
  activeHost: { host: string; port: number } | null;
  standbyHosts: Array<{ host: string; port: number }>;
  partition: number;
}

/** A task's stores kept warm without processing: fed from their changelogs. */
interface StandbyTask {
  taskId: string;
  partition: number;
  stores: Map<string, LoggedStore>;
  /** Changelog records applied since it became a standby here. */
  applied: number;
}

export type StreamsState = 'CREATED' | 'REBALANCING' | 'RUNNING' | 'PENDING_SHUTDOWN' | 'NOT_RUNNING' | 'ERROR';

const CHECKPOINT = '.checkpoint';
/** Exactly-once restores: a changelog partition read up to its markers, once nothing more arrives for this long. */
const RESTORE_IDLE_MS = 400;
const RESTORE_EMPTY_MS = 5000;

const rawTopic = (name: string): Topic<Buffer | null, Buffer | null> => topic(name);

/**
 * Runs a topology: one consumer in the group `applicationId` reads every source topic; each assigned
 * partition number of a sub-topology is a task with its own stores, restored from their changelogs
 * before the task processes anything.
 */
export class KafkaStreams {
  state: StreamsState = 'CREATED';
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly eos: boolean;
  private readonly commitIntervalMs: number;
  private readonly stateDir: string;
  private readonly tasks = new Map<string, StreamTask>();
  private readonly topicToSub = new Map<string, SubTopology>();
  private readonly partitionsOf = new Map<number, number>();
  private lock: Promise<void> = Promise.resolve();
  private lastCommit = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private sendError: unknown;
  private inTxn = false;
  private pending: Promise<unknown>[] = [];
  private readonly errorListeners: Array<(err: unknown) => void> = [];
  readonly instanceId: string;
  /** Commits done (for tests and metrics). */
  commits = 0;
  /** Repartition purges done (DeleteRecords calls that succeeded). */
  purges = 0;
  /** Repartition partitions' committed offsets not yet purged, and when the last purge went out. */
  private readonly purgeable = new Map<string, { topic: string; partition: number; offset: bigint }>();
  private lastPurge = Date.now();
  private purging: Promise<void> | undefined;
  /** Standby tasks here, and stores of tasks given up in a rebalance, kept in case they come back. */
  private readonly standbys = new Map<string, StandbyTask>();
  private readonly warm = new Map<string, Map<string, LoggedStore>>();
  private standbyReader: Consumer | undefined;
  private standbyRun: Promise<void> | undefined;
  /** Active tasks after the last assignment (what this member reports it had at the next join). */
  private lastActive: string[] = [];
  /** From the last assignment: which application.server holds which task. */
  private hosts: StreamsAssignmentInfo['hosts'] = {};
  /** The instance's copies of the global tables (none without global tables). */
  private globals: GlobalStateUpdater | undefined;
  private readonly recordCache: RecordCache | undefined;
  /** Input partitions paused because their task's queue is full (tasks with several input partitions). */
  private readonly pausedInputs = new Set<string>();
  /** Batches per input partition passed to the handler and waiting for the lock (not yet in their task's queue). */
  private readonly handedOver = new Map<string, number>();
  /** Runs while a task with several input partitions has records waiting (for data, or its idle time). */
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly topology: Topology,
    readonly config: StreamsConfig,
  ) {
    topology.bind(config.applicationId);
    this.eos = config.processingGuarantee === 'exactly_once_v2';
    this.commitIntervalMs = config.commitIntervalMs ?? (this.eos ? 100 : 30_000);
    this.stateDir = join(config.stateDir ?? '/tmp/sluice-streams', config.applicationId);
    this.instanceId = config.instanceId ?? randomUUID();
    const idle = config.maxTaskIdleMs ?? 0;
    if (!(Number.isInteger(idle) && (idle >= 0 || idle === TASK_IDLE_DISABLED)))
      throw new RangeError(`maxTaskIdleMs must be an integer >= 0, or -1, got ${config.maxTaskIdleMs}`);
    if (config.applicationServer !== undefined && !/^[^:\s]+:\d+$/.test(config.applicationServer)) {
      throw new Error(`applicationServer must be host:port, got ${config.applicationServer}`);
    }
    if ((config.cacheMaxBytesBuffering ?? 0) > 0)
      this.recordCache = new RecordCache(config.cacheMaxBytesBuffering ?? 0);
    for (const st of topology.subTopologies) for (const s of st.sources) this.topicToSub.set(s.topic.name, st);
    this.admin = new Admin(config);
    this.producer = new Producer(config, {
      lingerMs: config.lingerMs ?? 5,
      ...(this.eos ? { transactionalId: `${config.applicationId}-${this.instanceId}` } : {}),
    });
    this.consumer = new Consumer(config, {
      groupId: config.applicationId,
      groupInstanceId: config.groupInstanceId,
      autoCommit: false,
      autoOffsetReset: 'earliest',
      // Tasks, not partitions: partition p of every co-partitioned topic on one member, with standbys and
      // the host map in the userdata. Range (the same task grouping) is the fallback for older instances.
      assignors: [
        streamsAssignor({
          tasks: () => this.taskDefs(),
          subscription: () => ({
            endpoint: config.applicationServer ?? null,
            active: this.lastActive,
            standby: [...this.standbys.keys(), ...this.warm.keys()],
          }),
          assigned: (info, tps) => this.exclusive(() => this.applyAssignmentInfo(info, tps)),
          numStandbyReplicas: config.numStandbyReplicas ?? 0,
        }),
        'range',
      ],
      isolationLevel: this.eos ? 'read_committed' : 'read_uncommitted',
      sessionTimeoutMs: config.sessionTimeoutMs ?? 10_000,
      heartbeatIntervalMs: config.heartbeatIntervalMs ?? 1000,
      rebalanceTimeoutMs: 30_000,
      maxWaitMs: 100,
      maxPartitionBytes: config.maxPartitionFetchBytes,
      onRebalance: {
        assigned: (tps) => this.exclusive(() => this.assign(tps)),
        revoked: (tps) => this.exclusive(() => this.revoke(tps, true)),
        lost: (tps) => this.exclusive(() => this.revoke(tps, false)),
      },
    });
  }

  onError(fn: (err: unknown) => void): void {
    this.errorListeners.push(fn);
  }

  /** Serializes processing, commits and rebalances. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /** Creates internal topics, checks co-partitioning, joins the group and processes in the background. */
  async start(): Promise<void> {
    if (this.state !== 'CREATED') throw new Error(`cannot start in state ${this.state}`);
    this.state = 'REBALANCING';
    await this.prepareTopics();
    // Global tables are caught up before any task processes (as Kafka's GlobalStreamThread bootstrap).
    if (this.topology.globalStores.length > 0) {
      this.globals = new GlobalStateUpdater(
        this.topology.globalStores,
        this.config,
        this.admin,
        join(this.stateDir, 'global'),
        this.eos,
      );
      await this.globals.start((err) => this.fail(err));
    }
    if (this.eos) await this.producer.initTransactions();
    const topics = [...this.topicToSub.keys()].map(rawTopic);
    this.consumer.subscribe(topics as Topic<unknown, unknown>[]);
    this.timer = setInterval(
      () => {
        if (Date.now() - this.lastCommit >= this.commitIntervalMs)
          this.exclusive(() => this.commit()).catch((e) => this.fail(e));
      },
      Math.max(10, Math.min(this.commitIntervalMs, 1000)),
    );
    this.running = this.consumer
      .run(topics[0], (records) => {
        // Handed over by the consumer (its position is past them) but not queued in their task until the
        // lock is ours: meanwhile the task must not take the partition for caught up.
        const key = `${records[0].topic}:${records[0].partition}`;
        this.handedOver.set(key, (this.handedOver.get(key) ?? 0) + 1);
        return this.exclusive(() => this.processBatch(records)).finally(() => {
          const n = (this.handedOver.get(key) ?? 1) - 1;
          if (n > 0) this.handedOver.set(key, n);
          else this.handedOver.delete(key);
        });
      })
      .catch((err) => this.fail(err));
  }

  private fail(err: unknown): void {
    if (this.state === 'NOT_RUNNING' || this.state === 'ERROR') return;
    this.state = 'ERROR';
    if (this.timer) clearInterval(this.timer);
    this.stopIdleTimer();
    for (const l of this.errorListeners) l(err);
    this.consumer.close().catch(() => {});
  }

  /** Partition counts of sources; internal topics created with the count of their sub-topology. */
  private async prepareTopics(): Promise<void> {
    const external = this.topology.externalSources();
    const infos = await this.admin.describeTopics(external);
    const count = new Map<string, number>(infos.map((i) => [i.name, i.partitions.length]));
    for (const name of external) if (!count.has(name)) throw new Error(`source topic ${name} does not exist`);
    // Sub-topology partition counts: external sources fix it (and must agree); a sub-topology reading only
    // repartition topics takes the count of the sub-topology writing them.
    const writers = this.topology.repartitionWriters();
    for (let pass = 0; pass <= this.topology.subTopologies.length; pass++) {
      for (const st of this.topology.subTopologies) {
        if (this.partitionsOf.has(st.id)) continue;
        const ext = st.sources
          .filter((s) => !s.internal)
          .map((s) => [s.topic.name, count.get(s.topic.name) as number] as const);
        if (ext.length > 0) {
          const distinct = new Set(ext.map(([, n]) => n));
          if (distinct.size > 1) {
            throw new Error(
              `topics not co-partitioned in sub-topology ${st.id}: ${ext.map(([t, n]) => `${t} has ${n}`).join(', ')}`,
            );
          }
          this.partitionsOf.set(st.id, ext[0][1]);
          continue;
        }
        const upstream = st.sources.map((s) => writers.get(s.topic.name));
        const counts = upstream.map((w) =>
          w === undefined ? undefined : this.partitionsOf.get(this.topology.subTopologyOf(w).id),
        );
        if (counts.every((c) => c !== undefined)) this.partitionsOf.set(st.id, Math.max(...(counts as number[])));
      }
    }
    const want: Array<{ name: string; numPartitions: number; configs?: Record<string, string> }> = [];
    for (const st of this.topology.subTopologies) {
      const n = this.partitionsOf.get(st.id);
      if (n === undefined) throw new Error(`cannot tell the partition count of sub-topology ${st.id}`);
      for (const s of st.sources) if (s.internal) want.push({ name: s.topic.name, numPartitions: n });
      for (const store of st.stores) {
        want.push({ name: this.changelogOf(store.name), numPartitions: n, configs: { 'cleanup.policy': 'compact' } });
      }
    }
    const existing = new Set(await this.admin.listTopics());
    const missing = want.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await this.admin
        .createTopics(missing.map((t) => ({ ...t, replicationFactor: this.config.replicationFactor })))
        .catch(async (err) => {
          // Another instance created them meanwhile.
          const now = new Set(await this.admin.listTopics());
          if (!missing.every((t) => now.has(t.name))) throw err;
        });
    }
    for (const t of want) {
      const info = (await this.admin.describeTopics([t.name]))[0];
      if (info.partitions.length !== t.numPartitions) {
        throw new Error(
          `internal topic ${t.name} has ${info.partitions.length} partitions, the topology needs ${t.numPartitions}`,
        );
      }
    }
  }

  /** Kafka Streams' name: `<application.id>-<store>-changelog`. */
  changelogOf(store: string): string {
    return `${this.config.applicationId}-${store}-changelog`;
  }

  private readonly collector: RecordCollector = {
    send: (t, key, value, timestamp, partition) => {
      if (this.eos && !this.inTxn) {
        this.producer.beginTransaction();
        this.inTxn = true;
      }
      const p = this.producer.send(t, { key, value, timestamp, partition } as never).then(
        (m) => ({ offset: m.offset }),
        (err) => {
          this.sendError ??= err;
          return { offset: -1n };
        },
      );
      this.pending.push(p);
      return p;
    },
  };

  private async processBatch(records: ConsumerRecord<unknown, unknown>[]): Promise<void> {
    if (this.state !== 'RUNNING' && this.state !== 'REBALANCING') return;
    const first = records[0];
    const st = this.topicToSub.get(first.topic);
    const task = st && this.tasks.get(`${st.id}_${first.partition}`);
    if (task === undefined) throw new Error(`no task for ${first.topic}-${first.partition}`);
    if (task.group !== undefined) {
      await task.enqueue(records as ConsumerRecord<Buffer | null, Buffer | null>[]);
      this.processQueued(task);
    } else for (const r of records) await task.process(r as ConsumerRecord<Buffer | null, Buffer | null>);
    if (this.sendError !== undefined) throw this.sendError;
    if (Date.now() - this.lastCommit >= this.commitIntervalMs) await this.commit();
  }

  /**
   * A task with several input partitions: processes what it may (timestamp order, max.task.idle.ms),
   * pauses a partition whose queue is full and resumes it once drained, and keeps the idle timer going
   * while records wait.
   */
  private processQueued(task: StreamTask): void {
    const group = task.group;
    if (group === undefined) return;
    const waiting = task.processQueued(Date.now());
    for (const s of task.subTopology.sources) {
      const tp = { topic: s.topic.name, partition: task.partition };
      const key = `${tp.topic}:${tp.partition}`;
      if (group.size(tp.topic) > MAX_BUFFERED_PER_PARTITION) {
        if (!this.pausedInputs.has(key)) {
          this.pausedInputs.add(key);
          this.consumer.pause([tp]);
        }
      } else if (this.pausedInputs.delete(key)) this.consumer.resume([tp]);
    }
    if (waiting && this.idleTimer === undefined) {
      // The wait ends on a fetch answer that brings no records (the lag becomes known) or on the idle
      // deadline, neither of which calls the handler: look again every 20 ms while records wait.
      this.idleTimer = setInterval(() => {
        this.exclusive(async () => {
          if (this.state !== 'RUNNING' && this.state !== 'REBALANCING') return;
          let still = false;
          for (const t of this.tasks.values()) {
            if (t.group === undefined || t.group.buffered === 0) continue;
            this.processQueued(t);
            if (t.group.buffered > 0) still = true;
          }
          if (!still) this.stopIdleTimer();
          if (this.sendError !== undefined) throw this.sendError;
        }).catch((e) => this.fail(e));
      }, 20);
    }
  }

  private stopIdleTimer(): void {
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** What a task reading several partitions needs to wait for its empty ones (max.task.idle.ms). */
  private idleOf(partition: number): { maxTaskIdleMs: number; lagOf: (topic: string) => bigint | undefined } {
    return {
      maxTaskIdleMs: this.config.maxTaskIdleMs ?? 0,
      lagOf: (topic) =>
        this.handedOver.has(`${topic}:${partition}`) ? 1n : this.consumer.currentLag(topic, partition),
    };
  }

  /**
   * At-least-once: waits until every result and changelog write is acknowledged, flushes persistent
   * stores, writes checkpoints, then commits the offsets. Exactly-once: the offsets go into the open
   * transaction, which commits.
   */
  private async commit(tasks: Iterable<StreamTask> = this.tasks.values()): Promise<void> {
    this.lastCommit = Date.now();
    // Held table updates go downstream first: the commit covers what they send.
    if (this.recordCache !== undefined) {
      tasks = [...tasks];
      this.recordCache.flush(new Set([...tasks].map((t) => t.taskId)));
    }
    const list = [...tasks].filter((t) => t.dirty);
    if (list.length === 0 && !this.inTxn) {
      // Nothing new to commit, but offsets committed earlier may still wait for their purge (the interval
      // had not passed, or a purge was in flight): without this, an idle application never purges them.
      this.notePurgeable([], []);
      return;
    }
    const offsets: Array<TopicPartition & { offset: bigint }> = [];
    for (const t of list)
      for (const [tp, offset] of t.positions) offsets.push({ topic: tp, partition: t.partition, offset });
    if (this.eos) {
      if (!this.inTxn) {
        this.producer.beginTransaction();
        this.inTxn = true;
      }
      const byTopic = new Map<string, Array<{ partition: number; offset: bigint }>>();
      for (const o of offsets)
        byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partition: o.partition, offset: o.offset }]);
      await this.producer.sendOffsetsToTransaction(
        [...byTopic].map(([t, partitions]) => ({ topic: t, partitions })),
        this.consumer.groupMetadata() ?? this.config.applicationId,
      );
      await this.producer.commitTransaction();
      this.inTxn = false;
      await Promise.all(this.pending.splice(0));
      if (this.sendError !== undefined) throw this.sendError;
    } else {
      await this.producer.flush();
      await Promise.all(this.pending.splice(0));
      if (this.sendError !== undefined) throw this.sendError;
      for (const t of list) await this.checkpoint(t);
      if (offsets.length > 0) await this.consumer.commitOffsets(offsets);
    }
    for (const t of list) t.dirty = false;
    this.commits++;
    this.notePurgeable(list, offsets);
  }

  /**
   * As Kafka Streams after a commit: repartition records below the committed offsets are no longer needed
   * by anyone (only this application reads them), so they are deleted, at most every purge interval.
   */
  private notePurgeable(tasks: StreamTask[], offsets: Array<TopicPartition & { offset: bigint }>): void {
    const internal = new Set(
      tasks.flatMap((t) => t.subTopology.sources.filter((s) => s.internal).map((s) => s.topic.name)),
    );
    for (const o of offsets) if (internal.has(o.topic)) this.purgeable.set(`${o.topic}:${o.partition}`, o);
    if (this.purgeable.size === 0 || this.purging !== undefined) return;
    if (Date.now() - this.lastPurge < (this.config.repartitionPurgeIntervalMs ?? 30_000)) return;
    this.lastPurge = Date.now();
    const batch = [...this.purgeable.values()];
    this.purgeable.clear();
    // In the background: a failed purge is only space kept longer; the next one covers it.
    this.purging = this.admin
      .deleteRecords(batch)
      .then(() => {
        this.purges++;
      })
      .catch(() => {})
      .finally(() => {
        this.purging = undefined;
      });
  }

  private taskDir(task: { taskId: string } | string): string {
    return join(this.stateDir, typeof task === 'string' ? task : task.taskId);
  }

  /** Flushes persistent stores and records how far their changelogs are in them. */
  private async checkpoint(t: StreamTask): Promise<void> {
    const cp: Record<string, string> = {};
    for (const s of t.stores.values()) {
      if (!s.persistent) continue;
      await s.flush();
      if (s.ackedOffset >= 0n) cp[s.changelog.name] = String(s.ackedOffset);
    }
    if (Object.keys(cp).length === 0) return;
    const dir = this.taskDir(t);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${CHECKPOINT}.tmp`), JSON.stringify(cp));
    renameSync(join(dir, `${CHECKPOINT}.tmp`), join(dir, CHECKPOINT));
  }

  private readCheckpoint(taskId: string): Record<string, string> {
    try {
      return JSON.parse(readFileSync(join(this.taskDir(taskId), CHECKPOINT), 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }

  /** New partitions: a task per (sub-topology, partition), its stores restored before it processes. */
  private async assign(tps: TopicPartition[]): Promise<void> {
    const created: StreamTask[] = [];
    const restores: Array<{ store: LoggedStore; from: bigint | 'earliest'; task: StreamTask }> = [];
    for (const tp of tps) {
      const st = this.topicToSub.get(tp.topic);
      if (st === undefined || this.tasks.has(`${st.id}_${tp.partition}`)) continue;
      const taskId = `${st.id}_${tp.partition}`;
      const kept = this.warm.get(taskId);
      if (kept !== undefined) {
        // Its stores are here and current up to their changelog position: only the tail is restored.
        this.warm.delete(taskId);
        // Exactly-once: as for any task, a checkpoint holds only until processing resumes.
        if (this.eos) rmSync(join(this.taskDir(taskId), CHECKPOINT), { force: true });
        const task = new StreamTask(
          st,
          tp.partition,
          kept,
          this.collector,
          this.config.deserializationErrors ?? 'stop',
          this.globals?.stores,
          this.recordCache,
          this.idleOf(tp.partition),
        );
        for (const store of kept.values()) {
          restores.push({ store, from: store.ackedOffset >= 0n ? store.ackedOffset : 'earliest', task });
        }
        this.tasks.set(taskId, task);
        created.push(task);
        continue;
      }
      const checkpoint = this.readCheckpoint(taskId);
      // Exactly-once: a checkpoint is valid only until processing resumes (a crash leaves uncommitted writes in the store).
      if (this.eos) rmSync(join(this.taskDir(taskId), CHECKPOINT), { force: true });
      const stores = new Map<string, LoggedStore>();
      for (const def of st.stores) {
        const path = join(this.taskDir(taskId), def.name);
        const changelog = rawTopic(this.changelogOf(def.name));
        const cp = checkpoint[changelog.name];
        if (def.persistent && cp === undefined) LmdbStore.destroy(path);
        const inner = def.persistent ? new LmdbStore(path) : new InMemoryStore();
        const store = new LoggedStore(inner, changelog, tp.partition, this.collector, () => Date.now());
        stores.set(def.name, store);
        restores.push({
          store,
          from: def.persistent && cp !== undefined ? BigInt(cp) : 'earliest',
          task: null as never,
        });
      }
      const task = new StreamTask(
        st,
        tp.partition,
        stores,
        this.collector,
        this.config.deserializationErrors ?? 'stop',
        this.globals?.stores,
        this.recordCache,
        this.idleOf(tp.partition),
      );
      for (const r of restores) if (r.task === null) r.task = task;
      this.tasks.set(taskId, task);
      created.push(task);
    }
    if (restores.length > 0) await this.restore(restores);
    this.state = 'RUNNING';
  }

  /** Reads each store's changelog partition from the checkpoint (or the start) to its end into the store. */
  private async restore(
    list: Array<{ store: LoggedStore; from: bigint | 'earliest'; task: StreamTask }>,
  ): Promise<void> {
    const ends = await this.admin.listOffsets(
      list.map((r) => ({ topic: r.store.changelog.name, partition: r.store.partition })),
    );
    const byTp = new Map(
      list.map((r, i) => [`${r.store.changelog.name}:${r.store.partition}`, { ...r, end: ends[i].offset }]),
    );
    const todo = [...byTp.values()].filter((r) => r.end > 0n && (r.from === 'earliest' || r.from < r.end));
    for (const r of byTp.values()) {
      r.store.ackedOffset = r.end;
      r.task.metrics.restoreTotal += Number(r.end - (r.from === 'earliest' ? 0n : r.from));
    }
    if (todo.length === 0) return;
    const reader = new Consumer(this.config, {
      isolationLevel: this.eos ? 'read_committed' : 'read_uncommitted',
      maxWaitMs: 100,
    });
    await reader.assign(todo.map((r) => ({ topic: r.store.changelog, partition: r.store.partition, offset: r.from })));
    reader.subscribe(todo.map((r) => r.store.changelog as Topic<unknown, unknown>));
    // At-least-once changelogs hold only data: a partition is restored when the position reaches its end.
    // Exactly-once ones end with transaction markers (and may hold aborted records) that the position never
    // passes: there, a partition that delivered records and then none for RESTORE_IDLE_MS is done too (one
    // that delivered none, after RESTORE_EMPTY_MS: its records were all aborted).
    const started = Date.now();
    let last = Date.now();
    const got = new Set<string>();
    const done = (): boolean =>
      todo.every((r) => {
        if ((reader.position(r.store.changelog.name, r.store.partition) ?? -1n) >= r.end) return true;
        if (!this.eos || Date.now() - last < RESTORE_IDLE_MS) return false;
        return got.has(`${r.store.changelog.name}:${r.store.partition}`) || Date.now() - started > RESTORE_EMPTY_MS;
      });
    const watch = setInterval(() => {
      if (done()) reader.close().catch(() => {});
    }, 50);
    try {
      await reader.run(todo[0].store.changelog, (records) => {
        last = Date.now();
        got.add(`${records[0].topic}:${records[0].partition}`);
        const r = byTp.get(`${records[0].topic}:${records[0].partition}`);
        if (r === undefined) return;
        for (const rec of records) {
          if (rec.key === null) continue;
          r.store.inner.put(rec.key, rec.value);
          r.task.metrics.restored++;
        }
        if (done()) reader.close().catch(() => {});
      });
    } finally {
      clearInterval(watch);
      await reader.close();
    }
    for (const r of todo) await r.store.flush();
  }

  /** Partitions going away: commit (unless lost) and close their tasks. */
  private async revoke(tps: TopicPartition[], commit: boolean): Promise<void> {
    this.state = 'REBALANCING';
    const ids = new Set<string>();
    for (const tp of tps) {
      const st = this.topicToSub.get(tp.topic);
      if (st !== undefined) ids.add(`${st.id}_${tp.partition}`);
      this.pausedInputs.delete(`${tp.topic}:${tp.partition}`);
    }
    const tasks = [...ids].map((id) => this.tasks.get(id)).filter((t): t is StreamTask => t !== undefined);
    if (commit) await this.commit(this.eos ? this.tasks.values() : tasks);
    else if (this.eos && this.inTxn) {
      await this.producer.abortTransaction().catch(() => {});
      this.inTxn = false;
    }
    for (const t of tasks) {
      if (commit && (this.config.numStandbyReplicas ?? 0) > 0) {
        // Kept open (as Kafka Streams recycles a task into a standby): if it comes back, or becomes a
        // standby here, its state need not be restored again.
        await this.checkpoint(t);
        this.warm.set(t.taskId, t.stores);
        this.tasks.delete(t.taskId);
      } else await this.closeTask(t, commit);
    }
  }

  /** The topology's tasks: one per sub-topology and partition, with its input partitions. */
  private taskDefs(): TaskDef[] {
    const out: TaskDef[] = [];
    for (const st of this.topology.subTopologies) {
      const n = this.partitionsOf.get(st.id) ?? 0;
      for (let p = 0; p < n; p++) {
        out.push({
          id: `${st.id}_${p}`,
          partitions: st.sources.map((s) => ({ topic: s.topic.name, partition: p })),
          stateful: st.stores.length > 0,
        });
      }
    }
    return out;
  }

  /** Each generation: the host map, and standby tasks opened, kept or closed as the leader said. */
  private async applyAssignmentInfo(info: StreamsAssignmentInfo, tps: readonly TopicPartition[]): Promise<void> {
    this.hosts = info.hosts;
    const active = new Set<string>();
    for (const tp of tps) {
      const st = this.topicToSub.get(tp.topic);
      if (st !== undefined) active.add(`${st.id}_${tp.partition}`);
    }
    this.lastActive = [...active];
    const wanted = new Set((this.config.numStandbyReplicas ?? 0) > 0 ? info.standby : []);
    for (const [id, sb] of [...this.standbys]) {
      if (wanted.has(id)) continue;
      this.standbys.delete(id);
      if (active.has(id)) this.warm.set(id, sb.stores);
      else await this.closeStores(id, sb.stores);
    }
    for (const [id, stores] of [...this.warm]) {
      if (wanted.has(id)) {
        this.warm.delete(id);
        this.standbys.set(id, { taskId: id, partition: this.partitionOfTask(id), stores, applied: 0 });
      } else if (!active.has(id)) {
        this.warm.delete(id);
        await this.closeStores(id, stores);
      }
    }
    for (const id of wanted) {
      if (this.standbys.has(id)) continue;
      const st = this.topology.subTopologies.find((x) => `${x.id}` === id.split('_')[0]);
      if (st === undefined) continue;
      const partition = this.partitionOfTask(id);
      const checkpoint = this.readCheckpoint(id);
      const stores = new Map<string, LoggedStore>();
      for (const def of st.stores) {
        const path = join(this.taskDir(id), def.name);
        const changelog = rawTopic(this.changelogOf(def.name));
        const cp = checkpoint[changelog.name];
        if (def.persistent && cp === undefined) LmdbStore.destroy(path);
        const inner = def.persistent ? new LmdbStore(path) : new InMemoryStore();
        const store = new LoggedStore(inner, changelog, partition, this.collector, () => Date.now());
        if (def.persistent && cp !== undefined) store.ackedOffset = BigInt(cp);
        stores.set(def.name, store);
      }
      this.standbys.set(id, { taskId: id, partition, stores, applied: 0 });
    }
    await this.restartStandbyReader();
  }

  private partitionOfTask(id: string): number {
    return Number(id.split('_')[1]);
  }

  /** Closes a store set not running as a task (a standby or a task given up), checkpointing persistent ones. */
  private async closeStores(taskId: string, stores: Map<string, LoggedStore>): Promise<void> {
    const cp: Record<string, string> = {};
    for (const s of stores.values()) {
      if (s.persistent) {
        await s.flush();
        if (s.ackedOffset >= 0n) cp[s.changelog.name] = String(s.ackedOffset);
      }
      await s.close();
    }
    if (Object.keys(cp).length === 0) return;
    const dir = this.taskDir(taskId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${CHECKPOINT}.tmp`), JSON.stringify(cp));
    renameSync(join(dir, `${CHECKPOINT}.tmp`), join(dir, CHECKPOINT));
  }

  /** One reader for every standby store's changelog partition, from where each store is, without end. */
  private async restartStandbyReader(): Promise<void> {
    const old = this.standbyReader;
    this.standbyReader = undefined;
    if (old !== undefined) {
      // Where the reader is, past transaction markers and aborted records (read_committed) that no record
      // handed out shows: a store taking over then restores from there, not from before the markers.
      for (const sb of [...this.standbys.values(), ...[...this.warm.values()].map((stores) => ({ stores }))]) {
        for (const store of sb.stores.values()) {
          const at = old.position(store.changelog.name, store.partition);
          if (at !== undefined && at > store.ackedOffset) store.ackedOffset = at;
        }
      }
      await old.close().catch(() => {});
      await this.standbyRun?.catch(() => {});
    }
    const byTp = new Map<string, { store: LoggedStore; task: StandbyTask }>();
    for (const sb of this.standbys.values())
      for (const store of sb.stores.values())
        byTp.set(`${store.changelog.name}:${store.partition}`, { store, task: sb });
    if (byTp.size === 0 || this.state === 'PENDING_SHUTDOWN' || this.state === 'NOT_RUNNING') return;
    // Exactly-once: only committed changelog records, so a standby that takes over never holds the state
    // of an aborted transaction (as Kafka's standby tasks, which read with the application's isolation).
    const reader = new Consumer(this.config, {
      isolationLevel: this.eos ? 'read_committed' : 'read_uncommitted',
      maxWaitMs: 200,
    });
    const list = [...byTp.values()];
    await reader.assign(
      list.map(({ store }) => ({
        topic: store.changelog,
        partition: store.partition,
        offset: store.ackedOffset >= 0n ? store.ackedOffset : ('earliest' as const),
      })),
    );
    reader.subscribe(list.map(({ store }) => store.changelog as Topic<unknown, unknown>));
    this.standbyReader = reader;
    this.standbyRun = reader
      .run(list[0].store.changelog, (records) => {
        const r = byTp.get(`${records[0].topic}:${records[0].partition}`);
        if (r === undefined || this.standbyReader !== reader) return;
        for (const rec of records) {
          if (rec.key !== null) r.store.inner.put(rec.key, rec.value);
          r.store.ackedOffset = rec.offset + 1n;
          r.task.applied++;
        }
      })
      .catch(() => {
        // Closed at the next rebalance or shutdown; a failed standby only means a larger restore later.
      });
  }

  /** Standby tasks here: records applied and how far their stores are in their changelogs. */
  standbyTasks(): Array<{ taskId: string; applied: number; positions: Record<string, bigint> }> {
    return [...this.standbys.values()].map((sb) => ({
      taskId: sb.taskId,
      applied: sb.applied,
      positions: Object.fromEntries([...sb.stores.values()].map((s) => [s.changelog.name, s.ackedOffset])),
    }));
  }

  /** Every instance with an `applicationServer`: its stores and partitions, active and standby (Kafka's StreamsMetadata). */
  metadataForAllStreamsClients(): StreamsMetadata[] {
    const out: StreamsMetadata[] = [];
    const describe = (ids: string[]) => {
      const stores = new Set<string>();
      const partitions: TopicPartition[] = [];
      for (const id of ids) {
        const st = this.topology.subTopologies.find((x) => `${x.id}` === id.split('_')[0]);
        if (st === undefined) continue;
        for (const s of st.stores) stores.add(s.name);
        for (const src of st.sources) partitions.push({ topic: src.topic.name, partition: this.partitionOfTask(id) });
      }
      return { stores: [...stores].sort(), partitions };
    };
    for (const [endpoint, h] of Object.entries(this.hosts)) {
      const i = endpoint.lastIndexOf(':');
      const a = describe(h.active);
      const s = describe(h.standby);
      out.push({
        host: endpoint.slice(0, i),
        port: Number(endpoint.slice(i + 1)),
        stateStoreNames: a.stores,
        topicPartitions: a.partitions,
        standbyStateStoreNames: s.stores,
        standbyTopicPartitions: s.partitions,
      });
    }
    return out;
  }

  /**
   * Which instance holds `key` in `storeName` (Kafka's queryMetadataForKey): the key's partition is the
   * one the default partitioner gives its serialized form; the host is the one running that task.
   */
  queryMetadataForKey<K>(storeName: string, key: K, keySerde: Pick<Serde<K>, 'serialize'>): KeyQueryMetadata {
    const st = this.topology.subTopologies.find((x) => x.stores.some((s) => s.name === storeName));
    if (st === undefined) throw new Error(`no store ${storeName} in the topology`);
    const n = this.partitionsOf.get(st.id);
    const kb = keySerde.serialize(key);
    if (n === undefined) throw new Error('not started: partition counts are known once the application runs');
    if (kb === null) throw new Error('a null key has no partition');
    const partition = partitionForKey(kb, n);
    const taskId = `${st.id}_${partition}`;
    const hostOf = (endpoint: string) => {
      const i = endpoint.lastIndexOf(':');
      return { host: endpoint.slice(0, i), port: Number(endpoint.slice(i + 1)) };
    };
    let activeHost: KeyQueryMetadata['activeHost'] = null;
    const standbyHosts: KeyQueryMetadata['standbyHosts'] = [];
    for (const [endpoint, h] of Object.entries(this.hosts)) {
      if (h.active.includes(taskId)) activeHost = hostOf(endpoint);
      if (h.standby.includes(taskId)) standbyHosts.push(hostOf(endpoint));
    }
    return { activeHost, standbyHosts, partition };
  }

  private async closeTask(t: StreamTask, clean: boolean): Promise<void> {
    this.recordCache?.drop(t.taskId);
    if (clean) await this.checkpoint(t);
    for (const s of t.stores.values()) await s.close();
    this.tasks.delete(t.taskId);
  }

  /** The local contents of a table's store (interactive query over this instance's tasks). */
  query<K, V>(
    table: KTable<K, V>,
  ): { get(key: K): V | null; all(): Array<[K, V]>; partitionOf(key: K): number | undefined } {
    const tasks = () => [...this.tasks.values()].filter((t) => t.subTopology.nodes.includes(table.node));
    const ks = table.keySerde;
    return {
      get: (key) => {
        for (const t of tasks()) {
          const v = table.getter(t)(key);
          if (v !== null && v !== undefined) return v as V;
        }
        return null;
      },
      all: () => {
        const out: Array<[K, V]> = [];
        if (table.storeName === undefined) return out;
        for (const t of tasks()) {
          const s = t.stores.get(table.storeName);
          if (s === undefined || ks === undefined) continue;
          for (const [k] of s.entries()) {
            const key = ks.deserialize(k);
            const v = table.getter(t)(key);
            if (v !== null && v !== undefined) out.push([key, v as V]);
          }
        }
        return out;
      },
      /** Which partition (task) holds the key: the instance assigned that partition answers for it. */
      partitionOf: (key) => {
        const st = tasks()[0]?.subTopology;
        const n = st && this.partitionsOf.get(st.id);
        if (n === undefined || ks === undefined) return undefined;
        const kb = ks.serialize(key);
        return kb === null ? undefined : partitionForKey(kb, n);
      },
    };
  }

  /** This instance's copy of a global table, and how many records it has applied (to wait for updates). */
  queryGlobal<K, V>(table: GlobalKTable<K, V>): { get(key: K): V | null; applied(): number } {
    const store = this.globals?.stores.get(table.storeName);
    if (store === undefined) throw new Error(`global table ${table.storeName} is not running here`);
    const get = table.reader(store);
    return { get: (k) => get(k), applied: () => this.globals?.applied ?? 0 };
  }

  /** Per task: records processed and per second, late drops, skipped records, restore progress, lag. */
  async metrics(): Promise<TaskMetrics[]> {
    const tasks = [...this.tasks.values()];
    const tps = tasks.flatMap((t) =>
      t.subTopology.sources.map((s) => ({ topic: s.topic.name, partition: t.partition })),
    );
    const ends = tps.length > 0 ? await this.admin.listOffsets(tps) : [];
    return tasks.map((t) => {
      let lag = 0;
      for (const e of ends) {
        if (e.partition !== t.partition || !t.subTopology.sources.some((s) => s.topic.name === e.topic)) continue;
        const pos = t.positions.get(e.topic) ?? this.consumer.position(e.topic, e.partition) ?? 0n;
        lag += Math.max(0, Number(e.offset - pos));
      }
      t.metrics.lag = lag;
      t.metrics.processRate = t.processRate();
      return { ...t.metrics };
    });
  }

  /** Commits what was processed, closes the stores (writing checkpoints), leaves the group. */
  async close(): Promise<void> {
    if (this.state === 'NOT_RUNNING') return;
    const failed = this.state === 'ERROR';
    this.state = 'PENDING_SHUTDOWN';
    if (this.timer) clearInterval(this.timer);
    this.stopIdleTimer();
    await this.exclusive(async () => {
      if (!failed) await this.commit();
      else if (this.eos && this.inTxn) await this.producer.abortTransaction().catch(() => {});
      for (const t of [...this.tasks.values()]) await this.closeTask(t, !failed);
      await this.restartStandbyReader();
      for (const [id, sb] of [...this.standbys]) await this.closeStores(id, sb.stores);
      for (const [id, stores] of [...this.warm]) await this.closeStores(id, stores);
      this.standbys.clear();
      this.warm.clear();
    });
    await this.consumer.close();
    await this.running;
    await this.purging;
    await this.globals?.close(!failed);
    await this.producer.close();
    await this.admin.close();
    this.state = 'NOT_RUNNING';
  }
}
