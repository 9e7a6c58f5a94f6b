import { DecodeError, ERROR_CODES, Reader, Writer } from '@sluice/protocol';
import { javaStringHashCode } from '../partitioner.js';
import type { PersistedShareState } from './share-partition.js';

/**
 * The `__share_group_state` records of Kafka's share coordinator (share-coordinator/src/main/resources/
 * common/message/ShareSnapshot{Key,Value}.json, Kafka 4.4): the key is an int16 record type (0, snapshot)
 * and the non-flexible fields GroupId, TopicId, Partition; the value an int16 version (0) and flexible
 * fields. A snapshot holds the whole state of one share-partition, so the latest one per key is all a
 * restart needs (the topic is compacted).
 */
export const SHARE_SNAPSHOT_RECORD_TYPE = 0;
export const SHARE_STATE_TOPIC = '__share_group_state';
/** A bound on state batches in one record (each covers at least one in-flight offset). */
const MAX_STATE_BATCHES = 100_000;

export interface ShareSnapshotKey {
  groupId: string;
  topicId: string;
  partition: number;
}

export interface ShareSnapshotValue extends PersistedShareState {
  snapshotEpoch: number;
  leaderEpoch: number;
  createTimestamp: bigint;
  writeTimestamp: bigint;
}

export function encodeShareSnapshotKey(k: ShareSnapshotKey): Buffer {
  return new Writer(64)
    .int16(SHARE_SNAPSHOT_RECORD_TYPE)
    .string(k.groupId)
    .uuid(k.topicId)
    .int32(k.partition)
    .toBuffer();
}

/** The key, or null for a record type other than a snapshot (ShareUpdate records are not written here). */
export function decodeShareSnapshotKey(buf: Buffer): ShareSnapshotKey | null {
  const r = new Reader(buf);
  if (r.int16() !== SHARE_SNAPSHOT_RECORD_TYPE) return null;
  return { groupId: r.string(), topicId: r.uuid(), partition: r.int32() };
}

export function encodeShareSnapshotValue(v: ShareSnapshotValue): Buffer {
  const w = new Writer(64 + v.stateBatches.length * 24)
    .int16(0)
    .int32(v.snapshotEpoch)
    .int32(v.stateEpoch)
    .int32(v.leaderEpoch)
    .int64(v.startOffset)
    .int64(v.createTimestamp)
    .int64(v.writeTimestamp);
  w.compactArrayLength(v.stateBatches.length);
  for (const b of v.stateBatches) {
    w.int64(b.firstOffset).int64(b.lastOffset).int8(b.deliveryState).int16(b.deliveryCount);
    w.uvarint(0);
  }
  // DeliveryCompleteCount (tag 0) keeps its default (-1, unknown) and is not written.
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeShareSnapshotValue(buf: Buffer): ShareSnapshotValue {
  const r = new Reader(buf);
  const version = r.int16();
  if (version !== 0) {
    throw new DecodeError(`ShareSnapshotValue: unknown version ${version}`, 0, ERROR_CODES.CORRUPT_MESSAGE);
  }
  const snapshotEpoch = r.int32();
  const stateEpoch = r.int32();
  const leaderEpoch = r.int32();
  const startOffset = r.int64();
  const createTimestamp = r.int64();
  const writeTimestamp = r.int64();
  const n = r.compactArrayLength(20);
  if (n > MAX_STATE_BATCHES) {
    throw new DecodeError(`ShareSnapshotValue: ${n} state batches`, 0, ERROR_CODES.CORRUPT_MESSAGE);
  }
  const stateBatches = [];
  for (let i = 0; i < n; i++) {
    stateBatches.push({
      firstOffset: r.int64(),
      lastOffset: r.int64(),
      deliveryState: r.int8(),
      deliveryCount: r.int16(),
    });
    r.taggedFields();
  }
  r.taggedFields();
  return { snapshotEpoch, stateEpoch, leaderEpoch, startOffset, createTimestamp, writeTimestamp, stateBatches };
}

/**
 * The `__share_group_state` partition of a share-partition, as Kafka's share coordinator places it:
 * the hash of "groupId:topicId:partition" (SharePartitionKey.asCoordinatorKey).
 */
export function shareStatePartition(k: ShareSnapshotKey, numPartitions: number): number {
  // Kafka's Uuid.toString is URL-safe base64 without padding.
  const id = Buffer.from(k.topicId.replaceAll('-', ''), 'hex').toString('base64url');
  const h = javaStringHashCode(`${k.groupId}:${id}:${k.partition}`);
  return (h === -2147483648 ? 0 : Math.abs(h)) % numPartitions;
}

/**
 * The share-partition a FindCoordinator key of type SHARE names: "groupId:topicId:partition", the topic id
 * as Kafka's Uuid.toString (URL-safe base64); null when it is not one.
 */
export function parseShareCoordinatorKey(key: string): ShareSnapshotKey | null {
  const last = key.lastIndexOf(':');
  const middle = last <= 0 ? -1 : key.lastIndexOf(':', last - 1);
  if (middle <= 0) return null;
  const partitionText = key.slice(last + 1);
  const id = key.slice(middle + 1, last);
  if (!/^\d{1,10}$/.test(partitionText) || !/^[A-Za-z0-9_-]{22}$/.test(id)) return null;
  const partition = Number(partitionText);
  if (partition > 2147483647) return null;
  const hex = Buffer.from(id, 'base64url').toString('hex');
  if (hex.length !== 32) return null;
  const topicId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { groupId: key.slice(0, middle), topicId, partition };
}

/**
 * Kafka's ShareGroupMetadata record in `__consumer_offsets` (group-coordinator ShareGroupMetadata{Key,Value}.json):
 * key type 11 with the group id; value version 0 with the group epoch and tagged MetadataHash (tag 0). It
 * keeps a share group's existence and epoch across restarts and coordinator moves; a tombstone deletes it.
 */
export const SHARE_GROUP_METADATA_RECORD_TYPE = 11;

export function encodeShareGroupMetadataKey(groupId: string): Buffer {
  return new Writer(32).int16(SHARE_GROUP_METADATA_RECORD_TYPE).string(groupId).toBuffer();
}

/** The group id of a ShareGroupMetadata key, or null for any other record type. */
export function decodeShareGroupMetadataKey(buf: Buffer): string | null {
  const r = new Reader(buf);
  if (r.int16() !== SHARE_GROUP_METADATA_RECORD_TYPE) return null;
  return r.string();
}

export function encodeShareGroupMetadataValue(epoch: number): Buffer {
  const w = new Writer(16).int16(0).int32(epoch);
  w.uvarint(0);
  return w.toBuffer();
}

export function decodeShareGroupMetadataValue(buf: Buffer): { epoch: number } {
  const r = new Reader(buf);
  const version = r.int16();
  if (version !== 0) {
    throw new DecodeError(`ShareGroupMetadataValue: unknown version ${version}`, 0, ERROR_CODES.CORRUPT_MESSAGE);
  }
  const epoch = r.int32();
  r.taggedFields();
  return { epoch };
}
