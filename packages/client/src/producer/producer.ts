import { CompressionType, type RecordHeaderInput } from '@sluice/protocol';
import { type ClientContext, type ClientOptions, createContext } from '../client.js';
import { ClientClosedError, ERROR_CODES, KafkaError } from '../errors.js';
import { partitionForKey, StickyPartitioner } from '../partitioner.js';
import type { Topic } from '../serde.js';
import { Accumulator } from './accumulator.js';
import { type RecordMetadata, recordSize } from './batch.js';
import { MemoryLimiter } from './memory.js';
import { Sender } from './sender.js';
import { type ConsumerGroupMetadata, TransactionManager, type TransactionOffsets } from './transaction.js';

export type { RecordMetadata } from './batch.js';
export type { ConsumerGroupMetadata, TransactionOffsets } from './transaction.js';

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

const COMPRESSION: Record<Compression, CompressionType> = {
  none: CompressionType.None,
  gzip: CompressionType.Gzip,
  snappy: CompressionType.Snappy,
  lz4: CompressionType.Lz4,
  zstd: CompressionType.Zstd,
};

export interface ProducerOptions {
  /** 'all' (-1, default), 1 or 0. */
  acks?: 'all' | -1 | 0 | 1;
  /** Default true with acks=all (as the Java client), false otherwise. Needs acks=all. */
  idempotent?: boolean;
  compression?: Compression;
  /** Bytes per partition batch before it is sent. Default 16 KiB. */
  batchSize?: number;
  /** How long a batch waits for more records. Default 5 ms (Kafka 4.0's default). */
  lingerMs?: number;
  /** Bytes of unacknowledged records; send() waits when full. Default 32 MiB. */
  bufferMemory?: number;
  /** How long send() may wait for buffer memory or metadata. Default 60 s. */
  maxBlockMs?: number;
  /** From send() to acknowledgement, retries included. Default 120 s. */
  deliveryTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Default: effectively unlimited within deliveryTimeoutMs. */
  retries?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /** Unanswered Produce requests per broker. Default 5 (the most idempotence allows). */
  maxInFlight?: number;
  /** Default 1 MiB. */
  maxRequestSize?: number;
  /**
   * Makes the producer transactional (exactly-once): records are sent inside transactions that
   * commit or abort as a whole, and a new producer with the same id fences this one. Implies
   * idempotence and acks=all.
   */
  transactionalId?: string;
  /** How long a transaction may stay open before the coordinator aborts it. Default 60 s. */
  transactionTimeoutMs?: number;
}

export type Headers = Record<string, string | Buffer> | readonly RecordHeaderInput[];

/** A record for `topic`: key and value of the topic's types (the key may be left out when it is nullable). */
export type ProducerRecord<K, V> = {
  value: V;
  headers?: Headers;
  /** Send to this partition instead of the partitioner's choice. */
  partition?: number;
  /** Milliseconds since the epoch; default now. */
  timestamp?: number;
} & (null extends K ? { key?: K } : { key: K });

const NO_HEADERS = { list: undefined, bytes: 0 } as const;

function headerList(h: Headers | undefined): { list: RecordHeaderInput[] | undefined; bytes: number } {
  if (h === undefined) return NO_HEADERS;
  const list: RecordHeaderInput[] = Array.isArray(h)
    ? (h as RecordHeaderInput[])
    : Object.entries(h).map(([key, value]) => ({ key, value }));
  let bytes = 0;
  for (const x of list) {
    bytes +=
      4 +
      Buffer.byteLength(x.key) +
      (x.value === null || x.value === undefined
        ? 0
        : typeof x.value === 'string'
          ? Buffer.byteLength(x.value)
          : x.value.length);
  }
  return { list, bytes };
}

/** Where `capture` leaves the resolving functions of the promise being constructed. */
const captured: { resolve: ((m: RecordMetadata) => void) | null; reject: ((e: unknown) => void) | null } = {
  resolve: null,
  reject: null,
};
function capture(resolve: (m: RecordMetadata) => void, reject: (e: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/**
 * Sends typed records, batched per partition. `send()` resolves with the partition and offset
 * once the broker has acknowledged the record (per `acks`).
 */
export class Producer {
  private readonly ctx: ClientContext;
  private readonly acc: Accumulator;
  private readonly sender: Sender;
  private readonly memory: MemoryLimiter;
  private readonly sticky = new StickyPartitioner();
  private readonly txn: TransactionManager | undefined;
  private closed = false;
  readonly options: Required<Pick<ProducerOptions, 'batchSize' | 'lingerMs' | 'bufferMemory' | 'maxBlockMs'>> & {
    acks: -1 | 0 | 1;
    idempotent: boolean;
  };

  constructor(client: ClientOptions, o: ProducerOptions = {}) {
    this.ctx = createContext(client, true);
    const acks = o.acks === 'all' || o.acks === undefined ? -1 : o.acks;
    if (o.transactionalId !== undefined && (acks !== -1 || o.idempotent === false)) {
      throw new RangeError('a transactional producer is idempotent with acks=all');
    }
    const idempotent = o.idempotent ?? acks === -1;
    if (idempotent && acks !== -1) throw new RangeError('an idempotent producer needs acks=all');
    const maxInFlight = o.maxInFlight ?? 5;
    if (idempotent && maxInFlight > 5)
      throw new RangeError('an idempotent producer allows at most 5 requests in flight');
    this.options = {
      acks,
      idempotent,
      batchSize: o.batchSize ?? 16_384,
      lingerMs: o.lingerMs ?? 5,
      bufferMemory: o.bufferMemory ?? 32 * 1024 * 1024,
      maxBlockMs: o.maxBlockMs ?? 60_000,
    };
    this.memory = new MemoryLimiter(this.options.bufferMemory, this.options.maxBlockMs);
    if (o.transactionalId !== undefined) {
      this.txn = new TransactionManager(
        this.ctx,
        o.transactionalId,
        o.transactionTimeoutMs ?? 60_000,
        o.requestTimeoutMs ?? client.requestTimeoutMs ?? 30_000,
      );
    }
    this.acc = new Accumulator({
      batchSize: this.options.batchSize,
      lingerMs: this.options.lingerMs,
      compression: COMPRESSION[o.compression ?? 'none'],
      deliveryTimeoutMs: o.deliveryTimeoutMs ?? 120_000,
      onReady: () => this.sender.wake(),
      onClose: (topic, partition) => {
        const n = this.ctx.metadata.cached(topic)?.partitions.length;
        if (n !== undefined) this.sticky.onNewBatch(topic, partition, n);
      },
      onBuildError: (b, err) => this.sender.finish(b, err),
      predictStamp: (s, b) => this.sender.predictStamp(s, b),
      transactional: this.txn !== undefined,
    });
    this.sender = new Sender(this.ctx, this.acc, this.memory, {
      acks,
      idempotent,
      requestTimeoutMs: o.requestTimeoutMs ?? client.requestTimeoutMs ?? 30_000,
      retries: o.retries ?? 2_147_483_647,
      retryBackoffMs: o.retryBackoffMs ?? 100,
      retryBackoffMaxMs: o.retryBackoffMaxMs ?? 1000,
      maxInFlight,
      maxRequestSize: o.maxRequestSize ?? 1_048_576,
      txn: this.txn,
    });
  }

  /** Bytes of records accepted and not yet acknowledged (never above bufferMemory). */
  get bufferedBytes(): number {
    return this.memory.used;
  }

  /** send() calls still waiting for metadata or buffer memory (in call order). */
  get waitingSends(): number {
    return this.slowPending;
  }

  /** Sends one record; resolves once it is acknowledged, rejects with a KafkaError after retries or the delivery timeout. */
  send<K, V>(topic: Topic<K, V>, record: ProducerRecord<K, V>): Promise<RecordMetadata> {
    if (this.closed) return Promise.reject(new ClientClosedError('producer'));
    if (this.txn !== undefined && !this.txn.inTransaction) {
      return Promise.reject(
        new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'a transactional producer sends inside a transaction only'),
      );
    }
    let key: Buffer | null;
    let value: Buffer | null;
    let headers: ReturnType<typeof headerList>;
    try {
      key = topic.key.serialize((record as { key?: K }).key ?? (null as K));
      value = topic.value.serialize(record.value);
      headers = headerList(record.headers);
    } catch (err) {
      return Promise.reject(err);
    }
    const bytes = recordSize(key, value, headers.bytes);
    const timestamp = record.timestamp ?? Date.now();
    let info = this.ctx.metadata.cached(topic.name);
    // A partition beyond the cached count may have been added since: refresh (in the slow path) before refusing it.
    if (info !== undefined && record.partition !== undefined && record.partition >= info.partitions.length) {
      this.ctx.metadata.invalidate(topic.name);
      info = undefined;
    }
    // Records waiting for metadata or memory go first: send order is partition order.
    if (info !== undefined && this.slowPending === 0 && this.memory.tryAcquire(bytes)) {
      return this.append(
        topic.name,
        info.partitions.length,
        key,
        record.partition,
        value,
        headers.list,
        bytes,
        timestamp,
      );
    }
    this.slowPending++;
    const list = headers.list;
    const run = this.slowChain.then(() =>
      this.sendSlow(topic.name, key, record.partition, value, list, bytes, timestamp),
    );
    // The chain waits for the append, not for the acknowledgement.
    const appended = run.then(
      (r) => r.ack,
      (err) => {
        throw err;
      },
    );
    this.slowChain = run.then(
      () => {
        this.slowPending--;
      },
      () => {
        this.slowPending--;
      },
    );
    return appended;
  }

  private slowPending = 0;
  private slowChain: Promise<void> = Promise.resolve();

  private async sendSlow(
    name: string,
    key: Buffer | null,
    partition: number | undefined,
    value: Buffer | null,
    headers: RecordHeaderInput[] | undefined,
    bytes: number,
    timestamp: number,
  ): Promise<{ ack: Promise<RecordMetadata> }> {
    let info = this.ctx.metadata.cached(name);
    if (info === undefined || (partition !== undefined && partition >= info.partitions.length)) {
      info = await this.ctx.metadata.topic(name);
    }
    const got = this.memory.acquire(bytes);
    if (got !== true) await got;
    if (this.closed) {
      this.memory.release(bytes);
      throw new ClientClosedError('producer');
    }
    // Wrapped so that awaiting the chain does not wait for the broker's acknowledgement.
    return { ack: this.append(name, info.partitions.length, key, partition, value, headers, bytes, timestamp) };
  }

  private append(
    name: string,
    numPartitions: number,
    key: Buffer | null,
    partition: number | undefined,
    value: Buffer | null,
    headers: RecordHeaderInput[] | undefined,
    bytes: number,
    timestamp: number,
  ): Promise<RecordMetadata> {
    const p =
      partition ?? (key !== null ? partitionForKey(key, numPartitions) : this.sticky.partition(name, numPartitions));
    if (p < 0 || p >= numPartitions || !Number.isInteger(p)) {
      this.memory.release(bytes);
      return Promise.reject(new RangeError(`${name} has no partition ${p} (${numPartitions} partitions)`));
    }
    // One shared executor instead of a closure per record (send() is the per-record hot path).
    const promise = new Promise<RecordMetadata>(capture);
    const resolve = captured.resolve as (m: RecordMetadata) => void;
    const reject = captured.reject as (e: unknown) => void;
    captured.resolve = captured.reject = null;
    try {
      // The record is encoded into its batch here (a timestamp out of range is refused, alone).
      this.acc.append(name, p, key, value, headers, bytes, resolve, reject, timestamp);
    } catch (err) {
      this.memory.release(bytes);
      reject(err);
    }
    return promise;
  }

  /** Sends everything buffered now and waits until it is acknowledged or failed. */
  async flush(): Promise<void> {
    // send() calls still waiting for metadata or memory count as buffered (Java's send() blocks for
    // them): without this a commit could end the transaction before their records were appended.
    await this.slowChain;
    this.acc.closeAll();
    const waits: Promise<void>[] = [];
    for (const s of this.acc.partitions.values()) {
      for (const b of [...s.queue, ...s.inflight, ...s.retry]) waits.push(b.settled);
    }
    this.sender.wake();
    await Promise.all(waits);
  }

  // ---------------------------------------------------------------- Transactions

  private transactional(): TransactionManager {
    if (this.txn === undefined) throw new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'not a transactional producer');
    return this.txn;
  }

  /**
   * Registers the transactional id with its coordinator: fences older producers of the same id
   * and aborts a transaction they left open. Call once, before the first transaction.
   */
  async initTransactions(): Promise<void> {
    const txn = this.transactional();
    await txn.init();
    this.sender.setProducer(txn.producerId, txn.producerEpoch);
  }

  beginTransaction(): void {
    this.transactional().begin();
    this.sender.txnError = null;
  }

  /** Commits consumed offsets of `group` with the open transaction (consume-transform-produce). */
  async sendOffsetsToTransaction(
    offsets: readonly TransactionOffsets[],
    group: ConsumerGroupMetadata | string,
  ): Promise<void> {
    await this.transactional().sendOffsets(offsets, typeof group === 'string' ? { groupId: group } : group);
  }

  /** Sends what is buffered, then commits: everything sent in the transaction becomes visible at once. */
  async commitTransaction(): Promise<void> {
    const txn = this.transactional();
    await this.flush();
    if (this.sender.txnError !== null) {
      const cause = this.sender.txnError;
      throw new KafkaError(
        cause instanceof KafkaError ? cause.code : ERROR_CODES.UNKNOWN_SERVER_ERROR,
        'a record of the transaction failed: abort it',
        { cause },
      );
    }
    await txn.end(true);
  }

  /** Waits for what is in flight, then aborts: nothing sent in the transaction is ever read by read_committed consumers. */
  async abortTransaction(): Promise<void> {
    const txn = this.transactional();
    await this.flush();
    const failed = this.sender.txnError !== null;
    this.sender.txnError = null;
    if (txn.fatal) {
      // Fenced: the coordinator aborted it already (or the new producer will).
      txn.forget();
      throw txn.fatal;
    }
    await txn.end(false);
    // A failed batch may have taken sequence numbers the partition never stored: the next batch would be
    // refused OUT_OF_ORDER_SEQUENCE_NUMBER. As Java's TransactionManager does (KIP-360), bump the epoch
    // with InitProducerId on the current id and epoch, so every partition starts over at sequence 0.
    if (failed) await this.initTransactions();
  }

  /**
   * Runs `body` inside a transaction: commits when it resolves, aborts when it throws (and rethrows).
   * `initTransactions()` runs first when it has not yet.
   */
  async transaction<T>(body: (producer: this) => Promise<T>): Promise<T> {
    const txn = this.transactional();
    if (txn.producerId < 0n) await this.initTransactions();
    this.beginTransaction();
    let result: T;
    try {
      result = await body(this);
    } catch (err) {
      await this.abortTransaction().catch(() => {});
      throw err;
    }
    try {
      await this.commitTransaction();
    } catch (err) {
      await this.abortTransaction().catch(() => {});
      throw err;
    }
    return result;
  }

  /** Flushes, then closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.acc.stop();
    this.sender.close();
    this.memory.failAll(new ClientClosedError('producer'));
    await this.ctx.pool.close();
  }
}
