import {
  AddOffsetsToTxnApi,
  AddPartitionsToTxnApi,
  defaultAddOffsetsToTxnRequest,
  defaultAddPartitionsToTxnRequest,
  defaultEndTxnRequest,
  defaultFindCoordinatorRequest,
  defaultInitProducerIdRequest,
  defaultTxnOffsetCommitRequest,
  EndTxnApi,
  FindCoordinatorApi,
  InitProducerIdApi,
  TxnOffsetCommitApi,
} from '@sluice/protocol';
import type { BrokerAddress } from '../broker-pool.js';
import type { ClientContext } from '../client.js';
import type { Connection } from '../connection.js';
import { ERROR_CODES, KafkaError } from '../errors.js';
import { withRetry } from '../retry.js';

const GROUP = 0;
const TRANSACTION = 1;
/** Retries of CONCURRENT_TRANSACTIONS and coordinator moves per transactional call (bounded by the deadline too). */
const MAX_RETRIES = 50;

/** Offsets to commit inside a transaction, per topic and partition: the next offset to read. */
export interface TransactionOffsets {
  topic: string;
  partitions: { partition: number; offset: bigint; metadata?: string }[];
}

/** The consumer group an exactly-once loop reads for: with member and generation, the group fences zombies (KIP-447). */
export interface ConsumerGroupMetadata {
  groupId: string;
  memberId?: string;
  generationId?: number;
  groupInstanceId?: string | null;
}

/** Errors after which the transaction can only be aborted, or the producer only closed. */
const FATAL = new Set<number>([
  ERROR_CODES.PRODUCER_FENCED,
  ERROR_CODES.INVALID_PRODUCER_EPOCH,
  ERROR_CODES.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
  ERROR_CODES.INVALID_PRODUCER_ID_MAPPING,
  ERROR_CODES.UNSUPPORTED_VERSION,
]);

/** Retriable here although not retriable in general: the coordinator is finishing the previous transaction. */
const retriableHere = (err: unknown): boolean =>
  err instanceof KafkaError && (err.retriable || err.code === ERROR_CODES.CONCURRENT_TRANSACTIONS);

/**
 * The transactional side of a producer (Kafka's TransactionManager): the coordinator of its
 * transactional id, the producer id and epoch it got there, the partitions added to the open
 * transaction, and the calls that begin, add to and end it.
 */
export class TransactionManager {
  producerId = -1n;
  producerEpoch = -1;
  /** Partitions (`topic\0partition`) already added to the open transaction. */
  private readonly added = new Set<string>();
  private coordinator: BrokerAddress | null = null;
  private open = false;
  /** Set once the producer was fenced: only close() is left. */
  fatal: KafkaError | null = null;

  constructor(
    private readonly ctx: ClientContext,
    readonly transactionalId: string,
    private readonly timeoutMs: number,
    private readonly requestTimeoutMs: number,
  ) {}

  get inTransaction(): boolean {
    return this.open;
  }

  private async findCoordinator(key: string, type: number): Promise<BrokerAddress> {
    const conn = await this.ctx.pool.any();
    const req = defaultFindCoordinatorRequest();
    req.keyType = type;
    const v = conn.version(FindCoordinatorApi);
    if (v >= 4) req.coordinatorKeys = [key];
    else req.key = key;
    const res = await conn.request(FindCoordinatorApi, req);
    const c = v >= 4 ? res.coordinators[0] : res;
    if (c === undefined) throw new KafkaError(ERROR_CODES.COORDINATOR_NOT_AVAILABLE, 'FindCoordinator: no answer');
    if (c.errorCode !== 0) throw new KafkaError(c.errorCode, `FindCoordinator ${key}`);
    return { host: c.host, port: c.port };
  }

  private async conn(): Promise<Connection> {
    this.coordinator ??= await this.findCoordinator(this.transactionalId, TRANSACTION);
    return this.ctx.pool.get(this.coordinator, 'group');
  }

  /** Throws a KafkaError for `code`, forgetting the coordinator when it moved; records fatal errors. */
  private check(code: number, what: string): void {
    if (code === 0) return;
    if (
      code === ERROR_CODES.NOT_COORDINATOR ||
      code === ERROR_CODES.COORDINATOR_NOT_AVAILABLE ||
      code === ERROR_CODES.NETWORK_EXCEPTION
    ) {
      this.coordinator = null;
    }
    const err = new KafkaError(code, `${what} (transactional id ${this.transactionalId})`);
    if (FATAL.has(code)) this.fatal = err;
    throw err;
  }

  private retry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      retries: MAX_RETRIES,
      initialBackoffMs: 20,
      maxBackoffMs: 500,
      deadline: Date.now() + this.requestTimeoutMs * 2,
      retriable: (err) => !(err instanceof KafkaError && FATAL.has(err.code)) && retriableHere(err),
      onRetry: (err) => {
        if (err instanceof KafkaError && err.code === ERROR_CODES.NETWORK_EXCEPTION) this.coordinator = null;
      },
    });
  }

  private assertUsable(): void {
    if (this.fatal) throw this.fatal;
  }

  /** InitProducerId with the transactional id: fences older producers of the id and aborts their open transaction. */
  async init(): Promise<void> {
    this.assertUsable();
    await this.retry(async () => {
      const conn = await this.conn();
      const req = defaultInitProducerIdRequest();
      req.transactionalId = this.transactionalId;
      req.transactionTimeoutMs = this.timeoutMs;
      // KIP-360: a producer that already has an id asks for a bump of it.
      req.producerId = this.producerId;
      req.producerEpoch = this.producerEpoch;
      const res = await conn.request(InitProducerIdApi, req);
      this.check(res.errorCode, 'InitProducerId');
      this.producerId = res.producerId;
      this.producerEpoch = res.producerEpoch;
    });
  }

  begin(): void {
    this.assertUsable();
    if (this.producerId < 0n) throw new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'initTransactions() first');
    if (this.open) throw new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'a transaction is already open');
    this.open = true;
    this.added.clear();
  }

  isAdded(topic: string, partition: number): boolean {
    return this.added.has(`${topic}\u0000${partition}`);
  }

  /** AddPartitionsToTxn for partitions about to get their first batch of this transaction. */
  async addPartitions(partitions: readonly { topic: string; partition: number }[]): Promise<void> {
    this.assertUsable();
    if (!this.open) throw new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'no transaction is open: call begin first');
    const todo = partitions.filter((p) => !this.isAdded(p.topic, p.partition));
    if (todo.length === 0) return;
    await this.retry(async () => {
      const conn = await this.conn();
      const req = defaultAddPartitionsToTxnRequest();
      req.v3AndBelowTransactionalId = this.transactionalId;
      req.v3AndBelowProducerId = this.producerId;
      req.v3AndBelowProducerEpoch = this.producerEpoch;
      const byTopic = new Map<string, number[]>();
      for (const p of todo) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
      req.v3AndBelowTopics = [...byTopic].map(([name, parts]) => ({ name, partitions: parts }));
      const res = await conn.request(AddPartitionsToTxnApi, req);
      for (const t of res.resultsByTopicV3AndBelow) {
        for (const p of t.resultsByPartition) {
          if (p.partitionErrorCode !== 0 && p.partitionErrorCode !== ERROR_CODES.OPERATION_NOT_ATTEMPTED) {
            this.check(p.partitionErrorCode, `AddPartitionsToTxn ${t.name}-${p.partitionIndex}`);
          }
        }
      }
    });
    for (const p of todo) this.added.add(`${p.topic}\u0000${p.partition}`);
  }

  /** AddOffsetsToTxn, then TxnOffsetCommit to the group's coordinator: the offsets commit with the transaction. */
  async sendOffsets(offsets: readonly TransactionOffsets[], group: ConsumerGroupMetadata): Promise<void> {
    this.assertUsable();
    if (!this.open) throw new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'no transaction is open: call begin first');
    await this.retry(async () => {
      const conn = await this.conn();
      const req = defaultAddOffsetsToTxnRequest();
      req.transactionalId = this.transactionalId;
      req.producerId = this.producerId;
      req.producerEpoch = this.producerEpoch;
      req.groupId = group.groupId;
      const res = await conn.request(AddOffsetsToTxnApi, req);
      this.check(res.errorCode, 'AddOffsetsToTxn');
    });
    // The group's offsets partition is in the transaction now: EndTxn must be sent even without records.
    this.added.add(`\u0001group\u0000${group.groupId}`);
    let groupCoordinator: BrokerAddress | null = null;
    await this.retry(async () => {
      groupCoordinator ??= await this.findCoordinator(group.groupId, GROUP);
      const conn = await this.ctx.pool.get(groupCoordinator, 'group');
      const req = defaultTxnOffsetCommitRequest();
      req.transactionalId = this.transactionalId;
      req.groupId = group.groupId;
      req.producerId = this.producerId;
      req.producerEpoch = this.producerEpoch;
      req.generationIdOrMemberEpoch = group.generationId ?? -1;
      req.memberId = group.memberId ?? '';
      req.groupInstanceId = group.groupInstanceId ?? null;
      req.topics = offsets.map((t) => ({
        name: t.topic,
        topicId: '00000000-0000-0000-0000-000000000000',
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partition,
          committedOffset: p.offset,
          committedLeaderEpoch: -1,
          committedMetadata: p.metadata ?? '',
        })),
      }));
      const res = await conn.request(TxnOffsetCommitApi, req);
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode === ERROR_CODES.NOT_COORDINATOR || p.errorCode === ERROR_CODES.COORDINATOR_NOT_AVAILABLE) {
            groupCoordinator = null;
          }
          this.check(p.errorCode, `TxnOffsetCommit ${t.name}-${p.partitionIndex}`);
        }
      }
    });
  }

  /** EndTxn; retried while the coordinator is still completing (CONCURRENT_TRANSACTIONS). */
  async end(commit: boolean): Promise<void> {
    this.assertUsable();
    if (!this.open) throw new KafkaError(ERROR_CODES.INVALID_TXN_STATE, 'no transaction is open');
    if (this.added.size > 0) {
      await this.retry(async () => {
        const conn = await this.conn();
        const req = defaultEndTxnRequest();
        req.transactionalId = this.transactionalId;
        req.producerId = this.producerId;
        req.producerEpoch = this.producerEpoch;
        req.committed = commit;
        const res = await conn.request(EndTxnApi, req);
        this.check(res.errorCode, commit ? 'EndTxn(commit)' : 'EndTxn(abort)');
      });
    }
    this.open = false;
    this.added.clear();
  }

  /** Marks the open transaction as over without telling the coordinator (it was fenced or timed out). */
  forget(): void {
    this.open = false;
    this.added.clear();
  }
}
