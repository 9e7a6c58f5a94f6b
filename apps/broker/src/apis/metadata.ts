import { NO_LEADER } from '@sluice/cluster/core';
import {
  ERROR_CODES,
  MetadataApi,
  type MetadataRequest,
  type MetadataResponse,
  type MetadataResponseMetadataResponseTopic,
  ZERO_UUID,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { INTERNAL_TOPICS, type TopicState, topicNameError } from '../state/topic-manager.js';
import { clusterBrokers, controllerId, partitionView } from './cluster-view.js';
import { ALL_CLUSTER_OPERATIONS, ALL_TOPIC_OPERATIONS, OPERATIONS_NOT_REQUESTED } from './constants.js';
import { errorCodeOf } from './partition-errors.js';

export function metadataHandler(broker: BrokerContext): ApiHandler<MetadataRequest, MetadataResponse> {
  const topicResult = (t: TopicState, includeOps: boolean): MetadataResponseMetadataResponseTopic => ({
    errorCode: 0,
    name: t.name,
    topicId: t.topicId,
    isInternal: INTERNAL_TOPICS.has(t.name),
    partitions: t.partitions.map((_, p) => {
      const view = partitionView(broker, t.topicId, p);
      return {
        errorCode: view.leader === NO_LEADER ? ERROR_CODES.LEADER_NOT_AVAILABLE : 0,
        partitionIndex: p,
        leaderId: view.leader,
        leaderEpoch: view.leaderEpoch,
        replicaNodes: view.replicas,
        isrNodes: view.isr,
        offlineReplicas: view.offline,
      };
    }),
    topicAuthorizedOperations: includeOps ? ALL_TOPIC_OPERATIONS : OPERATIONS_NOT_REQUESTED,
  });
  const errorResult = (
    name: string | null,
    topicId: string,
    errorCode: number,
  ): MetadataResponseMetadataResponseTopic => ({
    errorCode,
    name,
    topicId,
    isInternal: false,
    partitions: [],
    topicAuthorizedOperations: OPERATIONS_NOT_REQUESTED,
  });

  return {
    api: MetadataApi,
    minVersion: 0,
    // v13 adds a top-level error code, which Kafka sets only to ask a client to rebootstrap (KIP-1102).
    maxVersion: 13,
    handle(req, ctx) {
      const includeOps = req.includeTopicAuthorizedOperations;
      // v0 asks for every topic with an empty list; v1+ with null.
      const all = req.topics === null || (ctx.apiVersion === 0 && req.topics.length === 0);
      const autoCreate =
        (ctx.apiVersion < 4 || req.allowAutoTopicCreation) && broker.config.get('auto.create.topics.enable');
      const topics: MetadataResponseMetadataResponseTopic[] = [];
      if (all) {
        for (const t of broker.topics.all()) topics.push(topicResult(t, includeOps));
      } else {
        for (const rt of req.topics ?? []) {
          if (rt.name === null) {
            const t = broker.topics.getById(rt.topicId);
            topics.push(t ? topicResult(t, includeOps) : errorResult(null, rt.topicId, ERROR_CODES.UNKNOWN_TOPIC_ID));
            continue;
          }
          const t = broker.topics.get(rt.name);
          if (t) {
            topics.push(topicResult(t, includeOps));
          } else if (topicNameError(rt.name) !== null) {
            topics.push(errorResult(rt.name, ZERO_UUID, ERROR_CODES.INVALID_TOPIC_EXCEPTION));
          } else if (autoCreate && !INTERNAL_TOPICS.has(rt.name)) {
            try {
              topics.push(topicResult(broker.autoCreateTopic(rt.name), includeOps));
            } catch (err) {
              topics.push(errorResult(rt.name, ZERO_UUID, errorCodeOf(err)));
            }
          } else {
            topics.push(errorResult(rt.name, ZERO_UUID, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION));
          }
        }
      }
      return {
        throttleTimeMs: 0,
        brokers: clusterBrokers(broker, ctx.connection.listener),
        clusterId: broker.clusterId,
        controllerId: controllerId(broker),
        topics,
        clusterAuthorizedOperations: req.includeClusterAuthorizedOperations
          ? ALL_CLUSTER_OPERATIONS
          : OPERATIONS_NOT_REQUESTED,
        errorCode: 0,
      };
    },
  };
}
