/**
 * Turns values of type T into record bytes and back. `null` stands for a null key or value
 * (a tombstone); serdes for non-nullable types reject it.
 */
export interface Serde<T> {
  serialize(value: T): Buffer | null;
  deserialize(bytes: Buffer | null): T;
}

function required(what: string, bytes: Buffer | null): Buffer {
  if (bytes === null) throw new TypeError(`${what} serde: got a null key or value`);
  return bytes;
}

export const serde = {
  /** UTF-8 text. */
  string(): Serde<string> {
    return {
      serialize: (v) => Buffer.from(v, 'utf8'),
      deserialize: (b) => required('string', b).toString('utf8'),
    };
  },
  /** JSON text; the type parameter is what the application promises the topic holds. */
  json<T>(): Serde<T> {
    return {
      serialize: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
      deserialize: (b) => JSON.parse(required('json', b).toString('utf8')) as T,
    };
  },
  /** Raw bytes (the record's own slice on the consumer side; copy it to keep it beyond the batch). */
  bytes(): Serde<Buffer> {
    return { serialize: (v) => v, deserialize: (b) => required('bytes', b) };
  },
  /** A big-endian int32, as Java's IntegerSerializer writes it. */
  int32(): Serde<number> {
    return {
      serialize: (v) => {
        const b = Buffer.allocUnsafe(4);
        b.writeInt32BE(v, 0);
        return b;
      },
      deserialize: (b) => required('int32', b).readInt32BE(0),
    };
  },
  /** A big-endian int64, as Java's LongSerializer writes it. */
  int64(): Serde<bigint> {
    return {
      serialize: (v) => {
        const b = Buffer.allocUnsafe(8);
        b.writeBigInt64BE(v, 0);
        return b;
      },
      deserialize: (b) => required('int64', b).readBigInt64BE(0),
    };
  },
  /** Wraps a serde so that null passes through (nullable keys, tombstone values). */
  nullable<T>(inner: Serde<T>): Serde<T | null> {
    return {
      serialize: (v) => (v === null ? null : inner.serialize(v)),
      deserialize: (b) => (b === null ? null : inner.deserialize(b)),
    };
  },
  /** Always null: for topics whose records have no key. */
  none(): Serde<null> {
    return { serialize: () => null, deserialize: () => null };
  },
};

/** A topic name with the serdes of its keys and values; the producer and consumer are typed by it. */
export interface Topic<K, V> {
  readonly name: string;
  readonly key: Serde<K>;
  readonly value: Serde<V>;
}

/** `topic('orders', { key: serde.string(), value: serde.json<Order>() })`. Without serdes: raw bytes, nullable. */
export function topic<K = Buffer | null, V = Buffer | null>(
  name: string,
  serdes?: { key?: Serde<K>; value?: Serde<V> },
): Topic<K, V> {
  if (name.length === 0) throw new RangeError('a topic name cannot be empty');
  const raw = serde.nullable(serde.bytes()) as unknown as Serde<never>;
  return { name, key: serdes?.key ?? raw, value: serdes?.value ?? raw };
}

export type KeyOf<T> = T extends Topic<infer K, unknown> ? K : never;
export type ValueOf<T> = T extends Topic<unknown, infer V> ? V : never;
