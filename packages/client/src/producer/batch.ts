import {
  BASE_SEQUENCE_OFFSET,
  CompressionType,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RecordBatch,
  RecordBatchWriter,
  type RecordHeaderInput,
} from '@sluice/protocol';

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1n with acks=0 (no answer comes). */
  offset: bigint;
  timestamp: number;
}

/** Bytes a record adds to a batch, roughly (varints and attributes): used for batch.size and buffer.memory. */
export function recordSize(key: Buffer | null, value: Buffer | null, headerBytes: number): number {
  return 24 + (key?.length ?? 0) + (value?.length ?? 0) + headerBytes;
}

/**
 * Bound on the slots a batch preallocates per array (a larger batch grows them as it fills): at
 * most 4 × 4096 slots (128 KiB) per open batch, as Java's client holds batch.size bytes per open batch.
 */
const MAX_PREALLOCATED_RECORDS = 4096;

/** Producer id, epoch and base sequence an idempotent batch carries. */
export interface BatchStamp {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

/**
 * One partition's batch: each record is encoded into the batch's buffer as it is added (its key and value
 * copied once, no record object kept), until the batch is full or lingered; then the header and CRC are
 * written (or the records compressed) once, and the batch is sent (and resent, unchanged).
 */
export class ProducerBatch {
  /** The records encoded so far (null once built). */
  private writer: RecordBatchWriter | null;
  // Per record, in parallel arrays (fewer objects per record than one callback object each), sized
  // up front from the expected record count so they are not regrown (and copied) while filling.
  private readonly resolves: Array<(m: RecordMetadata) => void>;
  private readonly rejects: Array<(e: unknown) => void>;
  private readonly timestamps: number[];
  /** Records in the batch (stays after build, when `records` is emptied). */
  count = 0;
  /** Bytes of the records as send() estimated them (recordSize): what buffer.memory holds for the batch. */
  bytes = 0;
  /** Bytes of the batch as encoded so far, header included (uncompressed): what batch.size bounds. */
  size = RECORD_BATCH_OVERHEAD;
  readonly createdAt = Date.now();
  /** The encoded RecordBatch (set once the batch is closed and built). */
  encoded: Buffer | null = null;
  /** The sequence of the first record (-1: not idempotent or not yet sent). */
  baseSequence = -1;
  /** The producer id and epoch the batch was stamped with (-1: not idempotent or not yet sent). */
  producerId = -1n;
  producerEpoch = -1;
  attempts = 0;
  /** Not to be sent again before this time (retry backoff). */
  notBefore = 0;
  /** The spare buffer the batch was given, until handed back by spareBuffer(). */
  private spare: Buffer | null;
  /** The stamp written when the batch was built (a prediction), or null: stamp() then skips an equal one. */
  private built: BatchStamp | null = null;
  /** Resolves once every record of the batch is acknowledged or failed (for flush()). */
  readonly settled: Promise<void>;
  private settle!: () => void;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly deadline: number,
    /** Records the batch will most likely hold (batch.size over the first record's size). */
    expectedRecords = 0,
    /** Bytes the batch will most likely hold (its buffer starts that large, up to 1 MiB, and grows if need be). */
    expectedBytes = 0,
    /** A spare buffer to encode into (given back by spareBuffer() once the batch no longer needs it). */
    buffer?: Buffer,
  ) {
    const n = Math.max(0, Math.min(expectedRecords, MAX_PREALLOCATED_RECORDS));
    this.writer = new RecordBatchWriter(expectedBytes, buffer);
    this.spare = buffer ?? null;
    this.resolves = new Array(n);
    this.rejects = new Array(n);
    this.timestamps = new Array(n);
    this.settled = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /** Encodes a record into the batch; throws (a RangeError: its timestamp) with the batch unchanged. */
  add(
    key: Buffer | null,
    value: Buffer | null,
    headers: readonly RecordHeaderInput[] | undefined,
    bytes: number,
    resolve: (m: RecordMetadata) => void,
    reject: (e: unknown) => void,
    timestamp: number,
  ): void {
    const i = this.count;
    this.size += (this.writer as RecordBatchWriter).append(key, value, headers, timestamp);
    this.resolves[i] = resolve;
    this.rejects[i] = reject;
    this.timestamps[i] = timestamp;
    this.count = i + 1;
    this.bytes += bytes;
  }

  /**
   * Encodes the records (compression off the main thread for gzip, lz4 and zstd). With `predicted`,
   * the batch is built with that producer id, epoch and base sequence already in it, so that
   * stamp() with the same values has nothing to rewrite (the CRC is computed once, not twice).
   */
  async build(
    compression: CompressionType,
    predicted: BatchStamp | null = null,
    isTransactional = false,
  ): Promise<void> {
    // Drop the preallocated slots that were not filled (a lingered batch may be far from full).
    this.resolves.length = this.count;
    this.rejects.length = this.count;
    this.timestamps.length = this.count;
    const writer = this.writer as RecordBatchWriter;
    this.writer = null;
    const o = {
      compression,
      producerId: predicted?.producerId,
      producerEpoch: predicted?.producerEpoch,
      baseSequence: predicted?.baseSequence,
      isTransactional,
    };
    this.encoded =
      compression === CompressionType.None || compression === CompressionType.Snappy
        ? writer.finish(o)
        : await writer.finishAsync(o);
    this.built = predicted;
  }

  /**
   * The spare buffer the batch was given, once nothing refers to it any more: after build() when the
   * encoded batch is elsewhere (copied, compressed, grown), or once `acknowledged` (the broker answered,
   * so the request holding it has been written). Null otherwise, and from the second call on.
   */
  spareBuffer(acknowledged: boolean): Buffer | null {
    const b = this.spare;
    if (b === null || this.writer !== null) return null;
    if (!acknowledged && this.encoded !== null && this.encoded.buffer === b.buffer) return null;
    this.spare = null;
    return b;
  }

  /**
   * Writes producer id, epoch and base sequence into the built batch and recomputes its CRC,
   * unless the batch was built with exactly these.
   */
  stamp(producerId: bigint, producerEpoch: number, baseSequence: number): void {
    const w = this.built;
    this.built = null;
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    if (
      w !== null &&
      w.producerId === producerId &&
      w.producerEpoch === producerEpoch &&
      w.baseSequence === baseSequence
    ) {
      this.baseSequence = baseSequence;
      return;
    }
    const buf = this.encoded as Buffer;
    buf.writeBigInt64BE(producerId, PRODUCER_ID_OFFSET);
    buf.writeInt16BE(producerEpoch, PRODUCER_EPOCH_OFFSET);
    buf.writeInt32BE(baseSequence, BASE_SEQUENCE_OFFSET);
    new RecordBatch(buf).updateCrc();
    this.baseSequence = baseSequence;
  }

  complete(baseOffset: bigint): void {
    // Offsets below 2^53 (all in practice) are added as numbers: one bigint per record, not two.
    const small = baseOffset >= 0n && baseOffset <= BigInt(Number.MAX_SAFE_INTEGER - this.count);
    const base = Number(baseOffset);
    for (let i = 0; i < this.count; i++) {
      this.resolves[i]({
        topic: this.topic,
        partition: this.partition,
        offset: baseOffset < 0n ? -1n : small ? BigInt(base + i) : baseOffset + BigInt(i),
        timestamp: this.timestamps[i],
      });
    }
    this.settle();
  }

  fail(err: unknown): void {
    for (let i = 0; i < this.count; i++) this.rejects[i](err);
    this.settle();
  }
}
