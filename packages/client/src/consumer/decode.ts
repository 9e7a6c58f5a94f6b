import { decodeControlRecordKey, iterateBatches, type KafkaRecord, type RecordBatch } from '@sluice/protocol';
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
}

function headersOf(r: KafkaRecord): Record<string, Buffer | null> {
  const out: Record<string, Buffer | null> = {};
  for (const h of r.headers) out[h.key] = h.value;
  return out;
}

const ABORT = 0;

/**
 * Decodes one fetched chunk into typed records from offset `from` on: skips control batches,
 * records below `from` (a compressed batch starts before the fetch offset) and, with aborted
 * transactions listed (read_committed), the batches of aborted transactions.
 */
export async function decodeChunk<K, V>(
  chunk: FetchedChunk,
  from: bigint,
  serdes: Pick<Topic<K, V>, 'key' | 'value'>,
  maxDecompressedBytes?: number,
): Promise<ConsumerRecord<K, V>[]> {
  const out: ConsumerRecord<K, V>[] = [];
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
    for (const r of records) {
      if (r.offset < from) continue;
      out.push({
        topic: chunk.topic,
        partition: chunk.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: keySerde.deserialize(r.key),
        value: valueSerde.deserialize(r.value),
        headers: r.headers.length === 0 ? {} : headersOf(r),
      });
    }
  }
  return out;
}

function isAbortMarker(batch: RecordBatch): boolean {
  for (const r of batch.records()) return decodeControlRecordKey(r.key).type === ABORT;
  return false;
}
