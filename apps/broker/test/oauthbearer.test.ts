// SASL OAUTHBEARER on a running broker: unsecured JWS tokens (Kafka's default validator, for tests)
// and JWTs checked against a JWKS served over HTTP. The principal is the token's subject; a refused
// token is answered with the JSON status, then SASL_AUTHENTICATION_FAILED; the session lifetime
// never outlives the token (KIP-368).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Connection, Kafka, KafkaError, serde, topic } from '@sluice/client';
import { CreateTopicsApi, ERROR_CODES, MetadataApi, SaslAuthenticateApi, SaslHandshakeApi } from '@sluice/protocol';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { closedWithin, RawClient, sleep, startInProcess, tempDir } from './helpers.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const unsecured = (claims: Record<string, unknown>) => `${b64({ alg: 'none' })}.${b64(claims)}.`;
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;
const clientFirst = (token: string) => Buffer.from(`n,,\x01auth=Bearer ${token}\x01\x01`);

let broker: RunningBroker;
let jwks: Server;
let keys: Awaited<ReturnType<typeof generateKeyPair>>;
let jwksRequests = 0;

beforeAll(async () => {
  keys = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  jwks = createServer((_req, res) => {
    jwksRequests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  broker = await startInProcess({
    'log.dirs': tempDir('sluice-oauth-'),
    listeners: 'PLAINTEXT://127.0.0.1:0,OAUTH://127.0.0.1:0,JWT://127.0.0.1:0',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,OAUTH:SASL_PLAINTEXT,JWT:SASL_PLAINTEXT',
    'sasl.enabled.mechanisms': 'OAUTHBEARER',
    'listener.name.oauth.oauthbearer.sasl.jaas.config':
      'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredValidatorRequiredScope="kafka";',
    'listener.name.oauth.connections.max.reauth.ms': '60000',
    'listener.name.jwt.oauthbearer.sasl.oauthbearer.jwks.endpoint.url': jwksUrl(),
    // Kafka 4 allows no OAuth URL unless it is listed here.
    'org.apache.kafka.sasl.oauthbearer.allowed.urls': `https://elsewhere.test/jwks, ${jwksUrl()}`,
    'listener.name.jwt.oauthbearer.sasl.oauthbearer.expected.audience': 'sluice',
    'listener.name.jwt.oauthbearer.sasl.oauthbearer.expected.issuer': 'https://idp.test',
    // ACLs on and closed: alice is the only super user, so what a principal may do shows who it is.
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': 'User:alice;User:ANONYMOUS',
    'allow.everyone.if.no.acl.found': 'false',
  });
}, 60_000);
afterAll(async () => {
  await broker?.stop();
  await new Promise((r) => jwks?.close(r));
});

const port = (name: string) => broker.listeners[name]!.port;
const jwksUrl = () => `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;

async function createTopic(c: Connection, name: string): Promise<number> {
  const res = await c.request(CreateTopicsApi, {
    ...CreateTopicsApi.request.defaults(),
    topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
  });
  return res.topics[0]!.errorCode;
}

describe('OAUTHBEARER with unsecured JWS', () => {
  it('@sluice/client logs in with a token; the principal is its sub claim', { timeout: 30_000 }, async () => {
    const token = (sub: string) => () => unsecured({ sub, exp: inSeconds(60), scope: 'kafka' });
    const alice = await Connection.open({
      host: '127.0.0.1',
      port: port('OAUTH'),
      sasl: { mechanism: 'oauthbearer', token: token('alice') },
    });
    expect(await createTopic(alice, 'oauth-alice')).toBe(0);
    alice.close();
    const bob = await Connection.open({
      host: '127.0.0.1',
      port: port('OAUTH'),
      sasl: { mechanism: 'OAUTHBEARER', token: token('bob') },
    });
    expect(await createTopic(bob, 'oauth-bob')).toBe(ERROR_CODES.TOPIC_AUTHORIZATION_FAILED);
    bob.close();
    // And through the Kafka client: produce and read back as alice.
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${port('OAUTH')}`],
      sasl: { mechanism: 'oauthbearer', token: token('alice') },
    });
    const t = topic('oauth-alice', { key: serde.string(), value: serde.string() });
    const producer = kafka.producer();
    await producer.send(t, { key: 'k', value: 'hello' });
    await producer.close();
    const consumer = kafka.consumer({ groupId: 'oauth-g', autoOffsetReset: 'earliest' });
    let got = '';
    for await (const r of consumer.records(t)) {
      got = r.value;
      break;
    }
    await consumer.close();
    expect(got).toBe('hello');
  });

  it('answers a refused token with the JSON status, fails the %x01 that follows with it, then closes', async () => {
    for (const [token, status] of [
      [unsecured({ sub: 'alice', exp: inSeconds(-5), scope: 'kafka' }), '{"status":"invalid_token"}'],
      [
        unsecured({ sub: 'alice', exp: inSeconds(60), scope: 'other' }),
        '{"status":"insufficient_scope", "scope":"[kafka]"}',
      ],
    ] as const) {
      const raw = await RawClient.connect(port('OAUTH'));
      expect((await raw.send(SaslHandshakeApi, 1, { mechanism: 'OAUTHBEARER' })).errorCode).toBe(0);
      const first = await raw.send(SaslAuthenticateApi, 2, { authBytes: clientFirst(token) });
      expect(first.errorCode).toBe(0);
      expect(first.authBytes.toString()).toBe(status);
      const second = await raw.send(SaslAuthenticateApi, 2, { authBytes: Buffer.from([1]) });
      expect([second.errorCode, second.errorMessage]).toEqual([ERROR_CODES.SASL_AUTHENTICATION_FAILED, status]);
      expect(await closedWithin(raw, 2000)).toBe(true);
    }
    // The client sees the failure as Kafka's clients do.
    const err = await Connection.open({
      host: '127.0.0.1',
      port: port('OAUTH'),
      sasl: { mechanism: 'oauthbearer', token: () => 'garbage' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaError);
    expect((err as KafkaError).code).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
  });

  it('a malformed first message is refused at once', async () => {
    const raw = await RawClient.connect(port('OAUTH'));
    expect((await raw.send(SaslHandshakeApi, 1, { mechanism: 'OAUTHBEARER' })).errorCode).toBe(0);
    const res = await raw.send(SaslAuthenticateApi, 2, { authBytes: Buffer.from('n,,\x01auth=Basic xyz\x01\x01') });
    expect(res.errorCode).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
    expect(await closedWithin(raw, 2000)).toBe(true);
  });

  it('the session lifetime is the time left on the token when that is shorter than connections.max.reauth.ms', async () => {
    const raw = await RawClient.connect(port('OAUTH'));
    expect((await raw.send(SaslHandshakeApi, 1, { mechanism: 'OAUTHBEARER' })).errorCode).toBe(0);
    const exp = inSeconds(2);
    const res = await raw.send(SaslAuthenticateApi, 2, {
      authBytes: clientFirst(unsecured({ sub: 'alice', exp, scope: 'kafka' })),
    });
    expect(res.errorCode).toBe(0);
    const lifetime = Number(res.sessionLifetimeMs);
    expect(lifetime).toBeGreaterThan(0);
    expect(lifetime).toBeLessThanOrEqual(exp * 1000 - Date.now() + 50);
    expect((await raw.send(MetadataApi, 12, { topics: [] })).brokers.length).toBe(1);
    await sleep(exp * 1000 - Date.now() + 200);
    await expect(raw.send(MetadataApi, 12, { topics: [] })).rejects.toThrow();
    expect(await closedWithin(raw, 2000)).toBe(true);
  });
});

describe('OAUTHBEARER with JWTs checked against a JWKS URL', () => {
  const sign = (claims: Record<string, unknown>, key = keys.privateKey) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'test-key' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .setIssuer('https://idp.test')
      .setAudience('sluice')
      .sign(key);

  it('accepts a signed token (principal from sub) and refuses a token signed by another key or for another audience', async () => {
    const alice = await Connection.open({
      host: '127.0.0.1',
      port: port('JWT'),
      sasl: { mechanism: 'oauthbearer', token: () => sign({ sub: 'alice' }) },
    });
    expect(await createTopic(alice, 'jwt-alice')).toBe(0);
    alice.close();
    expect(jwksRequests).toBeGreaterThan(0);
    const other = await generateKeyPair('ES256');
    for (const token of [
      await sign({ sub: 'alice' }, other.privateKey),
      await new SignJWT({ sub: 'alice' })
        .setProtectedHeader({ alg: 'ES256', kid: 'test-key' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .setIssuer('https://idp.test')
        .setAudience('someone-else')
        .sign(keys.privateKey),
      unsecured({ sub: 'alice', exp: inSeconds(60), iat: inSeconds(0), aud: 'sluice', iss: 'https://idp.test' }),
    ]) {
      const err = await Connection.open({
        host: '127.0.0.1',
        port: port('JWT'),
        sasl: { mechanism: 'oauthbearer', token: () => token },
      }).catch((e: unknown) => e);
      expect((err as KafkaError).code).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
      expect((err as Error).message).toContain('invalid_token');
    }
  });

  it('refuses to start when the JWKS URL is not in org.apache.kafka.sasl.oauthbearer.allowed.urls (empty by default)', async () => {
    const props = {
      listeners: 'JWT://127.0.0.1:0',
      'listener.security.protocol.map': 'JWT:SASL_PLAINTEXT',
      'sasl.enabled.mechanisms': 'OAUTHBEARER',
      'sasl.oauthbearer.jwks.endpoint.url': jwksUrl(),
      'sasl.oauthbearer.expected.audience': 'sluice',
      'sasl.oauthbearer.expected.issuer': 'https://idp.test',
    };
    const message =
      `Invalid value ${jwksUrl()} for configuration sasl.oauthbearer.jwks.endpoint.url: The URL cannot be accessed due to restrictions. ` +
      "Update the system property 'org.apache.kafka.sasl.oauthbearer.allowed.urls' to allow the URL to be accessed.";
    for (const allowed of [undefined, '', `${jwksUrl()}/other`, 'https://idp.test/jwks']) {
      const extra: Record<string, string> =
        allowed === undefined ? {} : { 'org.apache.kafka.sasl.oauthbearer.allowed.urls': allowed };
      await expect(
        startInProcess({ ...props, ...extra, 'log.dirs': tempDir('sluice-oauth-refused-') }),
      ).rejects.toThrow(message);
    }
    const ok = await startInProcess({
      ...props,
      'org.apache.kafka.sasl.oauthbearer.allowed.urls': jwksUrl(),
      'log.dirs': tempDir('sluice-oauth-allowed-'),
    });
    await ok.stop();
  });
});
