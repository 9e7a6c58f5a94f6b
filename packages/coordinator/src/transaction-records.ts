import { DecodeError, ERROR_CODES, Reader, Writer } from '@sluice/protocol';

/**
 * Kafka's `__transaction_state` record formats (transaction-coordinator/.../TransactionLogKey.json
 * and TransactionLogValue.json): the key is an int16 record type (0, TRANSACTION_LOG) and the
 * transactional id; the value an int16 version (0, or 1 flexible with tagged fields) and the
 * transaction's metadata. Sluice writes value version 0, as Kafka does for transaction version 0/1,
 * and version 1 for a transaction of transaction version 2.
 */
export const TRANSACTION_LOG_KEY_VERSION = 0;
const VALUE_VERSION_WRITTEN = 0;
const MAX_VALUE_VERSION = 1;
/** A bound on topics (and partitions per topic) decoded from one record. */
const MAX_TOPICS_PER_RECORD = 100_000;

/** The states of a transaction, with the ids Kafka stores (TransactionState.java). */
export const TxnState = {
  Empty: 0,
  Ongoing: 1,
  PrepareCommit: 2,
  PrepareAbort: 3,
  CompleteCommit: 4,
  CompleteAbort: 5,
  Dead: 6,
  PrepareEpochFence: 7,
} as const;
export type TxnStateId = (typeof TxnState)[keyof typeof TxnState];

export const TXN_STATE_NAMES: Record<TxnStateId, string> = {
  0: 'Empty',
  1: 'Ongoing',
  2: 'PrepareCommit',
  3: 'PrepareAbort',
  4: 'CompleteCommit',
  5: 'CompleteAbort',
  6: 'Dead',
  7: 'PrepareEpochFence',
};

export interface TxnTopicPartitions {
  topic: string;
  partitions: number[];
}

/** One stored TransactionLogValue. */
export interface TransactionLogValue {
  producerId: bigint;
  /** Tagged (v1) only; -1 when absent. */
  previousProducerId: bigint;
  producerEpoch: number;
  transactionTimeoutMs: number;
  state: TxnStateId;
  /** Empty (written as null) in the Empty state, as Kafka requires. */
  partitions: TxnTopicPartitions[];
  lastUpdateTimestampMs: number;
  startTimestampMs: number;
  /** Tagged (v1) only; -1 when absent: the id a transaction that exhausted its epochs moves to on completion. */
  nextProducerId?: bigint;
  /** Tagged (v1) only; 0 when absent: 2 for a transaction of transactions V2 (KIP-890 part 2). */
  clientTransactionVersion?: number;
}

function corrupt(what: string, at: number): DecodeError {
  return new DecodeError(`__transaction_state: ${what}`, at, ERROR_CODES.CORRUPT_MESSAGE);
}

export function encodeTransactionLogKey(transactionalId: string): Buffer {
  return new Writer(32 + transactionalId.length * 3)
    .int16(TRANSACTION_LOG_KEY_VERSION)
    .string(transactionalId)
    .toBuffer();
}

/** The transactional id of a key, or null for a key of another record type (skipped, as Kafka skips them). */
export function decodeTransactionLogKey(buf: Buffer): string | null {
  const r = new Reader(buf);
  const version = r.int16();
  if (version !== TRANSACTION_LOG_KEY_VERSION) return null;
  return r.string();
}

export function encodeTransactionLogValue(v: TransactionLogValue): Buffer {
  if (v.state === TxnState.Empty && v.partitions.length > 0) {
    throw new Error('a transaction in the Empty state has no partitions');
  }
  // Version 1 (flexible, tagged fields) for a transactions V2 transaction, as Kafka writes it.
  const version = (v.clientTransactionVersion ?? 0) >= 2 ? 1 : VALUE_VERSION_WRITTEN;
  const flex = version >= 1;
  const w = new Writer(64);
  w.int16(version).int64(v.producerId).int16(v.producerEpoch).int32(v.transactionTimeoutMs);
  w.int8(v.state);
  const arrayLength = (n: number) => (flex ? w.compactArrayLength(n) : w.arrayLength(n));
  if (v.state === TxnState.Empty) {
    arrayLength(-1);
  } else {
    arrayLength(v.partitions.length);
    for (const t of v.partitions) {
      if (flex) w.compactString(t.topic);
      else w.string(t.topic);
      arrayLength(t.partitions.length);
      for (const p of t.partitions) w.int32(p);
      if (flex) w.taggedFields([]);
    }
  }
  w.int64(BigInt(v.lastUpdateTimestampMs)).int64(BigInt(v.startTimestampMs));
  if (flex) {
    // Tagged fields are written only when they differ from their defaults.
    const tags: [number, (x: Writer) => void][] = [];
    if (v.previousProducerId !== -1n) tags.push([0, (x) => x.int64(v.previousProducerId)]);
    if ((v.nextProducerId ?? -1n) !== -1n) tags.push([1, (x) => x.int64(v.nextProducerId!)]);
    if ((v.clientTransactionVersion ?? 0) !== 0) tags.push([2, (x) => x.int16(v.clientTransactionVersion!)]);
    w.taggedFields(tags);
  }
  return w.toBuffer();
}

export function decodeTransactionLogValue(buf: Buffer): TransactionLogValue {
  const r = new Reader(buf);
  const version = r.int16();
  if (version < 0 || version > MAX_VALUE_VERSION) throw corrupt(`unknown value version ${version}`, 0);
  const flex = version >= 1;
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const transactionTimeoutMs = r.int32();
  const state = r.int8();
  if (state < 0 || state > TxnState.PrepareEpochFence)
    throw corrupt(`unknown transaction state ${state}`, r.offset - 1);
  const topicCount = flex ? r.compactArrayLength(3) : r.arrayLength(3);
  if (topicCount > MAX_TOPICS_PER_RECORD) throw corrupt(`${topicCount} topics`, r.offset);
  const partitions: TxnTopicPartitions[] = [];
  for (let i = 0; i < topicCount; i++) {
    const topic = flex ? r.compactString() : r.string();
    const n = flex ? r.compactArrayLength(4) : r.arrayLength(4);
    if (n < 0) throw corrupt(`null partition list of ${topic}`, r.offset);
    const ids: number[] = [];
    for (let j = 0; j < n; j++) ids.push(r.int32());
    if (flex) r.taggedFields();
    partitions.push({ topic, partitions: ids });
  }
  const lastUpdateTimestampMs = Number(r.int64());
  const startTimestampMs = Number(r.int64());
  let previousProducerId = -1n;
  let nextProducerId = -1n;
  let clientTransactionVersion = 0;
  if (flex) {
    r.taggedFields((tag, sub) => {
      if (tag === 0) previousProducerId = sub.int64();
      else if (tag === 1) nextProducerId = sub.int64();
      else if (tag === 2) clientTransactionVersion = sub.int16();
      else return false;
      return true;
    });
  }
  return {
    producerId,
    previousProducerId,
    producerEpoch,
    transactionTimeoutMs,
    state: state as TxnStateId,
    // Kafka ignores any partitions stored with an Empty transaction.
    partitions: state === TxnState.Empty ? [] : partitions,
    lastUpdateTimestampMs,
    startTimestampMs,
    nextProducerId,
    clientTransactionVersion,
  };
}
