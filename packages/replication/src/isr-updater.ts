import type { MetadataStore, WriteFence } from '@sluice/cluster/core';
import type { PartitionReplica } from './partition-replica.js';

/** What happened to one ISR check. */
export type IsrUpdateOutcome = 'none' | 'written' | 'refused';

/**
 * Proposes the ISR change a leader owes now, if any, through the metadata store (Kafka's
 * AlterPartition): compared on the partition epoch and fenced by this broker's registration, so a
 * leader that was replaced, or whose registration lapsed, is refused. The new record reaches the
 * replica through the store's change events; a refusal leaves the ISR as it was, and a later
 * check proposes again from the state then.
 */
export async function updateIsr(
  replica: PartitionReplica,
  store: Pick<MetadataStore, 'alterPartitions'>,
  fence: WriteFence,
  lagMaxMs: number,
  eligible?: (nodeId: number) => boolean,
): Promise<IsrUpdateOutcome> {
  const isr = replica.isrChangeDue(lagMaxMs, eligible);
  if (isr === null) return 'none';
  const update = replica.proposeIsr(isr);
  try {
    await store.alterPartitions([update], fence);
    return 'written';
  } catch {
    replica.isrChangeFailed();
    return 'refused';
  }
}
