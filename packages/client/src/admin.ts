import { randomBytes } from 'node:crypto';
import {
  AlterClientQuotasApi,
  AlterConfigsApi,
  AlterUserScramCredentialsApi,
  ConsumerGroupDescribeApi,
  CreateAclsApi,
  CreateDelegationTokenApi,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteAclsApi,
  DeleteGroupsApi,
  DeleteRecordsApi,
  DeleteTopicsApi,
  DescribeAclsApi,
  DescribeClientQuotasApi,
  DescribeClusterApi,
  DescribeConfigsApi,
  DescribeDelegationTokenApi,
  DescribeGroupsApi,
  DescribeShareGroupOffsetsApi,
  DescribeTransactionsApi,
  DescribeUserScramCredentialsApi,
  defaultAlterConfigsRequest,
  defaultConsumerGroupDescribeRequest,
  defaultCreatePartitionsRequest,
  defaultCreateTopicsRequest,
  defaultCreateTopicsRequestCreatableTopic,
  defaultDeleteGroupsRequest,
  defaultDeleteRecordsRequest,
  defaultDeleteTopicsRequest,
  defaultDescribeClusterRequest,
  defaultDescribeConfigsRequest,
  defaultDescribeGroupsRequest,
  defaultDescribeTransactionsRequest,
  defaultFindCoordinatorRequest,
  defaultIncrementalAlterConfigsRequest,
  defaultListGroupsRequest,
  defaultListTransactionsRequest,
  defaultMetadataRequest,
  defaultOffsetFetchRequest,
  ExpireDelegationTokenApi,
  FindCoordinatorApi,
  IncrementalAlterConfigsApi,
  ListGroupsApi,
  ListTransactionsApi,
  MetadataApi,
  OffsetFetchApi,
  RenewDelegationTokenApi,
  ShareGroupDescribeApi,
  ZERO_UUID,
} from '@sluice/protocol';
import {
  type AclBinding,
  type AclBindingFilter,
  SCRAM_MECHANISMS,
  type ScramMechanismName,
  saltedPassword,
  scramMechanismByType,
} from '@sluice/security';
import type { BrokerAddress } from './broker-pool.js';
import { type ClientContext, type ClientOptions, createContext } from './client.js';
import type { Connection } from './connection.js';
import { decodeAssignment } from './consumer/assignors.js';
import { EARLIEST, LATEST, listOffsets, type TopicPartition, tpKey } from './consumer/offsets.js';
import { ERROR_CODES, KafkaError, needsMetadataRefresh, throwIfError } from './errors.js';
import type { TopicInfo } from './metadata.js';
import { withRetry } from './retry.js';

export interface TransactionDescription {
  transactionalId: string;
  state: string;
  producerId: bigint;
  producerEpoch: number;
  timeoutMs: number;
  /** -1 when no transaction is open. */
  startTimeMs: bigint;
  partitions: TopicPartition[];
}

export const ConfigResource = { TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8, GROUP: 32 } as const;
export const ConfigOp = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

export interface NewTopic {
  name: string;
  numPartitions?: number;
  replicationFactor?: number;
  configs?: Record<string, string>;
}

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  isSensitive: boolean;
  source: number;
}

export interface GroupDescription {
  groupId: string;
  /**
   * 'consumer' for a KIP-848 group (group.protocol=consumer), described with ConsumerGroupDescribe; 'share'
   * for a KIP-932 share group (ShareGroupDescribe).
   */
  type: 'classic' | 'consumer' | 'share';
  state: string;
  protocolType: string;
  /** The protocol of a classic group; the server-side assignor of a consumer group. */
  protocol: string;
  /** A consumer group's epoch (-1 for a classic group). */
  groupEpoch: number;
  members: Array<{
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    assignment: TopicPartition[];
    /** A consumer-group member's epoch (-1 in a classic group). */
    memberEpoch: number;
  }>;
}

/** Topics, partitions, configs, groups, offsets and the cluster. Every call retries retriable errors. */
/** A delegation token as the broker describes it; principals as `User:alice`. */
export interface DelegationToken {
  tokenId: string;
  hmac: Buffer;
  owner: string;
  requester: string;
  renewers: string[];
  issueTimestampMs: number;
  expiryTimestampMs: number;
  maxTimestampMs: number;
}

export class Admin {
  private readonly ctx: ClientContext;

  constructor(client: ClientOptions) {
    this.ctx = createContext(client, false);
  }

  private retry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, { retries: this.ctx.options.retries ?? 5 });
  }

  private any(): Promise<Connection> {
    return this.ctx.pool.any();
  }

  async createTopics(
    topics: readonly NewTopic[],
    options: { timeoutMs?: number; validateOnly?: boolean } = {},
  ): Promise<void> {
    const req = defaultCreateTopicsRequest();
    req.timeoutMs = options.timeoutMs ?? 30_000;
    req.validateOnly = options.validateOnly ?? false;
    req.topics = topics.map((t) => ({
      ...defaultCreateTopicsRequestCreatableTopic(),
      name: t.name,
      numPartitions: t.numPartitions ?? -1,
      replicationFactor: t.replicationFactor ?? -1,
      configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
    }));
    const res = await this.retry(async () => (await this.any()).request(CreateTopicsApi, req));
    for (const t of res.topics) throwIfError(t.errorCode, `CreateTopics ${t.name}`, t.errorMessage);
    // Wait until the metadata shows the topics with leaders (a create is asynchronous in Kafka).
    if (!req.validateOnly) await Promise.all(topics.map((t) => this.ctx.metadata.topic(t.name)));
  }

  async deleteTopics(names: readonly string[], timeoutMs = 30_000): Promise<void> {
    const conn = await this.any();
    const req = defaultDeleteTopicsRequest();
    req.timeoutMs = timeoutMs;
    if (conn.version(DeleteTopicsApi) >= 6) {
      req.topics = names.map((name) => ({ name, topicId: ZERO_UUID }));
    } else req.topicNames = [...names];
    const res = await this.retry(async () => (await this.any()).request(DeleteTopicsApi, req));
    for (const t of res.responses) throwIfError(t.errorCode, `DeleteTopics ${t.name}`, t.errorMessage);
    for (const n of names) this.ctx.metadata.invalidate(n);
  }

  /** Topic names (internal topics left out unless asked for). */
  async listTopics(options: { includeInternal?: boolean } = {}): Promise<string[]> {
    const req = defaultMetadataRequest();
    req.topics = null;
    req.allowAutoTopicCreation = false;
    const res = await this.retry(async () => (await this.any()).request(MetadataApi, req));
    return res.topics
      .filter((t) => t.errorCode === 0 && t.name !== null && (options.includeInternal || !t.isInternal))
      .map((t) => t.name as string)
      .sort();
  }

  async describeTopics(names: readonly string[]): Promise<TopicInfo[]> {
    for (const n of names) this.ctx.metadata.invalidate(n);
    return Promise.all(names.map((n) => this.ctx.metadata.topic(n)));
  }

  /** Grows topics to `count` partitions each. */
  async createPartitions(topics: ReadonlyArray<{ topic: string; count: number }>, timeoutMs = 30_000): Promise<void> {
    const req = defaultCreatePartitionsRequest();
    req.timeoutMs = timeoutMs;
    req.topics = topics.map((t) => ({ name: t.topic, count: t.count, assignments: null }));
    const res = await this.retry(async () => (await this.any()).request(CreatePartitionsApi, req));
    for (const r of res.results) throwIfError(r.errorCode, `CreatePartitions ${r.name}`, r.errorMessage);
    for (const t of topics) this.ctx.metadata.invalidate(t.topic);
  }

  async describeConfigs(resourceType: number, resourceName: string, keys?: readonly string[]): Promise<ConfigEntry[]> {
    const req = defaultDescribeConfigsRequest();
    req.resources = [{ resourceType, resourceName, configurationKeys: keys ? [...keys] : null }];
    const res = await this.retry(async () => (await this.any()).request(DescribeConfigsApi, req));
    const r = res.results[0];
    if (r === undefined) throw new KafkaError(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'DescribeConfigs: no result');
    throwIfError(r.errorCode, `DescribeConfigs ${resourceName}`, r.errorMessage);
    return r.configs.map((c) => ({
      name: c.name,
      value: c.value,
      readOnly: c.readOnly,
      isDefault: c.configSource === 5,
      isSensitive: c.isSensitive,
      source: c.configSource,
    }));
  }

  /** Replaces the whole config of a resource (legacy AlterConfigs: unset keys go back to defaults). */
  async alterConfigs(resourceType: number, resourceName: string, configs: Record<string, string>): Promise<void> {
    const req = defaultAlterConfigsRequest();
    req.resources = [
      { resourceType, resourceName, configs: Object.entries(configs).map(([name, value]) => ({ name, value })) },
    ];
    const res = await this.retry(async () => (await this.any()).request(AlterConfigsApi, req));
    for (const r of res.responses) throwIfError(r.errorCode, `AlterConfigs ${resourceName}`, r.errorMessage);
  }

  /** Sets, deletes, appends to or subtracts from single config keys. */
  async incrementalAlterConfigs(
    resourceType: number,
    resourceName: string,
    ops: ReadonlyArray<{ name: string; op?: number; value?: string | null }>,
  ): Promise<void> {
    const req = defaultIncrementalAlterConfigsRequest();
    req.resources = [
      {
        resourceType,
        resourceName,
        configs: ops.map((o) => ({ name: o.name, configOperation: o.op ?? ConfigOp.SET, value: o.value ?? null })),
      },
    ];
    const res = await this.retry(async () => (await this.any()).request(IncrementalAlterConfigsApi, req));
    for (const r of res.responses) throwIfError(r.errorCode, `IncrementalAlterConfigs ${resourceName}`, r.errorMessage);
  }

  async describeCluster(): Promise<{
    clusterId: string | null;
    controllerId: number;
    brokers: Array<BrokerAddress & { nodeId: number; rack: string | null }>;
  }> {
    const conn = await this.any();
    if (conn.versions.has(DescribeClusterApi.apiKey)) {
      const res = await this.retry(async () =>
        (await this.any()).request(DescribeClusterApi, defaultDescribeClusterRequest()),
      );
      throwIfError(res.errorCode, 'DescribeCluster', res.errorMessage);
      return {
        clusterId: res.clusterId,
        controllerId: res.controllerId,
        brokers: res.brokers.map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack })),
      };
    }
    await this.ctx.metadata.refresh([]);
    return {
      clusterId: this.ctx.metadata.clusterId,
      controllerId: this.ctx.metadata.controllerId,
      brokers: [...this.ctx.metadata.brokers.values()],
    };
  }

  /** Offsets per partition: the earliest, the latest, or the first at or after a time (ms). */
  async listOffsets(
    partitions: readonly TopicPartition[],
    spec: 'earliest' | 'latest' | number = 'latest',
    /** read_committed: 'latest' is the last stable offset (below any open transaction). */
    isolation: 'read_uncommitted' | 'read_committed' = 'read_uncommitted',
  ): Promise<Array<TopicPartition & { offset: bigint }>> {
    const ts = spec === 'earliest' ? EARLIEST : spec === 'latest' ? LATEST : BigInt(spec);
    const m = await listOffsets(this.ctx, partitions, ts, isolation === 'read_committed' ? 1 : 0);
    return partitions.map((tp) => ({ ...tp, offset: m.get(tpKey(tp.topic, tp.partition)) ?? -1n }));
  }

  /**
   * DeleteRecords: moves each partition's log start up to `offset` (records below it are gone; -1 means
   * the high watermark). Sent to each partition's leader; answers the new log start per partition.
   */
  async deleteRecords(
    partitions: ReadonlyArray<TopicPartition & { offset: bigint }>,
    timeoutMs = 30_000,
  ): Promise<Array<TopicPartition & { lowWatermark: bigint }>> {
    const out = new Map<string, bigint>();
    await this.retry(async () => {
      const byLeader = new Map<number, Array<TopicPartition & { offset: bigint }>>();
      for (const tp of partitions) {
        if (out.has(tpKey(tp.topic, tp.partition))) continue;
        const leader = (await this.ctx.metadata.topic(tp.topic)).partitions[tp.partition]?.leader ?? -1;
        if (leader < 0) {
          this.ctx.metadata.invalidate(tp.topic);
          throw new KafkaError(ERROR_CODES.LEADER_NOT_AVAILABLE, `${tp.topic}-${tp.partition} has no known leader`);
        }
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), tp]);
      }
      await Promise.all(
        [...byLeader].map(async ([leader, tps]) => {
          const conn = await this.ctx.pool.get(await this.ctx.metadata.broker(leader));
          const req = defaultDeleteRecordsRequest();
          req.timeoutMs = timeoutMs;
          const topics = new Map<string, (typeof req.topics)[number]>();
          for (const tp of tps) {
            let t = topics.get(tp.topic);
            if (t === undefined) {
              t = { name: tp.topic, partitions: [] };
              topics.set(tp.topic, t);
              req.topics.push(t);
            }
            t.partitions.push({ partitionIndex: tp.partition, offset: tp.offset });
          }
          const res = await conn.request(DeleteRecordsApi, req);
          for (const t of res.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== 0) {
                const err = new KafkaError(p.errorCode, `DeleteRecords ${t.name}-${p.partitionIndex}`);
                if (needsMetadataRefresh(err)) this.ctx.metadata.invalidate(t.name);
                throw err;
              }
              out.set(tpKey(t.name, p.partitionIndex), p.lowWatermark);
            }
          }
        }),
      );
    });
    return partitions.map((tp) => ({
      topic: tp.topic,
      partition: tp.partition,
      lowWatermark: out.get(tpKey(tp.topic, tp.partition)) ?? -1n,
    }));
  }

  /** The group's coordinator, without retries of its own: every caller runs it inside this.retry(). */
  private async coordinator(groupId: string, keyType = 0): Promise<Connection> {
    const conn = await this.any();
    const req = defaultFindCoordinatorRequest();
    req.keyType = keyType;
    const v = conn.version(FindCoordinatorApi);
    if (v >= 4) req.coordinatorKeys = [groupId];
    else req.key = groupId;
    const res = await conn.request(FindCoordinatorApi, req);
    const c = v >= 4 ? res.coordinators[0] : res;
    if (c === undefined) throw new KafkaError(ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
    throwIfError(c.errorCode, `FindCoordinator ${groupId}`);
    return this.ctx.pool.get({ host: c.host, port: c.port });
  }

  /** Groups known to any broker. */
  async listGroups(): Promise<Array<{ groupId: string; protocolType: string; state: string }>> {
    await this.ctx.metadata.refresh([]);
    const out = new Map<string, { groupId: string; protocolType: string; state: string }>();
    for (const b of this.ctx.metadata.brokers.values()) {
      const res = await this.retry(async () =>
        (await this.ctx.pool.get(b)).request(ListGroupsApi, defaultListGroupsRequest()),
      );
      throwIfError(res.errorCode, 'ListGroups');
      for (const g of res.groups)
        out.set(g.groupId, { groupId: g.groupId, protocolType: g.protocolType, state: g.groupState });
    }
    return [...out.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  async describeGroup(groupId: string): Promise<GroupDescription> {
    const req = defaultDescribeGroupsRequest();
    req.groups = [groupId];
    const res = await this.retry(async () => (await this.coordinator(groupId)).request(DescribeGroupsApi, req));
    const g = res.groups[0];
    if (g === undefined) throw new KafkaError(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'DescribeGroups: no group');
    // Not a classic group (Dead, or GROUP_ID_NOT_FOUND from v6): it may be a KIP-848 consumer group.
    if (g.errorCode === ERROR_CODES.GROUP_ID_NOT_FOUND || (g.errorCode === 0 && g.groupState === 'Dead')) {
      const consumer = await this.describeConsumerGroup(groupId);
      if (consumer !== null) return consumer;
      const share = await this.describeShareGroup(groupId);
      if (share !== null) return share;
    }
    throwIfError(g.errorCode, `DescribeGroups ${groupId}`);
    return {
      groupId: g.groupId,
      type: 'classic',
      state: g.groupState,
      protocolType: g.protocolType,
      protocol: g.protocolData,
      groupEpoch: -1,
      members: g.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        assignment: g.protocolType === 'consumer' ? decodeAssignment(m.memberAssignment) : [],
        memberEpoch: -1,
      })),
    };
  }

  /** A KIP-848 consumer group through ConsumerGroupDescribe; null when there is none (or the broker lacks the API). */
  private async describeConsumerGroup(groupId: string): Promise<GroupDescription | null> {
    try {
      (await this.coordinator(groupId)).version(ConsumerGroupDescribeApi);
    } catch (err) {
      if (err instanceof KafkaError && err.code === ERROR_CODES.UNSUPPORTED_VERSION) return null;
      throw err;
    }
    const req = defaultConsumerGroupDescribeRequest();
    req.groupIds = [groupId];
    const res = await this.retry(async () => (await this.coordinator(groupId)).request(ConsumerGroupDescribeApi, req));
    const g = res.groups[0];
    if (g === undefined || g.errorCode === ERROR_CODES.GROUP_ID_NOT_FOUND) return null;
    throwIfError(g.errorCode, `ConsumerGroupDescribe ${groupId}`);
    return {
      groupId: g.groupId,
      type: 'consumer',
      state: g.groupState,
      protocolType: 'consumer',
      protocol: g.assignorName,
      groupEpoch: g.groupEpoch,
      members: g.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.instanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        assignment: m.assignment.topicPartitions.flatMap((t) =>
          t.partitions.map((partition) => ({ topic: t.topicName, partition })),
        ),
        memberEpoch: m.memberEpoch,
      })),
    };
  }

  /** A KIP-932 share group through ShareGroupDescribe; null when there is none (or the broker lacks the API). */
  private async describeShareGroup(groupId: string): Promise<GroupDescription | null> {
    try {
      (await this.coordinator(groupId)).version(ShareGroupDescribeApi);
    } catch (err) {
      if (err instanceof KafkaError && err.code === ERROR_CODES.UNSUPPORTED_VERSION) return null;
      throw err;
    }
    const res = await this.retry(async () =>
      (await this.coordinator(groupId)).request(ShareGroupDescribeApi, {
        groupIds: [groupId],
        includeAuthorizedOperations: false,
      }),
    );
    const g = res.groups[0];
    if (g === undefined || g.errorCode === ERROR_CODES.GROUP_ID_NOT_FOUND) return null;
    throwIfError(g.errorCode, `ShareGroupDescribe ${groupId}`);
    return {
      groupId: g.groupId,
      type: 'share',
      state: g.groupState,
      protocolType: 'share',
      protocol: g.assignorName,
      groupEpoch: g.groupEpoch,
      members: g.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: null,
        clientId: m.clientId,
        clientHost: m.clientHost,
        assignment: m.assignment.topicPartitions.flatMap((t) =>
          t.partitions.map((partition) => ({ topic: t.topicName, partition })),
        ),
        memberEpoch: m.memberEpoch,
      })),
    };
  }

  /** A share group's start offset (SPSO) and lag per share-partition (DescribeShareGroupOffsets); -1 where unknown. */
  async describeShareGroupOffsets(
    groupId: string,
  ): Promise<Array<TopicPartition & { startOffset: bigint; lag: bigint }>> {
    const res = await this.retry(async () =>
      (await this.coordinator(groupId)).request(DescribeShareGroupOffsetsApi, {
        groups: [{ groupId, topics: null }],
      }),
    );
    const g = res.groups[0];
    if (g === undefined) return [];
    throwIfError(g.errorCode, `DescribeShareGroupOffsets ${groupId}`);
    return g.topics.flatMap((t) =>
      t.partitions.map((p) => ({
        topic: t.topicName,
        partition: p.partitionIndex,
        startOffset: p.startOffset,
        lag: p.lag,
      })),
    );
  }

  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    for (const id of groupIds) {
      const req = defaultDeleteGroupsRequest();
      req.groupsNames = [id];
      const res = await this.retry(async () => (await this.coordinator(id)).request(DeleteGroupsApi, req));
      for (const r of res.results) throwIfError(r.errorCode, `DeleteGroups ${r.groupId}`);
    }
  }

  /** A group's committed offsets, every partition it has one for. */
  async fetchGroupOffsets(groupId: string): Promise<Array<TopicPartition & { offset: bigint }>> {
    return this.retry(async () => {
      const conn = await this.coordinator(groupId);
      const v = conn.version(OffsetFetchApi);
      const req = defaultOffsetFetchRequest();
      if (v >= 8) req.groups = [{ groupId, memberId: null, memberEpoch: -1, topics: null }];
      else {
        req.groupId = groupId;
        req.topics = null;
      }
      const res = await conn.request(OffsetFetchApi, req);
      const out: Array<TopicPartition & { offset: bigint }> = [];
      const topics = v >= 8 ? (res.groups[0]?.topics ?? []) : res.topics;
      throwIfError(v >= 8 ? (res.groups[0]?.errorCode ?? 0) : res.errorCode, `OffsetFetch ${groupId}`);
      for (const t of topics) {
        for (const p of t.partitions) {
          if (p.errorCode === 0 && p.committedOffset >= 0n)
            out.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset });
        }
      }
      return out;
    });
  }

  /** CreateAcls: every binding is stored, or the first refusal throws. */
  async createAcls(acls: readonly AclBinding[]): Promise<void> {
    const creations = acls.map((a) => ({ ...a, resourcePatternType: a.patternType }));
    const res = await this.retry(async () => (await this.any()).request(CreateAclsApi, { creations }));
    for (const r of res.results) throwIfError(r.errorCode, `CreateAcls: ${r.errorMessage ?? ''}`);
  }

  /** DescribeAcls: the bindings the filter matches. */
  async describeAcls(filter: AclBindingFilter): Promise<AclBinding[]> {
    const req = {
      resourceTypeFilter: filter.resourceType,
      resourceNameFilter: filter.resourceName,
      patternTypeFilter: filter.patternType,
      principalFilter: filter.principal,
      hostFilter: filter.host,
      operation: filter.operation,
      permissionType: filter.permissionType,
    };
    const res = await this.retry(async () => (await this.any()).request(DescribeAclsApi, req));
    throwIfError(res.errorCode, `DescribeAcls: ${res.errorMessage ?? ''}`);
    return res.resources.flatMap((r) =>
      r.acls.map((a) => ({
        resourceType: r.resourceType,
        resourceName: r.resourceName,
        patternType: r.patternType,
        ...a,
      })),
    );
  }

  /** DeleteAcls: removes what the filters match and returns it. */
  async deleteAcls(filters: readonly AclBindingFilter[]): Promise<AclBinding[]> {
    const req = {
      filters: filters.map((f) => ({
        resourceTypeFilter: f.resourceType,
        resourceNameFilter: f.resourceName,
        patternTypeFilter: f.patternType,
        principalFilter: f.principal,
        hostFilter: f.host,
        operation: f.operation,
        permissionType: f.permissionType,
      })),
    };
    const res = await this.retry(async () => (await this.any()).request(DeleteAclsApi, req));
    const out: AclBinding[] = [];
    for (const r of res.filterResults) {
      throwIfError(r.errorCode, `DeleteAcls: ${r.errorMessage ?? ''}`);
      for (const m of r.matchingAcls) {
        const { errorCode: _e, errorMessage: _m, unknownTaggedFields: _t, ...acl } = m;
        out.push(acl);
      }
    }
    return out;
  }

  /** Sets a SCRAM password: the salted password is computed here, the broker never sees the password. */
  async upsertScramCredential(user: string, mechanism: ScramMechanismName, password: string, iterations = 8192) {
    const salt = randomBytes(32);
    const upsertions = [
      {
        name: user,
        mechanism: SCRAM_MECHANISMS[mechanism].type,
        iterations,
        salt,
        saltedPassword: saltedPassword(mechanism, password, salt, iterations),
      },
    ];
    const res = await this.retry(async () =>
      (await this.any()).request(AlterUserScramCredentialsApi, { deletions: [], upsertions }),
    );
    for (const r of res.results)
      throwIfError(r.errorCode, `AlterUserScramCredentials ${r.user}: ${r.errorMessage ?? ''}`);
  }

  async deleteScramCredential(user: string, mechanism: ScramMechanismName): Promise<void> {
    const deletions = [{ name: user, mechanism: SCRAM_MECHANISMS[mechanism].type }];
    const res = await this.retry(async () =>
      (await this.any()).request(AlterUserScramCredentialsApi, { deletions, upsertions: [] }),
    );
    for (const r of res.results)
      throwIfError(r.errorCode, `AlterUserScramCredentials ${r.user}: ${r.errorMessage ?? ''}`);
  }

  /**
   * Sets and removes client quotas (Kafka's AlterClientQuotas): per entity (`user`, `client-id`, or
   * both; a null name is that type's default), values to set and keys to remove.
   */
  async alterClientQuotas(
    entries: readonly {
      entity: Readonly<Record<string, string | null>>;
      set?: Readonly<Record<string, number>>;
      remove?: readonly string[];
    }[],
    validateOnly = false,
  ): Promise<void> {
    const req = {
      entries: entries.map((e) => ({
        entity: Object.entries(e.entity).map(([entityType, entityName]) => ({ entityType, entityName })),
        ops: [
          ...Object.entries(e.set ?? {}).map(([key, value]) => ({ key, value, remove: false })),
          ...(e.remove ?? []).map((key) => ({ key, value: 0, remove: true })),
        ],
      })),
      validateOnly,
    };
    const res = await this.retry(async () => (await this.any()).request(AlterClientQuotasApi, req));
    for (const r of res.entries) {
      const name = r.entity.map((c) => `${c.entityType}=${c.entityName ?? '<default>'}`).join(',');
      throwIfError(r.errorCode, `AlterClientQuotas ${name}: ${r.errorMessage ?? ''}`);
    }
  }

  /**
   * Client quotas whose entities match (Kafka's DescribeClientQuotas): per entity type, a name, null
   * for the default, or undefined for any named entity; `strict` leaves out entities with other types.
   */
  async describeClientQuotas(
    filter: Readonly<Record<string, string | null | undefined>> = {},
    strict = false,
  ): Promise<Array<{ entity: Record<string, string | null>; values: Record<string, number> }>> {
    const components = Object.entries(filter).map(([entityType, match]) =>
      match === undefined
        ? { entityType, matchType: 2, match: null }
        : match === null
          ? { entityType, matchType: 1, match: null }
          : { entityType, matchType: 0, match },
    );
    const res = await this.retry(async () =>
      (await this.any()).request(DescribeClientQuotasApi, { components, strict }),
    );
    throwIfError(res.errorCode, `DescribeClientQuotas: ${res.errorMessage ?? ''}`);
    return (res.entries ?? []).map((e) => ({
      entity: Object.fromEntries(e.entity.map((c) => [c.entityType, c.entityName])),
      values: Object.fromEntries(e.values.map((v) => [v.key, v.value])),
    }));
  }

  /**
   * A delegation token (KIP-48) for the connection's principal, or for `owner` (KIP-373, needs
   * CREATE_TOKENS on that user). Log in with it as SCRAM user `tokenId`, password `hmac` in base64,
   * `tokenAuth: true`.
   */
  async createDelegationToken(
    options: { renewers?: readonly string[]; owner?: string; maxLifetimeMs?: number } = {},
  ): Promise<DelegationToken> {
    const principal = (p: string) => {
      const at = p.indexOf(':');
      return at < 0
        ? { principalType: 'User', principalName: p }
        : { principalType: p.slice(0, at), principalName: p.slice(at + 1) };
    };
    const owner = options.owner === undefined ? null : principal(options.owner);
    const res = await this.retry(async () =>
      (await this.any()).request(CreateDelegationTokenApi, {
        ownerPrincipalType: owner?.principalType ?? null,
        ownerPrincipalName: owner?.principalName ?? null,
        renewers: (options.renewers ?? []).map(principal),
        maxLifetimeMs: BigInt(options.maxLifetimeMs ?? -1),
      }),
    );
    throwIfError(res.errorCode, 'CreateDelegationToken');
    return {
      tokenId: res.tokenId,
      hmac: res.hmac,
      owner: `${res.principalType}:${res.principalName}`,
      requester: `${res.tokenRequesterPrincipalType}:${res.tokenRequesterPrincipalName}`,
      renewers:
        options.renewers === undefined
          ? []
          : options.renewers.map((r) => {
              const p = principal(r);
              return `${p.principalType}:${p.principalName}`;
            }),
      issueTimestampMs: Number(res.issueTimestampMs),
      expiryTimestampMs: Number(res.expiryTimestampMs),
      maxTimestampMs: Number(res.maxTimestampMs),
    };
  }

  /** Renews a token by its hmac; -1: by delegation.token.expiry.time.ms. Resolves with the new expiry. */
  async renewDelegationToken(hmac: Buffer, renewPeriodMs = -1): Promise<number> {
    const res = await this.retry(async () =>
      (await this.any()).request(RenewDelegationTokenApi, { hmac, renewPeriodMs: BigInt(renewPeriodMs) }),
    );
    throwIfError(res.errorCode, 'RenewDelegationToken');
    return Number(res.expiryTimestampMs);
  }

  /** Expires a token by its hmac: now (-1, it is removed) or after `expiryTimePeriodMs`. Resolves with the expiry. */
  async expireDelegationToken(hmac: Buffer, expiryTimePeriodMs = -1): Promise<number> {
    const res = await this.retry(async () =>
      (await this.any()).request(ExpireDelegationTokenApi, { hmac, expiryTimePeriodMs: BigInt(expiryTimePeriodMs) }),
    );
    throwIfError(res.errorCode, 'ExpireDelegationToken');
    return Number(res.expiryTimestampMs);
  }

  /** The tokens the principal may see, of the given owners (`User:alice`) or of all. */
  async describeDelegationTokens(owners?: readonly string[]): Promise<DelegationToken[]> {
    const req = {
      owners:
        owners === undefined
          ? null
          : owners.map((o) => {
              const at = o.indexOf(':');
              return { principalType: at < 0 ? 'User' : o.slice(0, at), principalName: o.slice(at + 1) };
            }),
    };
    const res = await this.retry(async () => (await this.any()).request(DescribeDelegationTokenApi, req));
    throwIfError(res.errorCode, 'DescribeDelegationToken');
    return res.tokens.map((t) => ({
      tokenId: t.tokenId,
      hmac: t.hmac,
      owner: `${t.principalType}:${t.principalName}`,
      requester: `${t.tokenRequesterPrincipalType}:${t.tokenRequesterPrincipalName}`,
      renewers: t.renewers.map((r) => `${r.principalType}:${r.principalName}`),
      issueTimestampMs: Number(t.issueTimestamp),
      expiryTimestampMs: Number(t.expiryTimestamp),
      maxTimestampMs: Number(t.maxTimestamp),
    }));
  }

  /** The SCRAM mechanisms and iterations of each user (all users when none are named). */
  async describeScramCredentials(
    users?: readonly string[],
  ): Promise<Array<{ user: string; credentials: Array<{ mechanism: string; iterations: number }> }>> {
    const req = { users: users === undefined ? null : users.map((name) => ({ name })) };
    const res = await this.retry(async () => (await this.any()).request(DescribeUserScramCredentialsApi, req));
    throwIfError(res.errorCode, `DescribeUserScramCredentials: ${res.errorMessage ?? ''}`);
    return res.results.map((r) => {
      throwIfError(r.errorCode, `DescribeUserScramCredentials ${r.user}: ${r.errorMessage ?? ''}`);
      return {
        user: r.user,
        credentials: r.credentialInfos.map((c) => ({
          mechanism: scramMechanismByType(c.mechanism) ?? `UNKNOWN(${c.mechanism})`,
          iterations: c.iterations,
        })),
      };
    });
  }

  /** Transactions known to any broker's coordinator, optionally only in these states (Kafka's names: Ongoing, …). */
  async listTransactions(
    states: readonly string[] = [],
  ): Promise<Array<{ transactionalId: string; producerId: bigint; state: string }>> {
    await this.ctx.metadata.refresh([]);
    const out = new Map<string, { transactionalId: string; producerId: bigint; state: string }>();
    for (const b of this.ctx.metadata.brokers.values()) {
      const res = await this.retry(async () =>
        (await this.ctx.pool.get(b)).request(ListTransactionsApi, {
          ...defaultListTransactionsRequest(),
          stateFilters: [...states],
        }),
      );
      throwIfError(res.errorCode, 'ListTransactions');
      for (const t of res.transactionStates) {
        out.set(t.transactionalId, {
          transactionalId: t.transactionalId,
          producerId: t.producerId,
          state: t.transactionState,
        });
      }
    }
    return [...out.values()].sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : 1));
  }

  /** One transactional id's state at its coordinator: producer, epoch, timeout, start time and partitions. */
  async describeTransaction(transactionalId: string): Promise<TransactionDescription> {
    const res = await this.retry(async () =>
      (await this.coordinator(transactionalId, 1)).request(DescribeTransactionsApi, {
        ...defaultDescribeTransactionsRequest(),
        transactionalIds: [transactionalId],
      }),
    );
    const t = res.transactionStates[0];
    if (t === undefined) throw new KafkaError(ERROR_CODES.UNKNOWN_SERVER_ERROR, 'DescribeTransactions: no answer');
    throwIfError(t.errorCode, `DescribeTransactions ${transactionalId}`);
    return {
      transactionalId,
      state: t.transactionState,
      producerId: t.producerId,
      producerEpoch: t.producerEpoch,
      timeoutMs: t.transactionTimeoutMs,
      startTimeMs: t.transactionStartTimeMs,
      partitions: t.topics.flatMap((x) => x.partitions.map((partition) => ({ topic: x.topic, partition }))),
    };
  }

  async close(): Promise<void> {
    await this.ctx.pool.close();
  }
}
