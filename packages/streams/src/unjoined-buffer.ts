import type { BytesStore } from './stores.js';

/** A record of a left/outer stream–stream join that has found no partner yet. */
export interface Unjoined {
  timestamp: number;
  left: boolean;
  key: Buffer;
  value: Buffer | null;
}

/**
 * Kafka Streams' shared outer-join store: records waiting for their window to close without a partner.
 * Store key: timestamp (int64), side (0 left, 1 right), the serialized key; value: a JSON list of the
 * records' values (base64; null for a null serialization) at that timestamp.
 */
export class UnjoinedBuffer {
  /** No waiting record is older than this (-Infinity: unknown, as after a restore). */
  private minTime = Number.NEGATIVE_INFINITY;

  constructor(private readonly store: BytesStore) {}

  add(timestamp: number, left: boolean, key: Buffer, value: Buffer | null): void {
    const k = storeKey(timestamp, left, key);
    const have = this.store.get(k);
    const list = have === undefined ? [] : values(have, k);
    list.push(value === null ? null : value.toString('base64'));
    this.store.put(k, Buffer.from(JSON.stringify(list)));
    if (timestamp < this.minTime) this.minTime = timestamp;
  }

  /** The records of one key and timestamp on one side have joined: they no longer wait. */
  remove(timestamp: number, left: boolean, key: Buffer): void {
    const k = storeKey(timestamp, left, key);
    if (this.store.get(k) !== undefined) this.store.put(k, null);
  }

  /**
   * Removes and returns the records whose window has closed: left ones older than `leftBefore`, right ones
   * older than `rightBefore` (the sides close at different times with asymmetric windows); by timestamp,
   * left before right, then key.
   */
  takeClosed(leftBefore: number, rightBefore: number): Unjoined[] {
    if (this.minTime >= Math.max(leftBefore, rightBefore)) return [];
    const closed: Array<[Buffer, Buffer]> = [];
    let min = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.store.entries()) {
      const ts = timestampOf(k);
      if (ts < (k[8] === 0 ? leftBefore : rightBefore)) closed.push([Buffer.from(k), v]);
      else if (ts < min) min = ts;
    }
    this.minTime = min;
    closed.sort(([a], [b]) => Buffer.compare(a, b));
    const out: Unjoined[] = [];
    for (const [k, v] of closed) {
      this.store.put(k, null);
      const left = k[8] === 0;
      const key = k.subarray(9);
      for (const s of values(v, k)) {
        out.push({ timestamp: timestampOf(k), left, key, value: s === null ? null : Buffer.from(s, 'base64') });
      }
    }
    return out;
  }
}

function storeKey(timestamp: number, left: boolean, key: Buffer): Buffer {
  const b = Buffer.allocUnsafe(9 + key.length);
  b.writeBigInt64BE(BigInt(timestamp), 0);
  b[8] = left ? 0 : 1;
  key.copy(b, 9);
  return b;
}

function timestampOf(k: Buffer): number {
  if (k.length < 9) throw new TypeError(`outer-join store: key of ${k.length} bytes, expected at least 9`);
  return Number(k.readBigInt64BE(0));
}

function values(v: Buffer, k: Buffer): Array<string | null> {
  let list: unknown;
  try {
    list = JSON.parse(v.toString('utf8'));
  } catch {
    list = undefined;
  }
  if (!Array.isArray(list) || !list.every((x) => x === null || typeof x === 'string'))
    throw new TypeError(`outer-join store: the value at key ${k.toString('hex')} is not a list of values`);
  return list as Array<string | null>;
}
