import {
  ERROR_CODES,
  ListOffsetsApi,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type ListOffsetsResponseListOffsetsPartitionResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { checkLeaderEpoch, errorCodeOf, LEADER_EPOCH } from './partition-errors.js';

/** ListOffsets' special timestamps (KIP-734, KIP-405, KIP-1005). */
const LATEST = -1n;
const EARLIEST = -2n;
const MAX_TIMESTAMP = -3n;
const EARLIEST_LOCAL = -4n;
const LATEST_TIERED = -5n;
const READ_COMMITTED = 1;

export function listOffsetsHandler(broker: BrokerContext): ApiHandler<ListOffsetsRequest, ListOffsetsResponse> {
  return {
    api: ListOffsetsApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    maxVersion: 10,
    handle(req, ctx) {
      const topics = req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p): ListOffsetsResponseListOffsetsPartitionResponse => {
          const out: ListOffsetsResponseListOffsetsPartitionResponse = {
            partitionIndex: p.partitionIndex,
            errorCode: 0,
            oldStyleOffsets: [],
            timestamp: -1n,
            offset: -1n,
            leaderEpoch: -1,
          };
          const partition = broker.topics.partition(t.name, p.partitionIndex);
          if (partition === undefined) return { ...out, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
          const log = partition.log;
          try {
            checkLeaderEpoch(p.currentLeaderEpoch);
            const ts = p.timestamp;
            if (ts === LATEST) {
              out.offset = req.isolationLevel === READ_COMMITTED ? log.lastStableOffset : log.highWatermark;
            } else if (ts === EARLIEST || ts === EARLIEST_LOCAL) {
              out.offset = log.logStartOffset;
            } else if (ts === LATEST_TIERED) {
              // Nothing is tiered: Kafka answers -1 then.
              out.offset = -1n;
            } else if (ts === MAX_TIMESTAMP) {
              const r = log.offsetForTimestamp(MAX_TIMESTAMP);
              if (r !== null) {
                out.offset = r.offset;
                out.timestamp = r.timestamp;
              }
            } else if (ts < 0n) {
              return { ...out, errorCode: ERROR_CODES.INVALID_REQUEST };
            } else {
              const r = log.offsetForTimestamp(ts);
              if (r !== null && r.offset < log.highWatermark) {
                out.offset = r.offset;
                out.timestamp = r.timestamp;
              }
            }
            // The field exists from v4 and is not ignorable.
            if (out.offset >= 0n && ctx.apiVersion >= 4) out.leaderEpoch = LEADER_EPOCH;
            return out;
          } catch (err) {
            return { ...out, errorCode: errorCodeOf(err) };
          }
        }),
      }));
      return { throttleTimeMs: 0, topics };
    },
  };
}
