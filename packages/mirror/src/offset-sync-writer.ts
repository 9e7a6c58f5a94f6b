// When the mirror writes an offset sync (MM2's MirrorSourceTask.PartitionState) and how many it keeps
// unacknowledged: a sync when a partition starts in this run, when translating from the last sync
// would lag offset.lag.max records behind, and wherever offsets stop lining up (gaps, truncation).
import { thinnest } from './offset-sync-store.js';
import type { OffsetSync } from './records.js';

/** Offset syncs sent and not yet acknowledged; more wait, up to PENDING_PER_PARTITION per partition. */
export const MAX_OUTSTANDING_SYNCS = 100;
export const PENDING_PER_PARTITION = 32;

interface PartitionSyncState {
  prevUpstream: bigint;
  prevDownstream: bigint;
  lastSyncDownstream: bigint;
}

export class OffsetSyncWriter {
  private readonly states = new Map<string, PartitionSyncState>();
  /** Syncs waiting for the sender, per partition in offset order (bounded: PENDING_PER_PARTITION each). */
  private readonly pending = new Map<string, OffsetSync[]>();
  private outstanding = 0;

  constructor(
    private readonly offsetLagMax: bigint,
    /** Sends a sync; resolves or rejects once the cluster answered. */
    private readonly send: (sync: OffsetSync) => Promise<void>,
    private readonly maxOutstanding = MAX_OUTSTANDING_SYNCS,
    private readonly pendingPerPartition = PENDING_PER_PARTITION,
  ) {
    if (maxOutstanding < 1 || pendingPerPartition < 2) throw new RangeError('offset sync bounds too small');
  }

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
    // While the sender is busy a partition's syncs wait; when too many wait, the one whose removal
    // leaves the smallest gap goes. The oldest stays (without it the offsets before the next sync
    // would have no translation at all), the newest is added, and the rest thin out evenly.
    const sync = { topic, partition, upstreamOffset: upstream, downstreamOffset: downstream };
    const waiting = this.pending.get(key);
    if (waiting === undefined) this.pending.set(key, [sync]);
    else {
      if (waiting.length >= this.pendingPerPartition) waiting.splice(thinnest(waiting), 1);
      waiting.push(sync);
    }
    this.drain();
  }

  /** Syncs waiting for the sender now. */
  get waiting(): number {
    let n = 0;
    for (const w of this.pending.values()) n += w.length;
    return n;
  }

  /** Sends waiting syncs, one partition after another (each partition's in offset order). */
  private drain(): void {
    while (this.outstanding < this.maxOutstanding) {
      const first = this.pending.entries().next();
      if (first.done) return;
      const [key, waiting] = first.value;
      const sync = waiting.shift() as OffsetSync;
      // The partition goes to the back of the line (or leaves it).
      this.pending.delete(key);
      if (waiting.length > 0) this.pending.set(key, waiting);
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
