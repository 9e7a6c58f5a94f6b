import {
  decodeControlRecordKey,
  iterateBatches,
  type RecordBatch,
  type RecordHeader,
  type RecordIterator,
} from '@sluice/protocol';
import type { Serde, Topic } from '../serde.js';
import type { FetchedChunk } from './fetcher.js';

export interface ConsumerRecord<K, V> {
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: K;
  value: V;
  headers: Record<string, Buffer | null>;
  /** Every header in record order, a repeated key each time (`headers` keeps a key's last value). */
  headerList?: ReadonlyArray<{ key: string; value: Buffer | null }>;
}

function headersOf(headers: readonly RecordHeader[]): Record<string, Buffer | null> {
  const out: Record<string, Buffer | null> = {};
  for (const h of headers) out[h.key] = h.value;
  return out;
}

const ABORT = 0;

/**
 * A record whose key or value its topic's serde could not read (JSON that is not JSON, a 3-byte
 * int32, …): names where the record is and carries it raw. Not a KafkaError: the broker answered
 * fine, the bytes are the application's.
 */
export class DeserializationError extends Error {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Which part failed. */
  readonly part: 'key' | 'value';
  /** The record as stored, key and value undecoded. */
  readonly record: ConsumerRecord<Buffer | null, Buffer | null>;

  constructor(record: ConsumerRecord<Buffer | null, Buffer | null>, part: 'key' | 'value', cause: unknown) {
    super(
      `cannot deserialize the ${part} of the record at ${record.topic}-${record.partition} offset ${record.offset}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.name = 'DeserializationError';
    this.topic = record.topic;
    this.partition = record.partition;
    this.offset = record.offset;
    this.part = part;
    this.record = record;
  }
}

/** A decoded chunk: its records in order, and how many of them are DeserializationErrors. */
export interface DecodedChunk<K, V> {
  records: Array<ConsumerRecord<K, V> | DeserializationError>;
  /** Entries of `records` that are DeserializationErrors (0: callers skip looking for them). */
  failures: number;
}

/**
 * Decodes one fetched chunk into typed records from offset `from` on: skips control batches,
 * records below `from` (a compressed batch starts before the fetch offset) and, with aborted
 * transactions listed (read_committed), the batches of aborted transactions. A record whose key or
 * value does not deserialize is a DeserializationError in its place, for the consumer's policy.
 */
export async function decodeChunk<K, V>(
  chunk: FetchedChunk,
  from: bigint,
  serdes: Pick<Topic<K, V>, 'key' | 'value'>,
  maxDecompressedBytes?: number,
): Promise<DecodedChunk<K, V>> {
  const out: Array<ConsumerRecord<K, V> | DeserializationError> = [];
  let failures = 0;
  const pending = chunk.aborted ? [...chunk.aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1)) : [];
  const abortedProducers = new Set<bigint>();
  const keySerde: Serde<K> = serdes.key;
  const valueSerde: Serde<V> = serdes.value;
  for (const batch of iterateBatches(chunk.records)) {
    if (batch.lastOffset < from) continue;
    while (pending.length > 0 && pending[0].firstOffset <= batch.lastOffset) {
      abortedProducers.add((pending.shift() as { producerId: bigint }).producerId);
    }
    if (batch.isControl) {
      if (abortedProducers.has(batch.producerId) && isAbortMarker(batch)) abortedProducers.delete(batch.producerId);
      continue;
    }
    if (batch.isTransactional && abortedProducers.has(batch.producerId)) continue;
    const records =
      batch.compression === 4
        ? await batch.decompressedRecords({ maxOutputBytes: maxDecompressedBytes })
        : batch.records({ maxOutputBytes: maxDecompressedBytes });
    // The iterator as a cursor: one ConsumerRecord per record, no intermediate KafkaRecord.
    const topicName = chunk.topic;
    const partition = chunk.partition;
    while (records.advance()) {
      const offset = records.recordOffset;
      if (offset < from) continue;
      const headerList = records.recordHeaders;
      let key: K;
      let value: V;
      try {
        key = keySerde.deserialize(records.recordKey);
      } catch (cause) {
        out.push(new DeserializationError(rawRecord(chunk, records), 'key', cause));
        failures++;
        continue;
      }
      try {
        value = valueSerde.deserialize(records.recordValue);
      } catch (cause) {
        out.push(new DeserializationError(rawRecord(chunk, records), 'value', cause));
        failures++;
        continue;
      }
      out.push({
        topic: topicName,
        partition,
        offset,
        timestamp: records.recordTimestamp,
        key,
        value,
        headers: headerList.length === 0 ? {} : headersOf(headerList),
        headerList,
      });
    }
  }
  return { records: out, failures };
}

/** The record at the cursor `r`, undecoded. */
function rawRecord(chunk: FetchedChunk, r: RecordIterator): ConsumerRecord<Buffer | null, Buffer | null> {
  return {
    topic: chunk.topic,
    partition: chunk.partition,
    offset: r.recordOffset,
    timestamp: r.recordTimestamp,
    key: r.recordKey,
    value: r.recordValue,
    headers: r.recordHeaders.length === 0 ? {} : headersOf(r.recordHeaders),
    headerList: r.recordHeaders,
  };
}

function isAbortMarker(batch: RecordBatch): boolean {
  for (const r of batch.records()) return decodeControlRecordKey(r.key).type === ABORT;
  return false;
}
