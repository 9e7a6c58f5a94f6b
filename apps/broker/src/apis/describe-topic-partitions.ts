import { NO_LEADER } from '@sluice/cluster/core';
import {
  DescribeTopicPartitionsApi,
  type DescribeTopicPartitionsRequest,
  type DescribeTopicPartitionsResponse,
  ERROR_CODES,
  type DescribeTopicPartitionsResponseDescribeTopicPartitionsResponsePartition as PartitionResult,
  type DescribeTopicPartitionsResponseDescribeTopicPartitionsResponseTopic as TopicResult,
  ZERO_UUID,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { INTERNAL_TOPICS, topicNameError } from '../state/topic-manager.js';
import { partitionView } from './cluster-view.js';
import { ALL_TOPIC_OPERATIONS, OPERATIONS_NOT_REQUESTED } from './constants.js';

/**
 * DescribeTopicPartitions (KIP-966), answered from the metadata image as Kafka's
 * DescribeTopicPartitionsRequestHandler does: topics in name order from the cursor on, at most
 * min(`responsePartitionLimit`, `max.request.partition.size.limit`) partitions (at least 1), and a
 * next cursor where the answer stopped. A topic that does not fit at all is left for the cursor; an
 * unknown requested topic is answered with its error (it is skipped when every topic was asked for).
 */
export function describeTopicPartitionsHandler(
  broker: BrokerContext,
): ApiHandler<DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse> {
  /** The whole request refused (Kafka's getErrorResponse): every requested topic with the error. */
  const refused = (req: DescribeTopicPartitionsRequest): DescribeTopicPartitionsResponse => ({
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({
      errorCode: ERROR_CODES.INVALID_REQUEST,
      name: t.name,
      topicId: ZERO_UUID,
      isInternal: false,
      partitions: [],
      topicAuthorizedOperations: OPERATIONS_NOT_REQUESTED,
    })),
    nextCursor: null,
  });

  /** Partitions [start, start + max) of a topic, and the index to go on from (-1: none left). */
  const partitionsOf = (topicId: string, count: number, start: number, max: number) => {
    const image = broker.store.image;
    const upper = Math.min(count, start + max);
    const partitions: PartitionResult[] = [];
    for (let p = start; p < upper; p++) {
      const view = partitionView(broker, topicId, p);
      partitions.push({
        errorCode: 0,
        partitionIndex: p,
        // A leader that is not registered has no endpoint: Kafka answers no leader (without an error code).
        leaderId:
          view.leader !== NO_LEADER && (image.brokers.has(view.leader) || view.leader === broker.nodeId)
            ? view.leader
            : NO_LEADER,
        leaderEpoch: view.leaderEpoch,
        replicaNodes: view.replicas,
        isrNodes: view.isr,
        // Eligible leader replicas (KIP-966) are not modelled: always none, as Kafka without ELR.
        eligibleLeaderReplicas: [],
        lastKnownElr: [],
        // Replicas on brokers that are not registered (a lapsed lease is Kafka's fenced broker); a broker in
        // controlled shutdown is not offline, as in Kafka.
        offlineReplicas: view.offline,
      });
    }
    return { partitions, next: upper < count ? upper : -1 };
  };

  return {
    api: DescribeTopicPartitionsApi,
    minVersion: 0,
    maxVersion: 0,
    handle(req) {
      const image = broker.store.image;
      const all = req.topics.length === 0;
      const cursorTopic = req.cursor?.topicName ?? '';
      const names = new Set<string>();
      for (const name of all ? image.topics.keys() : req.topics.map((t) => t.name)) {
        if (name >= cursorTopic) names.add(name);
      }
      if (req.cursor !== null && !all && !names.has(req.cursor.topicName)) return refused(req);
      if (req.cursor !== null && req.cursor.partitionIndex < 0) return refused(req);

      const limit = Math.max(
        Math.min(
          Number(broker.configs.brokerValue('max.request.partition.size.limit') ?? 2000),
          req.responsePartitionLimit,
        ),
        1,
      );
      let remaining = limit;
      const topics: TopicResult[] = [];
      let nextCursor: DescribeTopicPartitionsResponse['nextCursor'] = null;
      // Name order in UTF-16 code units, as Java's String.compareTo.
      for (const name of [...names].sort()) {
        if (remaining === 0) {
          // Every partition of the topics before fitted: the next answer starts at this topic.
          nextCursor = { topicName: name, partitionIndex: 0 };
          break;
        }
        const topic = image.topics.get(name);
        if (!topic) {
          if (!all) {
            topics.push({
              errorCode:
                topicNameError(name) === null
                  ? ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION
                  : ERROR_CODES.INVALID_TOPIC_EXCEPTION,
              name,
              topicId: ZERO_UUID,
              isInternal: INTERNAL_TOPICS.has(name),
              partitions: [],
              topicAuthorizedOperations: ALL_TOPIC_OPERATIONS,
            });
          }
          continue;
        }
        const start = name === cursorTopic && req.cursor !== null ? req.cursor.partitionIndex : 0;
        const { partitions, next } = partitionsOf(topic.topicId, topic.partitionCount, start, remaining);
        topics.push({
          errorCode: 0,
          name,
          topicId: topic.topicId,
          isInternal: INTERNAL_TOPICS.has(name),
          partitions,
          topicAuthorizedOperations: ALL_TOPIC_OPERATIONS,
        });
        if (next !== -1) {
          nextCursor = { topicName: name, partitionIndex: next };
          break;
        }
        remaining -= partitions.length;
      }
      return { throttleTimeMs: 0, topics, nextCursor };
    },
  };
}
