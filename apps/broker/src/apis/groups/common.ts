import type { BrokerContext } from '../../server/context.js';
import type { RequestContext } from '../../server/dispatcher.js';
import { leadsPartition } from '../cluster-view.js';
import { OFFSETS_TOPIC } from './offsets-topic.js';

/** Kafka reports a member's host as the client address with a leading slash (InetAddress.toString). */
export function clientHostOf(ctx: RequestContext): string {
  const remote = ctx.connection.remote;
  const colon = remote.lastIndexOf(':');
  return `/${colon > 0 ? remote.slice(0, colon) : remote}`;
}

export function clientIdOf(ctx: RequestContext): string {
  return ctx.header.clientId ?? '';
}

/**
 * Whether this broker coordinates the group: it leads the group's `__consumer_offsets` partition
 * (always on a single node, and before the topic exists: the first write creates it). Elsewhere
 * Kafka answers NOT_COORDINATOR and the client looks its coordinator up again.
 */
export function coordinates(broker: BrokerContext, groupId: string): boolean {
  const offsets = broker.topics.get(OFFSETS_TOPIC);
  if (offsets === undefined) return true;
  return leadsPartition(broker, offsets.topicId, broker.groups.coordinator.partitionFor(groupId));
}
