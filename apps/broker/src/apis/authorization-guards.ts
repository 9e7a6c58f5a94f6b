// The ACL checks of the APIs that came after the first set in authorization.ts: admin (reassignments,
// leader election, log dirs, producers, DescribeTopicPartitions), KIP-848 consumer groups, offsets
// (OffsetDelete, OffsetForLeaderEpoch) and transactions. Each follows the check Kafka's KafkaApis
// (and its ControllerApis / DescribeTopicPartitionsRequestHandler) makes, with its error codes.

import {
  AddOffsetsToTxnApi,
  type AddOffsetsToTxnRequest,
  type AddOffsetsToTxnResponse,
  AddPartitionsToTxnApi,
  type AddPartitionsToTxnRequest,
  type AddPartitionsToTxnResponse,
  AlterPartitionReassignmentsApi,
  type AlterPartitionReassignmentsRequest,
  type AlterPartitionReassignmentsResponse,
  ConsumerGroupDescribeApi,
  type ConsumerGroupDescribeRequest,
  type ConsumerGroupDescribeResponse,
  ConsumerGroupHeartbeatApi,
  type ConsumerGroupHeartbeatRequest,
  type ConsumerGroupHeartbeatResponse,
  DescribeClusterApi,
  type DescribeClusterRequest,
  type DescribeClusterResponse,
  DescribeLogDirsApi,
  type DescribeLogDirsRequest,
  type DescribeLogDirsResponse,
  DescribeProducersApi,
  type DescribeProducersRequest,
  type DescribeProducersResponse,
  DescribeTopicPartitionsApi,
  type DescribeTopicPartitionsRequest,
  type DescribeTopicPartitionsResponse,
  DescribeTransactionsApi,
  type DescribeTransactionsRequest,
  type DescribeTransactionsResponse,
  ElectLeadersApi,
  type ElectLeadersRequest,
  type ElectLeadersResponse,
  EndTxnApi,
  type EndTxnRequest,
  type EndTxnResponse,
  ERROR_CODES,
  ListPartitionReassignmentsApi,
  type ListPartitionReassignmentsRequest,
  type ListPartitionReassignmentsResponse,
  ListTransactionsApi,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
  OffsetDeleteApi,
  type OffsetDeleteRequest,
  type OffsetDeleteResponse,
  OffsetForLeaderEpochApi,
  type OffsetForLeaderEpochRequest,
  type OffsetForLeaderEpochResponse,
  TxnOffsetCommitApi,
  type TxnOffsetCommitRequest,
  type TxnOffsetCommitResponse,
  WriteTxnMarkersApi,
  type WriteTxnMarkersRequest,
  type WriteTxnMarkersResponse,
  ZERO_UUID,
} from '@sluice/protocol';
import { AclOperation as Op, ResourceType as RT } from '@sluice/security';
import type { BrokerContext } from '../server/context.js';
import type { RequestContext } from '../server/dispatcher.js';
import { INTERNAL_TOPICS } from '../state/topic-manager.js';
import { authorize, authorizeCluster } from './authorize.js';
import {
  CLUSTER_OPERATIONS,
  GROUP_OPERATIONS,
  type Guard,
  mapResult,
  OPERATIONS_OMITTED,
  operationBits,
  refusedDescribedGroup,
  TOPIC_OPERATIONS,
  topicOk,
} from './guard-common.js';

const TAF = ERROR_CODES.TOPIC_AUTHORIZATION_FAILED;
const GAF = ERROR_CODES.GROUP_AUTHORIZATION_FAILED;
const CAF = ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED;
const TXAF = ERROR_CODES.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;

/** A guard that refuses the whole request unless `op` on the cluster is allowed. */
function clusterGuard<Req, Res>(op: number, refused: (req: Req, ctx: RequestContext) => Res): Guard<Req, Res> {
  return (broker, req, ctx, next) => (authorizeCluster(broker, ctx, op) ? next(req) : refused(req, ctx));
}

// ElectLeaders: ALTER on the cluster; refused with CLUSTER_AUTHORIZATION_FAILED at the top and on
// every partition asked for (none when all partitions were asked for).
const electLeadersGuard = clusterGuard<ElectLeadersRequest, ElectLeadersResponse>(Op.ALTER, (req) => ({
  ...ElectLeadersApi.response.defaults(),
  errorCode: CAF,
  replicaElectionResults: (req.topicPartitions ?? []).map((t) => ({
    topic: t.topic,
    partitionResult: t.partitions.map((partitionId) => ({ partitionId, errorCode: CAF, errorMessage: null })),
  })),
}));

// AlterPartitionReassignments: ALTER on the cluster; ListPartitionReassignments: DESCRIBE on it.
const alterReassignmentsGuard = clusterGuard<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse>(
  Op.ALTER,
  () => ({ ...AlterPartitionReassignmentsApi.response.defaults(), errorCode: CAF, errorMessage: null, responses: [] }),
);
const listReassignmentsGuard = clusterGuard<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse>(
  Op.DESCRIBE,
  () => ({ ...ListPartitionReassignmentsApi.response.defaults(), errorCode: CAF, errorMessage: null, topics: [] }),
);

// DescribeLogDirs: DESCRIBE on the cluster, else no results and CLUSTER_AUTHORIZATION_FAILED.
const describeLogDirsGuard = clusterGuard<DescribeLogDirsRequest, DescribeLogDirsResponse>(Op.DESCRIBE, () => ({
  ...DescribeLogDirsApi.response.defaults(),
  errorCode: CAF,
  results: [],
}));

// DescribeCluster needs no ACL; the operations bit set is the principal's when asked for.
const describeClusterGuard: Guard<DescribeClusterRequest, DescribeClusterResponse> = (broker, req, ctx, next) =>
  mapResult(next(req), (res) => ({
    ...res,
    clusterAuthorizedOperations: req.includeClusterAuthorizedOperations
      ? operationBits(CLUSTER_OPERATIONS, (op) => authorizeCluster(broker, ctx, op))
      : OPERATIONS_OMITTED,
  }));

// WriteTxnMarkers (sent by transaction coordinators): ALTER or CLUSTER_ACTION on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED on every partition.
const writeTxnMarkersGuard: Guard<WriteTxnMarkersRequest, WriteTxnMarkersResponse> = (broker, req, ctx, next) => {
  if (authorizeCluster(broker, ctx, Op.ALTER) || authorizeCluster(broker, ctx, Op.CLUSTER_ACTION)) return next(req);
  return {
    ...WriteTxnMarkersApi.response.defaults(),
    markers: req.markers.map((m) => ({
      producerId: m.producerId,
      topics: m.topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: CAF })),
      })),
    })),
  };
};

// OffsetForLeaderEpoch: CLUSTER_ACTION on the cluster (a follower) passes everything, else DESCRIBE per topic (KIP-320).
const offsetForLeaderEpochGuard: Guard<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  if (authorizeCluster(broker, ctx, Op.CLUSTER_ACTION)) return next(req);
  const allowed = req.topics.filter((t) => topicOk(broker, ctx, Op.DESCRIBE, t.topic));
  if (allowed.length === req.topics.length) return next(req);
  const denied = req.topics
    .filter((t) => !allowed.includes(t))
    .map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => ({
        errorCode: TAF,
        partition: p.partition,
        leaderEpoch: -1,
        endOffset: -1n,
      })),
    }));
  const merge = (res: OffsetForLeaderEpochResponse) => ({ ...res, topics: [...res.topics, ...denied] });
  if (allowed.length === 0) return merge({ ...OffsetForLeaderEpochApi.response.defaults(), topics: [] });
  return mapResult(next({ ...req, topics: allowed }), merge);
};

// DescribeProducers: READ per topic, else TOPIC_AUTHORIZATION_FAILED on its partitions.
const describeProducersGuard: Guard<DescribeProducersRequest, DescribeProducersResponse> = (broker, req, ctx, next) => {
  const allowed = req.topics.filter((t) => topicOk(broker, ctx, Op.READ, t.name));
  if (allowed.length === req.topics.length) return next(req);
  const denied = req.topics
    .filter((t) => !allowed.includes(t))
    .map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((partitionIndex) => ({
        partitionIndex,
        errorCode: TAF,
        errorMessage: null,
        activeProducers: [],
      })),
    }));
  const merge = (res: DescribeProducersResponse) => ({ ...res, topics: [...res.topics, ...denied] });
  if (allowed.length === 0) return merge({ ...DescribeProducersApi.response.defaults(), topics: [] });
  return mapResult(next({ ...req, topics: allowed }), merge);
};

// DescribeTopicPartitions: DESCRIBE per topic. Topics named in the request that may not be described
// are answered TOPIC_AUTHORIZATION_FAILED without their id; with no topics named, they are left out.
// The check comes before paging, so refused topics take no room in the answer and never become the cursor.
const describeTopicPartitionsGuard: Guard<DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  const all = req.topics.length === 0;
  const cursorTopic = req.cursor?.topicName ?? '';
  // As Kafka: a named cursor topic must be in the list; that refusal is the handler's.
  if (!all && req.cursor !== null && !req.topics.some((t) => t.name === req.cursor?.topicName)) return next(req);
  const names = all ? [...broker.store.image.topics.keys()] : [...new Set(req.topics.map((t) => t.name))];
  const inRange = names.filter((n) => n >= cursorTopic);
  const allowed = inRange.filter((n) => topicOk(broker, ctx, Op.DESCRIBE, n));
  const denied = all
    ? []
    : inRange
        .filter((n) => !allowed.includes(n))
        .map((name) => ({
          errorCode: TAF,
          name,
          topicId: ZERO_UUID,
          isInternal: false,
          partitions: [],
          topicAuthorizedOperations: OPERATIONS_OMITTED,
        }));
  const merge = (res: DescribeTopicPartitionsResponse) => ({
    ...res,
    topics: [
      ...res.topics.map((t) => ({
        ...t,
        topicAuthorizedOperations:
          t.name === null
            ? t.topicAuthorizedOperations
            : operationBits(TOPIC_OPERATIONS, (op) => topicOk(broker, ctx, op, t.name as string)),
      })),
      ...denied,
    ],
  });
  if (allowed.length === 0)
    return merge({ ...DescribeTopicPartitionsApi.response.defaults(), topics: [], nextCursor: null });
  // The handler gets the topics that may be described, by name; the cursor stays only on such a topic.
  const cursor = req.cursor !== null && allowed.includes(req.cursor.topicName) ? req.cursor : null;
  return mapResult(next({ ...req, topics: allowed.map((name) => ({ name })), cursor }), merge);
};

// ConsumerGroupHeartbeat: READ on the group (GROUP_AUTHORIZATION_FAILED), and DESCRIBE on every
// subscribed topic named (TOPIC_AUTHORIZATION_FAILED; KAFKA-18813, Kafka 4.0), so a member cannot
// learn of topics it may not see. A regex subscription is not checked here (Kafka filters it when resolved).
const consumerGroupHeartbeatGuard: Guard<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  if (!authorize(broker, ctx, Op.READ, RT.GROUP, req.groupId)) {
    return { ...ConsumerGroupHeartbeatApi.response.defaults(), errorCode: GAF };
  }
  const refusedTopics = (req.subscribedTopicNames ?? []).filter((n) => !topicOk(broker, ctx, Op.DESCRIBE, n));
  if (refusedTopics.length > 0) {
    return { ...ConsumerGroupHeartbeatApi.response.defaults(), errorCode: TAF };
  }
  return next(req);
};

// ConsumerGroupDescribe: DESCRIBE per group (GROUP_AUTHORIZATION_FAILED); a group with a member
// subscribed to or assigned a topic the principal may not describe is answered TOPIC_AUTHORIZATION_FAILED
// without its description (KAFKA-18813). The group's authorized operations are the principal's when asked for.
type DescribedGroup = ConsumerGroupDescribeResponse['groups'][number];
const refusedGroup = (groupId: string, errorCode: number): DescribedGroup => refusedDescribedGroup(groupId, errorCode);
/** Whether every topic a member subscribes to or is (to be) assigned may be described. */
function groupTopicsDescribable(broker: BrokerContext, ctx: RequestContext, g: DescribedGroup): boolean {
  const topics = new Set<string>();
  for (const m of g.members) {
    for (const t of m.subscribedTopicNames) topics.add(t);
    for (const tp of m.assignment.topicPartitions) topics.add(tp.topicName);
    for (const tp of m.targetAssignment.topicPartitions) topics.add(tp.topicName);
  }
  for (const t of topics) if (!topicOk(broker, ctx, Op.DESCRIBE, t)) return false;
  return true;
}

const consumerGroupDescribeGuard: Guard<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  const allowed = req.groupIds.filter((g) => authorize(broker, ctx, Op.DESCRIBE, RT.GROUP, g));
  const denied = req.groupIds.filter((g) => !allowed.includes(g)).map((groupId) => refusedGroup(groupId, GAF));
  const merge = (res: ConsumerGroupDescribeResponse) => ({
    ...res,
    groups: [
      ...res.groups.map((g) =>
        g.errorCode === 0 && !groupTopicsDescribable(broker, ctx, g)
          ? {
              ...refusedGroup(g.groupId, TAF),
              errorMessage: 'The group has described topic(s) that the client is not authorized to describe.',
            }
          : req.includeAuthorizedOperations && g.errorCode === 0
            ? {
                ...g,
                authorizedOperations: operationBits(GROUP_OPERATIONS, (op) =>
                  authorize(broker, ctx, op, RT.GROUP, g.groupId),
                ),
              }
            : g,
      ),
      ...denied,
    ],
  });
  if (allowed.length === 0) return merge({ ...ConsumerGroupDescribeApi.response.defaults(), groups: [] });
  return mapResult(next(allowed.length === req.groupIds.length ? req : { ...req, groupIds: allowed }), merge);
};

// OffsetDelete: DELETE on the group (GROUP_AUTHORIZATION_FAILED at the top), READ per topic.
const offsetDeleteGuard: Guard<OffsetDeleteRequest, OffsetDeleteResponse> = (broker, req, ctx, next) => {
  if (!authorize(broker, ctx, Op.DELETE, RT.GROUP, req.groupId)) {
    return { ...OffsetDeleteApi.response.defaults(), errorCode: GAF, topics: [] };
  }
  const allowed = req.topics.filter((t) => topicOk(broker, ctx, Op.READ, t.name));
  if (allowed.length === req.topics.length) return next(req);
  const denied = req.topics
    .filter((t) => !allowed.includes(t))
    .map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: TAF })),
    }));
  const merge = (res: OffsetDeleteResponse) => ({ ...res, topics: [...res.topics, ...denied] });
  if (allowed.length === 0) return merge({ ...OffsetDeleteApi.response.defaults(), topics: [] });
  return mapResult(next({ ...req, topics: allowed }), merge);
};

const txnIdOk = (broker: BrokerContext, ctx: RequestContext, op: number, id: string) =>
  authorize(broker, ctx, op, RT.TRANSACTIONAL_ID, id);

// EndTxn: WRITE on the transactional id.
const endTxnGuard: Guard<EndTxnRequest, EndTxnResponse> = (broker, req, ctx, next) =>
  txnIdOk(broker, ctx, Op.WRITE, req.transactionalId)
    ? next(req)
    : { ...EndTxnApi.response.defaults(), errorCode: TXAF };

// AddOffsetsToTxn: WRITE on the transactional id, then READ on the group.
const addOffsetsToTxnGuard: Guard<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse> = (broker, req, ctx, next) => {
  if (!txnIdOk(broker, ctx, Op.WRITE, req.transactionalId)) {
    return { ...AddOffsetsToTxnApi.response.defaults(), errorCode: TXAF };
  }
  if (!authorize(broker, ctx, Op.READ, RT.GROUP, req.groupId)) {
    return { ...AddOffsetsToTxnApi.response.defaults(), errorCode: GAF };
  }
  return next(req);
};

// AddPartitionsToTxn: v4+ is the brokers' verification (CLUSTER_ACTION, else CLUSTER_AUTHORIZATION_FAILED
// at the top). v0-3, from a producer: WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// on every partition), then WRITE on every topic (internal topics never); with any topic refused nothing
// is added: the refused partitions answer TOPIC_AUTHORIZATION_FAILED, unknown ones UNKNOWN_TOPIC_OR_PARTITION,
// the rest OPERATION_NOT_ATTEMPTED.
const addPartitionsToTxnGuard: Guard<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  if (ctx.apiVersion >= 4) {
    return authorizeCluster(broker, ctx, Op.CLUSTER_ACTION)
      ? next(req)
      : { ...AddPartitionsToTxnApi.response.defaults(), errorCode: CAF, resultsByTransaction: [] };
  }
  const answer = (code: (topic: string, partition: number) => number): AddPartitionsToTxnResponse => ({
    ...AddPartitionsToTxnApi.response.defaults(),
    resultsByTopicV3AndBelow: req.v3AndBelowTopics.map((t) => ({
      name: t.name,
      resultsByPartition: t.partitions.map((partitionIndex) => ({
        partitionIndex,
        partitionErrorCode: code(t.name, partitionIndex),
      })),
    })),
  });
  if (!txnIdOk(broker, ctx, Op.WRITE, req.v3AndBelowTransactionalId)) return answer(() => TXAF);
  const refused = new Set(
    req.v3AndBelowTopics.map((t) => t.name).filter((n) => INTERNAL_TOPICS.has(n) || !topicOk(broker, ctx, Op.WRITE, n)),
  );
  if (refused.size === 0) return next(req);
  return answer((topic, partition) => {
    if (refused.has(topic)) return TAF;
    const known = broker.store.image.topics.get(topic);
    return known && partition >= 0 && partition < known.partitionCount
      ? ERROR_CODES.OPERATION_NOT_ATTEMPTED
      : ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION;
  });
};

// TxnOffsetCommit: WRITE on the transactional id, READ on the group (either refused: that error on
// every partition), then READ per topic (TOPIC_AUTHORIZATION_FAILED on its partitions).
const txnOffsetCommitGuard: Guard<TxnOffsetCommitRequest, TxnOffsetCommitResponse> = (broker, req, ctx, next) => {
  const refuse = (topics: TxnOffsetCommitRequest['topics'], errorCode: number) =>
    topics.map((t) => ({
      name: t.name,
      topicId: t.topicId,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })),
    }));
  const whole = (errorCode: number) => ({
    ...TxnOffsetCommitApi.response.defaults(),
    topics: refuse(req.topics, errorCode),
  });
  if (!txnIdOk(broker, ctx, Op.WRITE, req.transactionalId)) return whole(TXAF);
  if (!authorize(broker, ctx, Op.READ, RT.GROUP, req.groupId)) return whole(GAF);
  // v6+ names topics by id.
  const name = (t: TxnOffsetCommitRequest['topics'][number]) =>
    t.name || broker.store.image.topicById(t.topicId)?.name || null;
  const allowed = req.topics.filter((t) => {
    const n = name(t);
    return n === null || topicOk(broker, ctx, Op.READ, n);
  });
  if (allowed.length === req.topics.length) return next(req);
  const denied = refuse(
    req.topics.filter((t) => !allowed.includes(t)),
    TAF,
  );
  const merge = (res: TxnOffsetCommitResponse) => ({ ...res, topics: [...res.topics, ...denied] });
  if (allowed.length === 0) return merge({ ...TxnOffsetCommitApi.response.defaults(), topics: [] });
  return mapResult(next({ ...req, topics: allowed }), merge);
};

// DescribeTransactions: DESCRIBE on each transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), and
// only the topics the principal may describe are listed in a transaction.
const describeTransactionsGuard: Guard<DescribeTransactionsRequest, DescribeTransactionsResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  const allowed = req.transactionalIds.filter((id) => txnIdOk(broker, ctx, Op.DESCRIBE, id));
  const denied = req.transactionalIds
    .filter((id) => !allowed.includes(id))
    .map((transactionalId) => ({
      errorCode: TXAF,
      transactionalId,
      transactionState: '',
      transactionTimeoutMs: 0,
      transactionStartTimeMs: -1n,
      producerId: -1n,
      producerEpoch: -1,
      topics: [],
    }));
  const merge = (res: DescribeTransactionsResponse) => ({
    ...res,
    transactionStates: [
      ...res.transactionStates.map((s) => ({
        ...s,
        topics: s.topics.filter((t) => topicOk(broker, ctx, Op.DESCRIBE, t.topic)),
      })),
      ...denied,
    ],
  });
  if (allowed.length === 0) return merge({ ...DescribeTransactionsApi.response.defaults(), transactionStates: [] });
  return mapResult(
    next(allowed.length === req.transactionalIds.length ? req : { ...req, transactionalIds: allowed }),
    merge,
  );
};

// ListTransactions: only the transactional ids the principal may describe.
const listTransactionsGuard: Guard<ListTransactionsRequest, ListTransactionsResponse> = (broker, req, ctx, next) =>
  mapResult(next(req), (res) => ({
    ...res,
    transactionStates: res.transactionStates.filter((s) => txnIdOk(broker, ctx, Op.DESCRIBE, s.transactionalId)),
  }));

/** The guards of this module, by API key. */
export const MORE_GUARDS: ReadonlyMap<number, Guard> = new Map<number, Guard>([
  [ElectLeadersApi.apiKey, electLeadersGuard],
  [AlterPartitionReassignmentsApi.apiKey, alterReassignmentsGuard],
  [ListPartitionReassignmentsApi.apiKey, listReassignmentsGuard],
  [DescribeLogDirsApi.apiKey, describeLogDirsGuard],
  [DescribeClusterApi.apiKey, describeClusterGuard],
  [WriteTxnMarkersApi.apiKey, writeTxnMarkersGuard],
  [OffsetForLeaderEpochApi.apiKey, offsetForLeaderEpochGuard],
  [DescribeProducersApi.apiKey, describeProducersGuard],
  [DescribeTopicPartitionsApi.apiKey, describeTopicPartitionsGuard],
  [ConsumerGroupHeartbeatApi.apiKey, consumerGroupHeartbeatGuard],
  [ConsumerGroupDescribeApi.apiKey, consumerGroupDescribeGuard],
  [OffsetDeleteApi.apiKey, offsetDeleteGuard],
  [EndTxnApi.apiKey, endTxnGuard],
  [AddOffsetsToTxnApi.apiKey, addOffsetsToTxnGuard],
  [AddPartitionsToTxnApi.apiKey, addPartitionsToTxnGuard],
  [TxnOffsetCommitApi.apiKey, txnOffsetCommitGuard],
  [DescribeTransactionsApi.apiKey, describeTransactionsGuard],
  [ListTransactionsApi.apiKey, listTransactionsGuard],
]);
