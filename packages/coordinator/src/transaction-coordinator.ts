import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import type { AppendFunction, CoordinatorLogger, CoordinatorRecord } from './coordinator.js';
import { groupPartition } from './partitioner.js';
import { type Scheduler, systemScheduler, type TimerHandle } from './scheduler.js';
import {
  decodeTransactionLogKey,
  decodeTransactionLogValue,
  encodeTransactionLogKey,
  encodeTransactionLogValue,
  TXN_STATE_NAMES,
  TxnState,
  type TxnStateId,
} from './transaction-records.js';

const E = ERROR_CODES;
const NO_PRODUCER_ID = -1n;
const NO_EPOCH = -1;
/** Kafka rotates to a new producer id when the epoch reaches Short.MAX_VALUE - 1. */
const MAX_EPOCH = 32767;
/** Marker and completion retries back off from this to MAX_RETRY_BACKOFF_MS. */
const RETRY_BACKOFF_MS = 100;
const MAX_RETRY_BACKOFF_MS = 5000;
/** A bound on transactions aborted or expired per scheduled pass (the rest wait for the next pass). */
const MAX_PER_PASS = 10_000;

export interface TransactionCoordinatorConfig {
  /** transaction.state.log.num.partitions */
  numPartitions: number;
  /** transaction.max.timeout.ms */
  transactionMaxTimeoutMs: number;
  /** transactional.id.expiration.ms */
  transactionalIdExpirationMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms */
  abortTimedOutTransactionsIntervalMs: number;
  /** transaction.remove.expired.transaction.cleanup.interval.ms */
  removeExpiredTransactionalIdsIntervalMs: number;
}

export const DEFAULT_TRANSACTION_COORDINATOR_CONFIG: TransactionCoordinatorConfig = {
  numPartitions: 50,
  transactionMaxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 604_800_000,
  abortTimedOutTransactionsIntervalMs: 10_000,
  removeExpiredTransactionalIdsIntervalMs: 3_600_000,
};

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

/** Commit or abort markers for the partitions of one transaction (WriteTxnMarkers semantics). */
export interface TxnMarkers {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
  partitions: TopicPartitionRef[];
}

/**
 * Writes markers to the leaders of the partitions (a local call on one node, a WriteTxnMarkers
 * request in a cluster). Resolves with an error code per partition, in order; NONE when written.
 * UNKNOWN_TOPIC_OR_PARTITION (a deleted partition) counts as done, as in Kafka; other errors are retried.
 */
export type TxnMarkerWriter = (markers: TxnMarkers) => Promise<number[]> | number[];

export interface TransactionCoordinatorOptions {
  config?: Partial<TransactionCoordinatorConfig>;
  /** Appends to a `__transaction_state` partition; resolves once the records are in the log. */
  append: AppendFunction;
  writeMarkers: TxnMarkerWriter;
  /** A new producer id; null while none is at hand (answered COORDINATOR_LOAD_IN_PROGRESS, retriable). */
  nextProducerId: () => bigint | null;
  scheduler?: Scheduler;
  logger?: CoordinatorLogger;
}

/** What the coordinator holds of one transactional id (Kafka's TransactionMetadata). */
export interface TxnMetadata {
  readonly transactionalId: string;
  producerId: bigint;
  /** The id before the last rotation (epoch exhaustion), for a retried InitProducerId. */
  previousProducerId: bigint;
  producerEpoch: number;
  /** The epoch before the last bump, so a retried InitProducerId (KIP-360) gets the same answer. */
  lastProducerEpoch: number;
  timeoutMs: number;
  state: TxnStateId;
  /** `topic\u0000partition` keys. */
  partitions: Map<string, TopicPartitionRef>;
  startTimestampMs: number;
  lastUpdateTimestampMs: number;
  /** A state change is being written: other requests get CONCURRENT_TRANSACTIONS meanwhile. */
  pending: boolean;
  /** 2 when the transaction runs under transactions V2 (KIP-890 part 2: an epoch bump at every EndTxn). */
  clientTransactionVersion: number;
  /** A transaction that exhausted its epochs at EndTxn (V2) moves to this id once complete; -1 otherwise. */
  nextProducerId: bigint;
}

/** EndTxn's answer: v5 carries the producer id and epoch for the next transaction (transactions V2). */
export interface EndTxnResult {
  errorCode: number;
  producerId: bigint;
  producerEpoch: number;
}

export interface InitProducerIdParams {
  transactionalId: string;
  transactionTimeoutMs: number;
  /** v3+ (KIP-360): the id and epoch the producer holds, or -1/-1. */
  producerId: bigint;
  producerEpoch: number;
}

export interface InitProducerIdResult {
  errorCode: number;
  producerId: bigint;
  producerEpoch: number;
}

export interface TxnIdentity {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
}

export interface DescribedTransaction {
  transactionalId: string;
  errorCode: number;
  state: string;
  producerId: bigint;
  producerEpoch: number;
  timeoutMs: number;
  startTimestampMs: number;
  topics: TopicPartitionRef[];
}

export interface ListedTransaction {
  transactionalId: string;
  producerId: bigint;
  state: string;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** What an append failure means to the client (Kafka's TransactionStateManager mapping). */
function appendErrorCode(err: unknown): number {
  const code = err instanceof KafkaError ? err.code : E.UNKNOWN_SERVER_ERROR;
  switch (code) {
    case E.UNKNOWN_TOPIC_OR_PARTITION:
    case E.NOT_ENOUGH_REPLICAS:
    case E.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case E.REQUEST_TIMED_OUT:
    case E.KAFKA_STORAGE_ERROR:
      return E.COORDINATOR_NOT_AVAILABLE;
    case E.NOT_LEADER_OR_FOLLOWER:
      return E.NOT_COORDINATOR;
    default:
      return E.UNKNOWN_SERVER_ERROR;
  }
}

/**
 * The transaction coordinator (Kafka's TransactionCoordinator with its TransactionStateManager):
 * one state machine per transactional id, every transition written to `__transaction_state`
 * before it takes effect, markers written through `writeMarkers` once a commit or abort is
 * decided. Time and timers come from the injected scheduler.
 */
export class TransactionCoordinator {
  readonly config: TransactionCoordinatorConfig;
  private readonly txns = new Map<string, TxnMetadata>();
  /** The coordinator epoch of each loaded partition (its leader epoch), which markers carry. */
  private readonly loaded = new Map<number, number>();
  private readonly append: AppendFunction;
  private readonly writeMarkersTo: TxnMarkerWriter;
  private readonly nextProducerId: () => bigint | null;
  private readonly scheduler: Scheduler;
  private readonly log: CoordinatorLogger;
  private readonly timers = new Set<TimerHandle>();
  private active = true;

  constructor(options: TransactionCoordinatorOptions) {
    this.config = { ...DEFAULT_TRANSACTION_COORDINATOR_CONFIG, ...options.config };
    this.append = options.append;
    this.writeMarkersTo = options.writeMarkers;
    this.nextProducerId = options.nextProducerId;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.log = options.logger ?? { info() {}, warn() {}, error() {} };
    this.every(this.config.abortTimedOutTransactionsIntervalMs, () => this.abortTimedOutTransactions());
    this.every(this.config.removeExpiredTransactionalIdsIntervalMs, () => this.removeExpiredTransactionalIds());
  }

  /** The `__transaction_state` partition of a transactional id (as Kafka computes it). */
  partitionFor(transactionalId: string): number {
    return groupPartition(transactionalId, this.config.numPartitions);
  }

  get(transactionalId: string): TxnMetadata | undefined {
    return this.txns.get(transactionalId);
  }

  shutdown(): void {
    this.active = false;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }

  /**
   * Loads one partition of `__transaction_state` (its records in offset order; the last record
   * of a key wins, a null value removes it), then finishes what was decided before the restart:
   * markers for PrepareCommit/PrepareAbort are written again. Ongoing transactions time out as usual.
   */
  loadPartition(partition: number, records: Iterable<CoordinatorRecord>, coordinatorEpoch = 0): number {
    this.loaded.set(partition, coordinatorEpoch);
    const found = new Map<string, TxnMetadata | null>();
    for (const r of records) {
      const id = decodeTransactionLogKey(r.key);
      if (id === null) continue;
      if (r.value === null) {
        found.set(id, null);
        continue;
      }
      const v = decodeTransactionLogValue(r.value);
      const partitions = new Map<string, TopicPartitionRef>();
      for (const t of v.partitions)
        for (const p of t.partitions) partitions.set(key(t.topic, p), { topic: t.topic, partition: p });
      found.set(id, {
        transactionalId: id,
        producerId: v.producerId,
        previousProducerId: v.previousProducerId,
        producerEpoch: v.producerEpoch,
        lastProducerEpoch: NO_EPOCH,
        timeoutMs: v.transactionTimeoutMs,
        state: v.state,
        partitions,
        startTimestampMs: v.startTimestampMs,
        lastUpdateTimestampMs: v.lastUpdateTimestampMs,
        pending: false,
        clientTransactionVersion: v.clientTransactionVersion ?? 0,
        nextProducerId: v.nextProducerId ?? NO_PRODUCER_ID,
      });
    }
    let count = 0;
    for (const [id, meta] of found) {
      if (meta === null) {
        this.txns.delete(id);
        continue;
      }
      count++;
      this.txns.set(id, meta);
      if (meta.state === TxnState.PrepareCommit || meta.state === TxnState.PrepareAbort) {
        this.log.info(`completing transaction ${id} (${TXN_STATE_NAMES[meta.state]}) loaded from the log`);
        void this.completeTransaction(meta);
      }
    }
    return count;
  }

  /** Forgets the transactions of a partition this coordinator no longer leads. */
  unloadPartition(partition: number): void {
    this.loaded.delete(partition);
    for (const [id] of this.txns) if (this.partitionFor(id) === partition) this.txns.delete(id);
  }

  /** InitProducerId with a transactional id: a new producer, or an epoch bump that fences the previous one. */
  async initProducerId(p: InitProducerIdParams): Promise<InitProducerIdResult> {
    const fail = (errorCode: number): InitProducerIdResult => ({ errorCode, producerId: -1n, producerEpoch: -1 });
    if (p.transactionalId === '') return fail(E.INVALID_REQUEST);
    if (p.transactionTimeoutMs <= 0 || p.transactionTimeoutMs > this.config.transactionMaxTimeoutMs) {
      return fail(E.INVALID_TRANSACTION_TIMEOUT);
    }
    let meta = this.txns.get(p.transactionalId);
    if (meta === undefined) {
      const id = this.allocateProducerId();
      if (typeof id === 'number') return fail(id);
      meta = {
        transactionalId: p.transactionalId,
        producerId: id,
        previousProducerId: NO_PRODUCER_ID,
        producerEpoch: NO_EPOCH,
        lastProducerEpoch: NO_EPOCH,
        timeoutMs: p.transactionTimeoutMs,
        state: TxnState.Empty,
        partitions: new Map(),
        startTimestampMs: -1,
        lastUpdateTimestampMs: this.scheduler.now(),
        pending: false,
        clientTransactionVersion: 0,
        nextProducerId: NO_PRODUCER_ID,
      };
      this.txns.set(p.transactionalId, meta);
    }
    if (meta.pending) return fail(E.CONCURRENT_TRANSACTIONS);
    const expected = p.producerId === NO_PRODUCER_ID ? null : { id: p.producerId, epoch: p.producerEpoch };
    if (expected !== null) {
      const current = expected.id === meta.producerId && expected.epoch === meta.producerEpoch;
      // A retry of an InitProducerId whose answer was lost: the producer still holds the epoch before the bump.
      const retry =
        expected.id === meta.producerId &&
        meta.lastProducerEpoch !== NO_EPOCH &&
        expected.epoch === meta.lastProducerEpoch;
      if (retry && (meta.state === TxnState.Empty || this.isComplete(meta))) {
        return { errorCode: E.NONE, producerId: meta.producerId, producerEpoch: meta.producerEpoch };
      }
      const rotated = expected.id === meta.previousProducerId;
      if (!current && !rotated) return fail(E.PRODUCER_FENCED);
    }
    switch (meta.state) {
      case TxnState.PrepareCommit:
      case TxnState.PrepareAbort:
      case TxnState.PrepareEpochFence:
        return fail(E.CONCURRENT_TRANSACTIONS);
      case TxnState.Ongoing: {
        // Abort the open transaction first under a bumped epoch (fencing its producer); the client
        // retries on CONCURRENT_TRANSACTIONS and then gets an epoch bumped once more.
        const code = await this.fenceAndAbort(meta);
        return fail(code === E.NONE ? E.CONCURRENT_TRANSACTIONS : code);
      }
      case TxnState.Dead:
        return fail(E.CONCURRENT_TRANSACTIONS);
      default:
        break;
    }
    let producerId = meta.producerId;
    let previousProducerId = meta.previousProducerId;
    let epoch = meta.producerEpoch + 1;
    if (meta.producerEpoch >= MAX_EPOCH - 1) {
      const id = this.allocateProducerId();
      if (typeof id === 'number') return fail(id);
      previousProducerId = producerId;
      producerId = id;
      epoch = 0;
    }
    const lastEpoch = meta.producerEpoch;
    const code = await this.transition(meta, {
      producerId,
      previousProducerId,
      producerEpoch: epoch,
      timeoutMs: p.transactionTimeoutMs,
      state: TxnState.Empty,
      partitions: new Map(),
      startTimestampMs: -1,
    });
    if (code !== E.NONE) {
      // A brand-new id that could not be stored is forgotten again.
      if (meta.producerEpoch === NO_EPOCH) this.txns.delete(meta.transactionalId);
      return fail(code);
    }
    meta.lastProducerEpoch = lastEpoch;
    return { errorCode: E.NONE, producerId: meta.producerId, producerEpoch: meta.producerEpoch };
  }

  /** Checks a request's producer against the transaction: NONE, or the error Kafka answers. */
  private checkProducer(meta: TxnMetadata | undefined, who: TxnIdentity): number {
    if (meta === undefined) return E.INVALID_PRODUCER_ID_MAPPING;
    if (meta.producerId !== who.producerId) return E.INVALID_PRODUCER_ID_MAPPING;
    if (meta.producerEpoch !== who.producerEpoch) return E.PRODUCER_FENCED;
    return E.NONE;
  }

  /**
   * AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition): the partitions
   * join the transaction, which becomes Ongoing. One error for all the partitions.
   */
  async addPartitions(
    who: TxnIdentity,
    partitions: readonly TopicPartitionRef[],
    clientTransactionVersion = 0,
  ): Promise<number> {
    const meta = this.txns.get(who.transactionalId);
    const checked = this.checkProducer(meta, who);
    if (checked !== E.NONE || meta === undefined) return checked;
    if (meta.pending) return E.CONCURRENT_TRANSACTIONS;
    if (meta.state === TxnState.PrepareCommit || meta.state === TxnState.PrepareAbort) return E.CONCURRENT_TRANSACTIONS;
    if (meta.state === TxnState.PrepareEpochFence || meta.state === TxnState.Dead) return E.CONCURRENT_TRANSACTIONS;
    const added = new Map(meta.partitions);
    for (const tp of partitions) added.set(key(tp.topic, tp.partition), { topic: tp.topic, partition: tp.partition });
    // Nothing new: answered without a write.
    if (meta.state === TxnState.Ongoing && added.size === meta.partitions.size) return E.NONE;
    const start = meta.state === TxnState.Ongoing ? meta.startTimestampMs : this.scheduler.now();
    // The transaction's version is the one of the request that began it (Kafka's prepareAddPartitions).
    const version = meta.state === TxnState.Ongoing ? meta.clientTransactionVersion : clientTransactionVersion;
    return this.transition(meta, {
      state: TxnState.Ongoing,
      partitions: added,
      startTimestampMs: start,
      clientTransactionVersion: version,
    });
  }

  /**
   * KIP-890 part 1: a partition leader asks whether these partitions are in the producer's ongoing
   * transaction before it takes a transactional write. Errors per partition, in order.
   */
  verifyPartitions(who: TxnIdentity, partitions: readonly TopicPartitionRef[]): number[] {
    const meta = this.txns.get(who.transactionalId);
    let code = this.checkProducer(meta, who);
    if (code === E.NONE && meta !== undefined) {
      if (meta.pending || meta.state === TxnState.PrepareCommit || meta.state === TxnState.PrepareAbort) {
        code = E.CONCURRENT_TRANSACTIONS;
      }
    }
    if (code !== E.NONE || meta === undefined) return partitions.map(() => code);
    return partitions.map((tp) =>
      meta.state === TxnState.Ongoing && meta.partitions.has(key(tp.topic, tp.partition))
        ? E.NONE
        : E.INVALID_TXN_STATE,
    );
  }

  /** EndTxn before transactions V2 (v0-v4): the error code only. */
  async endTransaction(who: TxnIdentity, commit: boolean): Promise<number> {
    return (await this.endTxn(who, commit, 0)).errorCode;
  }

  /**
   * EndTxn: decides the transaction (PrepareCommit/PrepareAbort is written), then writes its
   * markers. Under transactions V2 (`clientTransactionVersion` 2, EndTxn v5) the decision bumps
   * the producer epoch, the markers carry the bumped epoch, and the answer gives the producer the
   * id and epoch of its next transaction (a new id at epoch 0 once the epochs are exhausted), as
   * Kafka's TransactionCoordinator.endTransaction.
   */
  async endTxn(who: TxnIdentity, commit: boolean, clientTransactionVersion: number): Promise<EndTxnResult> {
    const fail = (errorCode: number): EndTxnResult => ({
      errorCode,
      producerId: NO_PRODUCER_ID,
      producerEpoch: NO_EPOCH,
    });
    const meta = this.txns.get(who.transactionalId);
    if (meta === undefined) return fail(E.INVALID_PRODUCER_ID_MAPPING);
    const current = (): EndTxnResult => ({
      errorCode: E.NONE,
      producerId: meta.producerId,
      producerEpoch: meta.producerEpoch,
    });
    const v2 = meta.state !== TxnState.PrepareEpochFence && meta.clientTransactionVersion >= 2;
    // A retry of an EndTxn whose answer was lost: the epoch (or, past exhaustion, the id) moved on already.
    const retryOnOverflow =
      v2 &&
      meta.previousProducerId === who.producerId &&
      who.producerEpoch === MAX_EPOCH - 1 &&
      meta.producerEpoch === 0;
    const retryOnEpochBump = v2 && meta.producerEpoch === who.producerEpoch + 1;
    let validEpoch: boolean;
    if (!v2) validEpoch = who.producerEpoch === meta.producerEpoch;
    else if (meta.state === TxnState.PrepareCommit || meta.state === TxnState.PrepareAbort)
      validEpoch = retryOnEpochBump;
    // Kafka 4.4 also takes the current epoch here (then it is no retry: a new EndTxn with nothing open).
    else if (this.isComplete(meta))
      validEpoch = retryOnEpochBump || retryOnOverflow || who.producerEpoch === meta.producerEpoch;
    else validEpoch = who.producerEpoch === meta.producerEpoch;
    if (meta.producerId !== who.producerId && !retryOnOverflow) return fail(E.INVALID_PRODUCER_ID_MAPPING);
    if (!validEpoch) return fail(E.PRODUCER_FENCED);
    if (meta.pending) return fail(E.CONCURRENT_TRANSACTIONS);
    const retry = !v2 || retryOnEpochBump || retryOnOverflow;
    // Transactions V2: aborting with nothing open is taken (the producer aborts without knowing whether
    // anything was added); the epoch is bumped and nothing needs a marker.
    const emptyAbort =
      !commit &&
      clientTransactionVersion >= 2 &&
      (meta.state === TxnState.Empty || (this.isComplete(meta) && !(v2 && retry)));
    switch (emptyAbort ? TxnState.Ongoing : meta.state) {
      case TxnState.Ongoing: {
        const bump = clientTransactionVersion >= 2;
        let nextProducerId = NO_PRODUCER_ID;
        if (bump && meta.producerEpoch >= MAX_EPOCH - 1) {
          const id = this.allocateProducerId();
          if (typeof id === 'number') return fail(id);
          nextProducerId = id;
        }
        const code = await this.transition(meta, {
          state: commit ? TxnState.PrepareCommit : TxnState.PrepareAbort,
          producerEpoch: bump ? meta.producerEpoch + 1 : meta.producerEpoch,
          lastProducerEpoch: bump ? meta.producerEpoch : meta.lastProducerEpoch,
          nextProducerId,
          clientTransactionVersion: bump ? clientTransactionVersion : meta.clientTransactionVersion,
        });
        if (code !== E.NONE) return fail(code);
        // What the producer uses next: the id it moves to, or the bumped epoch.
        const answer =
          nextProducerId !== NO_PRODUCER_ID
            ? { errorCode: E.NONE, producerId: nextProducerId, producerEpoch: 0 }
            : current();
        void this.completeTransaction(meta);
        return answer;
      }
      case TxnState.PrepareCommit:
        return fail(commit ? E.CONCURRENT_TRANSACTIONS : E.INVALID_TXN_STATE);
      case TxnState.PrepareAbort:
        return fail(commit ? E.INVALID_TXN_STATE : E.CONCURRENT_TRANSACTIONS);
      case TxnState.CompleteCommit:
      case TxnState.CompleteAbort: {
        // A retry of the EndTxn that completed it (under V2 one with the epoch before the bump).
        const same = commit === (meta.state === TxnState.CompleteCommit);
        return retry && same ? current() : fail(E.INVALID_TXN_STATE);
      }
      case TxnState.PrepareEpochFence:
        return fail(E.CONCURRENT_TRANSACTIONS);
      default:
        return fail(E.INVALID_TXN_STATE);
    }
  }

  describe(transactionalId: string): DescribedTransaction {
    const meta = this.txns.get(transactionalId);
    if (meta === undefined || meta.state === TxnState.Dead) {
      return {
        transactionalId,
        errorCode: E.TRANSACTIONAL_ID_NOT_FOUND,
        state: '',
        producerId: -1n,
        producerEpoch: -1,
        // Kafka answers an unknown id with the field's zero, not -1.
        timeoutMs: 0,
        startTimestampMs: -1,
        topics: [],
      };
    }
    return {
      transactionalId,
      errorCode: E.NONE,
      state: TXN_STATE_NAMES[meta.state],
      producerId: meta.producerId,
      producerEpoch: meta.producerEpoch,
      timeoutMs: meta.timeoutMs,
      startTimestampMs: meta.startTimestampMs,
      topics: [...meta.partitions.values()],
    };
  }

  /** Transactions filtered as ListTransactions asks (empty filters match all; duration -1 = any). */
  list(states: readonly string[] = [], producerIds: readonly bigint[] = [], minDurationMs = -1): ListedTransaction[] {
    const now = this.scheduler.now();
    const out: ListedTransaction[] = [];
    for (const meta of this.txns.values()) {
      const state = TXN_STATE_NAMES[meta.state];
      if (meta.state === TxnState.Dead) continue;
      if (states.length > 0 && !states.includes(state)) continue;
      if (producerIds.length > 0 && !producerIds.includes(meta.producerId)) continue;
      if (minDurationMs >= 0 && (meta.state !== TxnState.Ongoing || now - meta.startTimestampMs < minDurationMs)) {
        continue;
      }
      out.push({ transactionalId: meta.transactionalId, producerId: meta.producerId, state });
    }
    return out;
  }

  /** Aborts every Ongoing transaction past its timeout, fencing its producer with a bumped epoch. */
  async abortTimedOutTransactions(): Promise<number> {
    const now = this.scheduler.now();
    const due = [...this.txns.values()]
      .filter((m) => m.state === TxnState.Ongoing && !m.pending && m.startTimestampMs + m.timeoutMs <= now)
      .slice(0, MAX_PER_PASS);
    for (const meta of due) {
      this.log.info(`aborting transaction ${meta.transactionalId}: its timeout of ${meta.timeoutMs} ms has passed`);
      await this.fenceAndAbort(meta);
    }
    return due.length;
  }

  /** Removes transactional ids idle beyond transactional.id.expiration.ms (a tombstone in the log). */
  async removeExpiredTransactionalIds(): Promise<number> {
    const now = this.scheduler.now();
    const due = [...this.txns.values()]
      .filter(
        (m) =>
          !m.pending &&
          (m.state === TxnState.Empty || this.isComplete(m)) &&
          m.lastUpdateTimestampMs + this.config.transactionalIdExpirationMs <= now,
      )
      .slice(0, MAX_PER_PASS);
    let removed = 0;
    for (const meta of due) {
      const partition = this.partitionFor(meta.transactionalId);
      meta.pending = true;
      try {
        await this.append(partition, [{ key: encodeTransactionLogKey(meta.transactionalId), value: null }]);
        if (this.txns.get(meta.transactionalId) === meta) this.txns.delete(meta.transactionalId);
        meta.state = TxnState.Dead;
        removed++;
      } catch (err) {
        this.log.warn(`expiring transactional id ${meta.transactionalId} failed: ${(err as Error).message}`);
      } finally {
        meta.pending = false;
      }
    }
    return removed;
  }

  private isComplete(meta: TxnMetadata): boolean {
    return meta.state === TxnState.CompleteCommit || meta.state === TxnState.CompleteAbort;
  }

  /** Bumps the epoch (PrepareEpochFence, not stored) and aborts under it (PrepareAbort is). */
  private async fenceAndAbort(meta: TxnMetadata): Promise<number> {
    const epoch = meta.producerEpoch >= MAX_EPOCH - 1 ? meta.producerEpoch : meta.producerEpoch + 1;
    const before = meta.state;
    meta.state = TxnState.PrepareEpochFence;
    const code = await this.transition(meta, { producerEpoch: epoch, state: TxnState.PrepareAbort });
    if (code !== E.NONE) {
      if (meta.state === TxnState.PrepareEpochFence) meta.state = before;
      return code;
    }
    void this.completeTransaction(meta);
    return E.NONE;
  }

  /** Writes a new state of `meta` (its fields overridden by `change`) and applies it once stored. */
  private async transition(
    meta: TxnMetadata,
    change: Partial<Omit<TxnMetadata, 'transactionalId' | 'pending'>>,
  ): Promise<number> {
    const next = { ...meta, ...change, lastUpdateTimestampMs: this.scheduler.now() };
    const partition = this.partitionFor(meta.transactionalId);
    const byTopic = new Map<string, number[]>();
    for (const tp of next.partitions.values()) {
      const list = byTopic.get(tp.topic) ?? [];
      list.push(tp.partition);
      byTopic.set(tp.topic, list);
    }
    const value = encodeTransactionLogValue({
      producerId: next.producerId,
      previousProducerId: next.previousProducerId,
      producerEpoch: next.producerEpoch,
      transactionTimeoutMs: next.timeoutMs,
      state: next.state,
      partitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
      lastUpdateTimestampMs: next.lastUpdateTimestampMs,
      startTimestampMs: next.startTimestampMs,
      nextProducerId: next.nextProducerId,
      clientTransactionVersion: next.clientTransactionVersion,
    });
    meta.pending = true;
    try {
      await this.append(partition, [{ key: encodeTransactionLogKey(meta.transactionalId), value }]);
    } catch (err) {
      this.log.warn(`storing transaction ${meta.transactionalId} failed: ${(err as Error).message}`);
      return appendErrorCode(err);
    } finally {
      meta.pending = false;
    }
    Object.assign(meta, change, { lastUpdateTimestampMs: next.lastUpdateTimestampMs });
    return E.NONE;
  }

  /**
   * Writes the markers of a decided transaction (retrying partitions that failed, with backoff),
   * then stores CompleteCommit/CompleteAbort with no partitions.
   */
  private async completeTransaction(meta: TxnMetadata, backoffMs = RETRY_BACKOFF_MS): Promise<void> {
    // Retries end when the coordinator stops, or its partition moved to another broker (which finishes the transaction).
    if (!this.active || this.txns.get(meta.transactionalId) !== meta) return;
    const commit = meta.state === TxnState.PrepareCommit;
    if (!commit && meta.state !== TxnState.PrepareAbort) return;
    const remaining = [...meta.partitions.values()];
    const coordinatorEpoch = this.loaded.get(this.partitionFor(meta.transactionalId)) ?? 0;
    let failed: TopicPartitionRef[] = [];
    if (remaining.length > 0) {
      try {
        const codes = await this.writeMarkersTo({
          transactionalId: meta.transactionalId,
          producerId: meta.producerId,
          producerEpoch: meta.producerEpoch,
          coordinatorEpoch,
          commit,
          partitions: remaining,
        });
        failed = remaining.filter((_, i) => {
          const c = codes[i] ?? E.UNKNOWN_SERVER_ERROR;
          // A deleted partition needs no marker; a newer producer epoch there means a later decision superseded this one.
          return (
            c !== E.NONE &&
            c !== E.UNKNOWN_TOPIC_OR_PARTITION &&
            c !== E.INVALID_PRODUCER_EPOCH &&
            c !== E.TRANSACTION_COORDINATOR_FENCED
          );
        });
      } catch (err) {
        this.log.warn(`writing markers of ${meta.transactionalId} failed: ${(err as Error).message}`);
        failed = remaining;
      }
    }
    const retry = () => {
      const t = this.scheduler.schedule(backoffMs, () => {
        this.timers.delete(t);
        void this.completeTransaction(meta, Math.min(backoffMs * 2, MAX_RETRY_BACKOFF_MS));
      });
      this.timers.add(t);
    };
    if (failed.length > 0) {
      // Markers already written stay written; only the failed partitions are retried.
      meta.partitions = new Map(failed.map((tp) => [key(tp.topic, tp.partition), tp]));
      retry();
      return;
    }
    if (this.txns.get(meta.transactionalId) !== meta || !this.active) return;
    // Epochs exhausted under transactions V2: the markers went out under the old id, the producer goes on with the new one.
    const rotate = meta.nextProducerId !== NO_PRODUCER_ID;
    const code = await this.transition(meta, {
      state: commit ? TxnState.CompleteCommit : TxnState.CompleteAbort,
      partitions: new Map(),
      ...(rotate
        ? {
            producerId: meta.nextProducerId,
            previousProducerId: meta.producerId,
            producerEpoch: 0,
            lastProducerEpoch: meta.producerEpoch,
            nextProducerId: NO_PRODUCER_ID,
          }
        : {}),
    });
    if (code !== E.NONE) retry();
  }

  private allocateProducerId(): bigint | number {
    try {
      const id = this.nextProducerId();
      return id === null ? E.COORDINATOR_LOAD_IN_PROGRESS : id;
    } catch (err) {
      this.log.warn(`allocating a producer id failed: ${(err as Error).message}`);
      return E.COORDINATOR_NOT_AVAILABLE;
    }
  }

  /** Runs `fn` every `intervalMs` until shutdown. */
  private every(intervalMs: number, fn: () => Promise<unknown>): void {
    const arm = () => {
      const t = this.scheduler.schedule(intervalMs, () => {
        this.timers.delete(t);
        if (!this.active) return;
        fn().catch((err) => this.log.error(`transaction coordinator task failed: ${(err as Error).message}`));
        arm();
      });
      this.timers.add(t);
    };
    arm();
  }
}
