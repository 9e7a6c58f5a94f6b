import {
  ConsumerProtocolAssignmentCodec,
  ConsumerProtocolSubscriptionCodec,
  DecodeError,
  Reader,
  Writer,
} from '@sluice/protocol';
import type { TopicAssignment } from './assignors.js';

/**
 * `group.consumer.migration.policy`: which conversions between a classic group and a KIP-848
 * consumer group happen online (Kafka's ConsumerGroupMigrationPolicy; its default is bidirectional).
 */
export type ConsumerGroupMigrationPolicy = 'disabled' | 'upgrade' | 'downgrade' | 'bidirectional';

export const MIGRATION_POLICIES: readonly ConsumerGroupMigrationPolicy[] = [
  'disabled',
  'upgrade',
  'downgrade',
  'bidirectional',
];

export function upgradeEnabled(p: ConsumerGroupMigrationPolicy): boolean {
  return p === 'upgrade' || p === 'bidirectional';
}

export function downgradeEnabled(p: ConsumerGroupMigrationPolicy): boolean {
  return p === 'downgrade' || p === 'bidirectional';
}

/** The protocol type of the consumer's embedded protocol: the only one a consumer group takes. */
export const CONSUMER_PROTOCOL_TYPE = 'consumer';

export interface ClassicProtocol {
  name: string;
  metadata: Buffer;
}

/** What a member of a consumer group that speaks the classic protocol sent in its last JoinGroup. */
export interface ClassicMemberMetadata {
  sessionTimeoutMs: number;
  /** In the member's order of preference; the first one is the protocol it is told to use. */
  protocols: ClassicProtocol[];
}

/** A classic member as it moves from one kind of group to the other. */
export interface ClassicMemberSnapshot {
  memberId: string;
  instanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  protocols: ClassicProtocol[];
  /** The member's last assignment in the embedded consumer protocol's format (may be empty). */
  assignment: Buffer;
}

export interface ClassicSubscription {
  topics: string[];
  /** Partitions the member says it owns (ConsumerProtocolSubscription v1+), by topic name. */
  ownedPartitions: { topic: string; partitions: number[] }[];
  rackId: string | null;
}

/** Decodes a ConsumerProtocolSubscription (JoinGroup metadata); a DecodeError names what is wrong. */
export function decodeClassicSubscription(metadata: Buffer): ClassicSubscription {
  const r = new Reader(metadata);
  const version = r.int16();
  if (version < 0) throw new DecodeError(`ConsumerProtocolSubscription: bad version ${version}`, 0);
  const sub = ConsumerProtocolSubscriptionCodec.decode(
    r,
    Math.min(version, ConsumerProtocolSubscriptionCodec.maxVersion),
  );
  return {
    topics: sub.topics,
    ownedPartitions: sub.ownedPartitions.map((tp) => ({ topic: tp.topic, partitions: tp.partitions })),
    rackId: sub.rackId,
  };
}

/** The version of the embedded protocol a member's metadata is written in (its assignment is answered in it). */
export function subscriptionVersion(metadata: Buffer): number {
  if (metadata.length < 2) return 0;
  const v = metadata.readInt16BE(0);
  return Math.max(0, Math.min(v, ConsumerProtocolAssignmentCodec.maxVersion));
}

/** Encodes an assignment by topic id as a ConsumerProtocolAssignment; topics without a name are left out. */
export function encodeClassicAssignment(
  assigned: TopicAssignment,
  nameOf: (topicId: string) => string | undefined,
  version: number,
): Buffer {
  const assignedPartitions: { topic: string; partitions: number[] }[] = [];
  for (const [topicId, ps] of assigned) {
    const topic = nameOf(topicId);
    if (topic === undefined || ps.size === 0) continue;
    assignedPartitions.push({ topic, partitions: [...ps].sort((a, b) => a - b) });
  }
  const w = new Writer(64).int16(version);
  ConsumerProtocolAssignmentCodec.encode(w, version, { assignedPartitions, userData: null });
  return w.toBuffer();
}

/** Decodes a ConsumerProtocolAssignment into partitions by topic id; unknown topics are dropped, empty is empty. */
export function decodeClassicAssignment(
  assignment: Buffer,
  idOf: (topicName: string) => string | undefined,
): TopicAssignment {
  const out: TopicAssignment = new Map();
  if (assignment.length === 0) return out;
  const r = new Reader(assignment);
  const version = r.int16();
  if (version < 0) throw new DecodeError(`ConsumerProtocolAssignment: bad version ${version}`, 0);
  const a = ConsumerProtocolAssignmentCodec.decode(r, Math.min(version, ConsumerProtocolAssignmentCodec.maxVersion));
  for (const tp of a.assignedPartitions) {
    const id = idOf(tp.topic);
    if (id === undefined) continue;
    let s = out.get(id);
    if (s === undefined) out.set(id, (s = new Set()));
    for (const p of tp.partitions) s.add(p);
  }
  return out;
}
