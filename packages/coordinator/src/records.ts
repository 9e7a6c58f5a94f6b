import { DecodeError, ERROR_CODES, Reader, Writer } from '@sluice/protocol';

/**
 * Kafka's `__consumer_offsets` record formats (group-coordinator/.../common/message/*.json):
 * every key and value starts with an int16 schema version. Key versions 0 and 1 are
 * OffsetCommitKey, 2 is GroupMetadataKey; higher key versions belong to the new consumer-group
 * protocol (KIP-848) and are skipped by the loader here.
 */
export const OFFSET_COMMIT_KEY_VERSION = 1;
export const GROUP_METADATA_KEY_VERSION = 2;
/** Value versions written: OffsetCommitValue v3 (v1 when an explicit expire timestamp is set), GroupMetadataValue v3. */
const OFFSET_VALUE_VERSION = 3;
const OFFSET_VALUE_VERSION_WITH_EXPIRE = 1;
const GROUP_VALUE_VERSION = 3;
const MAX_VALUE_VERSION = 4;
/** A bound on members decoded from one group record (each takes at least 26 bytes anyway). */
const MAX_MEMBERS_PER_RECORD = 100_000;

export interface OffsetCommitKey {
  type: 'offset';
  group: string;
  topic: string;
  partition: number;
}

export interface GroupMetadataKey {
  type: 'group';
  group: string;
}

export interface OtherKey {
  type: 'other';
  version: number;
}

export type CoordinatorKey = OffsetCommitKey | GroupMetadataKey | OtherKey;

export interface OffsetCommitValue {
  offset: bigint;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
  /** -1 when none (only value version 1 carries one). */
  expireTimestamp: number;
}

export interface MemberMetadataValue {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeout: number;
  sessionTimeout: number;
  subscription: Buffer;
  assignment: Buffer;
}

export interface GroupMetadataValue {
  protocolType: string;
  generation: number;
  protocol: string | null;
  leader: string | null;
  currentStateTimestamp: number;
  members: MemberMetadataValue[];
}

export function encodeOffsetCommitKey(group: string, topic: string, partition: number): Buffer {
  return new Writer(64).int16(OFFSET_COMMIT_KEY_VERSION).string(group).string(topic).int32(partition).toBuffer();
}

export function encodeGroupMetadataKey(group: string): Buffer {
  return new Writer(64).int16(GROUP_METADATA_KEY_VERSION).string(group).toBuffer();
}

export function decodeKey(buf: Buffer): CoordinatorKey {
  const r = new Reader(buf);
  const version = r.int16();
  if (version === 0 || version === 1) {
    return { type: 'offset', group: r.string(), topic: r.string(), partition: r.int32() };
  }
  if (version === GROUP_METADATA_KEY_VERSION) return { type: 'group', group: r.string() };
  return { type: 'other', version };
}

export function encodeOffsetCommitValue(v: OffsetCommitValue): Buffer {
  const w = new Writer(64);
  if (v.expireTimestamp >= 0) {
    w.int16(OFFSET_VALUE_VERSION_WITH_EXPIRE).int64(v.offset).string(v.metadata);
    w.int64(BigInt(v.commitTimestamp)).int64(BigInt(v.expireTimestamp));
  } else {
    w.int16(OFFSET_VALUE_VERSION).int64(v.offset).int32(v.leaderEpoch).string(v.metadata);
    w.int64(BigInt(v.commitTimestamp));
  }
  return w.toBuffer();
}

function checkValueVersion(version: number, what: string): void {
  if (version < 0 || version > MAX_VALUE_VERSION) {
    throw new DecodeError(`${what}: unknown value version ${version}`, 0, ERROR_CODES.CORRUPT_MESSAGE);
  }
}

export function decodeOffsetCommitValue(buf: Buffer): OffsetCommitValue {
  const r = new Reader(buf);
  const version = r.int16();
  checkValueVersion(version, 'OffsetCommitValue');
  const flex = version >= 4;
  const offset = r.int64();
  const leaderEpoch = version >= 3 ? r.int32() : -1;
  const metadata = flex ? r.compactString() : r.string();
  const commitTimestamp = Number(r.int64());
  const expireTimestamp = version === 1 ? Number(r.int64()) : -1;
  if (flex) r.taggedFields();
  return { offset, leaderEpoch, metadata, commitTimestamp, expireTimestamp };
}

export function encodeGroupMetadataValue(v: GroupMetadataValue): Buffer {
  const w = new Writer(256);
  w.int16(GROUP_VALUE_VERSION).string(v.protocolType).int32(v.generation);
  w.nullableString(v.protocol).nullableString(v.leader).int64(BigInt(v.currentStateTimestamp));
  w.arrayLength(v.members.length);
  for (const m of v.members) {
    w.string(m.memberId).nullableString(m.groupInstanceId).string(m.clientId).string(m.clientHost);
    w.int32(m.rebalanceTimeout).int32(m.sessionTimeout).bytes(m.subscription).bytes(m.assignment);
  }
  return w.toBuffer();
}

/** Decodes a group record; byte fields are copied, so the result outlives the (possibly mapped) log buffer. */
export function decodeGroupMetadataValue(buf: Buffer): GroupMetadataValue {
  const r = new Reader(buf);
  const version = r.int16();
  checkValueVersion(version, 'GroupMetadataValue');
  const flex = version >= 4;
  const str = () => (flex ? r.compactString() : r.string());
  const nstr = () => (flex ? r.compactNullableString() : r.nullableString());
  const bytes = () => Buffer.from(flex ? r.compactBytes() : r.bytes());
  const protocolType = str();
  const generation = r.int32();
  const protocol = nstr();
  const leader = nstr();
  const currentStateTimestamp = version >= 2 ? Number(r.int64()) : -1;
  const count = flex ? r.compactArrayLength(10) : r.arrayLength(16);
  if (count > MAX_MEMBERS_PER_RECORD) {
    throw new DecodeError(`GroupMetadataValue: ${count} members`, r.offset, ERROR_CODES.CORRUPT_MESSAGE);
  }
  const members: MemberMetadataValue[] = [];
  for (let i = 0; i < count; i++) {
    const memberId = str();
    const groupInstanceId = version >= 3 ? nstr() : null;
    const clientId = str();
    const clientHost = str();
    const rebalanceTimeout = version >= 1 ? r.int32() : -1;
    const sessionTimeout = r.int32();
    const subscription = bytes();
    const assignment = bytes();
    if (flex) r.taggedFields();
    members.push({
      memberId,
      groupInstanceId,
      clientId,
      clientHost,
      rebalanceTimeout: rebalanceTimeout < 0 ? sessionTimeout : rebalanceTimeout,
      sessionTimeout,
      subscription,
      assignment,
    });
  }
  if (flex) r.taggedFields();
  return { protocolType, generation, protocol, leader, currentStateTimestamp, members };
}
