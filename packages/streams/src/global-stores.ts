import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Admin, type ClientOptions, Consumer, type Topic } from '@sluice/client';
import { type BytesStore, InMemoryStore, LmdbStore } from './stores.js';
import type { GlobalStoreDef } from './topology.js';

const CHECKPOINT = '.checkpoint';
/** Exactly-once topics end in transaction markers the position may not pass: idle this long after the last record = caught up. */
const BOOTSTRAP_IDLE_MS = 1000;
const POSITION_SETTLE_MS = 200;

/**
 * Kafka Streams' global state: each instance keeps a full copy of every global table, read from all
 * partitions of its topic by a consumer of its own (no group, so every instance reads everything).
 * `start()` returns once each store has caught up with the topic's end; updates keep coming after.
 * The topic is the store's changelog: nothing is written back, and a checkpoint of the positions
 * (persistent stores, on close) lets a clean restart resume where it stopped.
 */
export class GlobalStateUpdater {
  readonly stores = new Map<string, BytesStore>();
  /** Records applied to the stores (bootstrap included). */
  applied = 0;
  private readonly byTopic = new Map<string, BytesStore>();
  private readonly positions = new Map<string, bigint>();
  private readonly reader: Consumer;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly defs: GlobalStoreDef[],
    config: ClientOptions,
    private readonly admin: Admin,
    private readonly dir: string,
    private readonly eos: boolean,
  ) {
    this.reader = new Consumer(config, {
      isolationLevel: eos ? 'read_committed' : 'read_uncommitted',
      autoOffsetReset: 'earliest',
      maxWaitMs: 100,
    });
  }

  /** Opens the stores, reads every partition to its end, then keeps applying updates in the background. */
  async start(onError: (err: unknown) => void): Promise<void> {
    const names = this.defs.map((d) => d.topic.name);
    const infos = await this.admin.describeTopics(names);
    const checkpoint = this.readCheckpoint();
    const tps: Array<{ topic: Topic<unknown, unknown>; partition: number; offset: bigint | 'earliest' }> = [];
    for (const def of this.defs) {
      const info = infos.find((i) => i.name === def.topic.name);
      if (info === undefined) throw new Error(`global table topic ${def.topic.name} does not exist`);
      const path = join(this.dir, def.name);
      const parts = info.partitions.map((_, p) => p);
      // A persistent store is trusted only with a checkpoint for each of its partitions.
      const resumable = def.persistent && parts.every((p) => checkpoint[`${def.topic.name}:${p}`] !== undefined);
      if (def.persistent && !resumable) LmdbStore.destroy(path);
      const store = def.persistent ? new LmdbStore(path) : new InMemoryStore();
      this.stores.set(def.name, store);
      this.byTopic.set(def.topic.name, store);
      for (const p of parts) {
        const cp = resumable ? BigInt(checkpoint[`${def.topic.name}:${p}`]) : undefined;
        // Every partition gets a position, so a partition without records is checkpointed too.
        this.positions.set(`${def.topic.name}:${p}`, cp ?? 0n);
        tps.push({ topic: rawTopic(def.topic.name), partition: p, offset: cp ?? 'earliest' });
      }
    }
    const ends = await this.admin.listOffsets(tps.map((t) => ({ topic: t.topic.name, partition: t.partition })));
    await this.reader.assign(tps);
    this.reader.subscribe(tps.map((t) => t.topic));
    let lastRecordAt = Date.now();
    this.running = this.reader
      .run(tps[0].topic, (records) => {
        lastRecordAt = Date.now();
        for (const r of records) {
          const store = this.byTopic.get(r.topic);
          if (store === undefined) continue;
          this.positions.set(`${r.topic}:${r.partition}`, r.offset + 1n);
          // A null key cannot be looked up; a null value deletes, as in any table.
          if (r.key === null) continue;
          store.put(r.key as Buffer, r.value as Buffer | null);
          this.applied++;
        }
      })
      .catch((err) => {
        if (!this.closed) onError(err);
      });
    // Caught up: the last record before the end is applied; or the fetch position is past the end (compacted
    // or marker offsets never arrive as records) and nothing has come for a while (fetched records may still
    // be on their way to the handler).
    const caughtUp = (): boolean =>
      tps.every((t, i) => {
        const at = this.positions.get(`${t.topic.name}:${t.partition}`) ?? 0n;
        const pos = this.reader.position(t.topic.name, t.partition) ?? 0n;
        return at >= ends[i].offset || (pos >= ends[i].offset && Date.now() - lastRecordAt > POSITION_SETTLE_MS);
      }) ||
      (this.eos && Date.now() - lastRecordAt > BOOTSTRAP_IDLE_MS);
    while (!caughtUp()) {
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Flushes persistent stores and records the positions they hold. */
  async checkpoint(): Promise<void> {
    const persistent = this.defs.filter((d) => d.persistent);
    if (persistent.length === 0) return;
    // Positions first, synchronously: the flush writes at least what they cover.
    const cp: Record<string, string> = {};
    for (const [tp, offset] of this.positions) {
      if (persistent.some((d) => tp.startsWith(`${d.topic.name}:`))) cp[tp] = String(offset);
    }
    for (const d of persistent) await this.stores.get(d.name)?.flush();
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, `${CHECKPOINT}.tmp`), JSON.stringify(cp));
    renameSync(join(this.dir, `${CHECKPOINT}.tmp`), join(this.dir, CHECKPOINT));
  }

  async close(clean: boolean): Promise<void> {
    this.closed = true;
    await this.reader.close();
    await this.running;
    if (clean) await this.checkpoint();
    for (const s of this.stores.values()) await s.close();
  }

  private readCheckpoint(): Record<string, string> {
    try {
      const cp = JSON.parse(readFileSync(join(this.dir, CHECKPOINT), 'utf8')) as Record<string, string>;
      return Object.values(cp).every((v) => /^\d+$/.test(v)) ? cp : {};
    } catch {
      return {};
    }
  }
}

const rawTopic = (name: string) => ({ name, key: rawSerde, value: rawSerde }) as Topic<unknown, unknown>;
const rawSerde = {
  serialize: (v: Buffer | null) => v,
  deserialize: (b: Buffer | null) => b,
};
