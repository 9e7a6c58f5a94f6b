import { NO_LEADER } from '@sluice/cluster/core';
import type { BrokerContext } from '../server/context.js';

/** A broker as Metadata and DescribeCluster list it. */
export interface BrokerEndpoint {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

/**
 * The registered brokers from the metadata image, each at the advertised listener named `listener`
 * (the one the client connected to, as Kafka answers; unnamed: the first), in node id order; this
 * broker alone until its registration shows in the image.
 */
export function clusterBrokers(broker: BrokerContext, listener?: string): BrokerEndpoint[] {
  const out: BrokerEndpoint[] = [];
  for (const b of broker.store.image.brokers.values()) {
    const l = (listener !== undefined && b.listeners.find((x) => x.name === listener)) || b.listeners[0];
    if (l) out.push({ nodeId: b.nodeId, host: l.host, port: l.port, rack: b.rack });
  }
  if (!out.some((b) => b.nodeId === broker.nodeId)) {
    out.push({ nodeId: broker.nodeId, host: broker.advertised.host, port: broker.advertised.port, rack: null });
  }
  return out.sort((a, b) => a.nodeId - b.nodeId);
}

/** The active controller's node id, or -1 while there is none (Kafka's answer then). */
export function controllerId(broker: BrokerContext): number {
  return broker.store.image.controller?.nodeId ?? -1;
}

/** Leader, replicas and ISR of one partition as the metadata image has them (this node alone without a record). */
export function partitionView(
  broker: BrokerContext,
  topicId: string,
  partition: number,
): { leader: number; leaderEpoch: number; replicas: number[]; isr: number[]; offline: number[] } {
  const record = broker.store.image.partition(topicId, partition);
  if (!record) {
    return { leader: broker.nodeId, leaderEpoch: 0, replicas: [broker.nodeId], isr: [broker.nodeId], offline: [] };
  }
  const brokers = broker.store.image.brokers;
  return {
    leader: record.leader,
    leaderEpoch: record.leaderEpoch,
    replicas: record.replicas,
    isr: record.isr,
    offline: record.replicas.filter((id) => !brokers.has(id)),
  };
}

/** Whether this broker leads the partition (a partition without a record is this node's: single-node data). */
export function leadsPartition(
  broker: Pick<BrokerContext, 'store' | 'nodeId'>,
  topicId: string,
  partition: number,
): boolean {
  const record = broker.store.image.partition(topicId, partition);
  return record === undefined || record.leader === broker.nodeId;
}

/** The partition's leader epoch as the metadata image has it (0 without a record: single-node data). */
export function leaderEpochOf(broker: Pick<BrokerContext, 'store'>, topicId: string, partition: number): number {
  return broker.store.image.partition(topicId, partition)?.leaderEpoch ?? 0;
}

/** The leader's endpoint for KIP-951's current-leader fields, or null when it has none or is unknown. */
export function leaderEndpoint(
  broker: BrokerContext,
  topicId: string,
  partition: number,
  listener?: string,
): BrokerEndpoint | null {
  const leader = broker.store.image.partition(topicId, partition)?.leader ?? NO_LEADER;
  if (leader === NO_LEADER) return null;
  return clusterBrokers(broker, listener).find((b) => b.nodeId === leader) ?? null;
}
