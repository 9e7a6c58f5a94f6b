import { ERROR_CODES } from '../error-codes.js';
import { DecodeError } from '../errors.js';
import { buildRecordBatchSync } from './builder.js';
import type { KafkaRecord } from './record.js';

/** Types of control records (the key's `type`). Transactions use Abort and Commit. */
export const ControlRecordType = {
  Abort: 0,
  Commit: 1,
  LeaderChange: 2,
  SnapshotHeader: 3,
  SnapshotFooter: 4,
  KRaftVersion: 5,
  KRaftVoters: 6,
} as const;
export type ControlRecordType = (typeof ControlRecordType)[keyof typeof ControlRecordType];

export const CONTROL_RECORD_KEY_VERSION = 0;
export const END_TXN_MARKER_VERSION = 0;
const CONTROL_KEY_BYTES = 4;
const END_TXN_MARKER_BYTES = 6;

function corrupt(what: string, offset: number): DecodeError {
  return new DecodeError(what, offset, ERROR_CODES.CORRUPT_MESSAGE);
}

/** A control record key: version int16 (0), type int16. */
export function encodeControlRecordKey(type: number): Buffer {
  const b = Buffer.allocUnsafe(CONTROL_KEY_BYTES);
  b.writeInt16BE(CONTROL_RECORD_KEY_VERSION, 0);
  b.writeInt16BE(type, 2);
  return b;
}

export function decodeControlRecordKey(key: Buffer | null): { version: number; type: number } {
  if (key === null || key.length < CONTROL_KEY_BYTES) {
    throw corrupt(`control record: key of ${key?.length ?? 'null'} bytes, needs ${CONTROL_KEY_BYTES}`, 0);
  }
  const version = key.readInt16BE(0);
  if (version < 0) throw corrupt(`control record: invalid key version ${version}`, 0);
  return { version, type: key.readInt16BE(2) };
}

/** An end-transaction marker value: version int16 (0), coordinatorEpoch int32. */
export function encodeEndTxnMarkerValue(coordinatorEpoch: number): Buffer {
  const b = Buffer.allocUnsafe(END_TXN_MARKER_BYTES);
  b.writeInt16BE(END_TXN_MARKER_VERSION, 0);
  b.writeInt32BE(coordinatorEpoch, 2);
  return b;
}

export interface EndTxnMarker {
  type: typeof ControlRecordType.Abort | typeof ControlRecordType.Commit;
  /** Version of the marker value; fields after coordinatorEpoch of newer versions are ignored. */
  version: number;
  coordinatorEpoch: number;
}

/** Reads a commit or abort marker from a control record. */
export function decodeEndTxnMarker(record: Pick<KafkaRecord, 'key' | 'value'>): EndTxnMarker {
  const { type } = decodeControlRecordKey(record.key);
  if (type !== ControlRecordType.Abort && type !== ControlRecordType.Commit) {
    throw corrupt(`control record: type ${type} is not an end-transaction marker`, 2);
  }
  const value = record.value;
  if (value === null || value.length < END_TXN_MARKER_BYTES) {
    throw corrupt(
      `end-transaction marker: value of ${value?.length ?? 'null'} bytes, needs ${END_TXN_MARKER_BYTES}`,
      0,
    );
  }
  const version = value.readInt16BE(0);
  if (version < 0) throw corrupt(`end-transaction marker: invalid version ${version}`, 0);
  return { type, version, coordinatorEpoch: value.readInt32BE(2) };
}

export interface EndTxnMarkerBatchOptions {
  commit: boolean;
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
  /** Default now. */
  timestamp?: number | bigint;
}

/** A control batch holding one commit or abort marker, as the transaction coordinator writes it. */
export function buildEndTxnMarkerBatch(o: EndTxnMarkerBatchOptions): Buffer {
  return buildRecordBatchSync({
    baseOffset: o.baseOffset,
    partitionLeaderEpoch: o.partitionLeaderEpoch,
    producerId: o.producerId,
    producerEpoch: o.producerEpoch,
    isTransactional: true,
    isControl: true,
    records: [
      {
        key: encodeControlRecordKey(o.commit ? ControlRecordType.Commit : ControlRecordType.Abort),
        value: encodeEndTxnMarkerValue(o.coordinatorEpoch),
        timestamp: o.timestamp,
      },
    ],
  });
}
