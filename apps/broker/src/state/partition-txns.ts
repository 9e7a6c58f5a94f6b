/** A bound on aborted transactions remembered per partition; the oldest are forgotten beyond it. */
export const MAX_ABORTED_TXNS_PER_PARTITION = 1_000_000;

/** One aborted transaction of a partition: Kafka's AbortedTxn (the `.txnindex` entry). */
export interface AbortedTxn {
  producerId: bigint;
  firstOffset: bigint;
  /** The offset of the abort marker. */
  lastOffset: bigint;
  /** The partition's last stable offset once this transaction ended. */
  lastStableOffset: bigint;
}

/** A completed transaction whose marker the high watermark has not passed yet (it holds the LSO back). */
interface Unreplicated {
  firstOffset: bigint;
  markerOffset: bigint;
}

/**
 * The transactions of one partition, as Kafka's ProducerStateManager tracks them: the first
 * offset of each producer's open transaction, the aborted ones (what read_committed consumers
 * must skip) and from these the last stable offset — the first offset of the oldest transaction
 * not yet decided and replicated, never above the high watermark.
 */
export class PartitionTxns {
  /** Producer id → first offset of its open transaction. */
  private readonly ongoing = new Map<bigint, bigint>();
  private readonly unreplicated: Unreplicated[] = [];
  /** Ordered by lastOffset (markers are appended in offset order). */
  private aborted: AbortedTxn[] = [];

  get ongoingCount(): number {
    return this.ongoing.size;
  }

  /** The first offset of `producerId`'s open transaction, or -1. */
  firstOffsetOf(producerId: bigint): bigint {
    return this.ongoing.get(producerId) ?? -1n;
  }

  /** A transactional data batch from `producerId` was appended at `firstOffset`. */
  onData(producerId: bigint, firstOffset: bigint): void {
    if (!this.ongoing.has(producerId)) this.ongoing.set(producerId, firstOffset);
  }

  /** A commit or abort marker of `producerId` was appended at `markerOffset`. */
  onMarker(producerId: bigint, commit: boolean, markerOffset: bigint): AbortedTxn | null {
    const firstOffset = this.ongoing.get(producerId) ?? markerOffset;
    this.ongoing.delete(producerId);
    this.unreplicated.push({ firstOffset, markerOffset });
    if (commit) return null;
    const entry = {
      producerId,
      firstOffset,
      lastOffset: markerOffset,
      lastStableOffset: this.firstOngoing(markerOffset + 1n),
    };
    this.aborted.push(entry);
    if (this.aborted.length > MAX_ABORTED_TXNS_PER_PARTITION) this.aborted.shift();
    return entry;
  }

  private firstOngoing(otherwise: bigint): bigint {
    let first = otherwise;
    for (const o of this.ongoing.values()) if (o < first) first = o;
    return first;
  }

  /** The last stable offset under `highWatermark`. */
  lastStableOffset(highWatermark: bigint): bigint {
    // Completed transactions count as stable once the high watermark passes their marker.
    while (this.unreplicated.length > 0 && this.unreplicated[0].markerOffset < highWatermark) this.unreplicated.shift();
    let lso = this.firstOngoing(highWatermark);
    for (const u of this.unreplicated) if (u.firstOffset < lso) lso = u.firstOffset;
    return lso;
  }

  /** The aborted transactions a read_committed fetch of [fetchOffset, upperBound) must know of (Kafka's collectAbortedTxns). */
  abortedBetween(fetchOffset: bigint, upperBound: bigint, max = 10_000): AbortedTxn[] {
    const out: AbortedTxn[] = [];
    // Binary search for the first entry whose marker is at or after fetchOffset.
    let lo = 0;
    let hi = this.aborted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.aborted[mid].lastOffset < fetchOffset) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.aborted.length && out.length < max; i++) {
      const a = this.aborted[i];
      if (a.firstOffset < upperBound) out.push(a);
    }
    return out;
  }

  /** Replaces the aborted transactions (loaded from the segments' transaction indexes), in offset order. */
  setAborted(entries: readonly AbortedTxn[]): void {
    this.aborted = entries.slice(-MAX_ABORTED_TXNS_PER_PARTITION);
  }

  /** Forgets aborted transactions wholly below the log start (retention, DeleteRecords). */
  dropBefore(logStartOffset: bigint): void {
    let n = 0;
    while (n < this.aborted.length && this.aborted[n].lastOffset < logStartOffset) n++;
    if (n > 0) this.aborted = this.aborted.slice(n);
  }

  /** Forgets state at or above `offset` (a truncation): open transactions that started there, aborts marked there. */
  truncateTo(offset: bigint): void {
    for (const [pid, first] of this.ongoing) if (first >= offset) this.ongoing.delete(pid);
    this.aborted = this.aborted.filter((a) => a.lastOffset < offset);
    for (let i = this.unreplicated.length - 1; i >= 0; i--) {
      if (this.unreplicated[i].markerOffset >= offset) this.unreplicated.splice(i, 1);
    }
  }

  clear(): void {
    this.ongoing.clear();
    this.unreplicated.length = 0;
    this.aborted = [];
  }

  /** JSON-able snapshot of the open transactions (bigints as strings); aborted ones live in the `.txnindex` files. */
  toJSON(): { ongoing: [string, string][] } {
    return { ongoing: [...this.ongoing].map(([p, o]) => [p.toString(), o.toString()]) };
  }

  /** Loads a snapshot written by toJSON; throws on anything malformed. */
  load(data: unknown): void {
    const d = data as { ongoing?: unknown; aborted?: unknown };
    if (typeof d !== 'object' || d === null || !Array.isArray(d.ongoing)) {
      throw new Error('transaction snapshot: malformed');
    }
    const aborted = Array.isArray(d.aborted) ? d.aborted : [];
    if (aborted.length > MAX_ABORTED_TXNS_PER_PARTITION) throw new Error('transaction snapshot: too many entries');
    this.clear();
    for (const e of d.ongoing as unknown[]) {
      if (!Array.isArray(e) || e.length !== 2) throw new Error('transaction snapshot: bad open transaction');
      this.ongoing.set(BigInt(e[0]), BigInt(e[1]));
    }
    for (const e of aborted as unknown[]) {
      if (!Array.isArray(e) || e.length !== 4) throw new Error('transaction snapshot: bad aborted transaction');
      const [producerId, firstOffset, lastOffset, lastStableOffset] = e.map((x) => BigInt(x as string));
      this.aborted.push({ producerId, firstOffset, lastOffset, lastStableOffset });
    }
  }
}
