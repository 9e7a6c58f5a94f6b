// ACLs on a running broker with StandardAuthorizer semantics: CreateAcls/DescribeAcls/DeleteAcls,
// the checks on Produce, Metadata, groups and configs with Kafka's error codes, DENY over ALLOW,
// super.users, the principal of a client certificate, and SCRAM credentials managed through
// AlterUserScramCredentials / DescribeUserScramCredentials.

import { Connection, Kafka, KafkaError, serde, topic } from '@sluice/client';
import {
  AlterUserScramCredentialsApi,
  CreateAclsApi,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteAclsApi,
  DeleteGroupsApi,
  DeleteRecordsApi,
  DescribeAclsApi,
  DescribeConfigsApi,
  DescribeGroupsApi,
  DescribeUserScramCredentialsApi,
  ERROR_CODES,
  JoinGroupApi,
  ListGroupsApi,
  MetadataApi,
} from '@sluice/protocol';
import {
  AclOperation as Op,
  PatternType,
  AclPermissionType as Perm,
  ResourceType as RT,
  saltedPassword,
} from '@sluice/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { makeTestCerts, type TestCerts } from './certs.js';
import { startInProcess, tempDir } from './helpers.js';

const JAAS =
  'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-pw" user_alice="alice-pw" user_bob="bob-pw";';

let certs: TestCerts;
let broker: RunningBroker;
let dataDir: string;
const props = () => ({
  'log.dirs': dataDir,
  listeners: 'SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0',
  'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-512',
  'listener.name.sasl_plaintext.plain.sasl.jaas.config': JAAS,
  'ssl.keystore.type': 'PEM',
  'ssl.keystore.location': certs.brokerKeystore,
  'ssl.truststore.location': certs.caFile,
  'ssl.client.auth': 'required',
  'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
  'super.users': 'User:admin',
  'group.initial.rebalance.delay.ms': '0',
});
beforeAll(async () => {
  certs = makeTestCerts();
  dataDir = tempDir('sluice-acls-');
  broker = await startInProcess(props());
}, 60_000);
afterAll(async () => {
  await broker?.stop();
});

const conns: Connection[] = [];
afterAll(() => {
  for (const c of conns) c.close();
});
async function as(user: string, mechanism: 'PLAIN' | 'SCRAM-SHA-512' = 'PLAIN', password = `${user}-pw`) {
  const c = await Connection.open({
    host: '127.0.0.1',
    port: broker.listeners.SASL_PLAINTEXT!.port,
    sasl: { mechanism, username: user, password },
    requestTimeoutMs: 5000,
  });
  conns.push(c);
  return c;
}
const kafkaAs = (user: string) =>
  new Kafka({
    brokers: [`127.0.0.1:${broker.listeners.SASL_PLAINTEXT!.port}`],
    sasl: { mechanism: 'PLAIN', username: user, password: `${user}-pw` },
    requestTimeoutMs: 5000,
    retries: 1,
  });

const acl = (over: Record<string, unknown>) => ({
  resourceType: RT.TOPIC,
  resourceName: 'orders',
  resourcePatternType: PatternType.PREFIXED,
  principal: 'User:alice',
  host: '*',
  operation: Op.WRITE,
  permissionType: Perm.ALLOW,
  ...over,
});
const metadata = (c: Connection, topics: string[] | null, allowAutoTopicCreation = false) =>
  c.request(MetadataApi, {
    ...MetadataApi.request.defaults(),
    topics: topics === null ? null : topics.map((name) => ({ name, topicId: '00000000-0000-0000-0000-000000000000' })),
    allowAutoTopicCreation,
  });

async function produce(user: string, name: string): Promise<number> {
  const producer = kafkaAs(user).producer({ idempotent: false });
  try {
    await producer.send(topic(name, { key: serde.string(), value: serde.string() }), { key: 'k', value: 'v' });
    return 0;
  } catch (err) {
    return err instanceof KafkaError ? err.code : -1;
  } finally {
    await producer.close().catch(() => {});
  }
}

describe('ACLs', () => {
  it('only a super user (or ALTER on the cluster) creates ACLs; DescribeAcls lists them by resource', async () => {
    const admin = await as('admin');
    const alice = await as('alice');
    const refused = await alice.request(CreateAclsApi, { creations: [acl({})] });
    expect(refused.results[0]!.errorCode).toBe(ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED);
    const created = await admin.request(CreateAclsApi, {
      creations: [
        acl({}),
        acl({ operation: Op.READ }),
        acl({
          resourceType: RT.GROUP,
          resourceName: 'g',
          resourcePatternType: PatternType.LITERAL,
          operation: Op.READ,
        }),
        acl({ resourcePatternType: PatternType.MATCH }),
      ],
    });
    expect(created.results.map((r) => r.errorCode)).toEqual([0, 0, 0, ERROR_CODES.INVALID_REQUEST]);
    for (const name of ['orders-1', 'orders-2', 'payments']) {
      const t = await admin.request(CreateTopicsApi, {
        ...CreateTopicsApi.request.defaults(),
        topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
        timeoutMs: 5000,
      });
      expect(t.topics[0]!.errorCode).toBe(0);
    }
    const described = await admin.request(DescribeAclsApi, {
      resourceTypeFilter: RT.TOPIC,
      resourceNameFilter: 'orders-1',
      patternTypeFilter: PatternType.MATCH,
      principalFilter: null,
      hostFilter: null,
      operation: Op.ANY,
      permissionType: Perm.ANY,
    });
    expect(described.errorCode).toBe(0);
    expect(described.resources).toEqual([
      {
        resourceType: RT.TOPIC,
        resourceName: 'orders',
        patternType: PatternType.PREFIXED,
        acls: [
          { principal: 'User:alice', host: '*', operation: Op.WRITE, permissionType: Perm.ALLOW },
          { principal: 'User:alice', host: '*', operation: Op.READ, permissionType: Perm.ALLOW },
        ],
      },
    ]);
  });

  it('checks Produce and Metadata: refused topics answer TOPIC_AUTHORIZATION_FAILED, unlisted ones are hidden', async () => {
    expect(await produce('alice', 'orders-1')).toBe(0);
    expect(await produce('bob', 'orders-1')).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    expect(await produce('alice', 'payments')).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    const alice = await as('alice');
    const bob = await as('bob');
    expect((await metadata(alice, null)).topics.map((t) => t.name).sort()).toEqual(['orders-1', 'orders-2']);
    expect((await metadata(bob, null)).topics).toEqual([]);
    const asked = await metadata(bob, ['orders-1']);
    expect(asked.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ['orders-1', ERROR_CODES.TOPIC_AUTHORIZATION_FAILED],
    ]);
    // Auto-creation needs CREATE: alice may describe orders-new (prefix) but not create it.
    const auto = await metadata(alice, ['orders-new'], true);
    expect(auto.topics[0]!.errorCode).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    expect(broker.context.topics.get('orders-new')).toBeUndefined();
  }, 30_000);

  it('DENY wins over ALLOW; DeleteAcls removes it again', async () => {
    const admin = await as('admin');
    const deny = acl({ resourceName: 'orders-2', resourcePatternType: PatternType.LITERAL, permissionType: Perm.DENY });
    expect((await admin.request(CreateAclsApi, { creations: [deny] })).results[0]!.errorCode).toBe(0);
    expect(await produce('alice', 'orders-2')).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    expect(await produce('alice', 'orders-1')).toBe(0);
    const deleted = await admin.request(DeleteAclsApi, {
      filters: [
        {
          resourceTypeFilter: RT.TOPIC,
          resourceNameFilter: 'orders-2',
          patternTypeFilter: PatternType.LITERAL,
          principalFilter: 'User:alice',
          hostFilter: null,
          operation: Op.ANY,
          permissionType: Perm.DENY,
        },
      ],
    });
    expect(deleted.filterResults[0]!.matchingAcls.map((m) => [m.resourceName, m.permissionType])).toEqual([
      ['orders-2', Perm.DENY],
    ]);
    expect(await produce('alice', 'orders-2')).toBe(0);
  }, 30_000);

  it('checks groups and configs with GROUP_ and TOPIC_AUTHORIZATION_FAILED', async () => {
    const alice = await as('alice');
    const join = (groupId: string) =>
      alice.request(JoinGroupApi, {
        ...JoinGroupApi.request.defaults(),
        groupId,
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 10_000,
        memberId: '',
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
      });
    expect((await join('h')).errorCode).toBe(ERROR_CODES.GROUP_AUTHORIZATION_FAILED);
    expect((await join('g')).errorCode).not.toBe(ERROR_CODES.GROUP_AUTHORIZATION_FAILED);
    const bob = await as('bob');
    const configs = await bob.request(DescribeConfigsApi, {
      resources: [
        { resourceType: 2, resourceName: 'orders-1', configurationKeys: null },
        { resourceType: 4, resourceName: '1', configurationKeys: null },
      ],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    expect(configs.results.map((r) => r.errorCode)).toEqual([
      ERROR_CODES.TOPIC_AUTHORIZATION_FAILED,
      ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED,
    ]);
  });

  it('checks group listing, describing and deleting, partition creation and record deletion', async () => {
    const bob = await as('bob');
    const described = await bob.request(DescribeGroupsApi, { groups: ['g'], includeAuthorizedOperations: false });
    expect(described.groups.map((g) => [g.groupId, g.errorCode])).toEqual([
      ['g', ERROR_CODES.GROUP_AUTHORIZATION_FAILED],
    ]);
    expect((await bob.request(ListGroupsApi, { statesFilter: [], typesFilter: [] })).groups).toEqual([]);
    const alice = await as('alice');
    const listed = await alice.request(ListGroupsApi, { statesFilter: [], typesFilter: [] });
    expect(listed.groups.map((g) => g.groupId)).toEqual(['g']);
    const deleted = await bob.request(DeleteGroupsApi, { groupsNames: ['g'] });
    expect(deleted.results).toEqual([
      { groupId: 'g', errorCode: ERROR_CODES.GROUP_AUTHORIZATION_FAILED, errorMessage: null },
    ]);
    const grown = await bob.request(CreatePartitionsApi, {
      topics: [{ name: 'orders-1', count: 2, assignments: null }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(grown.results[0]!.errorCode).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    const truncated = await bob.request(DeleteRecordsApi, {
      topics: [{ name: 'orders-1', partitions: [{ partitionIndex: 0, offset: 1n }] }],
      timeoutMs: 5000,
    });
    expect(truncated.topics[0]!.partitions[0]!.errorCode).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
  });

  it('the principal of a client certificate is its DN', async () => {
    const admin = await as('admin');
    const principal = 'User:CN=carol,O=Sluice';
    await admin.request(CreateAclsApi, {
      creations: [
        acl({ principal, resourceName: 'payments', resourcePatternType: PatternType.LITERAL, operation: Op.DESCRIBE }),
      ],
    });
    const c = await Connection.open({
      host: '127.0.0.1',
      port: broker.listeners.SSL!.port,
      ssl: { ca: certs.ca, ...certs.client('carol') },
    });
    conns.push(c);
    expect((await metadata(c, null)).topics.map((t) => t.name)).toEqual(['payments']);
  });

  it('SCRAM users through AlterUserScramCredentials: log in, describe, refuse weak ones, delete', async () => {
    const admin = await as('admin');
    const salt = Buffer.from('0123456789abcdef');
    const upsert = (iterations: number) => ({
      name: 'dave',
      mechanism: 2,
      iterations,
      salt,
      saltedPassword: saltedPassword('SCRAM-SHA-512', 'dave-pw', salt, iterations),
    });
    const weak = await admin.request(AlterUserScramCredentialsApi, { deletions: [], upsertions: [upsert(1000)] });
    expect(weak.results).toEqual([
      { user: 'dave', errorCode: ERROR_CODES.UNACCEPTABLE_CREDENTIAL, errorMessage: 'Too few iterations' },
    ]);
    const refused = await (await as('alice')).request(AlterUserScramCredentialsApi, {
      deletions: [],
      upsertions: [upsert(8192)],
    });
    expect(refused.results[0]!.errorCode).toBe(ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED);
    const ok = await admin.request(AlterUserScramCredentialsApi, { deletions: [], upsertions: [upsert(8192)] });
    expect(ok.results).toEqual([{ user: 'dave', errorCode: 0, errorMessage: null }]);
    await as('dave', 'SCRAM-SHA-512', 'dave-pw');
    const described = await admin.request(DescribeUserScramCredentialsApi, {
      users: [{ name: 'dave' }, { name: 'nobody' }],
    });
    expect(described.results.map((r) => [r.user, r.errorCode, r.credentialInfos])).toEqual([
      ['dave', 0, [{ mechanism: 2, iterations: 8192 }]],
      ['nobody', ERROR_CODES.RESOURCE_NOT_FOUND, []],
    ]);
    await admin.request(AlterUserScramCredentialsApi, { deletions: [{ name: 'dave', mechanism: 2 }], upsertions: [] });
    await expect(as('dave', 'SCRAM-SHA-512', 'dave-pw')).rejects.toThrow(/Authentication failed/);
  });

  it('ACLs and credentials outlive a restart (kept in the metadata store)', async () => {
    await broker.stop();
    broker = await startInProcess(props());
    expect(await produce('bob', 'orders-1')).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    expect(await produce('alice', 'orders-1')).toBe(0);
  }, 30_000);
});

describe('without an authorizer', () => {
  it('answers the ACL APIs SECURITY_DISABLED', async () => {
    const b = await startInProcess({ 'log.dirs': tempDir('sluice-noacl-') });
    try {
      const c = await Connection.open({ host: '127.0.0.1', port: b.port });
      const r = await c.request(CreateAclsApi, { creations: [acl({})] });
      expect(r.results[0]).toEqual({
        errorCode: ERROR_CODES.SECURITY_DISABLED,
        errorMessage: 'No Authorizer is configured.',
      });
      c.close();
    } finally {
      await b.stop();
    }
  });
});
