import type { AppendResult, PartitionLog } from '@sluice/log';
import {
  ATTRIBUTES_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BATCH_LENGTH_OFFSET,
  buildEndTxnMarkerBatch,
  CONTROL_FLAG_MASK,
  ControlRecordType,
  decodeControlRecordKey,
  ERROR_CODES,
  KafkaError,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RecordBatch,
  TRANSACTIONAL_FLAG_MASK,
} from '@sluice/protocol';
import type { PartitionReplica } from '@sluice/replication';
import { type AbortedTxn, PartitionTxns } from './partition-txns.js';
import type { ProducerSnapshot } from './producer-snapshots.js';
import { type BatchMetadata, type ProducerBatchInfo, ProducerStateManager } from './producer-state.js';

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

/** A commit or abort marker for one producer's transaction (WriteTxnMarkers). */
export interface TxnMarkerInput {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
}

/** The transactional and control flags of the batch header at `at`. */
function flagsOf(buf: Buffer, at: number): { transactional: boolean; control: boolean } {
  const attributes = buf.readInt16BE(at + ATTRIBUTES_OFFSET);
  return {
    transactional: (attributes & TRANSACTIONAL_FLAG_MASK) !== 0,
    control: (attributes & CONTROL_FLAG_MASK) !== 0,
  };
}

/**
 * Whether a control batch holds a commit marker (false: an abort; null: another control record),
 * and the coordinator epoch its value carries (EndTransactionMarker: int16 version, int32 epoch;
 * -1 when the value is too short to hold one).
 */
function markerOf(buf: Buffer, at: number, size: number): { commit: boolean; coordinatorEpoch: number } | null {
  const batch = new RecordBatch(buf.subarray(at, at + size), 0);
  for (const r of batch.records()) {
    const { type } = decodeControlRecordKey(r.key);
    if (type !== ControlRecordType.Commit && type !== ControlRecordType.Abort) return null;
    const value = r.value;
    const coordinatorEpoch =
      value !== null && value.length >= 6
        ? Buffer.from(value.buffer, value.byteOffset, value.length).readInt32BE(2)
        : -1;
    return { commit: type === ControlRecordType.Commit, coordinatorEpoch };
  }
  return null;
}

/**
 * A partition this broker holds a replica of: its log plus the producer state that guards it.
 * Its `replica` (leader or follower, ISR, high watermark) is attached by the broker's replication
 * service; without one (a single node) the broker leads with epoch 0 and the high watermark
 * follows the log end.
 */
export class Partition {
  readonly producers = new ProducerStateManager();
  /** Open and aborted transactions, and the last stable offset. */
  readonly txns = new PartitionTxns();
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
    // The cleaner stops at the last stable offset, and drops an aborted transaction from the
    // .txnindex once its data is gone (its marker goes delete.retention.ms later): the aborted
    // transactions fetches are told of follow the indexes.
    log.setLastStableOffsetSource(() => this.txns.lastStableOffset(log.highWatermark));
    log.onCleaned(() => this.txns.setAborted(log.abortedTxns()));
    // Each producer's last batch survives cleaning (empty if need be), as in Kafka.
    log.setLastProducerRecordsSource(() => this.producers.lastRecords());
  }

  /**
   * Appends one batch from a producer: duplicate detection and sequence checks for idempotent
   * producers, then the log append (offset assignment, CRC check), then the producer state.
   */
  appendFromClient(batch: Buffer): PartitionAppendResult {
    const info = producerInfoOf(batch, 0);
    const idempotent = info.producerId >= 0n;
    const flags = flagsOf(batch, 0);
    // Only the transaction coordinator writes markers (Kafka's LogValidator refuses them from clients).
    if (flags.control) throw new KafkaError(ERROR_CODES.INVALID_RECORD, 'Control records are not allowed from clients');
    if (idempotent) {
      const check = this.producers.check(info);
      if (check.kind === 'duplicate') return this.duplicateResult(check.batch);
    }
    const result = this.log.append(batch, { leaderEpoch: this.leaderEpoch });
    this.advanceHighWatermark();
    // A LogAppendTime topic stamped the batch: that is the max timestamp a retry is answered with.
    if (idempotent) {
      this.producers.update(
        result.logAppendTime >= 0n ? { ...info, maxTimestamp: result.logAppendTime } : info,
        result.firstOffset,
      );
      if (flags.transactional) this.onTransactionalData(info.producerId, result.firstOffset);
    }
    return { ...result, duplicate: false };
  }

  /**
   * Appends a batch the broker's own coordinators built (`__consumer_offsets` records, some of
   * them transactional): no sequence checks, as Kafka's coordinator-origin appends.
   */
  appendFromCoordinator(batch: Buffer): PartitionAppendResult {
    const info = producerInfoOf(batch, 0);
    const transactional = info.producerId >= 0n && flagsOf(batch, 0).transactional;
    const entry = transactional ? this.producers.get(info.producerId) : undefined;
    // A fenced producer's offsets (TxnOffsetCommit from a zombie) never reach the log.
    if (entry !== undefined && info.producerEpoch < entry.epoch) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PRODUCER_EPOCH,
        `Epoch of producer ${info.producerId} is ${info.producerEpoch}, older than the current epoch ${entry.epoch}`,
      );
    }
    const result = this.log.append(batch, { leaderEpoch: this.leaderEpoch });
    this.advanceHighWatermark();
    if (transactional) {
      this.producers.update(info, result.firstOffset);
      this.onTransactionalData(info.producerId, result.firstOffset);
    }
    return { ...result, duplicate: false };
  }

  /** A replicated partition's high watermark waits for the ISR; a single replica's follows the log end. */
  private advanceHighWatermark(): void {
    if (this.replica) this.replica.maybeIncrementHighWatermark();
    else this.log.highWatermark = this.log.logEndOffset;
  }

  /** The last stable offset: read_committed consumers read below it. */
  get lastStableOffset(): bigint {
    return this.txns.lastStableOffset(this.log.highWatermark);
  }

  /** The aborted transactions a read_committed fetch from `fetchOffset` up to `upperBound` must skip. */
  abortedTransactions(fetchOffset: bigint, upperBound: bigint): AbortedTxn[] {
    this.txns.dropBefore(this.log.logStartOffset);
    return this.txns.abortedBetween(fetchOffset, upperBound);
  }

  private onTransactionalData(producerId: bigint, firstOffset: bigint): void {
    this.txns.onData(producerId, firstOffset);
    const entry = this.producers.get(producerId);
    if (entry && entry.currentTxnFirstOffset < 0n) entry.currentTxnFirstOffset = firstOffset;
  }

  /**
   * Appends a commit or abort marker (a control batch) for a producer's transaction, as the
   * transaction coordinator asks through WriteTxnMarkers. A marker of an older producer epoch is
   * refused; a newer one fences the producer's older epochs here.
   */
  appendMarker(m: TxnMarkerInput): PartitionAppendResult {
    const entry = this.producers.get(m.producerId);
    if (entry && m.producerEpoch < entry.epoch) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PRODUCER_EPOCH,
        `Epoch of producer ${m.producerId} in the marker is ${m.producerEpoch}, older than the current epoch ${entry.epoch}`,
      );
    }
    // A coordinator that lost its partition to a newer one (a zombie) writes no marker, as Kafka's ProducerAppendInfo.
    if (entry && m.coordinatorEpoch < entry.coordinatorEpoch) {
      throw new KafkaError(
        ERROR_CODES.TRANSACTION_COORDINATOR_FENCED,
        `Invalid coordinator epoch for producer ${m.producerId}: ${m.coordinatorEpoch} (zombie), ${entry.coordinatorEpoch} (current)`,
      );
    }
    const batch = buildEndTxnMarkerBatch({ ...m, partitionLeaderEpoch: this.leaderEpoch });
    const result = this.log.append(batch, { leaderEpoch: this.leaderEpoch });
    this.advanceHighWatermark();
    this.producers.endTransaction(m.producerId, m.producerEpoch, m.coordinatorEpoch);
    const aborted = this.txns.onMarker(m.producerId, m.commit, result.firstOffset);
    if (aborted !== null) this.log.appendAbortedTxn(aborted);
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
      // Producer and transaction state as the leader's: open transactions, the LSO, aborted ones indexed.
      this.observeBatch(records, at, size, records.readBigInt64BE(at));
      at += size;
    }
    return result;
  }

  /** A follower drops a divergent tail; the producer and transaction state is rebuilt from what is left. */
  truncateTo(offset: bigint): void {
    if (!this.log.truncateTo(offset)) return;
    this.producers.clear();
    this.txns.clear();
    this.loadProducerState(undefined);
  }

  /** A follower far behind the leader's log start: empty, starting there. */
  truncateFullyAndStartAt(offset: bigint): void {
    this.log.truncateFullyAndStartAt(offset);
    this.producers.clear();
    this.txns.clear();
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
        if (snapshot.txns !== undefined) this.txns.load(snapshot.txns);
        from = snapshot.offset;
      } catch {
        this.producers.clear();
        this.txns.clear();
      }
    }
    // Aborted transactions below `from` come from the segments' .txnindex files; replay adds the rest
    // (and writes the index entries a crash may have lost).
    const indexed = this.log.abortedTxns();
    this.txns.setAborted(indexed.filter((e) => e.lastOffset < from));
    this.replayFrom(from, new Set(indexed.map((e) => e.lastOffset)));
  }

  private replayFrom(offset: bigint, indexedMarkers: ReadonlySet<bigint>): void {
    // Positional reads, not views of a mapping (a restart replays thousands of logs); only control
    // batches (transaction markers) are read whole, the others need their header alone.
    this.log.forEachBatch(
      offset,
      (records, at, size) => {
        const base = records.readBigInt64BE(at);
        if (base >= offset) this.observeBatch(records, at, size, base, indexedMarkers);
      },
      (header, at) => flagsOf(header, at).control,
    );
  }

  /**
   * The producer and transaction state a batch already in the log implies (replay, follower
   * appends): a producer's sequence, a transaction's data, or a marker ending one (an aborted
   * transaction goes to the .txnindex unless `indexedMarkers` shows it is there).
   */
  private observeBatch(
    records: Buffer,
    at: number,
    size: number,
    base: bigint,
    indexedMarkers: ReadonlySet<bigint> = new Set(),
  ): void {
    const info = producerInfoOf(records, at);
    if (info.producerId < 0n) return;
    const flags = flagsOf(records, at);
    if (flags.control) {
      const marker = markerOf(records, at, size);
      if (marker === null) return;
      this.producers.endTransaction(info.producerId, info.producerEpoch, marker.coordinatorEpoch);
      const aborted = this.txns.onMarker(info.producerId, marker.commit, base);
      if (aborted !== null && !indexedMarkers.has(base)) this.log.appendAbortedTxn(aborted);
    } else {
      this.producers.update(info, base);
      if (flags.transactional) this.onTransactionalData(info.producerId, base);
    }
  }
}
