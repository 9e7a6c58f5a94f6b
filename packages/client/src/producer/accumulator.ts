import { type CompressionType, RECORD_BATCH_OVERHEAD, type RecordHeaderInput } from '@sluice/protocol';
import { type BatchStamp, ProducerBatch, type RecordMetadata } from './batch.js';

/** Batch buffers kept for reuse: at most this many, of at most MAX_SPARE_BYTES (plus the header) each. */
const MAX_SPARES = 8;
const MAX_SPARE_BYTES = 1_048_576;

/** Per partition: the open batch, closed batches in order, what is in flight and what awaits a retry. */
export class PartitionState {
  open: ProducerBatch | null = null;
  /** Closed batches in close order; the head is sendable once built. */
  readonly queue: ProducerBatch[] = [];
  /** Sent and unanswered, in send order. */
  readonly inflight: ProducerBatch[] = [];
  /** Failed retriably; resent in order, one at a time, before anything newer. */
  readonly retry: ProducerBatch[] = [];
  nextSequence = 0;
  /**
   * The producer id and epoch of the last batch the partition acknowledged. Until one is, the broker
   * may hold no state for this producer there and takes any sequence as the first (Kafka does): a
   * later batch accepted ahead of an earlier one that failed retriably could never be followed by it.
   */
  ackedProducerId = -1n;
  ackedProducerEpoch = -1;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  get idle(): boolean {
    return this.open === null && this.queue.length === 0 && this.inflight.length === 0 && this.retry.length === 0;
  }
}

export interface AccumulatorOptions {
  batchSize: number;
  lingerMs: number;
  compression: CompressionType;
  deliveryTimeoutMs: number;
  /** A batch is built: the sender may have something to send. */
  onReady: () => void;
  /** A batch of `topic`/`partition` was closed (the sticky partitioner moves on). */
  onClose: (topic: string, partition: number) => void;
  onBuildError: (batch: ProducerBatch, err: unknown) => void;
  /** Batches belong to transactions (the transactional attribute is set when they are built). */
  transactional?: boolean;
  /** The stamp a batch just queued on `s` will most likely get when first sent (idempotence), or null. */
  predictStamp?: (s: PartitionState, batch: ProducerBatch) => BatchStamp | null;
}

/**
 * Collects records into per-partition batches: a batch closes when it reaches batch.size or has
 * waited linger.ms (with linger 0: at the end of the current tick, so records sent together in
 * one tick share a batch), and is then encoded once. A batch whose linger is over while its partition
 * still has a closed batch waiting to be sent stays open and keeps filling until that one has gone
 * (releaseHeld): behind a full in-flight window records then wait in a few full batches, not in many
 * small ones that would each take a request slot (Java's accumulator appends to a partition's last
 * batch until it is drained, likewise).
 */
export class Accumulator {
  readonly partitions = new Map<string, PartitionState>();
  private readonly openBatches = new Set<PartitionState>();
  /** Open batches past their linger, held open while their partition's queue is not empty. */
  private readonly held = new Set<PartitionState>();
  private lingerTimer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  /**
   * Batch buffers of spareBytes (batch.size up to 1 MiB, plus the batch header) whose batch is done,
   * for the next batches: a fresh buffer of that size is fresh memory from the OS, page-faulted in as
   * it is written (Java's producer keeps a pool of batch.size buffers likewise). At most maxSpare.
   */
  private readonly spares: Buffer[] = [];
  private readonly spareBytes: number;
  private readonly maxSpare: number;

  constructor(private readonly o: AccumulatorOptions) {
    this.spareBytes = RECORD_BATCH_OVERHEAD + Math.min(o.batchSize, MAX_SPARE_BYTES);
    // Buffers under 4 KiB come from Node's shared slab (not reusable alone): no pool for them.
    this.maxSpare = this.spareBytes < 4096 ? 0 : MAX_SPARES;
  }

  /** Takes back the buffer of a batch that no longer needs it (see ProducerBatch.spareBuffer). */
  recycle(b: ProducerBatch, acknowledged: boolean): void {
    const buf = b.spareBuffer(acknowledged);
    if (buf !== null && buf.length === this.spareBytes && this.spares.length < this.maxSpare) this.spares.push(buf);
  }

  /** Per topic, partition states by partition number: no key string built per record. */
  private readonly byTopic = new Map<string, PartitionState[]>();

  state(topic: string, partition: number): PartitionState {
    let list = this.byTopic.get(topic);
    if (list === undefined) {
      list = [];
      this.byTopic.set(topic, list);
    }
    let s = list[partition];
    if (s === undefined) {
      s = new PartitionState(topic, partition);
      list[partition] = s;
      this.partitions.set(`${topic}\u0000${partition}`, s);
    }
    return s;
  }

  append(
    topic: string,
    partition: number,
    key: Buffer | null,
    value: Buffer | null,
    headers: readonly RecordHeaderInput[] | undefined,
    bytes: number,
    resolve: (m: RecordMetadata) => void,
    reject: (e: unknown) => void,
    timestamp: number,
  ): void {
    const s = this.state(topic, partition);
    let b = s.open;
    // Full by the bytes encoded (header included) plus this record's estimate (an upper bound for most records):
    // a batch then holds what fits in batch.size, as Java's does, not what the estimates add up to.
    if (b !== null && b.size + bytes > this.o.batchSize && b.count > 0) {
      this.close(s);
      b = null;
    }
    if (b === null) {
      // A spare buffer when the record fits (bytes is an estimate: the batch grows its buffer if need be).
      const buffer =
        this.maxSpare > 0 && bytes + RECORD_BATCH_OVERHEAD <= this.spareBytes
          ? (this.spares.pop() ?? Buffer.allocUnsafeSlow(this.spareBytes))
          : undefined;
      b = new ProducerBatch(
        topic,
        partition,
        Date.now() + this.o.deliveryTimeoutMs,
        // Records of this size that fit: an estimate encodes to some 16 bytes less (one-byte varints).
        Math.ceil(this.o.batchSize / Math.max(1, bytes - 16)),
        Math.max(this.o.batchSize, bytes),
        buffer,
      );
      // A record the batch refuses (its timestamp) leaves no empty batch open.
      b.add(key, value, headers, bytes, resolve, reject, timestamp);
      s.open = b;
      this.openBatches.add(s);
      this.scheduleLinger();
    } else {
      b.add(key, value, headers, bytes, resolve, reject, timestamp);
    }
    if (b.size >= this.o.batchSize) this.close(s);
  }

  /** Closes every open batch now (flush, close). */
  closeAll(): void {
    for (const s of [...this.openBatches]) this.close(s);
  }

  /** Closes the held batches whose partition has no closed batch waiting any more (the sender calls it after sending). */
  releaseHeld(): void {
    for (const s of this.held) if (s.queue.length === 0) this.close(s);
  }

  /** Linger is over for the open batch of `s`: it closes, or is held while a closed batch of `s` waits to be sent. */
  private lingered(s: PartitionState): void {
    if (s.queue.length > 0) this.held.add(s);
    else this.close(s);
  }

  private close(s: PartitionState): void {
    const b = s.open;
    if (b === null) return;
    s.open = null;
    this.openBatches.delete(s);
    this.held.delete(s);
    s.queue.push(b);
    this.o.onClose(s.topic, s.partition);
    b.build(this.o.compression, this.o.predictStamp?.(s, b) ?? null, this.o.transactional === true).then(
      () => {
        this.recycle(b, false);
        this.o.onReady();
      },
      (err) => {
        const i = s.queue.indexOf(b);
        if (i >= 0) s.queue.splice(i, 1);
        this.o.onBuildError(b, err);
        this.o.onReady();
      },
    );
  }

  private scheduleLinger(): void {
    if (this.o.lingerMs <= 0) {
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        for (const s of [...this.openBatches]) if (!this.held.has(s)) this.lingered(s);
      });
      return;
    }
    if (this.lingerTimer !== null) return;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = null;
      const now = Date.now();
      for (const s of [...this.openBatches]) {
        if (!this.held.has(s) && (s.open as ProducerBatch).createdAt + this.o.lingerMs <= now) this.lingered(s);
      }
      if (this.openBatches.size > this.held.size) this.scheduleLinger();
    }, this.o.lingerMs);
  }

  stop(): void {
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.lingerTimer = null;
    this.immediate = null;
  }
}
