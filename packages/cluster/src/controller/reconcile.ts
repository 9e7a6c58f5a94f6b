import type { MetadataImage } from '../image.js';
import type { PartitionRecord } from '../model.js';
import { buildPartitionChange, type IsActive } from './partition-change.js';

/** A broker may lead and stay in ISRs while registered and not in controlled shutdown. */
export function activeBrokers(image: MetadataImage): IsActive {
  return (id) => {
    const b = image.brokers.get(id);
    return b !== undefined && !b.inControlledShutdown;
  };
}

/**
 * What the controller must write for the cluster as it is now, level-triggered so that a new
 * controller (or one that missed events) converges the same way: brokers that are gone or in
 * controlled shutdown leave every ISR and lose their leaderships (Kafka's handleBrokerFenced /
 * handleBrokerInControlledShutdown), and partitions without a leader elect one from the ISR once a
 * member is back (handleBrokerUnfenced); unclean only where `uncleanFor(topicName)` says so.
 * Partitions of topics not visible yet (being created) are left alone. At most `limit` changes.
 */
export function planReconciliation(
  image: MetadataImage,
  uncleanFor: (topicName: string) => boolean,
  limit = 10_000,
): PartitionRecord[] {
  const isActive = activeBrokers(image);
  const out: PartitionRecord[] = [];
  for (const topic of image.topics.values()) {
    const unclean = uncleanFor(topic.name);
    for (const p of image.partitionsOf(topic.topicId)) {
      if (out.length >= limit) return out;
      const targetIsr = p.isr.filter(isActive);
      const next = buildPartitionChange(p, { targetIsr, election: unclean ? 'unclean' : 'online' }, isActive);
      if (next) out.push(next);
    }
  }
  return out;
}
