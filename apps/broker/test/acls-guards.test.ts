// The ACL checks of the admin, KIP-848, offset and transaction APIs over the wire: a principal
// without ACLs is refused with Kafka's error, the same principal with the ACL gets the super user's
// answer, and every API the broker serves has a check (or a stated reason to have none).

import { Connection } from '@sluice/client';
import {
  AddOffsetsToTxnApi,
  AddPartitionsToTxnApi,
  AlterClientQuotasApi,
  AlterPartitionReassignmentsApi,
  ApiVersionsApi,
  ConsumerGroupDescribeApi,
  ConsumerGroupHeartbeatApi,
  CreateAclsApi,
  CreateTopicsApi,
  DeleteAclsApi,
  DeleteShareGroupOffsetsApi,
  DescribeAclsApi,
  DescribeClientQuotasApi,
  DescribeClusterApi,
  DescribeLogDirsApi,
  DescribeProducersApi,
  DescribeTopicPartitionsApi,
  DescribeTransactionsApi,
  DescribeUserScramCredentialsApi,
  ElectLeadersApi,
  EndTxnApi,
  ERROR_CODES,
  FindCoordinatorApi,
  InitProducerIdApi,
  ListPartitionReassignmentsApi,
  ListTransactionsApi,
  OffsetDeleteApi,
  OffsetForLeaderEpochApi,
  ReadShareGroupStateApi,
  ShareFetchApi,
  ShareGroupDescribeApi,
  ShareGroupHeartbeatApi,
  TxnOffsetCommitApi,
  WriteTxnMarkersApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { AclOperation as Op, PatternType, AclPermissionType as Perm, ResourceType as RT } from '@sluice/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aclCoverage, withAuthorization } from '../src/apis/authorization.js';
import type { RunningBroker } from '../src/index.js';
import type { BrokerContext } from '../src/server/context.js';
import { startInProcess, tempDir } from './helpers.js';

const JAAS =
  'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-pw" user_alice="alice-pw" user_bob="bob-pw";';
const { TOPIC_AUTHORIZATION_FAILED: TAF, GROUP_AUTHORIZATION_FAILED: GAF } = ERROR_CODES;
const { CLUSTER_AUTHORIZATION_FAILED: CAF, TRANSACTIONAL_ID_AUTHORIZATION_FAILED: TXAF } = ERROR_CODES;

let broker: RunningBroker;
const conns: Connection[] = [];
let admin: Connection;
let alice: Connection;
let bob: Connection;

async function as(user: string) {
  const c = await Connection.open({
    host: '127.0.0.1',
    port: broker.listeners.SASL_PLAINTEXT!.port,
    sasl: { mechanism: 'PLAIN', username: user, password: `${user}-pw` },
    requestTimeoutMs: 5000,
  });
  conns.push(c);
  return c;
}

/** Gives alice `operation` on a literal resource. */
async function allowAlice(resourceType: number, resourceName: string, operation: number) {
  const res = await admin.request(CreateAclsApi, {
    creations: [
      {
        resourceType,
        resourceName,
        resourcePatternType: PatternType.LITERAL,
        principal: 'User:alice',
        host: '*',
        operation,
        permissionType: Perm.ALLOW,
      },
    ],
  });
  expect(res.results[0]!.errorCode).toBe(0);
}
const CLUSTER = 'kafka-cluster';
/** A response without its throttle time, to compare answers of two principals. */
const body = <T extends { throttleTimeMs?: number }>(r: T) => ({ ...r, throttleTimeMs: 0 });

beforeAll(async () => {
  broker = await startInProcess({
    'log.dirs': tempDir('sluice-acl-guards-'),
    listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
    'sasl.enabled.mechanisms': 'PLAIN',
    'listener.name.sasl_plaintext.plain.sasl.jaas.config': JAAS,
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': 'User:admin',
    'group.initial.rebalance.delay.ms': '0',
  });
  admin = await as('admin');
  alice = await as('alice');
  bob = await as('bob');
  for (const name of ['ga', 'gb', 'gc']) {
    const r = await admin.request(CreateTopicsApi, {
      ...CreateTopicsApi.request.defaults(),
      topics: [{ name, numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
    });
    expect(r.topics[0]!.errorCode).toBe(0);
  }
}, 60_000);
afterAll(async () => {
  for (const c of conns) c.close();
  await broker?.stop();
});

describe('every served API has an ACL check', () => {
  it('each API the broker advertises has a guard or a stated reason to need none', async () => {
    const res = await admin.request(ApiVersionsApi, {
      ...ApiVersionsApi.request.defaults(),
      clientSoftwareName: 'acl-guards-test',
      clientSoftwareVersion: '1',
    });
    expect(res.errorCode).toBe(0);
    expect(res.apiKeys.length).toBeGreaterThan(40);
    const uncovered = res.apiKeys.map((k) => k.apiKey).filter((key) => aclCoverage(key) === 'none');
    expect(uncovered).toEqual([]);
  });

  it('an API with neither is refused while an authorizer is on, and served without one', async () => {
    const handler = { api: { apiKey: 9999, name: 'Future' }, minVersion: 0, maxVersion: 0, handle: () => ({ ok: 1 }) };
    // biome-ignore lint/suspicious/noExplicitAny: a minimal broker context: only `security` is read.
    const on = { security: { authorizer: {} } } as any as BrokerContext;
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    const off = { security: undefined } as any as BrokerContext;
    // biome-ignore lint/suspicious/noExplicitAny: the fake handler's API definition is partial.
    const [guarded] = withAuthorization(on, [handler as any]);
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    expect(() => guarded!.handle({}, {} as any)).toThrow(/Future has no ACL check/);
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    const [plain] = withAuthorization(off, [handler as any]);
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    expect(plain!.handle({}, {} as any)).toEqual({ ok: 1 });
  });
});

describe('APIs that check in their handler', () => {
  it('ACL, SCRAM and quota APIs refuse a principal without the cluster ACL', async () => {
    const describeAcls = (c: Connection) =>
      c.request(DescribeAclsApi, {
        resourceTypeFilter: RT.ANY,
        resourceNameFilter: null,
        patternTypeFilter: PatternType.ANY,
        principalFilter: null,
        hostFilter: null,
        operation: Op.ANY,
        permissionType: Perm.ANY,
      });
    expect((await describeAcls(bob)).errorCode).toBe(CAF);
    expect((await describeAcls(admin)).errorCode).toBe(0);
    const deleteAcls = await bob.request(DeleteAclsApi, {
      filters: [
        {
          resourceTypeFilter: RT.ANY,
          resourceNameFilter: null,
          patternTypeFilter: PatternType.ANY,
          principalFilter: null,
          hostFilter: null,
          operation: Op.ANY,
          permissionType: Perm.ANY,
        },
      ],
    });
    expect(deleteAcls.filterResults[0]!.errorCode).toBe(CAF);
    const scram = (c: Connection) => c.request(DescribeUserScramCredentialsApi, { users: null });
    expect((await scram(bob)).errorCode).toBe(CAF);
    expect((await scram(admin)).errorCode).toBe(0);
    const quotas = (c: Connection) => c.request(DescribeClientQuotasApi, { components: [], strict: false });
    expect((await quotas(bob)).errorCode).toBe(CAF);
    expect((await quotas(admin)).errorCode).toBe(0);
    const alterQuotas = await bob.request(AlterClientQuotasApi, {
      entries: [
        {
          entity: [{ entityType: 'user', entityName: 'bob' }],
          ops: [{ key: 'producer_byte_rate', value: 1e9, remove: false }],
        },
      ],
      validateOnly: true,
    });
    expect(alterQuotas.entries[0]!.errorCode).toBe(CAF);
  });
});

describe('cluster APIs', () => {
  it('ElectLeaders and AlterPartitionReassignments need ALTER on the cluster', async () => {
    const elect = (c: Connection) =>
      c.request(ElectLeadersApi, {
        electionType: 0,
        topicPartitions: [{ topic: 'ga', partitions: [0] }],
        timeoutMs: 5000,
      });
    const denied = await elect(bob);
    expect(denied.errorCode).toBe(CAF);
    expect(denied.replicaElectionResults[0]!.partitionResult[0]!.errorCode).toBe(CAF);
    const reassign = (c: Connection) =>
      c.request(AlterPartitionReassignmentsApi, {
        timeoutMs: 5000,
        allowReplicationFactorChange: true,
        topics: [{ name: 'ga', partitions: [{ partitionIndex: 0, replicas: null }] }],
      });
    expect((await reassign(bob)).errorCode).toBe(CAF);
    const asAdmin = [body(await elect(admin)), body(await reassign(admin))];
    expect(asAdmin[0]!.errorCode).not.toBe(CAF);
    expect(asAdmin[1]!.errorCode).not.toBe(CAF);
    await allowAlice(RT.CLUSTER, CLUSTER, Op.ALTER);
    expect([body(await elect(alice)), body(await reassign(alice))]).toEqual(asAdmin);
  });

  it('ListPartitionReassignments and DescribeLogDirs need DESCRIBE on the cluster', async () => {
    const list = (c: Connection) => c.request(ListPartitionReassignmentsApi, { timeoutMs: 5000, topics: null });
    const dirs = (c: Connection) => c.request(DescribeLogDirsApi, { topics: null });
    expect((await list(bob)).errorCode).toBe(CAF);
    const bobDirs = await dirs(bob);
    expect(bobDirs.results).toEqual([]);
    expect(bobDirs.errorCode).toBe(CAF);
    const adminDirs = await dirs(admin);
    expect(adminDirs.errorCode).toBe(0);
    expect(adminDirs.results.length).toBe(1);
    // alice has ALTER on the cluster (above), which implies DESCRIBE.
    const aliceList = await list(alice);
    expect(aliceList.errorCode).toBe(0);
    expect(body(aliceList)).toEqual(body(await list(admin)));
  });

  it('DescribeCluster answers everyone and fills the principal operations when asked', async () => {
    const req = { ...DescribeClusterApi.request.defaults(), includeClusterAuthorizedOperations: true };
    const bobOps = (await bob.request(DescribeClusterApi, req)).clusterAuthorizedOperations;
    const adminOps = (await admin.request(DescribeClusterApi, req)).clusterAuthorizedOperations;
    expect(bobOps).toBe(0);
    expect(adminOps & (1 << Op.ALTER)).not.toBe(0);
    expect(adminOps & (1 << Op.CLUSTER_ACTION)).not.toBe(0);
  });

  it('WriteTxnMarkers needs CLUSTER_ACTION (or ALTER) on the cluster', async () => {
    const markers = (c: Connection) =>
      c.request(WriteTxnMarkersApi, {
        markers: [
          {
            producerId: 123456n,
            producerEpoch: 0,
            transactionResult: false,
            topics: [{ name: 'gb', partitionIndexes: [1] }],
            coordinatorEpoch: 0,
            transactionVersion: 0,
          },
        ],
      });
    expect((await markers(bob)).markers[0]!.topics[0]!.partitions[0]!.errorCode).toBe(CAF);
    expect((await markers(admin)).markers[0]!.topics[0]!.partitions[0]!.errorCode).not.toBe(CAF);
  });

  it('the share coordinator APIs and FindCoordinator for a share-partition need CLUSTER_ACTION', async () => {
    const topicId = '6f1b2f1c-0000-4000-8000-000000000001';
    const read = (c: Connection) =>
      c.request(ReadShareGroupStateApi, {
        groupId: 'sg',
        topics: [{ topicId, partitions: [{ partition: 0, leaderEpoch: 0 }] }],
      });
    expect((await read(bob)).results[0]!.partitions[0]!.errorCode).toBe(CAF);
    // The super user reaches the coordinator: the share-partition has no state yet.
    expect((await read(admin)).results[0]!.partitions[0]!.errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    const key = `sg:${Buffer.from(topicId.replaceAll('-', ''), 'hex').toString('base64url')}:0`;
    const find = (c: Connection) => c.request(FindCoordinatorApi, { keyType: 2, key: '', coordinatorKeys: [key] });
    expect((await find(bob)).coordinators[0]!.errorCode).toBe(CAF);
    expect((await find(admin)).coordinators[0]!.errorCode).toBe(0);
  });
});

describe('topic APIs', () => {
  it('DescribeTopicPartitions: DESCRIBE per topic; refused topics named are TOPIC_AUTHORIZATION_FAILED, else hidden', async () => {
    const dtp = (c: Connection, names: string[]) =>
      c.request(DescribeTopicPartitionsApi, {
        topics: names.map((name) => ({ name })),
        responsePartitionLimit: 100,
        cursor: null,
      });
    const named = await dtp(bob, ['ga', 'gb']);
    expect(named.topics.map((t) => [t.name, t.errorCode, t.topicId, t.partitions.length])).toEqual([
      ['ga', TAF, ZERO_UUID, 0],
      ['gb', TAF, ZERO_UUID, 0],
    ]);
    expect((await dtp(bob, [])).topics).toEqual([]);
    await allowAlice(RT.TOPIC, 'ga', Op.DESCRIBE);
    const mixed = await dtp(alice, ['ga', 'gb']);
    expect(mixed.topics.map((t) => [t.name, t.errorCode, t.partitions.length])).toEqual([
      ['ga', 0, 2],
      ['gb', TAF, 0],
    ]);
    expect(mixed.topics[0]!.topicAuthorizedOperations).toBe(1 << Op.DESCRIBE);
    const all = await dtp(alice, []);
    expect(all.topics.map((t) => t.name)).toEqual(['ga']);
    const adminAll = await dtp(admin, []);
    expect(adminAll.topics.map((t) => [t.name, t.errorCode])).toEqual(
      expect.arrayContaining([
        ['ga', 0],
        ['gb', 0],
      ]),
    );
  });

  it('DescribeProducers needs READ per topic; OffsetForLeaderEpoch needs DESCRIBE per topic', async () => {
    const producers = (c: Connection) =>
      c.request(DescribeProducersApi, { topics: [{ name: 'gb', partitionIndexes: [0, 1] }] });
    expect((await producers(bob)).topics[0]!.partitions.map((p) => p.errorCode)).toEqual([TAF, TAF]);
    const epochs = (c: Connection) =>
      c.request(OffsetForLeaderEpochApi, {
        replicaId: -1,
        topics: [{ topic: 'gb', partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] }],
      });
    expect((await epochs(bob)).topics[0]!.partitions[0]!.errorCode).toBe(TAF);
    await allowAlice(RT.TOPIC, 'gb', Op.READ);
    const aliceProducers = await producers(alice);
    expect(aliceProducers.topics[0]!.partitions.map((p) => p.errorCode)).toEqual([0, 0]);
    expect(body(aliceProducers)).toEqual(body(await producers(admin)));
    const aliceEpochs = await epochs(alice);
    expect(aliceEpochs.topics[0]!.partitions[0]!.errorCode).toBe(0);
    expect(body(aliceEpochs)).toEqual(body(await epochs(admin)));
  });
});

describe('KIP-848 groups and offsets', () => {
  const heartbeat = (c: Connection, group: string, topics: string[]) =>
    c.request(ConsumerGroupHeartbeatApi, {
      ...ConsumerGroupHeartbeatApi.request.defaults(),
      groupId: group,
      memberId: `member-${group}-${topics.join('-')}`,
      memberEpoch: 0,
      rebalanceTimeoutMs: 5000,
      subscribedTopicNames: topics,
      topicPartitions: [],
    });

  it('ConsumerGroupHeartbeat needs READ on the group and DESCRIBE on the subscribed topics', async () => {
    expect((await heartbeat(bob, 'cg', ['ga'])).errorCode).toBe(GAF);
    await allowAlice(RT.GROUP, 'cg', Op.READ);
    // alice may describe ga (above) but not gb-missing.
    const refused = await heartbeat(alice, 'cg', ['ga', 'secret']);
    expect(refused.errorCode).toBe(TAF);
    expect(refused.memberEpoch).toBe(0);
    const joined = await heartbeat(alice, 'cg', ['ga']);
    expect(joined.errorCode).toBe(0);
    expect(joined.memberEpoch).toBeGreaterThan(0);
    expect((await heartbeat(admin, 'cg-admin', ['ga', 'gb'])).errorCode).toBe(0);
  });

  it('ConsumerGroupDescribe needs DESCRIBE per group', async () => {
    const describeGroups = (c: Connection) =>
      c.request(ConsumerGroupDescribeApi, { groupIds: ['cg', 'cg-admin'], includeAuthorizedOperations: true });
    const denied = await describeGroups(bob);
    expect(denied.groups.map((g) => [g.groupId, g.errorCode])).toEqual([
      ['cg', GAF],
      ['cg-admin', GAF],
    ]);
    const mixed = await describeGroups(alice); // READ on cg implies DESCRIBE
    const cg = mixed.groups.find((g) => g.groupId === 'cg')!;
    expect(cg.errorCode).toBe(0);
    expect(cg.members.length).toBe(1);
    expect(cg.authorizedOperations).toBe((1 << Op.READ) | (1 << Op.DESCRIBE));
    expect(mixed.groups.find((g) => g.groupId === 'cg-admin')!.errorCode).toBe(GAF);
    const all = await describeGroups(admin);
    expect(all.groups.map((g) => g.errorCode)).toEqual([0, 0]);
  });

  it('ConsumerGroupDescribe hides a group whose members use a topic the principal may not describe', async () => {
    expect((await heartbeat(admin, 'cg-secret', ['gc'])).errorCode).toBe(0);
    await allowAlice(RT.GROUP, 'cg-secret', Op.DESCRIBE);
    const res = await alice.request(ConsumerGroupDescribeApi, {
      groupIds: ['cg-secret'],
      includeAuthorizedOperations: false,
    });
    expect(res.groups[0]!.errorCode).toBe(TAF);
    expect(res.groups[0]!.members).toEqual([]);
    await allowAlice(RT.TOPIC, 'gc', Op.DESCRIBE);
    const allowed = await alice.request(ConsumerGroupDescribeApi, {
      groupIds: ['cg-secret'],
      includeAuthorizedOperations: false,
    });
    expect(allowed.groups[0]!.errorCode).toBe(0);
    expect(allowed.groups[0]!.members.map((m) => m.subscribedTopicNames)).toEqual([['gc']]);
  });

  it('OffsetDelete needs DELETE on the group and READ per topic', async () => {
    const del = (c: Connection, topics: string[]) =>
      c.request(OffsetDeleteApi, {
        groupId: 'cg',
        topics: topics.map((name) => ({ name, partitions: [{ partitionIndex: 0 }] })),
      });
    expect((await del(bob, ['ga'])).errorCode).toBe(GAF);
    expect((await del(alice, ['ga'])).errorCode).toBe(GAF); // READ is not DELETE
    await allowAlice(RT.GROUP, 'cg', Op.DELETE);
    // ga: alice may only describe it (not READ) -> refused; gb: READ -> the handler's answer.
    const mixed = await del(alice, ['ga', 'gb']);
    expect(mixed.errorCode).toBe(0);
    const codes = Object.fromEntries(mixed.topics.map((t) => [t.name, t.partitions[0]!.errorCode]));
    expect(codes.ga).toBe(TAF);
    const asAdmin = await del(admin, ['gb']);
    expect(codes.gb).toBe(asAdmin.topics[0]!.partitions[0]!.errorCode);
  });
});

describe('transactions', () => {
  const TX = 'tx-guarded';
  let producerId = -1n;
  let producerEpoch = 0;

  beforeAll(async () => {
    const init = await admin.request(InitProducerIdApi, {
      ...InitProducerIdApi.request.defaults(),
      transactionalId: TX,
      transactionTimeoutMs: 60_000,
    });
    expect(init.errorCode).toBe(0);
    producerId = init.producerId;
    producerEpoch = init.producerEpoch;
  });

  const addPartitions = (c: Connection, topics: string[]) =>
    c.request(
      AddPartitionsToTxnApi,
      {
        ...AddPartitionsToTxnApi.request.defaults(),
        v3AndBelowTransactionalId: TX,
        v3AndBelowProducerId: producerId,
        v3AndBelowProducerEpoch: producerEpoch,
        v3AndBelowTopics: topics.map((name) => ({ name, partitions: [0] })),
      },
      { maxVersion: 3 },
    );
  const codesOf = (r: Awaited<ReturnType<typeof addPartitions>>) =>
    Object.fromEntries(r.resultsByTopicV3AndBelow.map((t) => [t.name, t.resultsByPartition[0]!.partitionErrorCode]));

  it('DescribeTransactions and ListTransactions show only the ids the principal may describe', async () => {
    const describeTxn = (c: Connection) => c.request(DescribeTransactionsApi, { transactionalIds: [TX] });
    const list = (c: Connection) =>
      c.request(ListTransactionsApi, {
        ...ListTransactionsApi.request.defaults(),
        stateFilters: [],
        producerIdFilters: [],
      });
    expect((await describeTxn(bob)).transactionStates[0]!.errorCode).toBe(TXAF);
    expect((await list(admin)).transactionStates.map((s) => s.transactionalId)).toContain(TX);
    expect((await list(bob)).transactionStates.map((s) => s.transactionalId)).not.toContain(TX);
    await allowAlice(RT.TRANSACTIONAL_ID, TX, Op.DESCRIBE);
    expect((await list(alice)).transactionStates.map((s) => s.transactionalId)).toEqual([TX]);
    const aliceDescribe = await describeTxn(alice);
    expect(aliceDescribe.transactionStates[0]!.errorCode).toBe(0);
    expect(body(aliceDescribe)).toEqual(body(await describeTxn(admin)));
  });

  it('FindCoordinator for a transactional id needs DESCRIBE on it', async () => {
    const find = (c: Connection) =>
      c.request(FindCoordinatorApi, { ...FindCoordinatorApi.request.defaults(), keyType: 1, coordinatorKeys: [TX] });
    expect((await find(bob)).coordinators[0]!.errorCode).toBe(TXAF);
    const byAlice = await find(alice); // DESCRIBE on TX (above)
    expect(byAlice.coordinators[0]!.errorCode).toBe(0);
    expect(byAlice.coordinators[0]!.nodeId).toBe((await find(admin)).coordinators[0]!.nodeId);
  });

  it('AddPartitionsToTxn v3: WRITE on the transactional id, then WRITE on every topic', async () => {
    expect(codesOf(await addPartitions(bob, ['ga']))).toEqual({ ga: TXAF });
    await allowAlice(RT.TRANSACTIONAL_ID, TX, Op.WRITE);
    await allowAlice(RT.TOPIC, 'gb', Op.WRITE);
    // ga is not writable by alice: nothing is added, gb is not attempted.
    expect(codesOf(await addPartitions(alice, ['ga', 'gb']))).toEqual({
      ga: TAF,
      gb: ERROR_CODES.OPERATION_NOT_ATTEMPTED,
    });
    expect(codesOf(await addPartitions(alice, ['gb']))).toEqual({ gb: 0 });
  });

  it('AddPartitionsToTxn v4 (brokers verifying) needs CLUSTER_ACTION', async () => {
    // v4+ is broker to broker: the client caps it at 3, so these connections are told to speak v4.
    const verify = async (user: string) => {
      const c = await as(user);
      c.versions.set(AddPartitionsToTxnApi.apiKey, 4);
      return c.request(AddPartitionsToTxnApi, {
        ...AddPartitionsToTxnApi.request.defaults(),
        transactions: [
          {
            transactionalId: TX,
            producerId,
            producerEpoch,
            verifyOnly: true,
            topics: [{ name: 'gb', partitions: [0] }],
          },
        ],
      });
    };
    const denied = await verify('bob');
    expect(denied.errorCode).toBe(CAF);
    expect(denied.resultsByTransaction).toEqual([]);
    const byAdmin = await verify('admin');
    expect(byAdmin.errorCode).toBe(0);
    expect(byAdmin.resultsByTransaction.map((r) => r.transactionalId)).toEqual([TX]);
  });

  it('AddOffsetsToTxn and TxnOffsetCommit: WRITE on the transactional id, READ on the group, READ per topic', async () => {
    const addOffsets = (c: Connection, groupId: string) =>
      c.request(AddOffsetsToTxnApi, { transactionalId: TX, producerId, producerEpoch, groupId });
    const commit = (c: Connection, groupId: string, topics: string[]) =>
      c.request(TxnOffsetCommitApi, {
        ...TxnOffsetCommitApi.request.defaults(),
        transactionalId: TX,
        groupId,
        producerId,
        producerEpoch,
        topics: topics.map((name) => ({
          name,
          topicId: ZERO_UUID,
          partitions: [{ partitionIndex: 0, committedOffset: 0n, committedLeaderEpoch: -1, committedMetadata: null }],
        })),
      });
    const commitCodes = (r: Awaited<ReturnType<typeof commit>>) =>
      Object.fromEntries(r.topics.map((t) => [t.name, t.partitions[0]!.errorCode]));
    expect((await addOffsets(bob, 'cg')).errorCode).toBe(TXAF);
    expect(commitCodes(await commit(bob, 'cg', ['gb']))).toEqual({ gb: TXAF });
    // alice: WRITE on TX (above), READ on cg but not on cg-admin.
    expect((await addOffsets(alice, 'cg-admin')).errorCode).toBe(GAF);
    expect(commitCodes(await commit(alice, 'cg-admin', ['gb']))).toEqual({ gb: GAF });
    expect((await addOffsets(alice, 'cg')).errorCode).toBe(0);
    const mixed = commitCodes(await commit(alice, 'cg', ['ga', 'gb']));
    expect(mixed.ga).toBe(TAF); // DESCRIBE only, not READ
    expect(mixed.gb).not.toBe(TAF);
    expect(mixed.gb).not.toBe(GAF);
  });

  it('EndTxn needs WRITE on the transactional id', async () => {
    const end = (c: Connection) =>
      c.request(EndTxnApi, { transactionalId: TX, producerId, producerEpoch, committed: false });
    expect((await end(bob)).errorCode).toBe(TXAF);
    expect((await end(alice)).errorCode).toBe(0);
  });
});

describe('share groups (KIP-932)', () => {
  const shareHeartbeat = (c: Connection, groupId: string, topics: string[]) =>
    c.request(ShareGroupHeartbeatApi, {
      groupId,
      memberId: `m-${Math.random().toString(36).slice(2)}-member-id`,
      memberEpoch: 0,
      rackId: null,
      subscribedTopicNames: topics,
    });

  it('heartbeat needs READ on the group and DESCRIBE on the subscribed topics; fetch needs READ on the group', async () => {
    await allowAlice(RT.TOPIC, 'gc', Op.READ);
    expect((await shareHeartbeat(bob, 'sg', ['gc'])).errorCode).toBe(GAF);
    const fetch = await bob.request(ShareFetchApi, {
      ...ShareFetchApi.request.defaults(),
      groupId: 'sg',
      memberId: 'm',
    });
    expect(fetch.errorCode).toBe(GAF);
    await allowAlice(RT.GROUP, 'sg', Op.READ);
    expect((await shareHeartbeat(alice, 'sg', ['gc', 'secret'])).errorCode).toBe(TAF);
    const joined = await shareHeartbeat(alice, 'sg', ['gc']);
    expect(joined.errorCode).toBe(0);
    expect(joined.memberEpoch).toBeGreaterThan(0);
  });

  it('describe needs DESCRIBE on the group (implied by READ); deleting offsets needs DELETE', async () => {
    const describe = async (c: Connection) =>
      (await c.request(ShareGroupDescribeApi, { groupIds: ['sg'], includeAuthorizedOperations: false })).groups[0]!
        .errorCode;
    expect(await describe(bob)).toBe(GAF);
    expect(await describe(alice)).toBe(0);
    const del = await alice.request(DeleteShareGroupOffsetsApi, { groupId: 'sg', topics: [{ topicName: 'gc' }] });
    expect(del.errorCode).toBe(GAF);
  });
});
