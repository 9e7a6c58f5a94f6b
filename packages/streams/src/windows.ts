import type { Serde } from '@sluice/client';

/** A key with the window it was aggregated in: [start, end) for time windows, [start, end] for sessions. */
export interface Windowed<K> {
  key: K;
  start: number;
  end: number;
}

/** Tumbling (advance = size) and hopping (advance < size) windows aligned to the epoch, as Kafka's TimeWindows. */
export class TimeWindows {
  readonly kind = 'time';
  private constructor(
    readonly sizeMs: number,
    readonly advanceMs: number,
    readonly graceMs: number,
  ) {
    if (!(sizeMs > 0) || !(advanceMs > 0) || advanceMs > sizeMs || !(graceMs >= 0)) {
      throw new RangeError(
        `windows need size > 0, 0 < advance <= size, grace >= 0 (got ${sizeMs}, ${advanceMs}, ${graceMs})`,
      );
    }
  }
  static ofSizeWithNoGrace(sizeMs: number): TimeWindows {
    return new TimeWindows(sizeMs, sizeMs, 0);
  }
  static ofSizeAndGrace(sizeMs: number, graceMs: number): TimeWindows {
    return new TimeWindows(sizeMs, sizeMs, graceMs);
  }
  /** Hopping windows: a new window every `advanceMs`. */
  advanceBy(advanceMs: number): TimeWindows {
    return new TimeWindows(this.sizeMs, advanceMs, this.graceMs);
  }
  /** The windows a record at `ts` falls in, oldest first. */
  windowsFor(ts: number): Array<{ start: number; end: number }> {
    const out: Array<{ start: number; end: number }> = [];
    let start = Math.floor(Math.max(0, ts - this.sizeMs + this.advanceMs) / this.advanceMs) * this.advanceMs;
    for (; start <= ts; start += this.advanceMs) out.push({ start, end: start + this.sizeMs });
    return out;
  }
}

/**
 * Kafka's SlidingWindows: every window of length `timeDifferenceMs` (both ends inclusive) that ends at a
 * record (its left window) or starts just after one (its right window) and holds at least one record.
 */
export class SlidingWindows {
  readonly kind = 'sliding';
  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {
    if (!(timeDifferenceMs > 0) || !(graceMs >= 0))
      throw new RangeError('sliding windows need difference > 0, grace >= 0');
  }
  static ofTimeDifferenceWithNoGrace(diffMs: number): SlidingWindows {
    return new SlidingWindows(diffMs, 0);
  }
  static ofTimeDifferenceAndGrace(diffMs: number, graceMs: number): SlidingWindows {
    return new SlidingWindows(diffMs, graceMs);
  }
}

/** Sessions: records of a key closer than `gapMs` to each other are one window, [first, last]. */
export class SessionWindows {
  readonly kind = 'session';
  private constructor(
    readonly gapMs: number,
    readonly graceMs: number,
  ) {
    if (!(gapMs > 0) || !(graceMs >= 0)) throw new RangeError('session windows need gap > 0, grace >= 0');
  }
  static ofInactivityGapWithNoGrace(gapMs: number): SessionWindows {
    return new SessionWindows(gapMs, 0);
  }
  static ofInactivityGapAndGrace(gapMs: number, graceMs: number): SessionWindows {
    return new SessionWindows(gapMs, graceMs);
  }
}

/**
 * Stream–stream joins, as Kafka's JoinWindows: a record of this (left) side at `t` joins the other side's
 * records with timestamps in [t - beforeMs, t + afterMs]; so a record of the other side at `t'` joins this
 * side's in [t' - afterMs, t' + beforeMs]. `before`/`after` may be negative as long as their sum is not.
 */
export class JoinWindows {
  private constructor(
    readonly beforeMs: number,
    readonly afterMs: number,
    readonly graceMs: number,
  ) {
    if (!Number.isSafeInteger(beforeMs) || !Number.isSafeInteger(afterMs) || !(beforeMs + afterMs >= 0))
      throw new RangeError(`join windows need before + after >= 0 (got before ${beforeMs}, after ${afterMs})`);
    if (!(graceMs >= 0)) throw new RangeError(`join windows need grace >= 0 (got ${graceMs})`);
  }
  static ofTimeDifferenceWithNoGrace(diffMs: number): JoinWindows {
    return new JoinWindows(diffMs, diffMs, 0);
  }
  static ofTimeDifferenceAndGrace(diffMs: number, graceMs: number): JoinWindows {
    return new JoinWindows(diffMs, diffMs, graceMs);
  }
  /** How far back from a left record's timestamp the right side's records join it. */
  before(ms: number): JoinWindows {
    return new JoinWindows(ms, this.afterMs, this.graceMs);
  }
  /** How far forward from a left record's timestamp the right side's records join it. */
  after(ms: number): JoinWindows {
    return new JoinWindows(this.beforeMs, ms, this.graceMs);
  }
  /** before + after: with the grace, how long each side keeps its records (Kafka's window store retention). */
  get sizeMs(): number {
    return this.beforeMs + this.afterMs;
  }
}

/** Windowed keys as bytes: the key's length (int32), its bytes, start and end (int64 each). */
export function windowedSerde<K>(inner: Serde<K>): Serde<Windowed<K>> {
  return {
    serialize(w) {
      const k = inner.serialize(w.key) ?? Buffer.alloc(0);
      const b = Buffer.allocUnsafe(4 + k.length + 16);
      b.writeInt32BE(k.length, 0);
      k.copy(b, 4);
      b.writeBigInt64BE(BigInt(w.start), 4 + k.length);
      b.writeBigInt64BE(BigInt(w.end), 12 + k.length);
      return b;
    },
    deserialize(b) {
      if (b === null || b.length < 20) throw new TypeError('windowed key: fewer than 20 bytes');
      const n = b.readInt32BE(0);
      if (n < 0 || b.length !== 4 + n + 16)
        throw new TypeError(`windowed key: length ${n} does not fit ${b.length} bytes`);
      return {
        key: inner.deserialize(b.subarray(4, 4 + n)),
        start: Number(b.readBigInt64BE(4 + n)),
        end: Number(b.readBigInt64BE(12 + n)),
      };
    },
  };
}
