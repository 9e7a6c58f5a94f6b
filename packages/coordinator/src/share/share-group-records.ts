import { DecodeError, Reader, Writer } from '@sluice/protocol';
import type { TopicAssignment } from '../consumer/assignors.js';
import {
  decodeTargetAssignmentMemberValue,
  encodeTargetAssignmentMemberValue,
  readTopicPartitions,
  valueReader,
  writeTopicPartitions,
} from '../consumer/consumer-records.js';
import { SHARE_GROUP_METADATA_RECORD_TYPE } from './share-records.js';

/**
 * The `__consumer_offsets` records of share groups besides ShareGroupMetadata (type 11), in Kafka 4.4's
 * formats (group-coordinator/src/main/resources/common/message/ShareGroup*.json): the key is an int16
 * record type and non-flexible strings, the value an int16 version (0) and flexible fields.
 */
export const SHARE_GROUP_RECORD_TYPE = {
  MEMBER_METADATA: 10,
  GROUP_METADATA: SHARE_GROUP_METADATA_RECORD_TYPE,
  TARGET_ASSIGNMENT_METADATA: 12,
  TARGET_ASSIGNMENT_MEMBER: 13,
  CURRENT_MEMBER_ASSIGNMENT: 14,
  STATE_PARTITION_METADATA: 15,
} as const;

/** A bound on entries of any array decoded from one record. */
const MAX_ENTRIES = 1_000_000;

export type ShareGroupRecordKey =
  | { type: 'group' | 'targetMetadata' | 'statePartitions'; groupId: string }
  | { type: 'member' | 'targetMember' | 'currentAssignment'; groupId: string; memberId: string };

export function encodeShareGroupKey(type: number, groupId: string, memberId?: string): Buffer {
  const w = new Writer(64).int16(type).string(groupId);
  if (memberId !== undefined) w.string(memberId);
  return w.toBuffer();
}

/** Decodes a share-group key (types 10 to 15); null for any other record type. */
export function decodeShareGroupKey(buf: Buffer): ShareGroupRecordKey | null {
  const r = new Reader(buf);
  const T = SHARE_GROUP_RECORD_TYPE;
  switch (r.int16()) {
    case T.GROUP_METADATA:
      return { type: 'group', groupId: r.string() };
    case T.TARGET_ASSIGNMENT_METADATA:
      return { type: 'targetMetadata', groupId: r.string() };
    case T.STATE_PARTITION_METADATA:
      return { type: 'statePartitions', groupId: r.string() };
    case T.MEMBER_METADATA:
      return { type: 'member', groupId: r.string(), memberId: r.string() };
    case T.TARGET_ASSIGNMENT_MEMBER:
      return { type: 'targetMember', groupId: r.string(), memberId: r.string() };
    case T.CURRENT_MEMBER_ASSIGNMENT:
      return { type: 'currentAssignment', groupId: r.string(), memberId: r.string() };
    default:
      return null;
  }
}

function count(r: Reader, what: string, minBytes: number): number {
  const n = r.compactArrayLength(minBytes);
  if (n < 0 || n > MAX_ENTRIES) throw new DecodeError(`${what}: bad count ${n}`, r.offset);
  return n;
}

// ---------------------------------------------------------------- ShareGroupMemberMetadataValue

export interface ShareGroupMemberMetadataValue {
  rackId: string | null;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
}

export function encodeShareGroupMemberMetadataValue(v: ShareGroupMemberMetadataValue): Buffer {
  const w = new Writer(128).int16(0).compactNullableString(v.rackId);
  w.compactString(v.clientId).compactString(v.clientHost);
  w.compactArrayLength(v.subscribedTopicNames.length);
  for (const t of v.subscribedTopicNames) w.compactString(t);
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeShareGroupMemberMetadataValue(buf: Buffer): ShareGroupMemberMetadataValue {
  const r = valueReader(buf, 'ShareGroupMemberMetadataValue');
  const rackId = r.compactNullableString();
  const clientId = r.compactString();
  const clientHost = r.compactString();
  const n = count(r, 'ShareGroupMemberMetadataValue.SubscribedTopicNames', 1);
  const subscribedTopicNames: string[] = [];
  for (let i = 0; i < n; i++) subscribedTopicNames.push(r.compactString());
  r.taggedFields();
  return { rackId, clientId, clientHost, subscribedTopicNames };
}

// ---------------------------------------------------------------- target assignment

export function encodeShareGroupTargetAssignmentMetadataValue(assignmentEpoch: number): Buffer {
  const w = new Writer(16).int16(0).int32(assignmentEpoch);
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeShareGroupTargetAssignmentMetadataValue(buf: Buffer): { assignmentEpoch: number } {
  const r = valueReader(buf, 'ShareGroupTargetAssignmentMetadataValue');
  const assignmentEpoch = r.int32();
  r.taggedFields();
  return { assignmentEpoch };
}

export const encodeShareGroupTargetAssignmentMemberValue = encodeTargetAssignmentMemberValue;

export function decodeShareGroupTargetAssignmentMemberValue(buf: Buffer): TopicAssignment {
  return decodeTargetAssignmentMemberValue(buf, 'ShareGroupTargetAssignmentMemberValue');
}

// ---------------------------------------------------------------- current member assignment

export interface ShareGroupCurrentMemberAssignmentValue {
  memberEpoch: number;
  previousMemberEpoch: number;
  /** Kafka's MemberState code; share members are always STABLE (0). */
  state: number;
  assigned: TopicAssignment;
}

export function encodeShareGroupCurrentMemberAssignmentValue(v: ShareGroupCurrentMemberAssignmentValue): Buffer {
  const w = new Writer(64).int16(0).int32(v.memberEpoch).int32(v.previousMemberEpoch).int8(v.state);
  writeTopicPartitions(w, v.assigned);
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeShareGroupCurrentMemberAssignmentValue(buf: Buffer): ShareGroupCurrentMemberAssignmentValue {
  const r = valueReader(buf, 'ShareGroupCurrentMemberAssignmentValue');
  const memberEpoch = r.int32();
  const previousMemberEpoch = r.int32();
  const state = r.int8();
  const assigned = readTopicPartitions(r);
  r.taggedFields();
  return { memberEpoch, previousMemberEpoch, state, assigned };
}

// ---------------------------------------------------------------- ShareGroupStatePartitionMetadataValue

export interface ShareGroupTopicPartitions {
  topicId: string;
  topicName: string;
  partitions: number[];
}

/** Which share-partitions of a group have state at the share coordinator (Kafka 4.3+ layout). */
export interface ShareGroupStatePartitionMetadataValue {
  initializingTopics: ShareGroupTopicPartitions[];
  initializedTopics: ShareGroupTopicPartitions[];
  deletingTopics: { topicId: string; topicName: string }[];
}

function writeTopicPartitionsInfo(w: Writer, topics: ShareGroupTopicPartitions[]): void {
  w.compactArrayLength(topics.length);
  for (const t of topics) {
    w.uuid(t.topicId).compactString(t.topicName).compactArrayLength(t.partitions.length);
    for (const p of t.partitions) w.int32(p);
    w.uvarint(0);
  }
}

function readTopicPartitionsInfo(r: Reader, what: string): ShareGroupTopicPartitions[] {
  const n = count(r, what, 19);
  const out: ShareGroupTopicPartitions[] = [];
  for (let i = 0; i < n; i++) {
    const topicId = r.uuid();
    const topicName = r.compactString();
    const m = count(r, `${what}.Partitions`, 4);
    const partitions: number[] = [];
    for (let j = 0; j < m; j++) partitions.push(r.int32());
    r.taggedFields();
    out.push({ topicId, topicName, partitions });
  }
  return out;
}

export function encodeShareGroupStatePartitionMetadataValue(v: ShareGroupStatePartitionMetadataValue): Buffer {
  const w = new Writer(128).int16(0);
  writeTopicPartitionsInfo(w, v.initializingTopics);
  writeTopicPartitionsInfo(w, v.initializedTopics);
  w.compactArrayLength(v.deletingTopics.length);
  for (const t of v.deletingTopics) w.uuid(t.topicId).compactString(t.topicName).uvarint(0);
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeShareGroupStatePartitionMetadataValue(buf: Buffer): ShareGroupStatePartitionMetadataValue {
  const r = valueReader(buf, 'ShareGroupStatePartitionMetadataValue');
  const initializingTopics = readTopicPartitionsInfo(r, 'InitializingTopics');
  const initializedTopics = readTopicPartitionsInfo(r, 'InitializedTopics');
  const n = count(r, 'DeletingTopics', 18);
  const deletingTopics: { topicId: string; topicName: string }[] = [];
  for (let i = 0; i < n; i++) {
    const topicId = r.uuid();
    const topicName = r.compactString();
    r.taggedFields();
    deletingTopics.push({ topicId, topicName });
  }
  r.taggedFields();
  return { initializingTopics, initializedTopics, deletingTopics };
}
