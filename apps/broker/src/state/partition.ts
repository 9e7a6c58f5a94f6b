import type { AppendResult, PartitionLog } from '@sluice/log';
import {
  BASE_SEQUENCE_OFFSET,
  BATCH_LENGTH_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
} from '@sluice/protocol';
import type { PartitionReplica } from '@sluice/replication';
import type { ProducerSnapshot } from './producer-snapshots.js';
import { type BatchMetadata, type ProducerBatchInfo, ProducerStateManager } from './producer-state.js';

/** Bytes read per step when rebuilding producer state from the log. */
const SCAN_CHUNK_BYTES = 4 << 20;

export interface PartitionAppendResult extends AppendResult {
  /** The batch was a retry of one already in the log; the offsets are the original ones. */
  duplicate: boolean;
}

/** Reads the producer fields of the batch header at `at`. */
export function producerInfoOf(buf: Buffer, at: number): ProducerBatchInfo {
  return {
    producerId: buf.readBigInt64BE(at + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(at + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(at + BASE_SEQUENCE_OFFSET),
    lastOffsetDelta: buf.readInt32BE(at + LAST_OFFSET_DELTA_OFFSET),
    maxTimestamp: buf.readBigInt64BE(at + MAX_TIMESTAMP_OFFSET),
  };
}

/**
 * A partition this broker holds a replica of: its log plus the producer state that guards it.
 * Its `replica` (leader or follower, ISR, high watermark) is attached by the broker's replication
 * service; without one (a single node) the broker leads with epoch 0 and the high watermark
 * follows the log end.
 */
export class Partition {
  readonly producers = new ProducerStateManager();
  replica: PartitionReplica | null = null;

  get leaderEpoch(): number {
    return Math.max(0, this.replica?.leaderEpoch ?? 0);
  }

  constructor(
    readonly topic: string,
    readonly index: number,
    readonly log: PartitionLog,
    snapshot?: ProducerSnapshot,
  ) {
    this.loadProducerState(snapshot);
  }

  /**
   * Appends one batch from a producer: duplicate detection and sequence checks for idempotent
   * producers, then the log append (offset assignment, CRC check), then the producer state.
   */
  appendFromClient(batch: Buffer): PartitionAppendResult {
    const info = producerInfoOf(batch, 0);
    const idempotent = info.producerId >= 0n;
    if (idempotent) {
      const check = this.producers.check(info);
      if (check.kind === 'duplicate') return this.duplicateResult(check.batch);
    }
    const result = this.log.append(batch, { leaderEpoch: this.leaderEpoch });
    if (this.replica) this.replica.maybeIncrementHighWatermark();
    else this.log.highWatermark = this.log.logEndOffset;
    // A LogAppendTime topic stamped the batch: that is the max timestamp a retry is answered with.
    if (idempotent) {
      this.producers.update(
        result.logAppendTime >= 0n ? { ...info, maxTimestamp: result.logAppendTime } : info,
        result.firstOffset,
      );
    }
    return { ...result, duplicate: false };
  }

  /**
   * Appends batches fetched from the leader, with the leader's offsets and epochs, and keeps the
   * producer state as the leader's (so that this replica can lead without duplicates).
   */
  appendAsFollower(fetched: Buffer): AppendResult | null {
    // A fetch from the middle of a batch returns the whole batch: skip what this log already has.
    let from = 0;
    // Bounded by the buffer: each round moves past one batch header's length (checked).
    while (from + RECORD_BATCH_OVERHEAD <= fetched.length) {
      const last = fetched.readBigInt64BE(from) + BigInt(fetched.readInt32BE(from + LAST_OFFSET_DELTA_OFFSET));
      if (last >= this.log.logEndOffset) break;
      const size = fetched.readInt32BE(from + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      if (size < RECORD_BATCH_OVERHEAD) break;
      from += size;
    }
    const records = from === 0 ? fetched : fetched.subarray(from);
    if (records.length < RECORD_BATCH_OVERHEAD) return null;
    const result = this.log.append(records, { assignOffsets: false });
    let at = 0;
    // Bounded by the buffer: the log checked every batch header above.
    while (at + RECORD_BATCH_OVERHEAD <= records.length) {
      const size = records.readInt32BE(at + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
      const info = producerInfoOf(records, at);
      if (info.producerId >= 0n) this.producers.update(info, records.readBigInt64BE(at));
      at += size;
    }
    return result;
  }

  /** A follower drops a divergent tail; the producer state is rebuilt from what is left. */
  truncateTo(offset: bigint): void {
    if (!this.log.truncateTo(offset)) return;
    this.producers.clear();
    this.replayFrom(this.log.logStartOffset);
  }

  /** A follower far behind the leader's log start: empty, starting there. */
  truncateFullyAndStartAt(offset: bigint): void {
    this.log.truncateFullyAndStartAt(offset);
    this.producers.clear();
  }

  private duplicateResult(m: BatchMetadata): PartitionAppendResult {
    return {
      firstOffset: m.firstOffset,
      lastOffset: m.lastOffset,
      // Kafka answers a retry with the original batch's timestamp (its BatchMetadata), whatever the topic's type.
      logAppendTime: m.timestamp,
      position: -1,
      logStartOffset: this.log.logStartOffset,
      duplicate: true,
    };
  }

  /**
   * Producer state survives restarts: start from the snapshot of the last clean stop and replay
   * the batch headers written after it (all of them when there is no usable snapshot).
   */
  private loadProducerState(snapshot: ProducerSnapshot | undefined): void {
    let from = this.log.logStartOffset;
    if (snapshot && snapshot.offset <= this.log.logEndOffset && snapshot.offset >= this.log.logStartOffset) {
      try {
        this.producers.load(snapshot.producers);
        from = snapshot.offset;
      } catch {
        this.producers.clear();
      }
    }
    this.replayFrom(from);
  }

  private replayFrom(offset: bigint): void {
    let next = offset;
    // Bounded: each round moves `next` past at least one batch, or stops.
    while (next < this.log.logEndOffset) {
      const { records } = this.log.read(next, SCAN_CHUNK_BYTES);
      if (records.length === 0) break;
      let at = 0;
      let progressed = false;
      while (at + RECORD_BATCH_OVERHEAD <= records.length) {
        const size = records.readInt32BE(at + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
        if (size < RECORD_BATCH_OVERHEAD || at + size > records.length) break;
        const base = records.readBigInt64BE(at);
        const info = producerInfoOf(records, at);
        if (info.producerId >= 0n && base >= offset) this.producers.update(info, base);
        const after = base + BigInt(info.lastOffsetDelta) + 1n;
        if (after > next) {
          next = after;
          progressed = true;
        }
        at += size;
      }
      if (!progressed) break;
    }
  }
}
