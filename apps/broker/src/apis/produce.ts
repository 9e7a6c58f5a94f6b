import {
  ATTRIBUTES_OFFSET,
  BATCH_LENGTH_OFFSET,
  ERROR_CODES,
  errorByCode,
  hasSyncCodec,
  KafkaError,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  ProduceApi,
  type ProduceRequest,
  type ProduceResponse,
  type ProduceResponsePartitionProduceResponse,
  RECORD_BATCH_OVERHEAD,
  RecordBatch,
  type RecordIterator,
  TIMESTAMP_TYPE_MASK,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import type { Partition } from '../state/partition.js';
import { INTERNAL_TOPICS, type TopicState } from '../state/topic-manager.js';
import { type BrokerEndpoint, leaderEndpoint, leadsPartition } from './cluster-view.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';
import { verifyTransactionalBatch } from './transactions/verify.js';

const NO_LEADER = { leaderId: -1, leaderEpoch: -1 };

const LONG_MAX = 0x7fffffffffffffffn;
/** RecordBatch.NO_TIMESTAMP: a record without a timestamp is not checked. */
const NO_TIMESTAMP = -1n;

/** One rejected record of a batch, as Produce v8+ lists it (RecordErrors). */
export interface RecordError {
  batchIndex: number;
  batchIndexErrorMessage: string | null;
}

/**
 * Kafka's RecordValidationException: the batch is refused because of some of its records, listed
 * by index. The produce response carries the records and this message (Kafka's wording).
 */
export class RecordValidationError extends KafkaError {
  constructor(
    code: number,
    message: string,
    readonly recordErrors: RecordError[],
  ) {
    super(code, message);
  }
}

/** A topic's record rules: timestamps (message.timestamp.*, with the broker's clock) and keys. */
export interface TimestampRules {
  timestampType: string;
  beforeMaxMs: bigint;
  afterMaxMs: bigint;
  nowMs: bigint;
  /** cleanup.policy includes compact: every record needs a key. */
  requireKeys?: boolean;
  /** `topic-partition`, for Kafka's wording of a keyless record's error. */
  partitionName?: string;
}

/**
 * Checks what Kafka checks of a produce request's records before the log sees them (v3+: one
 * record batch of magic 2; its size), reading the header in place. Timestamps: see
 * `checkTimestamps`.
 */
export function validateProduceRecords(records: Buffer | null, maxMessageBytes: number): Buffer {
  if (records === null || records.length === 0) {
    throw new KafkaError(ERROR_CODES.INVALID_RECORD, 'Produce request has no record batch');
  }
  if (records.length < RECORD_BATCH_OVERHEAD) {
    throw new KafkaError(
      ERROR_CODES.CORRUPT_MESSAGE,
      `Record batch of ${records.length} bytes is shorter than its header`,
    );
  }
  const magic = records.readInt8(MAGIC_OFFSET);
  if (magic !== 2) {
    throw new KafkaError(
      ERROR_CODES.INVALID_RECORD,
      `Produce requests of version 3 and above must use magic 2, not ${magic}`,
    );
  }
  const size = records.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
  if (size < RECORD_BATCH_OVERHEAD || size > records.length) {
    throw new KafkaError(
      ERROR_CODES.CORRUPT_MESSAGE,
      `Record batch length ${size} does not match the ${records.length} bytes sent`,
    );
  }
  if (size !== records.length) {
    throw new KafkaError(
      ERROR_CODES.INVALID_RECORD,
      'Produce requests with version 3 are only allowed to contain exactly one record batch',
    );
  }
  if (size > maxMessageBytes) {
    throw new KafkaError(
      ERROR_CODES.MESSAGE_TOO_LARGE,
      `The record batch size ${size} in the append is larger than the maximum allowed size of ${maxMessageBytes}`,
    );
  }
  return records;
}

/**
 * Kafka's per-record timestamp check (LogValidator.validateTimestamp) on a CreateTime topic: every
 * record's timestamp must lie within [now - before.max.ms, now + after.max.ms]; a LogAppendTime
 * topic refuses batches that claim LogAppendTime themselves. Records are decoded only when the
 * header cannot settle it: a finite before.max.ms (any record may be the oldest), a max
 * timestamp past the upper bound, or a batch that claims LogAppendTime. Otherwise (Kafka's
 * defaults) this reads two header fields.
 *
 * Returns null when the batch passes without decoding, else a function that decodes it and
 * throws RecordValidationError listing the offending records (a Promise for zstd batches, whose
 * codec is asynchronous).
 */
export function checkTimestamps(batch: Buffer, rules: TimestampRules): (() => void | Promise<void>) | null {
  const createTimeTopic = rules.timestampType === 'CreateTime';
  const batchLogAppendTime = (batch.readInt16BE(ATTRIBUTES_OFFSET) & TIMESTAMP_TYPE_MASK) !== 0;
  const low = rules.nowMs - rules.beforeMaxMs;
  const high = rules.nowMs + rules.afterMaxMs;
  const outOfRange = (ts: bigint) => ts !== NO_TIMESTAMP && (ts < low || ts > high);
  const maxTimestamp = batch.readBigInt64BE(MAX_TIMESTAMP_OFFSET);
  let decode: boolean;
  if (batchLogAppendTime) {
    // Every record of such a batch reads the max timestamp.
    decode = !createTimeTopic || outOfRange(maxTimestamp);
  } else {
    decode = createTimeTopic && (rules.beforeMaxMs < LONG_MAX || outOfRange(maxTimestamp));
  }
  // Compacted topics refuse keyless records, so their batches are always decoded (as Kafka does).
  const requireKeys = rules.requireKeys === true;
  if (!decode && !requireKeys) return null;

  const errorsOf = (records: RecordIterator): void => {
    const errors: RecordError[] = [];
    let keyless = 0;
    let index = 0;
    // Bounded by the batch's record count (RecordIterator checks it against the bytes).
    for (const r of records) {
      if (requireKeys && r.key === null) {
        keyless++;
        errors.push({
          batchIndex: index,
          batchIndexErrorMessage: `Compacted topic cannot accept message without key in topic partition ${rules.partitionName}.`,
        });
      } else if (!decode) {
        // Only the keys needed checking.
      } else if (createTimeTopic && r.timestamp !== NO_TIMESTAMP) {
        if (outOfRange(r.timestamp)) {
          errors.push({
            batchIndex: index,
            batchIndexErrorMessage: `Timestamp ${r.timestamp} of message with offset ${r.offset} is out of range. The timestamp should be within [${low}, ${high}]`,
          });
        }
      } else if (batchLogAppendTime) {
        errors.push({
          batchIndex: index,
          batchIndexErrorMessage: `Invalid timestamp type in message with offset ${r.offset}. Producer should not set timestamp type to LogAppendTime.`,
        });
      }
      index++;
    }
    if (errors.length > 0 && keyless > 0) {
      throw new RecordValidationError(
        ERROR_CODES.INVALID_RECORD,
        `One or more records have been rejected due to ${errors.length} record errors in total, and only showing the first three errors at most: ${JSON.stringify(errors.slice(0, 3))}`,
        errors,
      );
    }
    if (errors.length > 0) {
      throw new RecordValidationError(
        ERROR_CODES.INVALID_TIMESTAMP,
        'One or more records have been rejected due to invalid timestamp',
        errors,
      );
    }
  };
  return () => {
    const view = new RecordBatch(batch, 0);
    // Kafka checks the CRC before it looks at records.
    view.validate();
    if (hasSyncCodec(view.compression)) return errorsOf(view.records());
    return view.decompressedRecords().then(errorsOf);
  };
}

/** Errors Kafka answers before it knows the partition's log start offset (ReplicaManager.appendToLocalLog). */
const WITHOUT_LOG_START = new Set<number>([
  ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
  ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
  ERROR_CODES.MESSAGE_TOO_LARGE,
  ERROR_CODES.RECORD_LIST_TOO_LARGE,
  ERROR_CODES.CORRUPT_MESSAGE,
  ERROR_CODES.KAFKA_STORAGE_ERROR,
]);

type PartitionResponse = ProduceResponsePartitionProduceResponse;

export function produceHandler(broker: BrokerContext): ApiHandler<ProduceRequest, ProduceResponse> {
  /**
   * Appends waiting for an asynchronous check (zstd records), per partition: later appends to the
   * same partition queue behind them, so the log keeps the order requests arrived in.
   */
  const pending = new WeakMap<Partition, Promise<unknown>>();

  const partitionResponse = (index: number, errorCode: number, errorMessage: string | null = null) =>
    ({
      index,
      errorCode,
      baseOffset: -1n,
      logAppendTimeMs: -1n,
      logStartOffset: -1n,
      recordErrors: [],
      errorMessage,
      currentLeader: NO_LEADER,
    }) satisfies PartitionResponse;

  const failure = (topic: TopicState, partition: Partition, index: number, err: unknown): PartitionResponse => {
    // A full or failing disk takes the log dir offline with one line, not a stack trace per write.
    if (!(err instanceof KafkaError) && !broker.logDir.noteError(err, `append to ${topic.name}-${index}`)) {
      broker.logger.error({ err, topic: topic.name, partition: index }, 'append failed');
    }
    const code = errorCodeOf(err);
    broker.metrics?.requestError('Produce', errorByCode(code)?.name ?? String(code));
    return {
      ...partitionResponse(index, code, errorMessageOf(err)),
      // Kafka fills the log start for errors found once the partition's log is in hand.
      logStartOffset: WITHOUT_LOG_START.has(code) ? -1n : partition.log.logStartOffset,
      recordErrors: err instanceof RecordValidationError ? err.recordErrors : [],
    };
  };

  const append = (
    topic: TopicState,
    partition: Partition,
    index: number,
    batch: Buffer,
    acks: number,
    timeoutMs: number,
  ): PartitionResponse | Promise<PartitionResponse> => {
    broker.logDir.checkWritable();
    const r = partition.appendFromClient(batch);
    broker.metrics?.bytesIn(topic.name, batch.length);
    const response = {
      ...partitionResponse(index, 0),
      baseOffset: r.firstOffset,
      logAppendTimeMs: r.logAppendTime,
      logStartOffset: r.logStartOffset,
    };
    if (acks !== -1) return response;
    // acks=all: answered once the ISR has the batch (Kafka's DelayedProduce); a retry of a batch
    // already in the log waits for it too.
    const minIsr = Number(broker.configs.topicConfig(topic.name)['min.insync.replicas']);
    const waited = broker.replication.awaitReplication(partition, r.lastOffset, timeoutMs, minIsr);
    const withCode = (code: number): PartitionResponse => (code === 0 ? response : { ...response, errorCode: code });
    return typeof waited === 'number' ? withCode(waited) : waited.then(withCode);
  };

  const appendOne = (
    topic: TopicState | undefined,
    index: number,
    records: Buffer | null,
    acks: number,
    timeoutMs: number,
    transactionalId: string | null = null,
    version = 11,
  ): PartitionResponse | Promise<PartitionResponse> => {
    const partition = topic?.partitions[index];
    if (topic === undefined || partition === undefined) {
      return partitionResponse(index, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    }
    if (INTERNAL_TOPICS.has(topic.name)) {
      return partitionResponse(
        index,
        ERROR_CODES.INVALID_TOPIC_EXCEPTION,
        `Cannot append to internal topic ${topic.name}`,
      );
    }
    let batch: Buffer;
    let check: (() => void | Promise<void>) | null;
    try {
      const c = broker.configs.topicConfig(topic.name);
      // min.insync.replicas is capped at the replica count (as Kafka's): a single replica always suffices.
      if (acks === -1 && partition.replica) {
        partition.replica.checkMinIsr(Number(c['min.insync.replicas']), `${topic.name}-${index}`);
      }
      batch = validateProduceRecords(records, Number(c['max.message.bytes']));
      // Produce v12+ comes from a transactions V2 producer: the leader adds the partition to the transaction.
      const verified = verifyTransactionalBatch(broker, transactionalId, topic.name, partition, batch, version >= 12);
      check = checkTimestamps(batch, {
        timestampType: c['message.timestamp.type'],
        beforeMaxMs: BigInt(c['message.timestamp.before.max.ms']),
        afterMaxMs: BigInt(c['message.timestamp.after.max.ms']),
        nowMs: BigInt(Date.now()),
        requireKeys: c['cleanup.policy'].includes('compact'),
        partitionName: `${topic.name}-${index}`,
      });
      // The coordinator is on another broker: the append waits for its answer.
      if (verified !== undefined) {
        verified.catch(() => {});
        const checkRecords = check;
        check = () => verified.then(() => checkRecords?.());
      }
    } catch (err) {
      return failure(topic, partition, index, err);
    }
    const queued = pending.get(partition);
    if (queued === undefined) {
      // The common path: no decoding, or a synchronous one; append now.
      try {
        const checked = check?.();
        if (checked === undefined) return append(topic, partition, index, batch, acks, timeoutMs);
        return queue(topic, partition, index, batch, checked, acks, timeoutMs);
      } catch (err) {
        return failure(topic, partition, index, err);
      }
    }
    return queue(
      topic,
      partition,
      index,
      batch,
      queued.then(() => check?.()),
      acks,
      timeoutMs,
    );
  };

  /** Appends once `checked` settles and every earlier queued append to the partition is done. */
  const queue = (
    topic: TopicState,
    partition: Partition,
    index: number,
    batch: Buffer,
    checked: Promise<void>,
    acks: number,
    timeoutMs: number,
  ): Promise<PartitionResponse> => {
    // Later appends queue behind this append, not behind its wait for replication (acks=all):
    // the answer is boxed so that the append's promise does not take on the wait.
    const appended = checked.then(
      () => {
        try {
          return { answer: append(topic, partition, index, batch, acks, timeoutMs) };
        } catch (err) {
          return { answer: failure(topic, partition, index, err) };
        }
      },
      (err: unknown) => ({ answer: failure(topic, partition, index, err) }),
    );
    pending.set(partition, appended);
    void appended.then(() => {
      if (pending.get(partition) === appended) pending.delete(partition);
    });
    return appended.then((a) => a.answer);
  };

  return {
    api: ProduceApi,
    // v0-v2 carry magic 0/1 message sets, which Kafka 4 no longer accepts either (KIP-896).
    // v12 is transactions V2 (the leader adds a transactional batch's partition to the transaction,
    // KIP-890 part 2); v13 names topics by id (KIP-516).
    minVersion: 3,
    maxVersion: 13,
    handle(req, ctx) {
      const acksValid = req.acks === -1 || req.acks === 0 || req.acks === 1;
      const byId = ctx.apiVersion >= 13;
      let async = false;
      // KIP-951: where a partition's leader is another broker, the answer says who and where.
      const nodeEndpoints = new Map<number, BrokerEndpoint>();
      const notLeader = (topicId: string, index: number): PartitionResponse => {
        const record = broker.store.image.partition(topicId, index);
        // Both fields are there from v10.
        const leader = ctx.apiVersion >= 10 ? leaderEndpoint(broker, topicId, index, ctx.connection.listener) : null;
        if (leader) nodeEndpoints.set(leader.nodeId, leader);
        return {
          ...partitionResponse(index, ERROR_CODES.NOT_LEADER_OR_FOLLOWER),
          currentLeader: leader && record ? { leaderId: leader.nodeId, leaderEpoch: record.leaderEpoch } : NO_LEADER,
        };
      };
      // A broker whose registration may have lapsed unseen (it was stopped) asks etcd before it
      // takes a write as leader; fenced, it answers as a broker that leads nothing.
      let registration: ReturnType<NonNullable<typeof broker.store.checkRegistration>> | undefined;
      const checkRegistration = () => {
        registration ??= broker.store.checkRegistration?.() ?? 'current';
        return registration;
      };
      const fenced = (index: number) => partitionResponse(index, ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
      const responses = req.topicData.map((t) => {
        const topic = byId ? broker.topics.getById(t.topicId) : broker.topics.get(t.name);
        return {
          name: topic?.name ?? t.name,
          topicId: topic?.topicId ?? t.topicId,
          partitionResponses: t.partitionData.map((p) => {
            if (!acksValid) return partitionResponse(p.index, ERROR_CODES.INVALID_REQUIRED_ACKS);
            // Kafka answers an id it does not know with UNKNOWN_TOPIC_ID, a name with UNKNOWN_TOPIC_OR_PARTITION.
            if (byId && topic === undefined) return partitionResponse(p.index, ERROR_CODES.UNKNOWN_TOPIC_ID);
            if (topic && p.index < topic.partitions.length && !leadsPartition(broker, topic.topicId, p.index)) {
              return notLeader(topic.topicId, p.index);
            }
            const check = topic ? checkRegistration() : 'current';
            if (check === 'fenced') return fenced(p.index);
            if (check instanceof Promise) {
              async = true;
              // The answer may come after this broker registered again: it takes the write only if the
              // metadata it has by then still (or again) makes it the leader.
              return check.then((c) => {
                if (c === 'fenced') return fenced(p.index);
                if (topic && !leadsPartition(broker, topic.topicId, p.index)) return notLeader(topic.topicId, p.index);
                return appendOne(
                  topic,
                  p.index,
                  p.records,
                  req.acks,
                  req.timeoutMs,
                  req.transactionalId,
                  ctx.apiVersion,
                );
              });
            }
            const r = appendOne(
              topic,
              p.index,
              p.records,
              req.acks,
              req.timeoutMs,
              req.transactionalId,
              ctx.apiVersion,
            );
            if (r instanceof Promise) async = true;
            return r;
          }),
        };
      });
      type TopicResponse = { name: string; topicId: string; partitionResponses: PartitionResponse[] };
      const respond = (done: TopicResponse[]) =>
        // acks=0: the client expects no response at all.
        req.acks === 0 ? null : { responses: done, throttleTimeMs: 0, nodeEndpoints: [...nodeEndpoints.values()] };
      if (!async) return respond(responses as TopicResponse[]);
      return Promise.all(
        responses.map(async (t) => ({ ...t, partitionResponses: await Promise.all(t.partitionResponses) })),
      ).then(respond);
    },
  };
}
