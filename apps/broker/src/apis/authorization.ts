// The ACL checks Kafka's KafkaApis makes before each API, as wrappers around the API handlers:
// the request is split into what the principal may do and what it may not, the handler answers
// the first part, and the refused part is merged into its response with Kafka's error codes. The
// wrappers are put in place only when an authorizer is configured, so the handlers (and the hot
// path without ACLs) stay as they are.

import {
  AlterClientQuotasApi,
  AlterConfigsApi,
  type AlterConfigsRequest,
  type AlterConfigsResponse,
  AlterUserScramCredentialsApi,
  ApiVersionsApi,
  CreateAclsApi,
  CreateDelegationTokenApi,
  CreatePartitionsApi,
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  CreateTopicsApi,
  type CreateTopicsRequest,
  type CreateTopicsResponse,
  DeleteAclsApi,
  DeleteGroupsApi,
  type DeleteGroupsRequest,
  type DeleteGroupsResponse,
  DeleteRecordsApi,
  type DeleteRecordsRequest,
  type DeleteRecordsResponse,
  DeleteTopicsApi,
  type DeleteTopicsRequest,
  type DeleteTopicsResponse,
  DescribeAclsApi,
  DescribeClientQuotasApi,
  DescribeConfigsApi,
  type DescribeConfigsRequest,
  type DescribeConfigsResponse,
  DescribeDelegationTokenApi,
  DescribeGroupsApi,
  type DescribeGroupsRequest,
  type DescribeGroupsResponse,
  DescribeUserScramCredentialsApi,
  ERROR_CODES,
  ExpireDelegationTokenApi,
  FetchApi,
  type FetchRequest,
  type FetchResponse,
  type FetchResponseFetchableTopicResponse,
  FindCoordinatorApi,
  type FindCoordinatorRequest,
  type FindCoordinatorResponse,
  HeartbeatApi,
  IncrementalAlterConfigsApi,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
  InitProducerIdApi,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
  JoinGroupApi,
  LeaveGroupApi,
  ListGroupsApi,
  type ListGroupsRequest,
  type ListGroupsResponse,
  ListOffsetsApi,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  MetadataApi,
  type MetadataRequest,
  type MetadataResponse,
  OffsetCommitApi,
  type OffsetCommitRequest,
  type OffsetCommitResponse,
  OffsetFetchApi,
  type OffsetFetchRequest,
  type OffsetFetchResponse,
  ProduceApi,
  type ProduceRequest,
  type ProduceResponse,
  type ProduceResponseTopicProduceResponse,
  RenewDelegationTokenApi,
  SaslAuthenticateApi,
  SaslHandshakeApi,
  SyncGroupApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { AclOperation as Op, ResourceType as RT } from '@sluice/security';
import { ConfigResourceType } from '../config/index.js';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler, RequestContext } from '../server/dispatcher.js';
import { ANONYMOUS } from '../server/listener-security.js';
import { MORE_GUARDS } from './authorization-guards.js';
import { authorize, authorizeCluster } from './authorize.js';
import { CLUSTER_OPERATIONS, type Guard, mapResult, operationBits, TOPIC_OPERATIONS } from './guard-common.js';
import { SHARE_GUARDS } from './share-guards.js';

const TAF = ERROR_CODES.TOPIC_AUTHORIZATION_FAILED;
const GAF = ERROR_CODES.GROUP_AUTHORIZATION_FAILED;
const CAF = ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED;
const TXAF = ERROR_CODES.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;

/** A topic's name from the request: by name, or by id through the metadata (unknown ids are the handler's). */
function topicName(broker: BrokerContext, name: string | null, topicId: string): string | null {
  if (name) return name;
  if (topicId && topicId !== ZERO_UUID) return broker.store.image.topicById(topicId)?.name ?? null;
  return null;
}

const topicAllowed = (broker: BrokerContext, ctx: RequestContext, op: number, name: string | null) =>
  name === null || authorize(broker, ctx, op, RT.TOPIC, name);

const produceGuard: Guard<ProduceRequest, ProduceResponse> = (broker, req, ctx, next) => {
  const txnDenied =
    req.transactionalId !== null && !authorize(broker, ctx, Op.WRITE, RT.TRANSACTIONAL_ID, req.transactionalId);
  const allowed: ProduceRequest['topicData'] = [];
  const denied: ProduceResponseTopicProduceResponse[] = [];
  for (const t of req.topicData) {
    const ok = !txnDenied && topicAllowed(broker, ctx, Op.WRITE, topicName(broker, t.name, t.topicId));
    if (ok) allowed.push(t);
    else {
      denied.push({
        name: t.name,
        topicId: t.topicId,
        partitionResponses: t.partitionData.map((p) => ({
          index: p.index,
          errorCode: txnDenied ? TXAF : TAF,
          baseOffset: -1n,
          logAppendTimeMs: -1n,
          logStartOffset: -1n,
          recordErrors: [],
          errorMessage: null,
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
        })),
      });
    }
  }
  if (denied.length === 0) return next(req);
  if (allowed.length === 0) {
    return req.acks === 0 ? null : { responses: denied, throttleTimeMs: 0, nodeEndpoints: [] };
  }
  return mapResult(next({ ...req, topicData: allowed }), (res) => ({
    ...res,
    responses: [...res.responses, ...denied],
  }));
};

const fetchGuard: Guard<FetchRequest, FetchResponse> = (broker, req, ctx, next) => {
  const replica = Math.max(req.replicaId, req.replicaState.replicaId);
  if (replica >= 0) {
    // A follower's fetch: the cluster action of replication.
    if (authorizeCluster(broker, ctx, Op.CLUSTER_ACTION)) return next(req);
    return { ...FetchApi.response.defaults(), errorCode: CAF, responses: [] };
  }
  const allowed: FetchRequest['topics'] = [];
  const denied: FetchResponseFetchableTopicResponse[] = [];
  for (const t of req.topics) {
    if (topicAllowed(broker, ctx, Op.READ, topicName(broker, t.topic, t.topicId))) allowed.push(t);
    else {
      denied.push({
        topic: t.topic,
        topicId: t.topicId,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partition,
          errorCode: TAF,
          highWatermark: -1n,
          lastStableOffset: -1n,
          logStartOffset: -1n,
          divergingEpoch: { epoch: -1, endOffset: -1n },
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
          snapshotId: { endOffset: -1n, epoch: -1 },
          abortedTransactions: null,
          preferredReadReplica: -1,
          records: null,
        })),
      });
    }
  }
  if (denied.length === 0) return next(req);
  return mapResult(next({ ...req, topics: allowed }), (res) => ({ ...res, responses: [...res.responses, ...denied] }));
};

const listOffsetsGuard: Guard<ListOffsetsRequest, ListOffsetsResponse> = (broker, req, ctx, next) => {
  const allowed = req.topics.filter((t) => topicAllowed(broker, ctx, Op.DESCRIBE, t.name));
  if (allowed.length === req.topics.length) return next(req);
  const denied = req.topics
    .filter((t) => !allowed.includes(t))
    .map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: TAF,
        timestamp: -1n,
        offset: -1n,
        leaderEpoch: -1,
      })),
    }));
  return mapResult(next({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...denied] }));
};

const metadataGuard: Guard<MetadataRequest, MetadataResponse> = (broker, req, ctx, next) => {
  const denied: MetadataResponse['topics'] = [];
  let forward = req;
  if (req.topics !== null) {
    const allowed: NonNullable<MetadataRequest['topics']> = [];
    for (const t of req.topics) {
      const name = topicName(broker, t.name, t.topicId);
      let ok = topicAllowed(broker, ctx, Op.DESCRIBE, name);
      // A topic Metadata would create needs CREATE on the cluster or the topic.
      if (ok && name !== null && req.allowAutoTopicCreation && !broker.topics.get(name)) {
        ok = authorizeCluster(broker, ctx, Op.CREATE) || authorize(broker, ctx, Op.CREATE, RT.TOPIC, name);
      }
      if (ok) allowed.push(t);
      else {
        denied.push({
          errorCode: TAF,
          name: t.name,
          topicId: t.topicId,
          isInternal: false,
          partitions: [],
          topicAuthorizedOperations: -2147483648,
        });
      }
    }
    forward = { ...req, topics: allowed };
  }
  return mapResult(next(forward), (res) => {
    // All topics asked for: those the principal may not describe are not listed at all.
    let topics =
      req.topics === null ? res.topics.filter((t) => topicAllowed(broker, ctx, Op.DESCRIBE, t.name)) : res.topics;
    if (req.includeTopicAuthorizedOperations) {
      topics = topics.map((t) =>
        t.errorCode !== 0 || t.name === null
          ? t
          : {
              ...t,
              topicAuthorizedOperations: operationBits(TOPIC_OPERATIONS, (op) => topicAllowed(broker, ctx, op, t.name)),
            },
      );
    }
    const clusterAuthorizedOperations = req.includeClusterAuthorizedOperations
      ? operationBits(CLUSTER_OPERATIONS, (op) => authorizeCluster(broker, ctx, op))
      : res.clusterAuthorizedOperations;
    return { ...res, topics: [...topics, ...denied], clusterAuthorizedOperations };
  });
};

const createTopicsGuard: Guard<CreateTopicsRequest, CreateTopicsResponse> = (broker, req, ctx, next) => {
  if (authorizeCluster(broker, ctx, Op.CREATE)) return next(req);
  const allowed = req.topics.filter((t) => authorize(broker, ctx, Op.CREATE, RT.TOPIC, t.name));
  if (allowed.length === req.topics.length) return next(req);
  const order = req.topics.map((t) => t.name);
  const denied = req.topics
    .filter((t) => !allowed.includes(t))
    .map((t) => ({
      name: t.name,
      topicId: ZERO_UUID,
      errorCode: TAF,
      errorMessage: 'Authorization failed.',
      topicConfigErrorCode: 0,
      numPartitions: -1,
      replicationFactor: -1,
      configs: null,
    }));
  const merge = (res: CreateTopicsResponse) => ({
    ...res,
    topics: [...res.topics, ...denied].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name)),
  });
  if (allowed.length === 0) return merge({ throttleTimeMs: 0, topics: [] });
  return mapResult(next({ ...req, topics: allowed }), merge);
};

const deleteTopicsGuard: Guard<DeleteTopicsRequest, DeleteTopicsResponse> = (broker, req, ctx, next) => {
  const deniedResults: DeleteTopicsResponse['responses'] = [];
  const names = req.topicNames.filter((n) => {
    if (authorize(broker, ctx, Op.DELETE, RT.TOPIC, n)) return true;
    deniedResults.push({ name: n, topicId: ZERO_UUID, errorCode: TAF, errorMessage: null });
    return false;
  });
  const topics = req.topics.filter((t) => {
    if (topicAllowed(broker, ctx, Op.DELETE, topicName(broker, t.name, t.topicId))) return true;
    deniedResults.push({ name: t.name, topicId: t.topicId, errorCode: TAF, errorMessage: null });
    return false;
  });
  if (deniedResults.length === 0) return next(req);
  const merge = (res: DeleteTopicsResponse) => ({ ...res, responses: [...res.responses, ...deniedResults] });
  if (names.length === 0 && topics.length === 0) return merge({ throttleTimeMs: 0, responses: [] });
  return mapResult(next({ ...req, topicNames: names, topics }), merge);
};

/** JoinGroup, SyncGroup, Heartbeat, LeaveGroup: READ on the group, else GROUP_AUTHORIZATION_FAILED. */
function groupReadGuard(api: { response: { defaults(): object } }): Guard<{ groupId: string }, object> {
  return (broker, req, ctx, next) =>
    authorize(broker, ctx, Op.READ, RT.GROUP, req.groupId) ? next(req) : { ...api.response.defaults(), errorCode: GAF };
}

const offsetCommitGuard: Guard<OffsetCommitRequest, OffsetCommitResponse> = (broker, req, ctx, next) => {
  const groupOk = authorize(broker, ctx, Op.READ, RT.GROUP, req.groupId);
  const allowed: OffsetCommitRequest['topics'] = [];
  const denied: OffsetCommitResponse['topics'] = [];
  for (const t of req.topics) {
    if (groupOk && topicAllowed(broker, ctx, Op.READ, topicName(broker, t.name, t.topicId))) allowed.push(t);
    else {
      denied.push({
        name: t.name,
        topicId: t.topicId,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: groupOk ? TAF : GAF })),
      });
    }
  }
  if (denied.length === 0) return next(req);
  const merge = (res: OffsetCommitResponse) => ({ ...res, topics: [...res.topics, ...denied] });
  if (allowed.length === 0) return merge({ throttleTimeMs: 0, topics: [] });
  return mapResult(next({ ...req, topics: allowed }), merge);
};

const offsetFetchGuard: Guard<OffsetFetchRequest, OffsetFetchResponse> = (broker, req, ctx, next) => {
  const describable = (name: string) => topicAllowed(broker, ctx, Op.DESCRIBE, name);
  if (req.groups.length === 0) {
    // v0-7: one group.
    if (!authorize(broker, ctx, Op.DESCRIBE, RT.GROUP, req.groupId)) {
      return { ...OffsetFetchApi.response.defaults(), errorCode: GAF, topics: [] };
    }
    return mapResult(next(req), (res) => ({ ...res, topics: res.topics.filter((t) => describable(t.name)) }));
  }
  const deniedGroups = req.groups.filter((g) => !authorize(broker, ctx, Op.DESCRIBE, RT.GROUP, g.groupId));
  const allowed = req.groups.filter((g) => !deniedGroups.includes(g));
  const denied = deniedGroups.map((g) => ({ groupId: g.groupId, topics: [], errorCode: GAF }));
  const merge = (res: OffsetFetchResponse) => ({
    ...res,
    groups: [
      ...res.groups.map((g) => ({
        ...g,
        topics: g.topics.filter((t) => describable(topicName(broker, t.name, t.topicId) ?? t.name)),
      })),
      ...denied,
    ],
  });
  if (allowed.length === 0) return merge({ ...OffsetFetchApi.response.defaults(), groups: [] });
  return mapResult(next({ ...req, groups: allowed }), merge);
};

const findCoordinatorGuard: Guard<FindCoordinatorRequest, FindCoordinatorResponse> = (broker, req, ctx, next) => {
  // keyType 0: a group (DESCRIBE on it); 1: a transactional id (DESCRIBE on it); 2: a share-partition's
  // share coordinator (CLUSTER_ACTION: brokers ask).
  if (req.keyType === 2 && !authorizeCluster(broker, ctx, Op.CLUSTER_ACTION)) {
    const code = ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED;
    if (ctx.apiVersion < 4) return { ...FindCoordinatorApi.response.defaults(), errorCode: code, errorMessage: null };
    return {
      ...FindCoordinatorApi.response.defaults(),
      coordinators: req.coordinatorKeys.map((key) => ({
        key,
        nodeId: -1,
        host: '',
        port: -1,
        errorCode: code,
        errorMessage: null,
      })),
    };
  }
  const check = (key: string) =>
    req.keyType === 2
      ? true
      : req.keyType === 1
        ? authorize(broker, ctx, Op.DESCRIBE, RT.TRANSACTIONAL_ID, key)
        : authorize(broker, ctx, Op.DESCRIBE, RT.GROUP, key);
  const code = req.keyType === 1 ? TXAF : GAF;
  if (ctx.apiVersion < 4) {
    return check(req.key)
      ? next(req)
      : { ...FindCoordinatorApi.response.defaults(), errorCode: code, errorMessage: null };
  }
  const allowed = req.coordinatorKeys.filter(check);
  if (allowed.length === req.coordinatorKeys.length) return next(req);
  const denied = req.coordinatorKeys
    .filter((k) => !allowed.includes(k))
    .map((key) => ({ key, nodeId: -1, host: '', port: -1, errorCode: code, errorMessage: null }));
  const merge = (res: FindCoordinatorResponse) => ({ ...res, coordinators: [...res.coordinators, ...denied] });
  if (allowed.length === 0) return merge({ ...FindCoordinatorApi.response.defaults(), coordinators: [] });
  return mapResult(next({ ...req, coordinatorKeys: allowed }), merge);
};

/** Who may read or change a config resource: DESCRIBE_CONFIGS / ALTER_CONFIGS on the topic, or on the cluster for brokers. */
function configAllowed(broker: BrokerContext, ctx: RequestContext, op: number, type: number, name: string) {
  return type === ConfigResourceType.TOPIC
    ? authorize(broker, ctx, op, RT.TOPIC, name)
    : authorizeCluster(broker, ctx, op);
}
const configDeniedCode = (type: number) => (type === ConfigResourceType.TOPIC ? TAF : CAF);

const describeConfigsGuard: Guard<DescribeConfigsRequest, DescribeConfigsResponse> = (broker, req, ctx, next) => {
  const allowed = req.resources.filter((r) =>
    configAllowed(broker, ctx, Op.DESCRIBE_CONFIGS, r.resourceType, r.resourceName),
  );
  if (allowed.length === req.resources.length) return next(req);
  const denied = req.resources
    .filter((r) => !allowed.includes(r))
    .map((r) => ({
      errorCode: configDeniedCode(r.resourceType),
      errorMessage: null,
      resourceType: r.resourceType,
      resourceName: r.resourceName,
      configs: [],
    }));
  const merge = (res: DescribeConfigsResponse) => ({ ...res, results: [...res.results, ...denied] });
  if (allowed.length === 0) return merge({ throttleTimeMs: 0, results: [] });
  return mapResult(next({ ...req, resources: allowed }), merge);
};

function alterConfigsGuard<R extends AlterConfigsRequest | IncrementalAlterConfigsRequest>(): Guard<
  R,
  AlterConfigsResponse | IncrementalAlterConfigsResponse
> {
  return (broker, req, ctx, next) => {
    const resources = req.resources as R['resources'][number][];
    const allowed = resources.filter((r) =>
      configAllowed(broker, ctx, Op.ALTER_CONFIGS, r.resourceType, r.resourceName),
    );
    if (allowed.length === resources.length) return next(req);
    const denied = resources
      .filter((r) => !allowed.includes(r))
      .map((r) => ({
        errorCode: configDeniedCode(r.resourceType),
        errorMessage: null,
        resourceType: r.resourceType,
        resourceName: r.resourceName,
      }));
    const merge = (res: AlterConfigsResponse) => ({ ...res, responses: [...res.responses, ...denied] });
    if (allowed.length === 0) return merge({ throttleTimeMs: 0, responses: [] });
    return mapResult(next({ ...req, resources: allowed } as R), merge);
  };
}

const initProducerIdGuard: Guard<InitProducerIdRequest, InitProducerIdResponse> = (broker, req, ctx, next) => {
  if (req.transactionalId !== null) {
    if (authorize(broker, ctx, Op.WRITE, RT.TRANSACTIONAL_ID, req.transactionalId)) return next(req);
    return { ...InitProducerIdApi.response.defaults(), errorCode: TXAF };
  }
  // An idempotent producer: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic.
  const c = ctx.connection;
  const who = { principal: c.principal ?? ANONYMOUS, host: c.remoteAddress ?? '' };
  if (
    authorizeCluster(broker, ctx, Op.IDEMPOTENT_WRITE) ||
    broker.security?.authorizer?.authorizeAny(who, Op.WRITE, RT.TOPIC)
  ) {
    return next(req);
  }
  return { ...InitProducerIdApi.response.defaults(), errorCode: CAF };
};

/**
 * A guard for requests that are lists of independent items: the items the principal may act on go
 * to the handler, the others are answered with `denied` and merged into its response.
 */
function listGuard<Req, Res, Item, Out>(o: {
  items: (req: Req) => readonly Item[];
  withItems: (req: Req, items: Item[]) => Req;
  allowed: (broker: BrokerContext, ctx: RequestContext, item: Item) => boolean;
  denied: (item: Item) => Out;
  merge: (res: Res, denied: Out[]) => Res;
  empty: () => Res;
}): Guard<Req, Res> {
  return (broker, req, ctx, next) => {
    const all = o.items(req);
    const allowed = all.filter((i) => o.allowed(broker, ctx, i));
    if (allowed.length === all.length) return next(req);
    const denied = all.filter((i) => !allowed.includes(i)).map(o.denied);
    if (allowed.length === 0) return o.merge(o.empty(), denied);
    return mapResult(next(o.withItems(req, allowed)), (res) => o.merge(res, denied));
  };
}

const describeGroupsGuard = listGuard<
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  string,
  DescribeGroupsResponse['groups'][number]
>({
  items: (req) => req.groups,
  withItems: (req, groups) => ({ ...req, groups }),
  allowed: (broker, ctx, g) => authorize(broker, ctx, Op.DESCRIBE, RT.GROUP, g),
  denied: (groupId) => ({
    errorCode: GAF,
    errorMessage: null,
    groupId,
    groupState: '',
    protocolType: '',
    protocolData: '',
    members: [],
    authorizedOperations: -2147483648,
  }),
  merge: (res, denied) => ({ ...res, groups: [...res.groups, ...denied] }),
  empty: () => ({ throttleTimeMs: 0, groups: [] }),
});

const deleteGroupsGuard = listGuard<
  DeleteGroupsRequest,
  DeleteGroupsResponse,
  string,
  DeleteGroupsResponse['results'][number]
>({
  items: (req) => req.groupsNames,
  withItems: (req, groupsNames) => ({ ...req, groupsNames }),
  allowed: (broker, ctx, g) => authorize(broker, ctx, Op.DELETE, RT.GROUP, g),
  denied: (groupId) => ({ groupId, errorCode: GAF, errorMessage: null }),
  merge: (res, denied) => ({ ...res, results: [...res.results, ...denied] }),
  empty: () => ({ throttleTimeMs: 0, results: [] }),
});

const createPartitionsGuard = listGuard<
  CreatePartitionsRequest,
  CreatePartitionsResponse,
  CreatePartitionsRequest['topics'][number],
  CreatePartitionsResponse['results'][number]
>({
  items: (req) => req.topics,
  withItems: (req, topics) => ({ ...req, topics }),
  allowed: (broker, ctx, t) => authorize(broker, ctx, Op.ALTER, RT.TOPIC, t.name),
  denied: (t) => ({ name: t.name, errorCode: TAF, errorMessage: null }),
  merge: (res, denied) => ({ ...res, results: [...res.results, ...denied] }),
  empty: () => ({ throttleTimeMs: 0, results: [] }),
});

const deleteRecordsGuard = listGuard<
  DeleteRecordsRequest,
  DeleteRecordsResponse,
  DeleteRecordsRequest['topics'][number],
  DeleteRecordsResponse['topics'][number]
>({
  items: (req) => req.topics,
  withItems: (req, topics) => ({ ...req, topics }),
  allowed: (broker, ctx, t) => authorize(broker, ctx, Op.DELETE, RT.TOPIC, t.name),
  denied: (t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: TAF })),
  }),
  merge: (res, denied) => ({ ...res, topics: [...res.topics, ...denied] }),
  empty: () => ({ throttleTimeMs: 0, topics: [] }),
});

/** ListGroups: all groups with DESCRIBE on the cluster, else only those the principal may describe. */
const listGroupsGuard: Guard<ListGroupsRequest, ListGroupsResponse> = (broker, req, ctx, next) => {
  if (authorizeCluster(broker, ctx, Op.DESCRIBE)) return next(req);
  return mapResult(next(req), (res) => ({
    ...res,
    groups: res.groups.filter((g) => authorize(broker, ctx, Op.DESCRIBE, RT.GROUP, g.groupId)),
  }));
};

const GUARDS = new Map<number, Guard>([
  [DescribeGroupsApi.apiKey, describeGroupsGuard],
  [DeleteGroupsApi.apiKey, deleteGroupsGuard],
  [ListGroupsApi.apiKey, listGroupsGuard],
  [CreatePartitionsApi.apiKey, createPartitionsGuard],
  [DeleteRecordsApi.apiKey, deleteRecordsGuard],
  [ProduceApi.apiKey, produceGuard],
  [FetchApi.apiKey, fetchGuard],
  [ListOffsetsApi.apiKey, listOffsetsGuard],
  [MetadataApi.apiKey, metadataGuard],
  [CreateTopicsApi.apiKey, createTopicsGuard],
  [DeleteTopicsApi.apiKey, deleteTopicsGuard],
  [JoinGroupApi.apiKey, groupReadGuard(JoinGroupApi)],
  [SyncGroupApi.apiKey, groupReadGuard(SyncGroupApi)],
  [HeartbeatApi.apiKey, groupReadGuard(HeartbeatApi)],
  [LeaveGroupApi.apiKey, groupReadGuard(LeaveGroupApi)],
  [OffsetCommitApi.apiKey, offsetCommitGuard],
  [OffsetFetchApi.apiKey, offsetFetchGuard],
  [FindCoordinatorApi.apiKey, findCoordinatorGuard],
  [DescribeConfigsApi.apiKey, describeConfigsGuard],
  [AlterConfigsApi.apiKey, alterConfigsGuard<AlterConfigsRequest>()],
  [IncrementalAlterConfigsApi.apiKey, alterConfigsGuard<IncrementalAlterConfigsRequest>()],
  [InitProducerIdApi.apiKey, initProducerIdGuard],
]);

/**
 * APIs served with an authorizer on that have no guard here, each for a reason: no ACL applies
 * (Kafka checks none), or the handler makes Kafka's check itself. Any other API without a guard
 * is refused, so that an API added later is not served to every principal by default.
 */
export const UNGUARDED_APIS: ReadonlyMap<number, string> = new Map<number, string>([
  [ApiVersionsApi.apiKey, 'ApiVersions: before authentication, no ACL in Kafka'],
  [SaslHandshakeApi.apiKey, 'SaslHandshake: authentication itself'],
  [SaslAuthenticateApi.apiKey, 'SaslAuthenticate: authentication itself'],
  [DescribeAclsApi.apiKey, 'DescribeAcls: DESCRIBE on the cluster, checked in acls.ts'],
  [CreateAclsApi.apiKey, 'CreateAcls: ALTER on the cluster, checked in acls.ts'],
  [DeleteAclsApi.apiKey, 'DeleteAcls: ALTER on the cluster, checked in acls.ts'],
  [
    DescribeUserScramCredentialsApi.apiKey,
    'DescribeUserScramCredentials: DESCRIBE on the cluster, checked in scram-credentials.ts',
  ],
  [
    AlterUserScramCredentialsApi.apiKey,
    'AlterUserScramCredentials: ALTER on the cluster, checked in scram-credentials.ts',
  ],
  [
    DescribeClientQuotasApi.apiKey,
    'DescribeClientQuotas: DESCRIBE_CONFIGS on the cluster, checked in client-quotas.ts',
  ],
  [AlterClientQuotasApi.apiKey, 'AlterClientQuotas: ALTER_CONFIGS on the cluster, checked in client-quotas.ts'],
  [
    CreateDelegationTokenApi.apiKey,
    'CreateDelegationToken: CREATE_TOKENS on the owner (User) when it is not the requester, checked in delegation-tokens.ts',
  ],
  [RenewDelegationTokenApi.apiKey, 'RenewDelegationToken: owner or renewer only, no ACL in Kafka'],
  [ExpireDelegationTokenApi.apiKey, 'ExpireDelegationToken: owner or renewer only, no ACL in Kafka'],
  [
    DescribeDelegationTokenApi.apiKey,
    'DescribeDelegationToken: DESCRIBE on each DelegationToken or DESCRIBE_TOKENS on its owner, checked in delegation-tokens.ts',
  ],
]);

/** Whether an API has an ACL check with an authorizer on (a guard, or a reason it needs none here). */
export function aclCoverage(apiKey: number): 'guard' | 'unguarded' | 'none' {
  if (GUARDS.has(apiKey) || MORE_GUARDS.has(apiKey) || SHARE_GUARDS.has(apiKey)) return 'guard';
  return UNGUARDED_APIS.has(apiKey) ? 'unguarded' : 'none';
}

/** The handlers with Kafka's ACL checks in front, when an authorizer is configured; else as they are. */
export function withAuthorization(broker: BrokerContext, handlers: readonly ApiHandler[]): ApiHandler[] {
  if (!broker.security?.authorizer) return [...handlers];
  return handlers.map((h) => {
    const guard = GUARDS.get(h.api.apiKey) ?? MORE_GUARDS.get(h.api.apiKey) ?? SHARE_GUARDS.get(h.api.apiKey);
    if (!guard) {
      if (UNGUARDED_APIS.has(h.api.apiKey)) return h;
      // Fail closed: the connection is closed with a log line naming the API.
      return {
        ...h,
        handle: () => {
          throw new Error(`${h.api.name} has no ACL check and is refused while an authorizer is configured`);
        },
      };
    }
    return { ...h, handle: (req: unknown, ctx: RequestContext) => guard(broker, req, ctx, (r) => h.handle(r, ctx)) };
  });
}
