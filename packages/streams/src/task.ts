import type { ConsumerRecord, Topic } from '@sluice/client';
import { DeserializationError } from '@sluice/client';
import { PartitionGroup } from './partition-group.js';
import type { RecordCache } from './record-cache.js';
import type { BytesStore } from './stores.js';
import type { Forward, NodeDef, ProcessorContext, SourceDef, SubTopology } from './topology.js';

/** How a task hands results and changelog writes to the producer (the application's one). */
export interface RecordCollector {
  send(
    topic: Topic<unknown, unknown>,
    key: unknown,
    value: unknown,
    timestamp: number,
    partition?: number,
  ): Promise<{ offset: bigint }>;
}

/** What to do with a record whose key or value does not deserialize. */
export type DeserializationPolicy = 'stop' | 'skip' | { deadLetterTopic: string };

/** A store with its changelog partition: every write is also sent there. */
export class LoggedStore implements BytesStore {
  /** Next offset after the last acknowledged changelog write (the checkpoint after a commit). */
  ackedOffset = -1n;

  constructor(
    readonly inner: BytesStore,
    readonly changelog: Topic<Buffer | null, Buffer | null>,
    readonly partition: number,
    private readonly collector: RecordCollector,
    private readonly now: () => number,
  ) {}

  get persistent(): boolean {
    return this.inner.persistent;
  }
  get size(): number {
    return this.inner.size;
  }
  get(key: Buffer): Buffer | undefined {
    return this.inner.get(key);
  }
  put(key: Buffer, value: Buffer | null): void {
    this.inner.put(key, value);
    const k = Buffer.from(key);
    this.collector.send(this.changelog as Topic<unknown, unknown>, k, value, this.now(), this.partition).then((m) => {
      if (m.offset + 1n > this.ackedOffset) this.ackedOffset = m.offset + 1n;
    });
  }
  entries(): Iterable<[Buffer, Buffer]> {
    return this.inner.entries();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  clear(): Promise<void> {
    return this.inner.clear();
  }
}

export interface TaskMetrics {
  taskId: string;
  processed: number;
  /** Records per second since the task started. */
  processRate: number;
  droppedLate: number;
  skippedDeserialization: number;
  restored: number;
  restoreTotal: number;
  /** Records between the task's position and the end of its input partitions (at the last metrics() call). */
  lag: number;
}

/**
 * One partition of one sub-topology: its processors, stores and stream time. Records of its input
 * partitions are processed one at a time, each through the whole sub-topology.
 */
export class StreamTask implements ProcessorContext {
  readonly taskId: string;
  streamTime = -1;
  /** Next offset to read per input topic (what a commit stores). */
  readonly positions = new Map<string, bigint>();
  private readonly sources = new Map<string, { def: SourceDef; fn: Forward }>();
  private readonly listeners: Array<(t: number) => void> = [];
  readonly metrics: TaskMetrics;
  private readonly started = Date.now();
  /** Records processed since the last commit. */
  dirty = false;
  /** With several input partitions: their queues, read in timestamp order (undefined with one). */
  readonly group: PartitionGroup<PreparedRecord> | undefined;

  constructor(
    readonly subTopology: SubTopology,
    readonly partition: number,
    readonly stores: Map<string, LoggedStore>,
    private readonly collector: RecordCollector,
    private readonly policy: DeserializationPolicy,
    private readonly globalStores: ReadonlyMap<string, BytesStore> = new Map(),
    readonly recordCache?: RecordCache,
    /** For a task with several input partitions: `max.task.idle.ms` and the consumer's lag per input topic. */
    idle?: { maxTaskIdleMs: number; lagOf: (topic: string) => bigint | undefined },
  ) {
    this.taskId = `${subTopology.id}_${partition}`;
    this.metrics = {
      taskId: this.taskId,
      processed: 0,
      processRate: 0,
      droppedLate: 0,
      skippedDeserialization: 0,
      restored: 0,
      restoreTotal: 0,
      lag: 0,
    };
    const built = new Map<NodeDef, Forward>();
    const build = (n: NodeDef): Forward => {
      const have = built.get(n);
      if (have !== undefined) return have;
      // Placeholder first: a node reached twice (merge) is built once.
      let fn: Forward = () => {};
      built.set(n, (r) => fn(r));
      const children = n.children.filter((c) => subTopology.nodes.includes(c)).map(build);
      const forward: Forward =
        children.length === 1
          ? children[0]
          : (r) => {
              for (const c of children) c(r);
            };
      fn = n.build(this, forward);
      return fn;
    };
    for (const s of subTopology.sources) this.sources.set(s.topic.name, { def: s, fn: build(s) });
    if (subTopology.sources.length > 1) {
      this.group = new PartitionGroup<PreparedRecord>(
        subTopology.sources.map((s) => s.topic.name),
        idle?.maxTaskIdleMs ?? 0,
        idle?.lagOf ?? (() => 0n),
        (r) => r.timestamp,
      );
    }
  }

  store(name: string): BytesStore {
    const s = this.stores.get(name);
    if (s === undefined) throw new Error(`task ${this.taskId} has no store ${name}`);
    return s;
  }

  globalStore(name: string): BytesStore {
    const s = this.globalStores.get(name);
    if (s === undefined) throw new Error(`task ${this.taskId}: no global store ${name}`);
    return s;
  }

  send(topic: Topic<unknown, unknown>, key: unknown, value: unknown, timestamp: number): void {
    this.collector.send(topic, key, value, timestamp);
  }

  onStreamTime(fn: (t: number) => void): void {
    this.listeners.push(fn);
  }

  droppedLate(): void {
    this.metrics.droppedLate++;
  }

  /** Processes one raw record of an input partition (a task with one input partition: as fetched). */
  async process(raw: ConsumerRecord<Buffer | null, Buffer | null>): Promise<void> {
    this.runPrepared(await this.prepare(raw));
  }

  /** Queues fetched records of one input partition (a task with several: they wait for their turn). */
  async enqueue(records: ConsumerRecord<Buffer | null, Buffer | null>[]): Promise<void> {
    const group = this.group;
    if (group === undefined)
      throw new Error(`task ${this.taskId} reads one partition: records are processed as fetched`);
    const prepared: PreparedRecord[] = [];
    for (const r of records) prepared.push(await this.prepare(r));
    group.add(records[0].topic, prepared);
  }

  /**
   * Processes queued records, in timestamp order across the input partitions, for as long as the task
   * is ready (max.task.idle.ms); returns whether records are left waiting.
   */
  processQueued(nowMs: number): boolean {
    const group = this.group;
    if (group === undefined) return false;
    while (group.readyToProcess(nowMs)) {
      const next = group.next();
      if (next === undefined) break;
      this.runPrepared(next.record);
    }
    return group.buffered > 0;
  }

  /** Deserializes a record and extracts its timestamp; a record that cannot be processed comes back as `skip`. */
  private async prepare(raw: ConsumerRecord<Buffer | null, Buffer | null>): Promise<PreparedRecord> {
    const src = this.sources.get(raw.topic);
    if (src === undefined) throw new Error(`task ${this.taskId} does not read ${raw.topic}`);
    let key: unknown;
    let value: unknown;
    try {
      key = raw.key === null ? null : src.def.topic.key.deserialize(raw.key);
    } catch (err) {
      await this.undeserializable(raw, 'key', err);
      return { raw, fn: src.fn, key: null, value: null, timestamp: Number.NEGATIVE_INFINITY, skip: true };
    }
    try {
      value = raw.value === null ? null : src.def.topic.value.deserialize(raw.value);
    } catch (err) {
      await this.undeserializable(raw, 'value', err);
      return { raw, fn: src.fn, key: null, value: null, timestamp: Number.NEGATIVE_INFINITY, skip: true };
    }
    const recordTs = Number(raw.timestamp);
    const ts = src.def.timestampExtractor ? src.def.timestampExtractor({ key, value, timestamp: recordTs }) : recordTs;
    if (!(ts >= 0)) {
      // As Kafka's LogAndSkipOnInvalidTimestamp: a record without a valid time cannot be placed in time.
      this.metrics.skippedDeserialization++;
      return { raw, fn: src.fn, key, value, timestamp: Number.NEGATIVE_INFINITY, skip: true };
    }
    return { raw, fn: src.fn, key, value, timestamp: ts, skip: false };
  }

  private runPrepared(p: PreparedRecord): void {
    this.positions.set(p.raw.topic, p.raw.offset + 1n);
    this.dirty = true;
    if (p.skip) return;
    if (p.timestamp > this.streamTime) this.streamTime = p.timestamp;
    p.fn({ key: p.key, value: p.value, timestamp: p.timestamp });
    this.metrics.processed++;
    for (const l of this.listeners) l(this.streamTime);
  }

  private async undeserializable(
    raw: ConsumerRecord<Buffer | null, Buffer | null>,
    part: 'key' | 'value',
    cause: unknown,
  ): Promise<void> {
    const err = new DeserializationError(raw, part, cause);
    if (this.policy === 'stop') throw err;
    this.metrics.skippedDeserialization++;
    if (typeof this.policy === 'object') {
      const dlq = { name: this.policy.deadLetterTopic, key: rawSerde, value: rawSerde } as Topic<unknown, unknown>;
      // Headers would be the natural place; the collector sends key/value only, so the cause goes in a JSON envelope.
      const envelope = Buffer.from(
        JSON.stringify({
          topic: raw.topic,
          partition: raw.partition,
          offset: String(raw.offset),
          error: err.message,
          key: raw.key?.toString('base64') ?? null,
          value: raw.value?.toString('base64') ?? null,
        }),
      );
      this.collector.send(dlq, raw.key, envelope, Number(raw.timestamp));
    }
  }

  processRate(): number {
    const s = (Date.now() - this.started) / 1000;
    return s > 0 ? this.metrics.processed / s : 0;
  }
}

/** An input record deserialized, with its timestamp, waiting for its turn. */
interface PreparedRecord {
  raw: ConsumerRecord<Buffer | null, Buffer | null>;
  fn: Forward;
  key: unknown;
  value: unknown;
  timestamp: number;
  /** Undeserializable or without a valid timestamp: only its offset counts as consumed. */
  skip: boolean;
}

const rawSerde = {
  serialize: (v: Buffer | null) => v,
  deserialize: (b: Buffer | null) => b,
};
