import type { Serde } from '@sluice/client';
import type { BytesStore } from './stores.js';

/** A typed view of a store: keys and values through their serdes. */
export interface KvState<K, V> {
  get(key: K): V | null;
  put(key: K, value: V | null): void;
  entries(): Iterable<[K, V]>;
}

export function kvState<K, V>(store: BytesStore, ks: Serde<K>, vs: Serde<V | null>): KvState<K, V> {
  const kb = (k: K): Buffer => ks.serialize(k) ?? Buffer.alloc(0);
  return {
    get(k) {
      const b = store.get(kb(k));
      return b === undefined ? null : vs.deserialize(b);
    },
    put(k, v) {
      store.put(kb(k), v === null ? null : vs.serialize(v));
    },
    *entries() {
      for (const [k, v] of [...store.entries()]) {
        const value = vs.deserialize(v);
        if (value !== null) yield [ks.deserialize(k), value];
      }
    },
  };
}

export interface Session<V> {
  start: number;
  end: number;
  value: V;
}

/**
 * Per key, a list kept as one JSON value: timestamped records (join buffers, sliding windows) or
 * sessions. Values go through their serde and base64 so any serde fits.
 */
export function listState<K, V>(store: BytesStore, ks: Serde<K>, vs: Serde<V>) {
  const kb = (k: K): Buffer => ks.serialize(k) ?? Buffer.alloc(0);
  const enc = (v: V): string | null => vs.serialize(v)?.toString('base64') ?? null;
  const dec = (s: string | null): V => vs.deserialize(s === null ? null : Buffer.from(s, 'base64'));
  const read = (k: K): unknown[] => {
    const b = store.get(kb(k));
    return b === undefined ? [] : (JSON.parse(b.toString('utf8')) as unknown[]);
  };
  const write = (k: K, list: unknown[]): void => {
    store.put(kb(k), list.length === 0 ? null : Buffer.from(JSON.stringify(list), 'utf8'));
  };
  return {
    /** Records [timestamp, value] of a key. */
    get(k: K): Array<[number, V]> {
      return (read(k) as Array<[number, string | null]>).map(([ts, v]) => [ts, dec(v)]);
    },
    /** Adds a record and drops those older than `expireBefore`. */
    append(k: K, ts: number, v: unknown, expireBefore: number): void {
      const list = (read(k) as Array<[number, string | null]>).filter(([t]) => t >= expireBefore);
      list.push([ts, enc(v as V)]);
      write(k, list);
    },
    getSessions(k: K): Session<V>[] {
      return (read(k) as Array<[number, number, string | null]>).map(([start, end, v]) => ({
        start,
        end,
        value: dec(v),
      }));
    },
    putSessions(k: K, sessions: Session<V>[]): void {
      write(
        k,
        sessions.map((s) => [s.start, s.end, enc(s.value)]),
      );
    },
  };
}
