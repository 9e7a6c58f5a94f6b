import { DecodeError, ERROR_CODES, Reader, Writer } from '@sluice/protocol';
import type { TopicAssignment } from './assignors.js';
import type { ClassicMemberMetadata } from './classic-protocol.js';
import type { MemberStateCode } from './reconcile.js';

/**
 * The `__consumer_offsets` records of KIP-848 consumer groups, in Kafka's formats
 * (group-coordinator/src/main/resources/common/message/ConsumerGroup*.json as Kafka 4.4 writes
 * them): the key is an int16 record type followed by non-flexible fields; the value an int16
 * version (0) followed by flexible fields and tagged fields.
 */
export const CONSUMER_RECORD_TYPE = {
  GROUP_METADATA: 3,
  MEMBER_METADATA: 5,
  TARGET_ASSIGNMENT_METADATA: 6,
  TARGET_ASSIGNMENT_MEMBER: 7,
  CURRENT_MEMBER_ASSIGNMENT: 8,
} as const;

/** A bound on entries of any array decoded from one record. */
const MAX_ENTRIES = 1_000_000;

export type ConsumerRecordKey =
  | { type: 'group' | 'targetMetadata'; groupId: string }
  | { type: 'member' | 'targetMember' | 'currentAssignment'; groupId: string; memberId: string };

export function encodeConsumerGroupKey(type: number, groupId: string, memberId?: string): Buffer {
  const w = new Writer(64).int16(type).string(groupId);
  if (memberId !== undefined) w.string(memberId);
  return w.toBuffer();
}

/** Decodes a key of the types above; null for any other record type. */
export function decodeConsumerGroupKey(buf: Buffer): ConsumerRecordKey | null {
  const r = new Reader(buf);
  const type = r.int16();
  switch (type) {
    case CONSUMER_RECORD_TYPE.GROUP_METADATA:
      return { type: 'group', groupId: r.string() };
    case CONSUMER_RECORD_TYPE.TARGET_ASSIGNMENT_METADATA:
      return { type: 'targetMetadata', groupId: r.string() };
    case CONSUMER_RECORD_TYPE.MEMBER_METADATA:
      return { type: 'member', groupId: r.string(), memberId: r.string() };
    case CONSUMER_RECORD_TYPE.TARGET_ASSIGNMENT_MEMBER:
      return { type: 'targetMember', groupId: r.string(), memberId: r.string() };
    case CONSUMER_RECORD_TYPE.CURRENT_MEMBER_ASSIGNMENT:
      return { type: 'currentAssignment', groupId: r.string(), memberId: r.string() };
    default:
      return null;
  }
}

/** A reader past a record value's version (only version 0 exists); shared with the share-group records. */
export function valueReader(buf: Buffer, what: string): Reader {
  const r = new Reader(buf);
  const version = r.int16();
  if (version !== 0) {
    throw new DecodeError(`${what}: unknown value version ${version}`, 0, ERROR_CODES.CORRUPT_MESSAGE);
  }
  return r;
}

/** A `[]TopicPartitions` field (topic id, partitions), shared with the share-group records. */
export function writeTopicPartitions(w: Writer, a: TopicAssignment): void {
  const topics = [...a].filter(([, ps]) => ps.size > 0);
  w.compactArrayLength(topics.length);
  for (const [topicId, ps] of topics) {
    w.uuid(topicId);
    const sorted = [...ps].sort((x, y) => x - y);
    w.compactArrayLength(sorted.length);
    for (const p of sorted) w.int32(p);
    w.uvarint(0);
  }
}

export function readTopicPartitions(r: Reader): TopicAssignment {
  const n = r.compactArrayLength(18);
  if (n < 0 || n > MAX_ENTRIES) throw new DecodeError(`topic partitions: bad count ${n}`, r.offset);
  const out: TopicAssignment = new Map();
  for (let i = 0; i < n; i++) {
    const topicId = r.uuid();
    const m = r.compactArrayLength(4);
    if (m < 0) throw new DecodeError('topic partitions: null partition array', r.offset);
    const ps = new Set<number>();
    for (let j = 0; j < m; j++) ps.add(r.int32());
    r.taggedFields();
    out.set(topicId, ps);
  }
  return out;
}

// ---------------------------------------------------------------- ConsumerGroupMetadataValue

export interface ConsumerGroupMetadataValue {
  epoch: number;
  /** Tagged field 0 (Kafka 4.1+); 0n when absent. */
  metadataHash: bigint;
}

export function encodeConsumerGroupMetadataValue(v: ConsumerGroupMetadataValue): Buffer {
  const w = new Writer(32).int16(0).int32(v.epoch);
  w.taggedFields(v.metadataHash !== 0n ? [[0, (t: Writer) => t.int64(v.metadataHash)]] : []);
  return w.toBuffer();
}

export function decodeConsumerGroupMetadataValue(buf: Buffer): ConsumerGroupMetadataValue {
  const r = valueReader(buf, 'ConsumerGroupMetadataValue');
  const epoch = r.int32();
  let metadataHash = 0n;
  r.taggedFields((tag, t) => {
    if (tag !== 0) return false;
    metadataHash = t.int64();
    return true;
  });
  return { epoch, metadataHash };
}

// ---------------------------------------------------------------- ConsumerGroupMemberMetadataValue

export interface ConsumerGroupMemberMetadataValue {
  instanceId: string | null;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
  subscribedTopicRegex: string | null;
  rebalanceTimeoutMs: number;
  serverAssignor: string | null;
  /** Set for a member that speaks the classic protocol (a mixed group); null otherwise. */
  classic: ClassicMemberMetadata | null;
}

export function encodeConsumerGroupMemberMetadataValue(v: ConsumerGroupMemberMetadataValue): Buffer {
  const w = new Writer(128).int16(0);
  w.compactNullableString(v.instanceId).compactNullableString(v.rackId);
  w.compactString(v.clientId).compactString(v.clientHost);
  w.compactArrayLength(v.subscribedTopicNames.length);
  for (const t of v.subscribedTopicNames) w.compactString(t);
  w.compactNullableString(v.subscribedTopicRegex).int32(v.rebalanceTimeoutMs).compactNullableString(v.serverAssignor);
  const classic = v.classic;
  // Tag 0: the nullable ClassicMemberMetadata struct (presence byte, fields, its own tagged fields).
  w.taggedFields(
    classic === null
      ? []
      : [
          [
            0,
            (t: Writer) => {
              t.int8(1).int32(classic.sessionTimeoutMs).compactArrayLength(classic.protocols.length);
              for (const p of classic.protocols) t.compactString(p.name).compactBytes(p.metadata).uvarint(0);
              t.uvarint(0);
            },
          ],
        ],
  );
  return w.toBuffer();
}

export function decodeConsumerGroupMemberMetadataValue(buf: Buffer): ConsumerGroupMemberMetadataValue {
  const r = valueReader(buf, 'ConsumerGroupMemberMetadataValue');
  const instanceId = r.compactNullableString();
  const rackId = r.compactNullableString();
  const clientId = r.compactString();
  const clientHost = r.compactString();
  const n = r.compactArrayLength(1);
  if (n < 0 || n > MAX_ENTRIES) throw new DecodeError(`SubscribedTopicNames: bad count ${n}`, r.offset);
  const subscribedTopicNames: string[] = [];
  for (let i = 0; i < n; i++) subscribedTopicNames.push(r.compactString());
  const subscribedTopicRegex = r.compactNullableString();
  const rebalanceTimeoutMs = r.int32();
  const serverAssignor = r.compactNullableString();
  let classic: ClassicMemberMetadata | null = null;
  r.taggedFields((tag, t) => {
    if (tag !== 0 || t.int8() === -1) return tag === 0;
    const sessionTimeoutMs = t.int32();
    const n = t.compactArrayLength(2);
    if (n < 0 || n > MAX_ENTRIES)
      throw new DecodeError(`ClassicMemberMetadata.SupportedProtocols: bad count ${n}`, t.offset);
    const protocols: ClassicMemberMetadata['protocols'] = [];
    for (let i = 0; i < n; i++) {
      const name = t.compactString();
      const metadata = Buffer.from(t.compactBytes());
      t.taggedFields();
      protocols.push({ name, metadata });
    }
    t.taggedFields();
    classic = { sessionTimeoutMs, protocols };
    return true;
  });
  return {
    instanceId,
    rackId,
    clientId,
    clientHost,
    subscribedTopicNames,
    subscribedTopicRegex,
    rebalanceTimeoutMs,
    serverAssignor,
    classic,
  };
}

// ---------------------------------------------------------------- target assignment

export function encodeTargetAssignmentMetadataValue(assignmentEpoch: number, timestampMs: number): Buffer {
  const w = new Writer(32).int16(0).int32(assignmentEpoch);
  w.taggedFields(timestampMs > 0 ? [[0, (t: Writer) => t.int64(BigInt(timestampMs))]] : []);
  return w.toBuffer();
}

export function decodeTargetAssignmentMetadataValue(buf: Buffer): { assignmentEpoch: number } {
  const r = valueReader(buf, 'ConsumerGroupTargetAssignmentMetadataValue');
  const assignmentEpoch = r.int32();
  r.taggedFields();
  return { assignmentEpoch };
}

/** A target assignment member value: consumer groups' and share groups' (type 13) have the same layout. */
export function encodeTargetAssignmentMemberValue(a: TopicAssignment): Buffer {
  const w = new Writer(64).int16(0);
  writeTopicPartitions(w, a);
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeTargetAssignmentMemberValue(
  buf: Buffer,
  what = 'ConsumerGroupTargetAssignmentMemberValue',
): TopicAssignment {
  const r = valueReader(buf, what);
  const a = readTopicPartitions(r);
  r.taggedFields();
  return a;
}

// ---------------------------------------------------------------- current member assignment

export interface CurrentMemberAssignmentValue {
  memberEpoch: number;
  previousMemberEpoch: number;
  state: MemberStateCode;
  assigned: TopicAssignment;
  pendingRevocation: TopicAssignment;
}

export function encodeCurrentMemberAssignmentValue(v: CurrentMemberAssignmentValue): Buffer {
  const w = new Writer(64).int16(0).int32(v.memberEpoch).int32(v.previousMemberEpoch).int8(v.state);
  writeTopicPartitions(w, v.assigned);
  writeTopicPartitions(w, v.pendingRevocation);
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeCurrentMemberAssignmentValue(buf: Buffer): CurrentMemberAssignmentValue {
  const r = valueReader(buf, 'ConsumerGroupCurrentMemberAssignmentValue');
  const memberEpoch = r.int32();
  const previousMemberEpoch = r.int32();
  const state = r.int8() as MemberStateCode;
  const assigned = readTopicPartitions(r);
  const pendingRevocation = readTopicPartitions(r);
  r.taggedFields();
  return { memberEpoch, previousMemberEpoch, state, assigned, pendingRevocation };
}
