import { IndexFile } from './index-file.js';
import type { FileIo } from './io/types.js';

export const TIME_INDEX_ENTRY_BYTES = 12;

/** `.timeindex`: sparse map from the largest timestamp so far to the relative offset holding it. */
export class TimeIndex extends IndexFile {
  constructor(io: FileIo, path: string, maxBytes: number) {
    super(io, path, TIME_INDEX_ENTRY_BYTES, maxBytes);
  }

  timestampAt(i: number): bigint {
    return this.mem.readBigInt64BE(i * 12);
  }

  relOffsetAt(i: number): number {
    return this.mem.readInt32BE(i * 12 + 8);
  }

  lastTimestamp(): bigint {
    return this.entries === 0 ? -1n : this.timestampAt(this.entries - 1);
  }

  /** Adds an entry only when the timestamp grew, so entries stay sorted by both fields. */
  maybeAppend(timestamp: bigint, relOffset: number): void {
    if (this.entries > 0 && (timestamp <= this.lastTimestamp() || relOffset <= this.relOffsetAt(this.entries - 1)))
      return;
    if (this.isFull) return;
    const at = this.grow();
    this.mem.writeBigInt64BE(timestamp, at);
    this.mem.writeInt32BE(relOffset, at + 8);
  }

  /** Relative offset of the last entry with timestamp < `ts` (a safe place to start scanning), or -1. */
  floorBefore(ts: bigint): number {
    let lo = 0;
    let hi = this.entries - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestampAt(mid) < ts) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? -1 : this.relOffsetAt(found);
  }

  truncateToRel(rel: number): void {
    let n = this.entries;
    while (n > 0 && this.relOffsetAt(n - 1) >= rel) n--;
    this.truncateEntries(n);
  }

  firstBadEntry(maxRel: number): number {
    let prevTs = -1n << 62n;
    let prevRel = -1;
    for (let i = 0; i < this.entries; i++) {
      const ts = this.timestampAt(i);
      const rel = this.relOffsetAt(i);
      if (ts <= prevTs || rel <= prevRel || rel > maxRel || rel < 0) return i;
      prevTs = ts;
      prevRel = rel;
    }
    return -1;
  }
}
