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
  type Topic,
  type TopicPartition,
  topic,
} from '@sluice/client';
import type { GlobalKTable, KTable } from './dsl.js';
import { GlobalStateUpdater } from './global-stores.js';
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
  /** The instance's copies of the global tables (none without global tables). */
  private globals: GlobalStateUpdater | undefined;
  private readonly recordCache: RecordCache | undefined;

  constructor(
    readonly topology: Topology,
    readonly config: StreamsConfig,
  ) {
    topology.bind(config.applicationId);
    this.eos = config.processingGuarantee === 'exactly_once_v2';
    this.commitIntervalMs = config.commitIntervalMs ?? (this.eos ? 100 : 30_000);
    this.stateDir = join(config.stateDir ?? '/tmp/sluice-streams', config.applicationId);
    this.instanceId = config.instanceId ?? randomUUID();
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
      // Range keeps partition p of every co-partitioned topic on one member: a task's inputs stay together.
      assignors: ['range'],
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
      .run(topics[0], (records) => this.exclusive(() => this.processBatch(records)))
      .catch((err) => this.fail(err));
  }

  private fail(err: unknown): void {
    if (this.state === 'NOT_RUNNING' || this.state === 'ERROR') return;
    this.state = 'ERROR';
    if (this.timer) clearInterval(this.timer);
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
    for (const r of records) await task.process(r as ConsumerRecord<Buffer | null, Buffer | null>);
    if (this.sendError !== undefined) throw this.sendError;
    if (Date.now() - this.lastCommit >= this.commitIntervalMs) await this.commit();
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
    if (list.length === 0 && !this.inTxn) return;
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
    }
    const tasks = [...ids].map((id) => this.tasks.get(id)).filter((t): t is StreamTask => t !== undefined);
    if (commit) await this.commit(this.eos ? this.tasks.values() : tasks);
    else if (this.eos && this.inTxn) {
      await this.producer.abortTransaction().catch(() => {});
      this.inTxn = false;
    }
    for (const t of tasks) await this.closeTask(t, commit);
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
    await this.exclusive(async () => {
      if (!failed) await this.commit();
      else if (this.eos && this.inTxn) await this.producer.abortTransaction().catch(() => {});
      for (const t of [...this.tasks.values()]) await this.closeTask(t, !failed);
    });
    await this.consumer.close();
    await this.running;
    await this.globals?.close(!failed);
    await this.producer.close();
    this.state = 'NOT_RUNNING';
  }
}
