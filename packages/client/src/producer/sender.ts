import {
  defaultInitProducerIdRequest,
  defaultProduceRequest,
  InitProducerIdApi,
  ProduceApi,
  type ProduceRequest,
  ZERO_UUID,
} from '@sluice/protocol';
import type { ClientContext } from '../client.js';
import { ERROR_CODES, KafkaError, needsMetadataRefresh } from '../errors.js';
import { backoffMs, withRetry } from '../retry.js';
import type { Accumulator, PartitionState } from './accumulator.js';
import type { BatchStamp, ProducerBatch } from './batch.js';
import type { MemoryLimiter } from './memory.js';
import type { TransactionManager } from './transaction.js';

export interface SenderOptions {
  acks: -1 | 0 | 1;
  idempotent: boolean;
  requestTimeoutMs: number;
  retries: number;
  retryBackoffMs: number;
  retryBackoffMaxMs: number;
  /** Unanswered Produce requests per broker (5 at most with idempotence). */
  maxInFlight: number;
  maxRequestSize: number;
  /** A transactional producer: batches wait until their partition is added to the open transaction. */
  txn?: TransactionManager;
}

const DUPLICATE_SEQUENCE_NUMBER = 46;
const OUT_OF_ORDER_SEQUENCE_NUMBER = 45;

interface NodeState {
  inflight: number;
}

/**
 * Drains built batches into Produce requests, one per leader broker, at most one batch per
 * partition per request, and handles the answers. Ordering: a partition's batches go out in
 * sequence; after a retriable failure the partition sends nothing new until everything in flight
 * has come back, then resends the failed batches in sequence order, one at a time — so retries
 * never reorder records (with idempotence the broker also drops duplicates by sequence). An idempotent
 * partition pipelines only once it acknowledged a batch of the current producer id and epoch (inflightLimit).
 */
export class Sender {
  private producerId = -1n;
  private producerEpoch = -1;
  private initializing: Promise<void> | null = null;
  private readonly nodes = new Map<number, NodeState>();
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Batches of an old producer id the broker refused as out of order (never written): stamped anew when resent. */
  private readonly restamp = new WeakSet<ProducerBatch>();

  constructor(
    private readonly ctx: ClientContext,
    private readonly acc: Accumulator,
    private readonly memory: MemoryLimiter,
    private readonly o: SenderOptions,
  ) {}

  /** Requests a drain at the end of this tick (coalescing many triggers into one). */
  wake(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.drain().catch(() => {});
    });
  }

  /** The first error of a batch sent in the open transaction: it can then only be aborted. */
  txnError: unknown = null;
  private adding: Promise<void> | null = null;

  /** A new producer id or epoch (initTransactions): sequences start over. */
  setProducer(producerId: bigint, producerEpoch: number): void {
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    for (const s of this.acc.partitions.values()) s.nextSequence = 0;
  }

  /** Adds partitions to the open transaction before their first batch goes out; their batches fail if it cannot. */
  private addToTransaction(txn: TransactionManager, partitions: PartitionState[]): void {
    if (this.adding !== null) return;
    this.adding = txn
      .addPartitions(partitions.map((s) => ({ topic: s.topic, partition: s.partition })))
      .catch((err: unknown) => {
        this.txnError ??= err;
        for (const s of partitions) {
          for (const b of s.queue.splice(0)) this.finish(b, err);
          for (const b of s.retry.splice(0)) this.finish(b, err);
        }
      })
      .finally(() => {
        this.adding = null;
        this.wake();
      });
  }

  private async ensureProducerId(): Promise<void> {
    if (!this.o.idempotent || this.producerId >= 0n) return;
    // A transactional producer gets its id from initTransactions(), never from here.
    if (this.o.txn) throw new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'initTransactions() first');
    this.initializing ??= withRetry(
      async () => {
        const conn = await this.ctx.pool.any();
        const req = defaultInitProducerIdRequest();
        req.transactionalId = null;
        req.transactionTimeoutMs = 60_000;
        const res = await conn.request(InitProducerIdApi, req);
        if (res.errorCode !== 0) throw new KafkaError(res.errorCode, 'InitProducerId');
        this.producerId = res.producerId;
        this.producerEpoch = res.producerEpoch;
        for (const s of this.acc.partitions.values()) s.nextSequence = 0;
      },
      { retries: this.o.retries },
    ).finally(() => {
      this.initializing = null;
    });
    await this.initializing;
  }

  /**
   * The stamp `b`, just queued behind the other unsent batches of `s`, gets when it is first sent if
   * nothing changes meanwhile (no new producer id, no failed build): the next sequence plus the
   * records queued ahead of it. send() checks it against the real one, so a wrong guess costs
   * only the rewrite it would have cost anyway.
   */
  predictStamp(s: PartitionState, b: ProducerBatch): BatchStamp | null {
    if (!this.o.idempotent || this.producerId < 0n) return null;
    let seq = s.nextSequence;
    for (const q of s.queue) {
      if (q === b) break;
      seq = (seq + q.count) | 0;
      if (seq < 0) seq &= 0x7fffffff;
    }
    return { producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence: seq };
  }

  private node(id: number): NodeState {
    let n = this.nodes.get(id);
    if (n === undefined) {
      n = { inflight: 0 };
      this.nodes.set(id, n);
    }
    return n;
  }

  /** The next batch a partition may send now, or null. */
  private next(s: PartitionState, now: number): ProducerBatch | null {
    if (s.retry.length > 0) {
      if (s.inflight.length > 0) return null;
      const b = s.retry[0];
      return b.notBefore <= now ? b : null;
    }
    const b = s.queue[0];
    if (b === undefined || b.encoded === null) return null;
    return s.inflight.length < this.inflightLimit(s) ? b : null;
  }

  /**
   * Batches of `s` that may be in flight at once. An idempotent producer sends one at a time until the
   * partition acknowledged a batch of its current id and epoch: a broker with no state for the producer
   * takes any sequence first (a fresh topic answers NOT_LEADER_OR_FOLLOWER to the first batches and may
   * take a later one), and the earlier batches could then never be written. Once the partition knows the
   * producer, it refuses a batch out of sequence, which comes back to be resent in order.
   */
  private inflightLimit(s: PartitionState): number {
    if (!this.o.idempotent) return this.o.maxInFlight;
    return s.ackedProducerId === this.producerId && s.ackedProducerEpoch === this.producerEpoch
      ? this.o.maxInFlight
      : 1;
  }

  private async drain(): Promise<void> {
    if (this.o.idempotent && this.producerId < 0n) {
      try {
        await this.ensureProducerId();
      } catch (err) {
        this.failAll(err);
        return;
      }
    }
    const now = Date.now();
    let needMetadata = false;
    let earliestRetry = Number.POSITIVE_INFINITY;
    const txn = this.o.txn;
    // The open transaction can only be aborted: what it has not sent yet fails now (Java's abortUndrainedBatches).
    if (txn && this.txnError !== null) {
      const cause = this.txnError;
      const code = cause instanceof KafkaError ? cause.code : ERROR_CODES.UNKNOWN_SERVER_ERROR;
      this.failAll(new KafkaError(code, 'not sent: an earlier record of the transaction failed', { cause }));
    }
    const toAdd = new Set<PartitionState>();
    // One request per leader takes one batch per partition: go round again while the in-flight limits
    // leave room and batches wait (each round sends at least one request, so at most maxInFlight rounds per leader).
    for (;;) {
      const byNode = new Map<number, Array<{ s: PartitionState; b: ProducerBatch }>>();
      const sizes = new Map<number, number>();
      for (const s of this.acc.partitions.values()) {
        this.expire(s, now);
        const b = this.next(s, now);
        if (b === null) {
          if (s.retry.length > 0 && s.inflight.length === 0)
            earliestRetry = Math.min(earliestRetry, s.retry[0].notBefore);
          continue;
        }
        if (txn && !txn.isAdded(s.topic, s.partition)) {
          toAdd.add(s);
          continue;
        }
        const t = this.ctx.metadata.cached(s.topic);
        const leader = t?.partitions[s.partition]?.leader ?? -1;
        // A stale leader is still tried (it usually still leads); the refresh runs meanwhile.
        if (this.ctx.metadata.stale(s.topic)) needMetadata = true;
        if (leader < 0) {
          needMetadata = true;
          continue;
        }
        const n = this.node(leader);
        if (n.inflight >= this.o.maxInFlight) continue;
        const size = (sizes.get(leader) ?? 0) + (b.encoded as Buffer).length;
        let list = byNode.get(leader);
        if (list !== undefined && size > this.o.maxRequestSize) continue;
        sizes.set(leader, size);
        if (list === undefined) {
          list = [];
          byNode.set(leader, list);
        }
        list.push({ s, b });
      }
      if (byNode.size === 0) break;
      for (const [leader, list] of byNode) this.send(leader, list);
    }
    // Batches held open behind the ones just sent may close now (they come back through onReady).
    this.acc.releaseHeld();
    if (txn && toAdd.size > 0) this.addToTransaction(txn, [...toAdd]);
    if (needMetadata) this.refreshThenWake();
    if (earliestRetry !== Number.POSITIVE_INFINITY && this.retryTimer === null) {
      this.retryTimer = setTimeout(
        () => {
          this.retryTimer = null;
          this.wake();
        },
        Math.max(0, earliestRetry - now),
      );
    }
  }

  /** Fails batches past delivery.timeout.ms that are not in flight (waiting to be sent, or to be retried). */
  private expire(s: PartitionState, now: number): void {
    const expired = (b: ProducerBatch | undefined) => b !== undefined && b.encoded !== null && b.deadline <= now;
    let resent = false;
    while (s.inflight.length === 0 && expired(s.retry[0])) {
      this.finish(
        s.retry.shift() as ProducerBatch,
        new KafkaError(ERROR_CODES.REQUEST_TIMED_OUT, 'delivery.timeout.ms expired'),
      );
      resent = true;
    }
    while (s.retry.length === 0 && expired(s.queue[0])) {
      this.finish(
        s.queue.shift() as ProducerBatch,
        new KafkaError(ERROR_CODES.REQUEST_TIMED_OUT, 'delivery.timeout.ms expired before the batch was sent'),
      );
    }
    // In a transaction a lost sequence makes the transaction abortable instead.
    if (resent && this.o.txn)
      this.txnError ??= new KafkaError(ERROR_CODES.REQUEST_TIMED_OUT, 'delivery.timeout.ms expired');
    else if (resent && this.o.idempotent) {
      // A sequence the broker may never have seen is gone: continue under a new producer id from sequence 0.
      this.producerId = -1n;
    }
  }

  private refreshing = false;
  private refreshThenWake(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    const topics = new Set<string>();
    for (const s of this.acc.partitions.values()) if (!s.idle) topics.add(s.topic);
    if (topics.size === 0) {
      this.refreshing = false;
      return;
    }
    this.ctx.metadata
      .refresh([...topics].filter((t) => this.ctx.metadata.stale(t)))
      .catch(() => new Promise((r) => setTimeout(r, this.o.retryBackoffMs)))
      .finally(() => {
        this.refreshing = false;
        this.wake();
      });
  }

  private send(leader: number, list: Array<{ s: PartitionState; b: ProducerBatch }>): void {
    const req: ProduceRequest = defaultProduceRequest();
    req.acks = this.o.acks;
    req.timeoutMs = this.o.requestTimeoutMs;
    // Brokers check a transactional batch against its producer's transaction (KIP-890).
    req.transactionalId = this.o.txn?.transactionalId ?? null;
    const topics = new Map<string, ProduceRequest['topicData'][number]>();
    // Batches are immutable once stamped: the connection sends them by reference, not copied into the frame.
    const splice = new Set<Uint8Array>();
    for (const { s, b } of list) {
      // Take the batch off its queue and into flight; the sequence is fixed on the first send.
      if (s.retry[0] === b) s.retry.shift();
      else s.queue.shift();
      s.inflight.push(b);
      if (this.o.idempotent && (b.attempts === 0 || this.restamp.delete(b))) {
        b.stamp(this.producerId, this.producerEpoch, s.nextSequence);
        s.nextSequence = (s.nextSequence + b.count) | 0;
        if (s.nextSequence < 0) s.nextSequence &= 0x7fffffff;
      }
      b.attempts++;
      let t = topics.get(s.topic);
      if (t === undefined) {
        t = { name: s.topic, topicId: ZERO_UUID, partitionData: [] };
        topics.set(s.topic, t);
        req.topicData.push(t);
      }
      t.partitionData.push({ index: s.partition, records: b.encoded });
      splice.add(b.encoded as Buffer);
    }
    const n = this.node(leader);
    n.inflight++;
    const started = performance.now();
    this.request(leader, req, splice).then(
      (res) => {
        n.inflight--;
        const latency = performance.now() - started;
        this.ctx.metrics?.observe('produce_request_latency_ms', latency);
        const codes = new Map<string, { errorCode: number; baseOffset: bigint; errorMessage: string | null }>();
        if (res !== undefined) {
          for (const t of res.responses) {
            for (const p of t.partitionResponses) codes.set(`${t.name}\u0000${p.index}`, p);
          }
        }
        for (const { s, b } of list) {
          if (res === undefined) {
            this.onResult(s, b, 0, -1n, null);
            continue;
          }
          const p = codes.get(`${s.topic}\u0000${s.partition}`);
          if (p === undefined)
            this.onResult(
              s,
              b,
              ERROR_CODES.UNKNOWN_SERVER_ERROR,
              -1n,
              new KafkaError(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'no answer for the partition'),
            );
          else
            this.onResult(
              s,
              b,
              p.errorCode,
              p.baseOffset,
              p.errorMessage ? new KafkaError(p.errorCode, p.errorMessage) : null,
            );
        }
        this.wake();
      },
      (err: unknown) => {
        n.inflight--;
        const code = err instanceof KafkaError ? err.code : ERROR_CODES.NETWORK_EXCEPTION;
        for (const { s, b } of list) this.onResult(s, b, code, -1n, err);
        this.wake();
      },
    );
  }

  private async request(leader: number, req: ProduceRequest, splice: ReadonlySet<Uint8Array>) {
    const broker = await this.ctx.metadata.broker(leader);
    const conn = await this.ctx.pool.get(broker, 'produce');
    if (this.o.acks === 0) {
      await conn.request(ProduceApi, req, { noResponse: true, splice });
      return undefined;
    }
    return conn.request(ProduceApi, req, { splice });
  }

  private onResult(s: PartitionState, b: ProducerBatch, code: number, baseOffset: bigint, err: unknown): void {
    const i = s.inflight.indexOf(b);
    if (i >= 0) s.inflight.splice(i, 1);
    if (code === 0 || code === DUPLICATE_SEQUENCE_NUMBER) {
      if (b.producerId >= 0n) {
        s.ackedProducerId = b.producerId;
        s.ackedProducerEpoch = b.producerEpoch;
      }
      this.ctx.metrics?.count('records_sent', b.count);
      this.ctx.metrics?.count('bytes_sent', (b.encoded as Buffer).length);
      b.complete(baseOffset);
      this.memory.release(b.bytes);
      // Answered: the request that held the batch has been written, its buffer can take the next batch.
      this.acc.recycle(b, true);
      return;
    }
    const error = err instanceof KafkaError ? err : new KafkaError(code);
    // A batch after one that failed comes back out of order: resend it behind the failed one. Not once a
    // batch of the open transaction failed for good: the ones behind it would come back out of order
    // until their delivery timeout, and the transaction can only be aborted anyway.
    // An idempotent producer continued under a new producer id after a batch of this partition failed for good
    // (below): a batch of the old id the broker refused as out of order was not written, and is resent under
    // the new id, in its place in sequence order.
    const stale =
      code === OUT_OF_ORDER_SEQUENCE_NUMBER &&
      !this.o.txn &&
      (b.producerId !== this.producerId || b.producerEpoch !== this.producerEpoch);
    if (stale) this.restamp.add(b);
    const retriable =
      !(this.o.txn && this.txnError !== null) &&
      (error.retriable ||
        stale ||
        (code === OUT_OF_ORDER_SEQUENCE_NUMBER && (s.retry.length > 0 || s.inflight.length > 0)));
    const now = Date.now();
    if (retriable && b.attempts <= this.o.retries && now < b.deadline && !this.closed) {
      if (needsMetadataRefresh(error)) this.ctx.metadata.invalidate(s.topic);
      this.ctx.metrics?.count('produce_retries', 1);
      b.notBefore = now + backoffMs(b.attempts - 1, this.o.retryBackoffMs, this.o.retryBackoffMaxMs);
      // Keep the retry list in send order (sequence order).
      let j = s.retry.length;
      while (j > 0 && s.retry[j - 1].baseSequence > b.baseSequence && b.baseSequence >= 0) j--;
      s.retry.splice(j, 0, b);
      return;
    }
    this.restamp.delete(b);
    // The sequences after a failed batch can never follow it under this producer id: without a transaction
    // to abort, continue under a new one from sequence 0 (Java bumps the epoch for the same reason).
    if (!this.o.txn && this.o.idempotent && b.producerId === this.producerId && b.producerId >= 0n)
      this.producerId = -1n;
    this.finish(b, error);
  }

  finish(b: ProducerBatch, err: unknown): void {
    if (this.o.txn) this.txnError ??= err;
    this.ctx.metrics?.count('records_failed', b.count);
    b.fail(err);
    this.memory.release(b.bytes);
  }

  /** Fails every batch not yet in flight (e.g. InitProducerId failed for good). */
  failAll(err: unknown): void {
    for (const s of this.acc.partitions.values()) {
      for (const b of s.queue.splice(0)) this.finish(b, err);
      for (const b of s.retry.splice(0)) this.finish(b, err);
    }
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
  }
}
