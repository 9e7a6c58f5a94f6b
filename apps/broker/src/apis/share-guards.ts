// ACL checks of the share-group APIs (KIP-932), with the resources and operations Kafka's KafkaApis
// checks: READ on the group to take part (heartbeat, fetch, acknowledge, alter offsets), DESCRIBE to
// describe it, DELETE to delete its offsets; READ on the topics fetched, acknowledged or altered,
// DESCRIBE on the topics subscribed or described.
// Coarser than Kafka on topics: where Kafka answers a refused topic per partition, these guards
// refuse the whole request (or the whole group's entry) with TOPIC_AUTHORIZATION_FAILED — a client
// learns no more than Kafka tells it, and nothing it may not read is served.

import {
  AlterShareGroupOffsetsApi,
  type AlterShareGroupOffsetsRequest,
  type AlterShareGroupOffsetsResponse,
  DeleteShareGroupOffsetsApi,
  type DeleteShareGroupOffsetsRequest,
  type DeleteShareGroupOffsetsResponse,
  DeleteShareGroupStateApi,
  DescribeShareGroupOffsetsApi,
  type DescribeShareGroupOffsetsRequest,
  type DescribeShareGroupOffsetsResponse,
  ERROR_CODES,
  InitializeShareGroupStateApi,
  ReadShareGroupStateApi,
  ReadShareGroupStateSummaryApi,
  ShareAcknowledgeApi,
  type ShareAcknowledgeRequest,
  type ShareAcknowledgeResponse,
  ShareFetchApi,
  type ShareFetchRequest,
  type ShareFetchResponse,
  ShareGroupDescribeApi,
  type ShareGroupDescribeRequest,
  type ShareGroupDescribeResponse,
  ShareGroupHeartbeatApi,
  type ShareGroupHeartbeatRequest,
  type ShareGroupHeartbeatResponse,
  WriteShareGroupStateApi,
} from '@sluice/protocol';
import { AclOperation as Op, ResourceType as RT } from '@sluice/security';
import type { BrokerContext } from '../server/context.js';
import type { RequestContext } from '../server/dispatcher.js';
import { authorize, authorizeCluster } from './authorize.js';
import {
  GROUP_OPERATIONS,
  type Guard,
  mapResult,
  operationBits,
  refusedDescribedGroup,
  topicOk,
} from './guard-common.js';

const TAF = ERROR_CODES.TOPIC_AUTHORIZATION_FAILED;
const GAF = ERROR_CODES.GROUP_AUTHORIZATION_FAILED;

const groupOk = (broker: BrokerContext, ctx: RequestContext, op: number, groupId: string | null) =>
  groupId !== null && authorize(broker, ctx, op, RT.GROUP, groupId);
/** A topic named by id passes only when it exists and may be read; an unknown id is the handler's to answer. */
const topicIdOk = (broker: BrokerContext, ctx: RequestContext, op: number, topicId: string) => {
  const name = broker.store.image.topicById(topicId)?.name;
  return name === undefined || topicOk(broker, ctx, op, name);
};

const heartbeatGuard: Guard<ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse> = (broker, req, ctx, next) => {
  if (!groupOk(broker, ctx, Op.READ, req.groupId)) {
    return { ...ShareGroupHeartbeatApi.response.defaults(), errorCode: GAF };
  }
  if ((req.subscribedTopicNames ?? []).some((n) => !topicOk(broker, ctx, Op.DESCRIBE, n))) {
    return { ...ShareGroupHeartbeatApi.response.defaults(), errorCode: TAF };
  }
  return next(req);
};

type DescribedShareGroup = ShareGroupDescribeResponse['groups'][number];
const refusedDescribe = (groupId: string, errorCode: number): DescribedShareGroup =>
  refusedDescribedGroup(groupId, errorCode);

const describeGuard: Guard<ShareGroupDescribeRequest, ShareGroupDescribeResponse> = (broker, req, ctx, next) => {
  const allowed = req.groupIds.filter((g) => groupOk(broker, ctx, Op.DESCRIBE, g));
  const denied = req.groupIds.filter((g) => !allowed.includes(g)).map((g) => refusedDescribe(g, GAF));
  const topicsDescribable = (g: DescribedShareGroup) =>
    g.members.every(
      (m) =>
        m.subscribedTopicNames.every((t) => topicOk(broker, ctx, Op.DESCRIBE, t)) &&
        m.assignment.topicPartitions.every((tp) => topicOk(broker, ctx, Op.DESCRIBE, tp.topicName)),
    );
  const merge = (res: ShareGroupDescribeResponse): ShareGroupDescribeResponse => ({
    ...res,
    groups: [
      ...res.groups.map((g) => {
        if (g.errorCode !== 0) return g;
        if (!topicsDescribable(g)) return refusedDescribe(g.groupId, TAF);
        return req.includeAuthorizedOperations
          ? {
              ...g,
              authorizedOperations: operationBits(GROUP_OPERATIONS, (op) => groupOk(broker, ctx, op, g.groupId)),
            }
          : g;
      }),
      ...denied,
    ],
  });
  if (allowed.length === 0) return merge({ ...ShareGroupDescribeApi.response.defaults(), groups: [] });
  return mapResult(next({ ...req, groupIds: allowed }), merge);
};

const fetchGuard: Guard<ShareFetchRequest, ShareFetchResponse> = (broker, req, ctx, next) => {
  if (!groupOk(broker, ctx, Op.READ, req.groupId)) return { ...ShareFetchApi.response.defaults(), errorCode: GAF };
  if (req.topics.some((t) => !topicIdOk(broker, ctx, Op.READ, t.topicId))) {
    return { ...ShareFetchApi.response.defaults(), errorCode: TAF };
  }
  return next(req);
};

const acknowledgeGuard: Guard<ShareAcknowledgeRequest, ShareAcknowledgeResponse> = (broker, req, ctx, next) => {
  if (!groupOk(broker, ctx, Op.READ, req.groupId)) {
    return { ...ShareAcknowledgeApi.response.defaults(), errorCode: GAF };
  }
  if (req.topics.some((t) => !topicIdOk(broker, ctx, Op.READ, t.topicId))) {
    return { ...ShareAcknowledgeApi.response.defaults(), errorCode: TAF };
  }
  return next(req);
};

const describeOffsetsGuard: Guard<DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  const refusal = (g: DescribeShareGroupOffsetsRequest['groups'][number]): number => {
    if (!groupOk(broker, ctx, Op.DESCRIBE, g.groupId)) return GAF;
    return (g.topics ?? []).every((t) => topicOk(broker, ctx, Op.DESCRIBE, t.topicName)) ? 0 : TAF;
  };
  const allowed = req.groups.filter((g) => refusal(g) === 0);
  const denied = req.groups
    .filter((g) => refusal(g) !== 0)
    .map((g) => ({ groupId: g.groupId, topics: [], errorCode: refusal(g), errorMessage: null }));
  const merge = (res: DescribeShareGroupOffsetsResponse): DescribeShareGroupOffsetsResponse => ({
    ...res,
    // A group asked for with all its topics: the ones the principal may not describe are left out.
    groups: [
      ...res.groups.map((g) => ({
        ...g,
        topics: g.topics.filter((t) => topicOk(broker, ctx, Op.DESCRIBE, t.topicName)),
      })),
      ...denied,
    ],
  });
  if (allowed.length === 0) return merge({ ...DescribeShareGroupOffsetsApi.response.defaults(), groups: [] });
  return mapResult(next({ ...req, groups: allowed }), merge);
};

const alterOffsetsGuard: Guard<AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  if (!groupOk(broker, ctx, Op.READ, req.groupId)) {
    return { ...AlterShareGroupOffsetsApi.response.defaults(), errorCode: GAF };
  }
  if (req.topics.some((t) => !topicOk(broker, ctx, Op.READ, t.topicName))) {
    return { ...AlterShareGroupOffsetsApi.response.defaults(), errorCode: TAF };
  }
  return next(req);
};

const deleteOffsetsGuard: Guard<DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse> = (
  broker,
  req,
  ctx,
  next,
) => {
  if (!groupOk(broker, ctx, Op.DELETE, req.groupId)) {
    return { ...DeleteShareGroupOffsetsApi.response.defaults(), errorCode: GAF };
  }
  if (req.topics.some((t) => !topicOk(broker, ctx, Op.READ, t.topicName))) {
    return { ...DeleteShareGroupOffsetsApi.response.defaults(), errorCode: TAF };
  }
  return next(req);
};

/**
 * The share coordinator's inter-broker APIs (Initialize/Read/Write/DeleteShareGroupState,
 * ReadShareGroupStateSummary): CLUSTER_ACTION on the cluster, as Kafka asks, else
 * CLUSTER_AUTHORIZATION_FAILED on every share-partition named.
 */
const shareStateGuard: Guard<
  { topics: { topicId: string; partitions: { partition: number }[] }[] },
  {
    results: { topicId: string; partitions: { partition: number; errorCode: number; errorMessage: string | null }[] }[];
  }
> = (broker, req, ctx, next) => {
  if (authorizeCluster(broker, ctx, Op.CLUSTER_ACTION)) return next(req);
  return {
    results: req.topics.map((t) => ({
      topicId: t.topicId,
      partitions: t.partitions.map((p) => ({
        partition: p.partition,
        errorCode: ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED,
        errorMessage: null,
        // The read answers' other fields, as Kafka's error answers carry them.
        stateEpoch: -1,
        leaderEpoch: -1,
        startOffset: -1n,
        stateBatches: [],
        deliveryCompleteCount: -1,
      })),
    })),
  };
};

export const SHARE_GUARDS: ReadonlyMap<number, Guard> = new Map<number, Guard>([
  [InitializeShareGroupStateApi.apiKey, shareStateGuard as Guard],
  [ReadShareGroupStateApi.apiKey, shareStateGuard as Guard],
  [WriteShareGroupStateApi.apiKey, shareStateGuard as Guard],
  [DeleteShareGroupStateApi.apiKey, shareStateGuard as Guard],
  [ReadShareGroupStateSummaryApi.apiKey, shareStateGuard as Guard],
  [ShareGroupHeartbeatApi.apiKey, heartbeatGuard],
  [ShareGroupDescribeApi.apiKey, describeGuard],
  [ShareFetchApi.apiKey, fetchGuard],
  [ShareAcknowledgeApi.apiKey, acknowledgeGuard],
  [DescribeShareGroupOffsetsApi.apiKey, describeOffsetsGuard],
  [AlterShareGroupOffsetsApi.apiKey, alterOffsetsGuard],
  [DeleteShareGroupOffsetsApi.apiKey, deleteOffsetsGuard],
]);
