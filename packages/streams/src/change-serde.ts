import type { Serde } from '@sluice/client';
import type { Change } from './topology.js';

/**
 * A table update (old and new value) as one record value, for the repartition topic of a table
 * `groupBy`: per side an int32 length (-1: absent) and the inner serde's bytes, new value first.
 */
export function changeSerde<V>(inner: Serde<V>): Serde<Change<V>> {
  const part = (v: V | null): Buffer | null => (v === null || v === undefined ? null : inner.serialize(v));
  return {
    serialize(c) {
      const n = part(c.newValue);
      const o = part(c.oldValue);
      const b = Buffer.allocUnsafe(8 + (n?.length ?? 0) + (o?.length ?? 0));
      let at = 0;
      for (const p of [n, o]) {
        b.writeInt32BE(p === null ? -1 : p.length, at);
        at += 4;
        if (p !== null) at += p.copy(b, at);
      }
      return b;
    },
    deserialize(b) {
      if (b === null) throw new TypeError('change: null value (a table update always has a body)');
      const out: Array<V | null> = [];
      let at = 0;
      for (const side of ['new', 'old']) {
        if (b.length < at + 4) throw new TypeError(`change: ${side} value length cut off at byte ${at} of ${b.length}`);
        const len = b.readInt32BE(at);
        at += 4;
        if (len < -1 || at + Math.max(len, 0) > b.length)
          throw new TypeError(`change: ${side} value length ${len} at byte ${at - 4} does not fit ${b.length} bytes`);
        out.push(len === -1 ? null : inner.deserialize(b.subarray(at, at + len)));
        at += Math.max(len, 0);
      }
      if (at !== b.length) throw new TypeError(`change: ${b.length - at} bytes left over`);
      return { newValue: out[0], oldValue: out[1] };
    },
  };
}
