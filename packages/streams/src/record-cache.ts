import type { Change, Forward, Rec } from './topology.js';

interface Entry {
  taskId: string;
  rec: Rec;
  forward: Forward;
  bytes: number;
}

/** Per entry on top of its key and value, as Kafka's cache counts its own bookkeeping. */
const OVERHEAD = 64;

/**
 * Kafka Streams' record cache (`statestore.cache.max.bytes`): a table's updates to a key are held and
 * merged — the first old value, the last new value — and go downstream once, at the next commit or when
 * the cache is full (the least recently updated key first). One cache per instance, shared by its tasks.
 */
export class RecordCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Holds an update of `store`'s `key`; the held old value stays, so the update emitted spans them all. */
  put(taskId: string, store: string, key: Buffer, rec: Rec, bytes: number, forward: Forward): void {
    const id = `${taskId}\0${store}\0${key.toString('latin1')}`;
    const prev = this.entries.get(id);
    let held = rec;
    if (prev !== undefined) {
      this.entries.delete(id);
      this.bytes -= prev.bytes;
      const c = rec.value as Change<unknown>;
      held = { ...rec, value: { newValue: c.newValue, oldValue: (prev.rec.value as Change<unknown>).oldValue } };
    }
    const size = bytes + id.length + OVERHEAD;
    this.entries.set(id, { taskId, rec: held, forward, bytes: size });
    this.bytes += size;
    // Full: the least recently updated keys go downstream until the cache fits.
    for (const [oldest, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= e.bytes;
      e.forward(e.rec);
    }
  }

  /** Sends the held updates of these tasks downstream, least recently updated first (before a commit). */
  flush(taskIds: ReadonlySet<string>): void {
    for (const [id, e] of this.entries) {
      if (!taskIds.has(e.taskId)) continue;
      this.entries.delete(id);
      this.bytes -= e.bytes;
      e.forward(e.rec);
    }
  }

  /** Forgets a task's held updates (a task lost without a commit: its input is processed again). */
  drop(taskId: string): void {
    for (const [id, e] of this.entries) {
      if (e.taskId !== taskId) continue;
      this.entries.delete(id);
      this.bytes -= e.bytes;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
