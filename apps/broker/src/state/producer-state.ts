import { ERROR_CODES, KafkaError } from '@sluice/protocol';

/** How many recent batches per producer are remembered for duplicate detection (Kafka's value). */
export const BATCHES_KEPT_PER_PRODUCER = 5;
/** A bound on producers tracked per partition; the least recently used are forgotten beyond it. */
export const MAX_PRODUCERS_PER_PARTITION = 100_000;

const INT32_MAX = 0x7fffffff;

export interface BatchMetadata {
  firstSeq: number;
  lastSeq: number;
  firstOffset: bigint;
  lastOffset: bigint;
  timestamp: bigint;
}

export interface ProducerEntry {
  producerId: bigint;
  epoch: number;
  /** Oldest first, at most BATCHES_KEPT_PER_PRODUCER. */
  batches: BatchMetadata[];
  lastTimestamp: bigint;
  coordinatorEpoch: number;
  currentTxnFirstOffset: bigint;
}

/** The header fields of an incoming idempotent batch that the checks need. */
export interface ProducerBatchInfo {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
  maxTimestamp: bigint;
}

/** The result of checking a batch: append it, or it is a retry of a batch already in the log. */
export type SequenceCheck = { kind: 'append' } | { kind: 'duplicate'; batch: BatchMetadata };

function lastSequenceOf(b: ProducerBatchInfo): number {
  // Sequences wrap at int32 max, as Kafka's DefaultRecordBatch.incrementSequence does.
  const last = b.baseSequence + b.lastOffsetDelta;
  return last > INT32_MAX ? last - INT32_MAX - 1 : last;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

/**
 * Per-partition state of idempotent producers, as Kafka's ProducerStateManager keeps it: the
 * current epoch and the last few batches of each producer id. It answers whether an incoming
 * batch is the next in sequence, a duplicate of a recent one, out of order, or from a fenced epoch.
 */
export class ProducerStateManager {
  private readonly producers = new Map<bigint, ProducerEntry>();

  get size(): number {
    return this.producers.size;
  }

  entries(): IterableIterator<ProducerEntry> {
    return this.producers.values();
  }

  get(producerId: bigint): ProducerEntry | undefined {
    return this.producers.get(producerId);
  }

  /**
   * Checks a batch from a client. Throws KafkaError INVALID_PRODUCER_EPOCH for an old epoch and
   * OUT_OF_ORDER_SEQUENCE_NUMBER for a gap; returns the original batch when this one is a retry.
   */
  check(b: ProducerBatchInfo): SequenceCheck {
    const entry = this.producers.get(b.producerId);
    if (entry === undefined) return { kind: 'append' };
    if (b.producerEpoch < entry.epoch) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PRODUCER_EPOCH,
        `Epoch of producer ${b.producerId} is ${b.producerEpoch}, which is smaller than the last seen epoch ${entry.epoch}`,
      );
    }
    const lastSeq = lastSequenceOf(b);
    if (b.producerEpoch === entry.epoch) {
      const dup = entry.batches.find((m) => m.firstSeq === b.baseSequence && m.lastSeq === lastSeq);
      if (dup) return { kind: 'duplicate', batch: dup };
      const currentLast = entry.batches.length > 0 ? entry.batches[entry.batches.length - 1].lastSeq : -1;
      if (entry.batches.length > 0 && !inSequence(currentLast, b.baseSequence)) {
        throw new KafkaError(
          ERROR_CODES.OUT_OF_ORDER_SEQUENCE_NUMBER,
          `Out of order sequence number for producer ${b.producerId}: ${b.baseSequence} (incoming seq. number), ${currentLast} (current end sequence number)`,
        );
      }
    } else if (b.baseSequence !== 0 && entry.epoch >= 0) {
      throw new KafkaError(
        ERROR_CODES.OUT_OF_ORDER_SEQUENCE_NUMBER,
        `Invalid sequence number for new epoch of producer ${b.producerId}: ${b.producerEpoch} (request epoch), ${b.baseSequence} (seq. number), ${entry.epoch} (current producer epoch)`,
      );
    }
    return { kind: 'append' };
  }

  /** Records a batch that was appended at `firstOffset`. */
  update(b: ProducerBatchInfo, firstOffset: bigint): void {
    let entry = this.producers.get(b.producerId);
    if (entry === undefined) {
      if (this.producers.size >= MAX_PRODUCERS_PER_PARTITION) {
        // Map iteration order is insertion order: the first key is the least recently updated.
        this.producers.delete(this.producers.keys().next().value as bigint);
      }
      entry = {
        producerId: b.producerId,
        epoch: b.producerEpoch,
        batches: [],
        lastTimestamp: -1n,
        coordinatorEpoch: -1,
        currentTxnFirstOffset: -1n,
      };
    } else {
      this.producers.delete(b.producerId);
    }
    this.producers.set(b.producerId, entry);
    if (b.producerEpoch !== entry.epoch) {
      entry.epoch = b.producerEpoch;
      entry.batches.length = 0;
    }
    entry.batches.push({
      firstSeq: b.baseSequence,
      lastSeq: lastSequenceOf(b),
      firstOffset,
      lastOffset: firstOffset + BigInt(b.lastOffsetDelta),
      timestamp: b.maxTimestamp,
    });
    if (entry.batches.length > BATCHES_KEPT_PER_PRODUCER) entry.batches.shift();
    entry.lastTimestamp = b.maxTimestamp;
  }

  /**
   * A transaction marker of `producerId` was written: its open transaction is over, and a marker
   * of a newer epoch (an abort by the coordinator after a timeout or a new InitProducerId) fences
   * the older epochs, as Kafka's ProducerAppendInfo.appendEndTxnMarker does.
   */
  endTransaction(producerId: bigint, epoch: number, coordinatorEpoch: number): void {
    let entry = this.producers.get(producerId);
    if (entry === undefined) {
      if (this.producers.size >= MAX_PRODUCERS_PER_PARTITION) {
        this.producers.delete(this.producers.keys().next().value as bigint);
      }
      entry = { producerId, epoch, batches: [], lastTimestamp: -1n, coordinatorEpoch, currentTxnFirstOffset: -1n };
      this.producers.set(producerId, entry);
    }
    if (epoch > entry.epoch) {
      entry.epoch = epoch;
      entry.batches.length = 0;
    }
    entry.coordinatorEpoch = coordinatorEpoch;
    entry.currentTxnFirstOffset = -1n;
  }

  /** Each producer's last data offset (null when its last entry is a marker) and epoch: the cleaner keeps those batches. */
  lastRecords(): { producerId: bigint; lastDataOffset: bigint | null; producerEpoch: number }[] {
    const out: { producerId: bigint; lastDataOffset: bigint | null; producerEpoch: number }[] = [];
    for (const e of this.producers.values()) {
      out.push({
        producerId: e.producerId,
        lastDataOffset: e.batches.at(-1)?.lastOffset ?? null,
        producerEpoch: e.epoch,
      });
    }
    return out;
  }

  /** Forgets batches at or above `offset` (after a truncation) and producers left with none. */
  truncateTo(offset: bigint): void {
    for (const [id, e] of this.producers) {
      e.batches = e.batches.filter((m) => m.lastOffset < offset);
      if (e.batches.length === 0) this.producers.delete(id);
    }
  }

  clear(): void {
    this.producers.clear();
  }

  /** JSON-able snapshot (bigints as strings). */
  toJSON(): unknown[] {
    return [...this.producers.values()].map((e) => ({
      producerId: e.producerId.toString(),
      epoch: e.epoch,
      lastTimestamp: e.lastTimestamp.toString(),
      currentTxnFirstOffset: e.currentTxnFirstOffset.toString(),
      batches: e.batches.map((m) => ({
        firstSeq: m.firstSeq,
        lastSeq: m.lastSeq,
        firstOffset: m.firstOffset.toString(),
        lastOffset: m.lastOffset.toString(),
        timestamp: m.timestamp.toString(),
      })),
    }));
  }

  /** Loads a snapshot written by toJSON; throws on anything malformed. */
  load(data: unknown): void {
    if (!Array.isArray(data) || data.length > MAX_PRODUCERS_PER_PARTITION)
      throw new Error('producer snapshot: not a list');
    this.producers.clear();
    for (const raw of data as Record<string, unknown>[]) {
      const batches = raw.batches as Record<string, unknown>[];
      if (!Array.isArray(batches) || batches.length > BATCHES_KEPT_PER_PRODUCER) {
        throw new Error('producer snapshot: bad batch list');
      }
      const entry: ProducerEntry = {
        producerId: BigInt(raw.producerId as string),
        epoch: Number(raw.epoch),
        lastTimestamp: BigInt(raw.lastTimestamp as string),
        coordinatorEpoch: -1,
        currentTxnFirstOffset:
          raw.currentTxnFirstOffset === undefined ? -1n : BigInt(raw.currentTxnFirstOffset as string),
        batches: batches.map((m) => ({
          firstSeq: Number(m.firstSeq),
          lastSeq: Number(m.lastSeq),
          firstOffset: BigInt(m.firstOffset as string),
          lastOffset: BigInt(m.lastOffset as string),
          timestamp: BigInt(m.timestamp as string),
        })),
      };
      this.producers.set(entry.producerId, entry);
    }
  }
}
