import {
  ATTRIBUTES_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  ERROR_CODES,
  KafkaError,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  ProduceApi,
  type ProduceRequest,
  type ProduceResponse,
  type ProduceResponsePartitionProduceResponse,
  RECORD_BATCH_OVERHEAD,
  TIMESTAMP_TYPE_MASK,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { INTERNAL_TOPICS, type TopicState } from '../state/topic-manager.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';

const NO_LEADER = { leaderId: -1, leaderEpoch: -1 };

/**
 * Checks what Kafka checks of a produce request's records before the log sees them (v3+: one
 * record batch of magic 2; its size; its timestamps), reading the header in place.
 */
export function validateProduceRecords(
  records: Buffer | null,
  maxMessageBytes: number,
  timestampType: string,
  beforeMaxMs: bigint,
  afterMaxMs: bigint,
  nowMs: bigint,
): Buffer {
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
  const createTime = (records.readInt16BE(ATTRIBUTES_OFFSET) & TIMESTAMP_TYPE_MASK) === 0;
  if (timestampType === 'CreateTime' && createTime) {
    // Header-level check: the first and the largest timestamps of the batch.
    for (const at of [BASE_TIMESTAMP_OFFSET, MAX_TIMESTAMP_OFFSET]) {
      const ts = records.readBigInt64BE(at);
      if (ts < nowMs - beforeMaxMs || ts > nowMs + afterMaxMs) {
        throw new KafkaError(
          ERROR_CODES.INVALID_TIMESTAMP,
          `Timestamp ${ts} of message is out of range. The timestamp should be within [${nowMs - beforeMaxMs}, ${nowMs + afterMaxMs}]`,
        );
      }
    }
  }
  return records;
}

export function produceHandler(broker: BrokerContext): ApiHandler<ProduceRequest, ProduceResponse> {
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
    }) satisfies ProduceResponsePartitionProduceResponse;

  const appendOne = (topic: TopicState | undefined, index: number, records: Buffer | null, acks: number) => {
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
    try {
      const c = broker.configs.topicConfig(topic.name);
      // One node is the whole in-sync replica set.
      if (acks === -1 && Number(c['min.insync.replicas']) > 1) {
        throw new KafkaError(
          ERROR_CODES.NOT_ENOUGH_REPLICAS,
          `The size of the current ISR 1 is insufficient to satisfy the min.isr requirement of ${c['min.insync.replicas']}`,
        );
      }
      const batch = validateProduceRecords(
        records,
        Number(c['max.message.bytes']),
        c['message.timestamp.type'],
        BigInt(c['message.timestamp.before.max.ms']),
        BigInt(c['message.timestamp.after.max.ms']),
        BigInt(Date.now()),
      );
      const r = partition.appendFromClient(batch);
      broker.metrics?.bytesIn(topic.name, batch.length);
      return {
        ...partitionResponse(index, 0),
        baseOffset: r.firstOffset,
        logAppendTimeMs: r.logAppendTime,
        logStartOffset: r.logStartOffset,
      };
    } catch (err) {
      if (!(err instanceof KafkaError))
        broker.logger.error({ err, topic: topic.name, partition: index }, 'append failed');
      return partitionResponse(index, errorCodeOf(err), errorMessageOf(err));
    }
  };

  return {
    api: ProduceApi,
    // v0-v2 carry magic 0/1 message sets, which Kafka 4 no longer accepts either (KIP-896).
    minVersion: 3,
    maxVersion: 11,
    handle(req) {
      const acksValid = req.acks === -1 || req.acks === 0 || req.acks === 1;
      const responses = req.topicData.map((t) => {
        const topic = broker.topics.get(t.name);
        return {
          name: t.name,
          partitionResponses: t.partitionData.map((p) =>
            acksValid
              ? appendOne(topic, p.index, p.records, req.acks)
              : partitionResponse(p.index, ERROR_CODES.INVALID_REQUIRED_ACKS),
          ),
        };
      });
      // acks=0: the client expects no response at all.
      if (req.acks === 0) return null;
      return { responses, throttleTimeMs: 0, nodeEndpoints: [] };
    },
  };
}
