import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP, type PartitionLog } from '@sluice/log';
import {
  ERROR_CODES,
  iterateBatches,
  ListOffsetsApi,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type ListOffsetsResponseListOffsetsPartitionResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { leadsPartition } from './cluster-view.js';
import { READ_COMMITTED } from './constants.js';
import { checkLeaderEpoch, epochErrorCode, errorCodeOf } from './partition-errors.js';

/** ListOffsets' special timestamps beyond the log's latest/earliest/max (KIP-405, KIP-1005). */
const EARLIEST_LOCAL = -4n;
const LATEST_TIERED = -5n;
/** v11 (KIP-1023): the first offset not yet uploaded to tiered storage. */
const EARLIEST_PENDING_UPLOAD = -6n;

/**
 * The log finds the batch (holding `found.offset`); Kafka answers with the record inside it: the
 * first record at or after `from` whose timestamp matches (`>=` the target, or `==` the max
 * timestamp). Falls back to the batch-level answer when no record matches.
 */
async function recordInBatch(
  log: PartitionLog,
  found: { offset: bigint; timestamp: bigint },
  from: bigint,
  matches: (ts: bigint) => boolean,
): Promise<{ offset: bigint; timestamp: bigint }> {
  if (from < log.logStartOffset) from = log.logStartOffset;
  const { records } = log.read(found.offset < log.logStartOffset ? log.logStartOffset : found.offset, 1);
  const batch = iterateBatches(records).next();
  if (batch.done) return found;
  for (const r of await batch.value.decompressedRecords()) {
    if (r.offset >= from && matches(r.timestamp)) return { offset: r.offset, timestamp: r.timestamp };
  }
  return found;
}

export function listOffsetsHandler(broker: BrokerContext): ApiHandler<ListOffsetsRequest, ListOffsetsResponse> {
  return {
    api: ListOffsetsApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    maxVersion: 11,
    async handle(req, ctx) {
      const topics = [];
      for (const t of req.topics) {
        const partitions: ListOffsetsResponseListOffsetsPartitionResponse[] = [];
        for (const p of t.partitions) partitions.push(await answer(t.name, p));
        topics.push({ name: t.name, partitions });
      }
      return { throttleTimeMs: 0, topics };

      async function answer(
        topic: string,
        p: ListOffsetsRequest['topics'][number]['partitions'][number],
      ): Promise<ListOffsetsResponseListOffsetsPartitionResponse> {
        const out: ListOffsetsResponseListOffsetsPartitionResponse = {
          partitionIndex: p.partitionIndex,
          errorCode: 0,
          timestamp: -1n,
          offset: -1n,
          leaderEpoch: -1,
        };
        const partition = broker.topics.partition(topic, p.partitionIndex);
        const topicId = broker.topics.get(topic)?.topicId;
        // As Kafka's Partition.getLocalLog: a replica checks the client's leader epoch before leadership.
        const staleEpoch = partition === undefined ? 0 : epochErrorCode(p.currentLeaderEpoch, partition.leaderEpoch);
        if (staleEpoch !== 0) return { ...out, errorCode: staleEpoch };
        if (topicId !== undefined && !leadsPartition(broker, topicId, p.partitionIndex)) {
          return { ...out, errorCode: ERROR_CODES.NOT_LEADER_OR_FOLLOWER };
        }
        if (partition === undefined) return { ...out, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
        const log = partition.log;
        try {
          checkLeaderEpoch(p.currentLeaderEpoch, partition.leaderEpoch);
          const ts = p.timestamp;
          if (ts === LATEST_TIMESTAMP) {
            out.offset = req.isolationLevel === READ_COMMITTED ? partition.lastStableOffset : log.highWatermark;
          } else if (ts === EARLIEST_TIMESTAMP || ts === EARLIEST_LOCAL) {
            out.offset = log.logStartOffset;
          } else if (ts === LATEST_TIERED || ts === EARLIEST_PENDING_UPLOAD) {
            // Nothing is tiered: Kafka answers -1 then.
            out.offset = -1n;
          } else if (ts === MAX_TIMESTAMP) {
            let r = log.offsetForTimestamp(MAX_TIMESTAMP);
            if (r !== null && r.offset >= 0n) {
              const max = r.timestamp;
              r = await recordInBatch(log, r, log.logStartOffset, (ts) => ts === max);
              out.offset = r.offset;
              out.timestamp = r.timestamp;
            }
          } else if (ts < 0n) {
            return { ...out, errorCode: ERROR_CODES.INVALID_REQUEST };
          } else {
            let r = log.offsetForTimestamp(ts);
            // As Kafka: an offset at or past what the isolation level may read is no answer.
            const fetchable = req.isolationLevel === READ_COMMITTED ? partition.lastStableOffset : log.highWatermark;
            if (r !== null && r.offset < fetchable) {
              r = await recordInBatch(log, r, r.offset, (recordTs) => recordTs >= ts);
              out.offset = r.offset;
              out.timestamp = r.timestamp;
            }
          }
          // The field exists from v4 and is not ignorable.
          if (out.offset >= 0n && ctx.apiVersion >= 4) out.leaderEpoch = partition.leaderEpoch;
          return out;
        } catch (err) {
          return { ...out, errorCode: errorCodeOf(err) };
        }
      }
    },
  };
}
