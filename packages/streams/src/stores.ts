import { mkdirSync, rmSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';

/**
 * A key-value store of bytes, one per store and task. Writes are visible to reads at once; `flush()`
 * makes them durable (persistent stores) and is called at each commit, before the checkpoint.
 */
export interface BytesStore {
  readonly persistent: boolean;
  get(key: Buffer): Buffer | undefined;
  /** A null value deletes the key. */
  put(key: Buffer, value: Buffer | null): void;
  entries(): Iterable<[Buffer, Buffer]>;
  readonly size: number;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Removes every entry (a store restored from scratch). */
  clear(): Promise<void>;
}

/** Keys as latin1 strings: one char per byte, so distinct byte keys stay distinct map keys. */
const mapKey = (b: Buffer): string => b.toString('latin1');

export class InMemoryStore implements BytesStore {
  readonly persistent = false;
  private readonly map = new Map<string, [Buffer, Buffer]>();

  get(key: Buffer): Buffer | undefined {
    return this.map.get(mapKey(key))?.[1];
  }

  put(key: Buffer, value: Buffer | null): void {
    if (value === null) this.map.delete(mapKey(key));
    else this.map.set(mapKey(key), [Buffer.from(key), value]);
  }

  *entries(): Iterable<[Buffer, Buffer]> {
    yield* this.map.values();
  }

  get size(): number {
    return this.map.size;
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  async clear(): Promise<void> {
    this.map.clear();
  }
}

/**
 * A store in LMDB (the `lmdb` package): memory-mapped, crash-safe B+tree with prebuilt binaries for
 * Node 20. Writes since the last flush sit in `pending` (read first), so a commit writes them in one
 * LMDB transaction and reads never wait for LMDB's asynchronous commits.
 */
export class LmdbStore implements BytesStore {
  readonly persistent = true;
  private readonly db: RootDatabase<Buffer, Buffer>;
  private pending = new Map<string, [Buffer, Buffer | null]>();

  constructor(readonly path: string) {
    mkdirSync(path, { recursive: true });
    this.db = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' });
  }

  get(key: Buffer): Buffer | undefined {
    const p = this.pending.get(mapKey(key));
    if (p !== undefined) return p[1] ?? undefined;
    return this.db.get(key) ?? undefined;
  }

  put(key: Buffer, value: Buffer | null): void {
    this.pending.set(mapKey(key), [Buffer.from(key), value]);
  }

  *entries(): Iterable<[Buffer, Buffer]> {
    for (const { key, value } of this.db.getRange()) {
      if (!this.pending.has(mapKey(key))) yield [key, value];
    }
    for (const [k, v] of this.pending.values()) if (v !== null) yield [k, v];
  }

  get size(): number {
    let n = 0;
    for (const _ of this.entries()) n++;
    return n;
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const writes = this.pending;
    this.pending = new Map();
    await this.db.transaction(() => {
      for (const [k, v] of writes.values()) {
        if (v === null) this.db.remove(k);
        else this.db.put(k, v);
      }
    });
  }

  async close(): Promise<void> {
    await this.flush();
    await this.db.close();
  }

  async clear(): Promise<void> {
    this.pending.clear();
    await this.db.clearAsync();
  }

  /** Deletes the store's files (a store whose contents cannot be trusted). */
  static destroy(path: string): void {
    rmSync(path, { recursive: true, force: true });
  }
}
