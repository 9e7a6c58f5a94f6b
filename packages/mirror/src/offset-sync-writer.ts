// When the mirror writes an offset sync (MM2's MirrorSourceTask.PartitionState) and how many it keeps
// unacknowledged: a sync when a partition starts in this run, when translating from the last sync
// would lag offset.lag.max records behind, and wherever offsets stop lining up (gaps, truncation).
import type { OffsetSync } from './records.js';

/** Offset syncs sent and not yet acknowledged; more wait, at most one per partition. */
export const MAX_OUTSTANDING_SYNCS = 100;

interface PartitionSyncState {
  prevUpstream: bigint;
  prevDownstream: bigint;
  lastSyncDownstream: bigint;
}

export class OffsetSyncWriter {
  private readonly states = new Map<string, PartitionSyncState>();
  /** At most one sync per partition waiting for the sender (bounded by the partitions mirrored). */
  private readonly pending = new Map<string, OffsetSync>();
  private outstanding = 0;

  constructor(
    private readonly offsetLagMax: bigint,
    /** Sends a sync; resolves or rejects once the cluster answered. */
    private readonly send: (sync: OffsetSync) => Promise<void>,
    private readonly maxOutstanding = MAX_OUTSTANDING_SYNCS,
  ) {}

  /** A record copied: `upstream` on the source became `downstream` on the target. */
  copied(topic: string, partition: number, upstream: bigint, downstream: bigint): void {
    const key = `${topic}\u0000${partition}`;
    let st = this.states.get(key);
    if (st === undefined) {
      st = { prevUpstream: -1n, prevDownstream: -1n, lastSyncDownstream: -1n };
      this.states.set(key, st);
    }
    const due =
      st.lastSyncDownstream === -1n ||
      downstream - (st.lastSyncDownstream + 1n) >= this.offsetLagMax ||
      upstream - st.prevUpstream !== 1n ||
      downstream < st.prevDownstream;
    st.prevUpstream = upstream;
    st.prevDownstream = downstream;
    if (!due) return;
    st.lastSyncDownstream = downstream;
    // While the sender is busy a partition keeps its oldest unsent sync: translating from an older
    // sync is coarser but never past the record, while only a newer one would leave the offsets
    // before it without any translation.
    if (!this.pending.has(key))
      this.pending.set(key, { topic, partition, upstreamOffset: upstream, downstreamOffset: downstream });
    this.drain();
  }

  /** Syncs waiting for the sender now. */
  get waiting(): number {
    return this.pending.size;
  }

  private drain(): void {
    for (const [key, sync] of this.pending) {
      if (this.outstanding >= this.maxOutstanding) return;
      this.pending.delete(key);
      this.outstanding++;
      this.send(sync)
        .catch(() => {})
        .finally(() => {
          this.outstanding--;
          this.drain();
        });
    }
  }
}
