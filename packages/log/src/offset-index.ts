import { IndexFile } from './index-file.js';
import type { FileIo } from './io/types.js';

export const OFFSET_INDEX_ENTRY_BYTES = 8;

/** `.index`: sparse map from a batch's last offset (relative to the segment base) to its position. */
export class OffsetIndex extends IndexFile {
  constructor(io: FileIo, path: string, maxBytes: number) {
    super(io, path, OFFSET_INDEX_ENTRY_BYTES, maxBytes);
  }

  relOffsetAt(i: number): number {
    return this.mem.readInt32BE(i * 8);
  }

  positionAt(i: number): number {
    return this.mem.readInt32BE(i * 8 + 4);
  }

  append(relOffset: number, position: number): void {
    const at = this.grow();
    this.mem.writeInt32BE(relOffset, at);
    this.mem.writeInt32BE(position, at + 4);
  }

  /** Index of the last entry with relative offset <= `rel`, or -1. */
  floor(rel: number): number {
    return this.lastAtOrBelow(rel, (i) => this.relOffsetAt(i));
  }

  /** Index of the last entry whose batch starts at or before `position`, or -1. */
  floorByPosition(position: number): number {
    return this.lastAtOrBelow(position, (i) => this.positionAt(i));
  }

  /** Binary search over the entries by one of their fields (both grow with the entry's index). */
  private lastAtOrBelow(value: number, field: (i: number) => number): number {
    let lo = 0;
    let hi = this.entries - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (field(mid) <= value) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Drops entries for relative offsets >= `rel`. */
  truncateToRel(rel: number): void {
    this.truncateEntries(this.floor(rel - 1) + 1);
  }

  /** Position of the last indexed batch at or before `rel` (0 when none). */
  lookupPosition(rel: number): number {
    const i = this.floor(rel);
    return i < 0 ? 0 : this.positionAt(i);
  }

  /** The first entry that breaks monotonicity or points past `logSize`, or -1 when sound. */
  firstBadEntry(logSize: number): number {
    let prevRel = -1;
    let prevPos = -1;
    for (let i = 0; i < this.entries; i++) {
      const rel = this.relOffsetAt(i);
      const pos = this.positionAt(i);
      if (rel <= prevRel || pos <= prevPos || pos >= logSize || rel < 0) return i;
      prevRel = rel;
      prevPos = pos;
    }
    return -1;
  }
}
