// Translates upstream (source) offsets to downstream (target) offsets from offset syncs, as MM2's
// OffsetSyncStore does since KAFKA-14666: the answer for an upstream offset between two syncs is
// the earlier sync's downstream offset + 1, so a consumer that switches clusters may read a few
// records again but never skips one.
import type { OffsetSync } from './records.js';

/** Syncs kept per partition; when full, the one whose removal leaves the smallest gap goes, so old syncs thin out. */
export const SYNCS_PER_PARTITION = 64;

/**
 * The index of the sync whose removal leaves the smallest upstream gap: never the first, and with three
 * or more never the last either (with two, the last). The store and the offset sync writer's queue thin
 * out by it.
 */
export function thinnest(syncs: readonly OffsetSync[]): number {
  let best = syncs.length - 1;
  let bestGap: bigint | null = null;
  for (let i = 1; i < syncs.length - 1; i++) {
    const gap = syncs[i + 1].upstreamOffset - syncs[i - 1].upstreamOffset;
    if (bestGap === null || gap < bestGap) {
      best = i;
      bestGap = gap;
    }
  }
  return best;
}

export class OffsetSyncStore {
  private readonly byPartition = new Map<string, OffsetSync[]>();

  constructor(private readonly capacity = SYNCS_PER_PARTITION) {
    if (capacity < 2) throw new RangeError('an offset sync store keeps at least 2 syncs per partition');
  }

  /** Adds a sync; a sync at or below the newest one (a restart re-copied records) replaces the syncs from there on. */
  add(sync: OffsetSync): void {
    const key = `${sync.topic}\u0000${sync.partition}`;
    let syncs = this.byPartition.get(key);
    if (syncs === undefined) {
      syncs = [];
      this.byPartition.set(key, syncs);
    }
    while (syncs.length > 0 && syncs[syncs.length - 1].upstreamOffset >= sync.upstreamOffset) syncs.pop();
    syncs.push(sync);
    if (syncs.length > this.capacity) syncs.splice(thinnest(syncs), 1);
  }

  /** The downstream offset for an upstream offset of `topic`-`partition` (upstream names), or null when no sync is at or below it. */
  translate(topic: string, partition: number, upstreamOffset: bigint): bigint | null {
    const syncs = this.byPartition.get(`${topic}\u0000${partition}`);
    if (syncs === undefined) return null;
    // Binary search for the last sync with upstreamOffset <= the offset asked for.
    let lo = 0;
    let hi = syncs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (syncs[mid].upstreamOffset <= upstreamOffset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return null;
    const s = syncs[found];
    return s.downstreamOffset + (s.upstreamOffset === upstreamOffset ? 0n : 1n);
  }

  /** Syncs held for a partition (for tests and diagnostics). */
  syncs(topic: string, partition: number): readonly OffsetSync[] {
    return this.byPartition.get(`${topic}\u0000${partition}`) ?? [];
  }
}
