// Delegation tokens (KIP-48) on running brokers: Create/Renew/Expire/DescribeDelegationToken with
// Kafka's checks and errors, SCRAM logins with tokenauth=true as the token's owner, expiry, the
// controller's sweep, the feature off without delegation.token.secret.key, and tokens shared by
// the brokers of a cluster through etcd.

import { createHmac } from 'node:crypto';
import { Admin, Connection, type KafkaError } from '@sluice/client';
import type { LocalEtcd } from '@sluice/cluster';
import {
  CreateDelegationTokenApi,
  DescribeDelegationTokenApi,
  ERROR_CODES,
  ExpireDelegationTokenApi,
  MetadataApi,
  RenewDelegationTokenApi,
} from '@sluice/protocol';
import { AclOperation, AclPermissionType, createScramCredential, PatternType, ResourceType } from '@sluice/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { aclKey, scramKey, scramRecord } from '../src/server/broker-security.js';
import { startEtcdCluster, startInProcess, tempDir, until } from './helpers.js';

const SECRET = 'the-shared-secret';
const USERS = ['admin', 'alice', 'bob', 'eve'];

async function addUsers(b: RunningBroker) {
  await b.context.store.setSecurityRecords(
    USERS.map((u) => ({
      kind: 'scram' as const,
      key: scramKey(u, 'SCRAM-SHA-512'),
      value: scramRecord(createScramCredential('SCRAM-SHA-512', `${u}-secret`, 4096)),
    })),
  );
}

const saslProps = {
  listeners: 'PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0',
  'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
  'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
  'super.users': 'User:admin',
  'allow.everyone.if.no.acl.found': 'false',
};

const login = (b: RunningBroker, user: string) =>
  Connection.open({
    host: '127.0.0.1',
    port: b.listeners.SASL_PLAINTEXT!.port,
    requestTimeoutMs: 5000,
    sasl: { mechanism: 'SCRAM-SHA-512', username: user, password: `${user}-secret` },
  });
const tokenLogin = (
  b: RunningBroker,
  tokenId: string,
  hmac: Buffer,
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' = 'SCRAM-SHA-512',
) =>
  Connection.open({
    host: '127.0.0.1',
    port: b.listeners.SASL_PLAINTEXT!.port,
    requestTimeoutMs: 5000,
    sasl: { mechanism, username: tokenId, password: hmac.toString('base64'), tokenAuth: true },
  });
const admin = (b: RunningBroker, user: string) =>
  new Admin({
    brokers: [`127.0.0.1:${b.listeners.SASL_PLAINTEXT!.port}`],
    sasl: { mechanism: 'SCRAM-SHA-512', username: user, password: `${user}-secret` },
    requestTimeoutMs: 5000,
    retries: 0,
  });
const create = (c: Connection, body: Partial<Parameters<typeof CreateDelegationTokenApi.request.encode>[2]> = {}) =>
  c.request(CreateDelegationTokenApi, { ...CreateDelegationTokenApi.request.defaults(), ...body });
const codeOf = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as KafkaError).code;

describe('delegation tokens on one broker', () => {
  let broker: RunningBroker;
  const conns: Connection[] = [];
  const as = async (user: string) => {
    const c = await login(broker, user);
    conns.push(c);
    return c;
  };
  beforeAll(async () => {
    broker = await startInProcess({
      ...saslProps,
      'log.dirs': tempDir('sluice-tokens-'),
      'delegation.token.secret.key': SECRET,
      'delegation.token.expiry.time.ms': '20000',
      'delegation.token.max.lifetime.ms': '60000',
      'delegation.token.expiry.check.interval.ms': '300',
    });
    await addUsers(broker);
    // alice may describe topic t-alice; nobody else (but admin) may.
    await broker.context.store.setSecurityRecords([
      {
        kind: 'acls',
        key: aclKey({
          resourceType: ResourceType.TOPIC,
          resourceName: 't-alice',
          patternType: PatternType.LITERAL,
          principal: 'User:alice',
          host: '*',
          operation: AclOperation.DESCRIBE,
          permissionType: AclPermissionType.ALLOW,
        }),
        value: '{}',
      },
    ]);
    await broker.context.autoCreateTopic('t-alice');
  }, 60_000);
  afterAll(async () => {
    for (const c of conns) c.close();
    await broker?.stop();
  });

  it('alice creates a token; its hmac is HMAC-SHA512 of the id; logging in with it makes the connection alice', async () => {
    const a = admin(broker, 'alice');
    const before = Date.now();
    const token = await a.createDelegationToken({ renewers: ['User:bob'] });
    expect(token.owner).toBe('User:alice');
    expect(token.requester).toBe('User:alice');
    expect(token.hmac).toEqual(createHmac('sha512', SECRET).update(token.tokenId).digest());
    expect(token.issueTimestampMs).toBeGreaterThanOrEqual(before);
    expect(token.expiryTimestampMs - token.issueTimestampMs).toBe(20_000);
    expect(token.maxTimestampMs - token.issueTimestampMs).toBe(60_000);
    // A shorter max lifetime asked for is kept; a longer one is capped.
    const short = await a.createDelegationToken({ maxLifetimeMs: 5000 });
    expect(short.expiryTimestampMs - short.issueTimestampMs).toBe(5000);
    expect(short.maxTimestampMs - short.issueTimestampMs).toBe(5000);
    await a.close();

    for (const mechanism of ['SCRAM-SHA-512', 'SCRAM-SHA-256'] as const) {
      const t = await tokenLogin(broker, token.tokenId, token.hmac, mechanism);
      conns.push(t);
      // Authorized as alice: the topic only alice may describe is visible.
      const md = await t.request(MetadataApi, {
        ...MetadataApi.request.defaults(),
        topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 't-alice' }],
      });
      expect(md.topics[0]!.errorCode).toBe(0);
      // A token-authenticated connection may not manage tokens (KafkaApis.allowTokenRequests).
      expect((await create(t)).errorCode).toBe(ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED);
      const d = await t.request(DescribeDelegationTokenApi, { owners: null });
      expect(d.errorCode).toBe(ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED);
    }
    const bob = await as('bob');
    const md = await bob.request(MetadataApi, {
      ...MetadataApi.request.defaults(),
      topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 't-alice' }],
    });
    expect(md.topics[0]!.errorCode).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    // The wrong hmac and an unknown token id are refused.
    const wrong = createHmac('sha512', 'another-key').update(token.tokenId).digest();
    expect(await codeOf(tokenLogin(broker, token.tokenId, wrong))).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
    expect(await codeOf(tokenLogin(broker, 'no-such-token', token.hmac))).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
  });

  it('refuses token requests on PLAINTEXT; checks owners, renewers and CREATE_TOKENS as Kafka', async () => {
    const plain = await Connection.open({ host: '127.0.0.1', port: broker.listeners.PLAINTEXT!.port });
    conns.push(plain);
    const r = await create(plain);
    expect(r.errorCode).toBe(ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED);
    expect(r.principalName).toBe('ANONYMOUS');
    expect(r.issueTimestampMs).toBe(-1n);
    const renew = await plain.request(RenewDelegationTokenApi, { hmac: Buffer.alloc(64), renewPeriodMs: -1n });
    expect([renew.errorCode, renew.expiryTimestampMs]).toEqual([ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, -1n]);

    const eve = await as('eve');
    // For another owner: CREATE_TOKENS on User:alice (eve has none; admin is a super user).
    const forAlice = await create(eve, { ownerPrincipalType: 'User', ownerPrincipalName: 'alice' });
    expect(forAlice.errorCode).toBe(ERROR_CODES.DELEGATION_TOKEN_AUTHORIZATION_FAILED);
    expect([forAlice.principalName, forAlice.tokenRequesterPrincipalName]).toEqual(['alice', 'eve']);
    const byAdmin = await create(await as('admin'), { ownerPrincipalType: 'User', ownerPrincipalName: 'alice' });
    expect(byAdmin.errorCode).toBe(0);
    expect([byAdmin.principalName, byAdmin.tokenRequesterPrincipalName]).toEqual(['alice', 'admin']);
    const badRenewer = await create(eve, { renewers: [{ principalType: 'Group', principalName: 'ops' }] });
    expect(badRenewer.errorCode).toBe(ERROR_CODES.INVALID_PRINCIPAL_TYPE);
  });

  it('renew and expire: owner or renewer only, NOT_FOUND, EXPIRED, then the login is refused and the token removed', async () => {
    const alice = admin(broker, 'alice');
    const token = await alice.createDelegationToken({ renewers: ['User:bob'] });
    const bob = admin(broker, 'bob');
    const eve = admin(broker, 'eve');
    const adm = admin(broker, 'admin');
    try {
      const now = Date.now();
      const expiry = await bob.renewDelegationToken(token.hmac, 5000);
      expect(expiry).toBeGreaterThanOrEqual(now + 5000);
      expect(expiry).toBeLessThan(now + 20_000);
      expect(await codeOf(eve.renewDelegationToken(token.hmac))).toBe(ERROR_CODES.DELEGATION_TOKEN_OWNER_MISMATCH);
      // A super user is not an owner or renewer either.
      expect(await codeOf(adm.expireDelegationToken(token.hmac))).toBe(ERROR_CODES.DELEGATION_TOKEN_OWNER_MISMATCH);
      expect(await codeOf(bob.renewDelegationToken(Buffer.alloc(64, 1)))).toBe(ERROR_CODES.DELEGATION_TOKEN_NOT_FOUND);
      // A renewal lasts at most delegation.token.expiry.time.ms, and never past the max lifetime.
      const t0 = Date.now();
      const renewed = await alice.renewDelegationToken(token.hmac, 10 * 60_000);
      expect(renewed).toBeGreaterThanOrEqual(t0 + 20_000);
      expect(renewed).toBeLessThanOrEqual(Date.now() + 20_000);
      const capped = await alice.createDelegationToken({ maxLifetimeMs: 3000 });
      expect(await alice.renewDelegationToken(capped.hmac, 10 * 60_000)).toBe(capped.maxTimestampMs);

      // Expire in 0 ms: still listed, but expired: no renewal, no login.
      const at = await alice.expireDelegationToken(token.hmac, 0);
      await until('the token is past its expiry', () => Date.now() > at, 2000);
      expect(await codeOf(bob.renewDelegationToken(token.hmac))).toBe(ERROR_CODES.DELEGATION_TOKEN_EXPIRED);
      expect(await codeOf(alice.expireDelegationToken(token.hmac, 1000))).toBe(ERROR_CODES.DELEGATION_TOKEN_EXPIRED);
      expect(await codeOf(tokenLogin(broker, token.tokenId, token.hmac))).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
      // The controller's sweep (every 300 ms here) removes it.
      await until('the sweep removes the expired token', async () =>
        (await alice.describeDelegationTokens()).every((t) => t.tokenId !== token.tokenId),
      );
      expect(await codeOf(alice.renewDelegationToken(token.hmac))).toBe(ERROR_CODES.DELEGATION_TOKEN_NOT_FOUND);

      // Expire now (-1): removed at once, new logins refused.
      const t2 = await alice.createDelegationToken();
      const c = await tokenLogin(broker, t2.tokenId, t2.hmac);
      conns.push(c);
      await alice.expireDelegationToken(t2.hmac);
      expect((await alice.describeDelegationTokens()).some((t) => t.tokenId === t2.tokenId)).toBe(false);
      expect(await codeOf(tokenLogin(broker, t2.tokenId, t2.hmac))).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
    } finally {
      await Promise.all([alice.close(), bob.close(), eve.close(), adm.close()]);
    }
  });

  it('describe: own and renewable tokens, others with DESCRIBE on the token or DESCRIBE_TOKENS on the owner', async () => {
    const alice = admin(broker, 'alice');
    const eve = admin(broker, 'eve');
    try {
      const token = await alice.createDelegationToken({ renewers: ['User:bob'] });
      const ids = (ts: { tokenId: string }[]) => ts.map((t) => t.tokenId);
      const mine = await alice.describeDelegationTokens();
      const described = mine.find((t) => t.tokenId === token.tokenId)!;
      expect(described).toMatchObject({ owner: 'User:alice', requester: 'User:alice', renewers: ['User:bob'] });
      expect(described.hmac).toEqual(token.hmac);
      expect(ids(await alice.describeDelegationTokens(['User:bob']))).toContain(token.tokenId);
      expect(ids(await alice.describeDelegationTokens(['User:carol']))).not.toContain(token.tokenId);
      expect(await alice.describeDelegationTokens([])).toEqual([]);
      expect(ids(await eve.describeDelegationTokens())).not.toContain(token.tokenId);
      await admin(broker, 'admin').createAcls([
        {
          resourceType: ResourceType.DELEGATION_TOKEN,
          resourceName: token.tokenId,
          patternType: PatternType.LITERAL,
          principal: 'User:eve',
          host: '*',
          operation: AclOperation.DESCRIBE,
          permissionType: AclPermissionType.ALLOW,
        },
      ]);
      await until('eve sees the token', async () => ids(await eve.describeDelegationTokens()).includes(token.tokenId));
      expect(ids(await eve.describeDelegationTokens())).toEqual([token.tokenId]);
    } finally {
      await Promise.all([alice.close(), eve.close()]);
    }
  });
});

describe('delegation tokens off', () => {
  it('without delegation.token.secret.key: DELEGATION_TOKEN_AUTH_DISABLED, and no token login', async () => {
    const broker = await startInProcess({ ...saslProps, 'log.dirs': tempDir('sluice-tokens-off-') });
    try {
      await addUsers(broker);
      const c = await login(broker, 'alice');
      const r = await create(c);
      expect(r.errorCode).toBe(ERROR_CODES.DELEGATION_TOKEN_AUTH_DISABLED);
      expect((await c.request(DescribeDelegationTokenApi, { owners: null })).errorCode).toBe(
        ERROR_CODES.DELEGATION_TOKEN_AUTH_DISABLED,
      );
      const e = await c.request(ExpireDelegationTokenApi, { hmac: Buffer.alloc(64), expiryTimePeriodMs: -1n });
      expect(e.errorCode).toBe(ERROR_CODES.DELEGATION_TOKEN_AUTH_DISABLED);
      c.close();
      expect(await codeOf(tokenLogin(broker, 'any', Buffer.alloc(64)))).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
    } finally {
      await broker.stop();
    }
  });
});

describe('delegation tokens in a cluster', () => {
  let etcd: LocalEtcd | undefined;
  let brokers: RunningBroker[] = [];
  afterAll(async () => {
    for (const b of brokers) await b.stop();
    await etcd?.stop();
  });

  it('a token made on one broker logs in on another, and expired on a third it is refused everywhere', async () => {
    const cluster = await startEtcdCluster('sluice-tokens-cluster', {
      ...saslProps,
      'delegation.token.secret.key': SECRET,
    });
    etcd = cluster.etcd;
    brokers = cluster.brokers;
    for (const c of cluster.clients) c.close();
    await addUsers(brokers[0]!);
    await until('every broker sees the users', () =>
      brokers.every((b) => b.context.store.image.securityRecords('scram').size === USERS.length),
    );
    const a1 = admin(brokers[0]!, 'alice');
    const token = await a1.createDelegationToken();
    await a1.close();
    await until('broker 2 knows the token', () =>
      brokers[1]!.context.store.image.securityRecords('tokens').has(token.tokenId),
    );
    const c2 = await tokenLogin(brokers[1]!, token.tokenId, token.hmac);
    c2.close();
    const a3 = admin(brokers[2]!, 'alice');
    await a3.expireDelegationToken(token.hmac);
    await a3.close();
    await until(
      'broker 2 forgets the token',
      () => !brokers[1]!.context.store.image.securityRecords('tokens').has(token.tokenId),
    );
    expect(await codeOf(tokenLogin(brokers[1]!, token.tokenId, token.hmac))).toBe(
      ERROR_CODES.SASL_AUTHENTICATION_FAILED,
    );
  }, 90_000);
});
