import {
  ERROR_CODES,
  OffsetForLeaderEpochApi,
  type OffsetForLeaderEpochRequest,
  type OffsetForLeaderEpochResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { checkLeaderEpoch, errorCodeOf } from './partition-errors.js';

export function offsetForLeaderEpochHandler(
  broker: BrokerContext,
): ApiHandler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse> {
  return {
    api: OffsetForLeaderEpochApi,
    // v0-v1 were removed in Kafka 4 (KIP-896).
    minVersion: 2,
    maxVersion: 4,
    handle(req) {
      return {
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          topic: t.topic,
          partitions: t.partitions.map((p) => {
            const out = { errorCode: 0, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
            const partition = broker.topics.partition(t.topic, p.partition);
            if (partition === undefined) return { ...out, errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION };
            try {
              checkLeaderEpoch(p.currentLeaderEpoch, partition.leaderEpoch);
              // Kafka answers only as leader (fetchOnlyFromLeader), to followers as to clients.
              if (partition.replica && partition.replica.role !== 'leader') {
                return { ...out, errorCode: ERROR_CODES.NOT_LEADER_OR_FOLLOWER };
              }
              const r = partition.log.endOffsetFor(p.leaderEpoch);
              return { ...out, leaderEpoch: r.epoch, endOffset: r.endOffset };
            } catch (err) {
              return { ...out, errorCode: errorCodeOf(err) };
            }
          }),
        })),
      };
    },
  };
}
