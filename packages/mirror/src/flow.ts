// One replication flow source->target: finds the topics to mirror, creates them on the target,
// copies records (key, value, headers, timestamp, partition) at least once — or exactly once, records
// and positions in one transaction on the target (KIP-618) — stores its positions,
// writes offset syncs, checkpoints and heartbeats, and syncs group offsets — MirrorSourceConnector,
// MirrorCheckpointConnector and MirrorHeartbeatConnector of MM2 in one loop.
import {
  Admin,
  type ClientOptions,
  ConfigOp,
  ConfigResource,
  Consumer,
  type ConsumerRecord,
  ERROR_CODES,
  KafkaError,
  Producer,
  type Topic,
  topic,
} from '@sluice/client';
import type { FlowConfig } from './config.js';
import { ensureCompactedTopic, readToEnd } from './internal-topics.js';
import type { MirrorMetrics } from './metrics.js';
import { OffsetSyncStore } from './offset-sync-store.js';
import { OffsetSyncWriter } from './offset-sync-writer.js';
import {
  checkpointsTopic,
  heartbeatsTopic,
  isCycle,
  isInternalTopic,
  offsetSyncsTopic,
  positionsTopic,
} from './policy.js';
import {
  decodeOffsetSync,
  decodeSourcePosition,
  encodeCheckpoint,
  encodeHeartbeat,
  encodeOffsetSync,
  encodeSourcePosition,
  type OffsetSync,
} from './records.js';

/** pino's shape (fields first); `console`-like loggers work through the mirror's adapter. */
export interface MirrorLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

type Raw = Topic<Buffer | null, Buffer | null>;

/** Topics and groups handled per flow: discovery refuses to grow past this. */
const MAX_TOPICS = 10_000;
const MAX_GROUPS = 10_000;
/** Source topic configs MM2 never copies besides config.properties.exclude. */
const DYNAMIC_TOPIC_CONFIG = 1;

interface PartitionState {
  topic: string;
  partition: number;
  remote: string;
  /** Upstream offset of the last record the target acknowledged; -1 for none. */
  acked: bigint;
  /** Upstream offset last written to the positions topic. */
  stored: bigint;
  /** Exactly-once: upstream offset of the last record sent in the open transaction; -1 for none. */
  sent: bigint;
}

interface TopicState {
  name: string;
  remote: string;
  partitions: number;
  raw: Raw;
  remoteRaw: Raw;
}

export interface FlowOptions {
  logger: MirrorLogger;
  metrics: MirrorMetrics;
  clientId?: string;
}

export class MirrorFlow {
  readonly name: string;
  private readonly sourceOpts: ClientOptions;
  private readonly targetOpts: ClientOptions;
  private readonly sourceAdmin: Admin;
  private readonly targetAdmin: Admin;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  /** Writes positions, checkpoints and heartbeats to the target, not queued behind copied records. */
  private readonly stateProducer: Producer;
  /** Writes offset syncs (to the source by default, as MM2). */
  private readonly syncProducer: Producer;
  private readonly topics = new Map<string, TopicState>();
  private readonly partitions = new Map<string, PartitionState>();
  /** Positions read back at start: where each partition resumes. */
  private readonly resumeAt = new Map<string, bigint>();
  readonly offsetSyncs = new OffsetSyncStore();
  /** Last checkpoint written per group and remote partition. */
  private readonly checkpoints = new Map<string, Map<string, { upstream: bigint; downstream: bigint }>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private inflightBytes = 0;
  private wakeSender: (() => void) | null = null;
  private readonly syncWriter: OffsetSyncWriter;
  private stopped = false;
  private failure: Error | null = null;
  private failed: (err: Error) => void = () => {};
  private readonly failedPromise: Promise<never>;
  private runPromise: Promise<void> | null = null;
  private readonly syncsTopic: string;
  private readonly log: MirrorLogger;
  private readonly copiedSinceLog = new Map<string, number>();
  private readonly lagByTopic = new Map<string, bigint>();
  /** Exactly-once: a transaction is open on `producer`. */
  private txnOpen = false;
  /** Exactly-once: when the open transaction began (a long chunk commits on the way). */
  private txnSince = 0;
  /** Exactly-once: copying and committing take turns (a commit never sees a chunk half sent). */
  private turn: Promise<void> = Promise.resolve();

  constructor(
    readonly config: FlowConfig,
    private readonly o: FlowOptions,
  ) {
    this.name = `${config.source.alias}->${config.target.alias}`;
    const clientId = o.clientId ?? `sluice-mirror-${config.source.alias}-${config.target.alias}`;
    this.sourceOpts = { brokers: config.source.bootstrapServers, clientId };
    this.targetOpts = { brokers: config.target.bootstrapServers, clientId };
    this.sourceAdmin = new Admin(this.sourceOpts);
    this.targetAdmin = new Admin(this.targetOpts);
    this.consumer = new Consumer(this.sourceOpts, {
      autoOffsetReset: 'earliest',
      // Exactly-once copies only committed source records: an aborted one would become committed on the target.
      isolationLevel: config.exactlyOnce ? 'read_committed' : 'read_uncommitted',
      // The prefetch is the source side of the memory bound; the in-flight budget is the target side.
      maxPrefetchBytes: Math.max(1024 * 1024, Math.min(config.bufferMemory, 64 * 1024 * 1024)),
    });
    this.producer = new Producer(this.targetOpts, {
      acks: 'all',
      idempotent: true,
      compression: config.compression,
      // Above the mirror's own budget, so that send() never waits inside the producer.
      bufferMemory: config.bufferMemory * 2 + 1024 * 1024,
      lingerMs: 5,
      batchSize: 256 * 1024,
      // One id per flow, as MM2's per task: a restarted (or second) mirror fences the old one and
      // aborts the transaction it left open.
      transactionalId: config.exactlyOnce ? `${clientId}-transactions` : undefined,
      // Outlives the commit interval with room to spare (Kafka's transaction.max.timeout.ms is 15 min).
      transactionTimeoutMs: Math.min(900_000, Math.max(60_000, config.offsetFlushIntervalMs * 3)),
    });
    this.stateProducer = new Producer(this.targetOpts, { acks: 'all' });
    this.syncsTopic = offsetSyncsTopic(config.policy, config.target.alias);
    this.syncProducer = new Producer(config.offsetSyncsTopicLocation === 'source' ? this.sourceOpts : this.targetOpts, {
      acks: 'all',
    });
    this.log = o.logger;
    this.syncWriter = new OffsetSyncWriter(BigInt(config.offsetLagMax), (sync) => this.writeOffsetSync(sync));
    this.failedPromise = new Promise<never>((_, reject) => {
      this.failed = reject;
    });
    this.failedPromise.catch(() => {});
  }

  private labels(t?: string) {
    return t === undefined
      ? { source: this.config.source.alias, target: this.config.target.alias }
      : { source: this.config.source.alias, target: this.config.target.alias, topic: t };
  }

  /** True for a source topic this flow mirrors (MM2's topic filter and cycle detection). */
  shouldMirror(name: string): boolean {
    const c = this.config;
    if (isInternalTopic(name) || name.endsWith('.replica')) return false;
    if (!c.topics.some((r) => r.test(name))) return false;
    if (c.topicsExclude.some((r) => r.test(name))) return false;
    return !isCycle(c.policy, name, c.target.alias);
  }

  private shouldSyncGroup(group: string): boolean {
    const c = this.config;
    return c.groups.some((r) => r.test(group)) && !c.groupsExclude.some((r) => r.test(group));
  }

  /** Creates the internal topics, reads back positions and offset syncs, discovers topics and starts copying. */
  async start(): Promise<void> {
    const c = this.config;
    const rf = c.replicationFactor;
    await ensureCompactedTopic(this.targetAdmin, positionsTopic(c.source.alias), 1, rf);
    await ensureCompactedTopic(
      c.offsetSyncsTopicLocation === 'source' ? this.sourceAdmin : this.targetAdmin,
      this.syncsTopic,
      1,
      rf,
    );
    if (c.emitCheckpoints)
      await ensureCompactedTopic(this.targetAdmin, checkpointsTopic(c.policy, c.source.alias), 1, rf);
    if (c.emitHeartbeats) await ensureCompactedTopic(this.targetAdmin, heartbeatsTopic(), 1, rf);

    // Exactly-once: fencing first, so that a killed mirror's open transaction is aborted before the
    // positions are read (read_committed: only positions committed with their records count).
    if (c.exactlyOnce) await this.producer.initTransactions();
    await readToEnd(
      this.targetOpts,
      positionsTopic(c.source.alias),
      (r) => {
        const p = decodeSourcePosition(r.key, r.value);
        if (p !== null && p.cluster === c.source.alias) this.resumeAt.set(`${p.topic}:${p.partition}`, p.offset + 1n);
      },
      c.exactlyOnce ? 'read_committed' : 'read_uncommitted',
    );
    await readToEnd(
      c.offsetSyncsTopicLocation === 'source' ? this.sourceOpts : this.targetOpts,
      this.syncsTopic,
      (r) => {
        try {
          this.offsetSyncs.add(decodeOffsetSync(r.key, r.value));
        } catch (err) {
          this.log.warn({ flow: this.name, offset: r.offset.toString(), err: String(err) }, 'skipping an offset sync');
        }
      },
    );
    this.log.info(
      { flow: this.name, positions: this.resumeAt.size },
      `mirror ${this.name}: ${this.resumeAt.size} stored positions read back`,
    );
    // Manual assignment from the start, so that copying can begin before any topic is found.
    await this.consumer.assign([]);
    await this.refreshTopics();
    this.runPromise = this.consumer.run(topic('__sluice_mirror_none'), (records) => this.copy(records));
    this.runPromise.catch((err) => this.fail(err));

    if (c.exactlyOnce) this.every(c.offsetFlushIntervalMs, 'committing', () => this.commitCopied());
    else this.every(c.offsetFlushIntervalMs, 'storing positions', () => this.storePositions());
    if (c.refreshTopics) this.every(c.refreshTopicsIntervalMs, 'topic refresh', () => this.refreshTopics());
    if (c.syncTopicConfigs)
      this.every(c.syncTopicConfigsIntervalMs, 'topic config sync', () => this.syncAllTopicConfigs());
    if (c.emitHeartbeats) {
      this.every(c.emitHeartbeatsIntervalMs, 'heartbeat', () => this.emitHeartbeat());
      await this.emitHeartbeat();
    }
    if (c.emitCheckpoints) this.every(c.emitCheckpointsIntervalMs, 'checkpoints', () => this.emitCheckpoints());
    if (c.syncGroupOffsets)
      this.every(c.syncGroupOffsetsIntervalMs, 'group offset sync', () => this.syncGroupOffsets());
    this.every(c.progressIntervalMs, 'progress report', () => this.reportProgress());
  }

  /** Resolves never; rejects with the error that stopped the flow. */
  get failure$(): Promise<never> {
    return this.failedPromise;
  }

  private fail(err: unknown): void {
    if (this.stopped || this.failure !== null) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.log.error({ flow: this.name, err: this.failure.message }, `mirror ${this.name} failed`);
    this.failed(this.failure);
  }

  /** Runs `task` every `ms`, never two at once; an error is logged and the next run tries again. */
  private every(ms: number, what: string, task: () => Promise<void>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      task()
        .catch((err) => {
          if (!this.stopped)
            this.log.warn(
              { flow: this.name, err: String(err) },
              `mirror ${this.name}: ${what} failed, retried next time`,
            );
        })
        .finally(() => {
          busy = false;
        });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Finds new topics and partitions on the source and creates or grows them on the target. */
  async refreshTopics(): Promise<void> {
    const c = this.config;
    const names = (await this.sourceAdmin.listTopics()).filter((n) => this.shouldMirror(n));
    if (names.length === 0) return;
    const infos = await this.sourceAdmin.describeTopics(names);
    const targetTopics = new Set(await this.targetAdmin.listTopics({ includeInternal: true }));
    for (const info of infos) {
      const known = this.topics.get(info.name);
      const count = info.partitions.length;
      if (known !== undefined && known.partitions >= count) continue;
      if (known === undefined && this.topics.size >= MAX_TOPICS) {
        this.log.warn({ flow: this.name, topic: info.name }, `mirror ${this.name}: over ${MAX_TOPICS} topics, skipped`);
        continue;
      }
      const remote = c.policy.formatRemoteTopic(c.source.alias, info.name);
      if (!targetTopics.has(remote)) {
        const configs = c.syncTopicConfigs ? await this.sourceConfigs(info.name) : {};
        try {
          await this.targetAdmin.createTopics([
            { name: remote, numPartitions: count, replicationFactor: c.replicationFactor, configs },
          ]);
          this.log.info(
            { flow: this.name, topic: info.name, remote, partitions: count },
            `mirror ${this.name}: created ${remote}`,
          );
        } catch (err) {
          if (!(err instanceof KafkaError && err.code === ERROR_CODES.TOPIC_ALREADY_EXISTS)) throw err;
        }
      }
      const [remoteInfo] = await this.targetAdmin.describeTopics([remote]);
      if (remoteInfo.partitions.length < count) {
        await this.targetAdmin.createPartitions([{ topic: remote, count }]);
        this.log.info(
          { flow: this.name, topic: info.name, remote, partitions: count },
          `mirror ${this.name}: ${remote} grown to ${count} partitions`,
        );
      }
      // Copying a partition starts once both clusters' metadata show it with a leader.
      await this.partitionsReady(this.sourceAdmin, info.name, count);
      await this.partitionsReady(this.targetAdmin, remote, count);
      const state: TopicState = known ?? {
        name: info.name,
        remote,
        partitions: 0,
        raw: topic(info.name),
        remoteRaw: topic(remote),
      };
      const from = state.partitions;
      state.partitions = count;
      this.topics.set(info.name, state);
      const assign = [];
      for (let p = from; p < count; p++) {
        const key = `${info.name}:${p}`;
        const resume = this.resumeAt.get(key);
        this.partitions.set(key, {
          topic: info.name,
          partition: p,
          remote,
          acked: resume === undefined ? -1n : resume - 1n,
          stored: resume === undefined ? -1n : resume - 1n,
          sent: resume === undefined ? -1n : resume - 1n,
        });
        // New partitions of a known topic, and partitions without a stored position, start at the beginning.
        assign.push({ topic: state.raw, partition: p, offset: resume ?? ('earliest' as const) });
      }
      await this.consumer.assign(assign);
    }
  }

  /** Waits (bounded) until a cluster's metadata shows `count` partitions of `name`, each with a leader. */
  private async partitionsReady(admin: Admin, name: string, count: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [info] = await admin.describeTopics([name]);
      if (info.partitions.length >= count && info.partitions.every((p) => p.leader >= 0)) return;
      if (Date.now() > deadline) {
        throw new KafkaError(ERROR_CODES.LEADER_NOT_AVAILABLE, `${name}: ${count} partitions with leaders not seen`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The source topic's configs set on it (not defaults), without the excluded ones. */
  private async sourceConfigs(name: string): Promise<Record<string, string>> {
    const entries = await this.sourceAdmin.describeConfigs(ConfigResource.TOPIC, name);
    const out: Record<string, string> = {};
    for (const e of entries) {
      if (e.source !== DYNAMIC_TOPIC_CONFIG || e.value === null || e.isSensitive) continue;
      if (this.config.configPropertiesExclude.some((r) => r.test(e.name))) continue;
      out[e.name] = e.value;
    }
    return out;
  }

  /** Copies changed topic configs to the target (sets; MM2 does not delete either). */
  async syncAllTopicConfigs(): Promise<void> {
    for (const t of this.topics.values()) {
      const want = await this.sourceConfigs(t.name);
      const have = new Map(
        (await this.targetAdmin.describeConfigs(ConfigResource.TOPIC, t.remote)).map((e) => [e.name, e.value]),
      );
      const ops = Object.entries(want)
        .filter(([k, v]) => have.get(k) !== v)
        .map(([name, value]) => ({ name, value, op: ConfigOp.SET }));
      if (ops.length === 0) continue;
      await this.targetAdmin.incrementalAlterConfigs(ConfigResource.TOPIC, t.remote, ops);
      this.log.info(
        { flow: this.name, topic: t.remote, configs: ops.map((o) => o.name) },
        `mirror ${this.name}: configs of ${t.remote} synced`,
      );
    }
  }

  /** Waits until `bytes` more fit in the in-flight budget (always lets one record through). */
  private async reserve(bytes: number): Promise<void> {
    while (this.inflightBytes > 0 && this.inflightBytes + bytes > this.config.bufferMemory) {
      if (this.failure !== null || this.stopped) return;
      await new Promise<void>((resolve) => {
        this.wakeSender = resolve;
      });
    }
    this.inflightBytes += bytes;
  }

  private release(bytes: number): void {
    this.inflightBytes -= bytes;
    const wake = this.wakeSender;
    this.wakeSender = null;
    wake?.();
  }

  /** Runs `task` after every task queued before it (exactly-once: copying and committing). */
  private inTurn(task: () => Promise<void>): Promise<void> {
    const run = this.turn.then(task);
    this.turn = run.catch(() => {});
    return run;
  }

  /** The consumer's handler: one fetched chunk of one source partition, sent in order. */
  private copy(records: ConsumerRecord<Buffer | null, Buffer | null>[]): Promise<void> {
    return this.config.exactlyOnce ? this.inTurn(() => this.copyChunk(records)) : this.copyChunk(records);
  }

  private async copyChunk(records: ConsumerRecord<Buffer | null, Buffer | null>[]): Promise<void> {
    if (this.failure !== null) throw this.failure;
    const first = records[0];
    const st = this.partitions.get(`${first.topic}:${first.partition}`);
    const t = this.topics.get(first.topic);
    if (st === undefined || t === undefined) return;
    for (const r of records) {
      let bytes = 70 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
      // The header list, not the map: a key may repeat, and every occurrence is copied in order.
      const headers = r.headerList ?? [];
      for (const h of headers) bytes += h.key.length + (h.value?.length ?? 0) + 4;
      if (this.config.exactlyOnce) {
        if (this.txnOpen && Date.now() - this.txnSince >= this.config.offsetFlushIntervalMs) await this.commitOpen();
        if (!this.txnOpen) {
          this.producer.beginTransaction();
          this.txnOpen = true;
          this.txnSince = Date.now();
        }
      }
      await this.reserve(bytes);
      if (this.failure !== null) throw this.failure;
      const upstream = r.offset;
      const timestamp = Number(r.timestamp);
      this.producer
        .send(t.remoteRaw, {
          key: r.key,
          value: r.value,
          headers,
          partition: r.partition,
          timestamp,
        })
        .then(
          (meta) => {
            this.release(bytes);
            this.acked(st, upstream, meta.offset, bytes, timestamp);
          },
          (err) => {
            this.release(bytes);
            this.fail(err);
          },
        );
      if (upstream > st.sent) st.sent = upstream;
    }
    this.o.metrics.bufferedBytes.set(this.labels(), this.inflightBytes);
  }

  private acked(st: PartitionState, upstream: bigint, downstream: bigint, bytes: number, timestamp: number): void {
    if (upstream > st.acked) st.acked = upstream;
    const m = this.o.metrics;
    m.records.inc(this.labels(st.topic));
    m.bytes.inc(this.labels(st.topic), bytes);
    if (timestamp > 0) m.latency.observe(this.labels(st.topic), Math.max(0, Date.now() - timestamp) / 1000);
    this.copiedSinceLog.set(st.topic, (this.copiedSinceLog.get(st.topic) ?? 0) + 1);
    this.syncWriter.copied(st.topic, st.partition, upstream, downstream);
  }

  /** Sends one offset sync (the OffsetSyncWriter decides when). */
  private async writeOffsetSync(sync: OffsetSync): Promise<void> {
    this.offsetSyncs.add(sync);
    const { key, value } = encodeOffsetSync(sync);
    try {
      await this.syncProducer.send(topic(this.syncsTopic), { key, value, partition: 0 });
      this.o.metrics.offsetSyncs.inc(this.labels());
    } catch (err) {
      this.log.warn({ flow: this.name, err: String(err) }, `mirror ${this.name}: an offset sync was not written`);
    }
  }

  /** Writes the positions acknowledged since the last store (Connect's offset flush). */
  async storePositions(): Promise<void> {
    const writes: Promise<unknown>[] = [];
    const raw = topic(positionsTopic(this.config.source.alias));
    for (const st of this.partitions.values()) {
      if (st.acked <= st.stored) continue;
      const offset = st.acked;
      const { key, value } = encodeSourcePosition({
        cluster: this.config.source.alias,
        topic: st.topic,
        partition: st.partition,
        offset,
      });
      writes.push(
        this.stateProducer.send(raw, { key, value, partition: 0 }).then(() => {
          if (offset > st.stored) st.stored = offset;
        }),
      );
    }
    await Promise.all(writes);
  }

  /**
   * Exactly-once: writes the position of each partition copied in the open transaction into it and
   * commits — the records and the positions they reach become visible together. A failed commit
   * stops the flow (a restart resumes from the last committed positions).
   */
  commitCopied(): Promise<void> {
    return this.inTurn(() => this.commitOpen());
  }

  /** commitCopied's work, for callers already in turn. */
  private async commitOpen(): Promise<void> {
    if (!this.txnOpen) return;
    const raw = topic(positionsTopic(this.config.source.alias));
    const moved: Array<[PartitionState, bigint]> = [];
    try {
      for (const st of this.partitions.values()) {
        if (st.sent <= st.stored) continue;
        const { key, value } = encodeSourcePosition({
          cluster: this.config.source.alias,
          topic: st.topic,
          partition: st.partition,
          offset: st.sent,
        });
        this.producer.send(raw, { key, value, partition: 0 }).catch(() => {});
        moved.push([st, st.sent]);
      }
      await this.producer.commitTransaction();
    } catch (err) {
      this.fail(err);
      throw err;
    } finally {
      this.txnOpen = false;
    }
    for (const [st, offset] of moved) if (offset > st.stored) st.stored = offset;
    this.o.metrics.transactions.inc(this.labels());
  }

  async emitHeartbeat(): Promise<void> {
    const { key, value } = encodeHeartbeat({
      sourceClusterAlias: this.config.source.alias,
      targetClusterAlias: this.config.target.alias,
      timestamp: BigInt(Date.now()),
    });
    await this.stateProducer.send(topic(heartbeatsTopic()), { key, value, partition: 0 });
    this.o.metrics.heartbeats.inc(this.labels());
  }

  /** The groups to checkpoint: consumer groups on the source passing the groups filter. */
  private async sourceGroups(): Promise<string[]> {
    const groups = (await this.sourceAdmin.listGroups())
      .filter((g) => (g.protocolType === 'consumer' || g.protocolType === '') && this.shouldSyncGroup(g.groupId))
      .map((g) => g.groupId);
    return groups.slice(0, MAX_GROUPS);
  }

  /** Translated offsets of every group for the mirrored topics, on the target's names. */
  async translatedGroupOffsets(): Promise<
    Map<string, Array<{ topic: string; partition: number; upstream: bigint; downstream: bigint }>>
  > {
    const out = new Map<string, Array<{ topic: string; partition: number; upstream: bigint; downstream: bigint }>>();
    for (const group of await this.sourceGroups()) {
      const list = [];
      for (const o of await this.sourceAdmin.fetchGroupOffsets(group)) {
        const t = this.topics.get(o.topic);
        if (t === undefined) continue;
        const downstream = this.offsetSyncs.translate(o.topic, o.partition, o.offset);
        if (downstream === null) continue;
        list.push({ topic: t.remote, partition: o.partition, upstream: o.offset, downstream });
      }
      if (list.length > 0) out.set(group, list);
    }
    return out;
  }

  /** Writes a checkpoint for each group offset whose translation changed (MirrorCheckpointTask). */
  async emitCheckpoints(): Promise<void> {
    const raw = topic(checkpointsTopic(this.config.policy, this.config.source.alias));
    const writes: Promise<unknown>[] = [];
    for (const [group, offsets] of await this.translatedGroupOffsets()) {
      let last = this.checkpoints.get(group);
      if (last === undefined) {
        last = new Map();
        this.checkpoints.set(group, last);
      }
      for (const o of offsets) {
        const k = `${o.topic}:${o.partition}`;
        const prev = last.get(k);
        if (prev !== undefined && prev.upstream === o.upstream && prev.downstream === o.downstream) continue;
        const { key, value } = encodeCheckpoint({
          group,
          topic: o.topic,
          partition: o.partition,
          upstreamOffset: o.upstream,
          downstreamOffset: o.downstream,
          metadata: '',
        });
        const entry = { upstream: o.upstream, downstream: o.downstream };
        const map = last;
        writes.push(
          this.stateProducer.send(raw, { key, value, partition: 0 }).then(() => {
            map.set(k, entry);
            this.o.metrics.checkpoints.inc(this.labels());
          }),
        );
      }
    }
    await Promise.all(writes);
    if (writes.length > 0) {
      this.log.info(
        { flow: this.name, checkpoints: writes.length },
        `mirror ${this.name}: ${writes.length} checkpoints written`,
      );
    }
  }

  /**
   * Commits translated offsets on the target for groups with no active member there, never moving
   * a group backwards (MirrorCheckpointTask.syncGroupOffset).
   */
  async syncGroupOffsets(): Promise<void> {
    for (const [group, offsets] of await this.translatedGroupOffsets()) {
      const described = await this.targetAdmin.describeGroup(group);
      if (described.members.length > 0 || !['Empty', 'Dead', ''].includes(described.state)) continue;
      const current = new Map(
        (await this.targetAdmin.fetchGroupOffsets(group)).map((o) => [`${o.topic}:${o.partition}`, o.offset]),
      );
      const commit = offsets
        .filter((o) => {
          const have = current.get(`${o.topic}:${o.partition}`);
          return have === undefined || have < o.downstream;
        })
        .map((o) => ({ topic: o.topic, partition: o.partition, offset: o.downstream }));
      if (commit.length === 0) continue;
      const committer = new Consumer(this.targetOpts, { groupId: group, autoCommit: false });
      try {
        await committer.commitOffsets(commit);
      } finally {
        await committer.close();
      }
      this.o.metrics.groupOffsetsSynced.inc(this.labels(), commit.length);
      this.log.info(
        { flow: this.name, group, partitions: commit.length },
        `mirror ${this.name}: offsets of group ${group} synced to the target`,
      );
    }
  }

  /** Lag per topic (source end offsets minus positions) into the gauges, and one log line per active topic. */
  async reportProgress(): Promise<void> {
    const tps = [...this.partitions.values()].map((s) => ({ topic: s.topic, partition: s.partition }));
    if (tps.length === 0) return;
    const ends = await this.sourceAdmin.listOffsets(tps, 'latest');
    const lag = new Map<string, bigint>();
    for (const e of ends) {
      const st = this.partitions.get(`${e.topic}:${e.partition}`);
      if (st === undefined || e.offset < 0n) continue;
      const behind = e.offset - (st.acked + 1n);
      lag.set(e.topic, (lag.get(e.topic) ?? 0n) + (behind > 0n ? behind : 0n));
    }
    for (const [t, l] of lag) {
      this.lagByTopic.set(t, l);
      this.o.metrics.lag.set(this.labels(t), Number(l));
      const copied = this.copiedSinceLog.get(t) ?? 0;
      if (copied > 0 || l > 0n) {
        this.log.info(
          { flow: this.name, topic: t, copied, lag: Number(l) },
          `mirror ${this.name}: ${t} copied ${copied} records, ${l} behind`,
        );
      }
    }
    this.copiedSinceLog.clear();
  }

  /** Lag per source topic as last measured. */
  lag(): ReadonlyMap<string, bigint> {
    return this.lagByTopic;
  }

  /** Source topics being mirrored, with their names on the target. */
  mirroredTopics(): Array<{ topic: string; remote: string; partitions: number }> {
    return [...this.topics.values()].map((t) => ({ topic: t.name, remote: t.remote, partitions: t.partitions }));
  }

  /** Stops reading, sends what was read, stores the positions and closes every client. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    for (const t of this.timers) clearInterval(t);
    await this.consumer.close();
    await this.runPromise?.catch(() => {});
    if (this.failure === null && this.config.exactlyOnce) {
      await this.commitCopied().catch((err) =>
        this.log.warn({ flow: this.name, err: String(err) }, `mirror ${this.name}: last transaction not committed`),
      );
    } else if (this.failure === null) {
      await this.producer.flush().catch(() => {});
      await this.storePositions().catch((err) =>
        this.log.warn({ flow: this.name, err: String(err) }, `mirror ${this.name}: positions not stored at stop`),
      );
    }
    this.stopped = true;
    this.wakeSender?.();
    await Promise.allSettled([
      this.producer.close(),
      this.syncProducer.close(),
      this.stateProducer.close(),
      this.sourceAdmin.close(),
      this.targetAdmin.close(),
    ]);
  }
}
