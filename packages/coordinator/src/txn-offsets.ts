import type { OffsetEntry } from './group.js';

/** An offset committed inside a transaction, not yet decided. */
export interface PendingTxnOffset {
  groupId: string;
  topic: string;
  partition: number;
  entry: OffsetEntry;
}

/**
 * Offsets committed inside transactions (TxnOffsetCommit), per producer, until the transaction's
 * marker reaches the group's `__consumer_offsets` partition: a commit makes them the group's
 * committed offsets, an abort drops them (Kafka's pendingTransactionalOffsetCommits).
 */
export class PendingTxnOffsets {
  /** producer id → `group\0topic\0partition` → the latest pending offset. */
  private readonly byProducer = new Map<bigint, Map<string, PendingTxnOffset>>();

  add(producerId: bigint, o: PendingTxnOffset): void {
    let m = this.byProducer.get(producerId);
    if (m === undefined) this.byProducer.set(producerId, (m = new Map()));
    m.set(`${o.groupId}\u0000${o.topic}\u0000${o.partition}`, o);
  }

  /** Removes and returns the producer's pending offsets of groups that `inPartition` accepts. */
  take(producerId: bigint, inPartition: (groupId: string) => boolean): PendingTxnOffset[] {
    const m = this.byProducer.get(producerId);
    if (m === undefined) return [];
    const out: PendingTxnOffset[] = [];
    for (const [k, o] of m) {
      if (!inPartition(o.groupId)) continue;
      out.push(o);
      m.delete(k);
    }
    if (m.size === 0) this.byProducer.delete(producerId);
    return out;
  }

  /** Whether an undecided transaction holds an offset of this group's partition (require_stable). */
  has(groupId: string, topic: string, partition: number): boolean {
    const k = `${groupId}\u0000${topic}\u0000${partition}`;
    for (const m of this.byProducer.values()) if (m.has(k)) return true;
    return false;
  }

  /** Whether the group has any undecided transactional offset. */
  hasGroup(groupId: string): boolean {
    for (const m of this.byProducer.values()) for (const o of m.values()) if (o.groupId === groupId) return true;
    return false;
  }
}
