// Listeners with security protocols on a running broker: TLS (with client certificates), SASL
// PLAIN and SCRAM over plaintext and TLS, several listeners at once, and how refused logins and
// requests before authentication are answered (as Kafka: SASL_AUTHENTICATION_FAILED, then close).

import { Connection, Kafka, KafkaError, serde, topic } from '@sluice/client';
import { ApiVersionsApi, ERROR_CODES, MetadataApi, SaslAuthenticateApi, SaslHandshakeApi } from '@sluice/protocol';
import { createScramCredential } from '@sluice/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { scramKey, scramRecord } from '../src/server/broker-security.js';
import { makeTestCerts, type TestCerts } from './certs.js';
import { closedWithin, RawClient, startInProcess, tempDir } from './helpers.js';

const PLAIN_JAAS =
  'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";';

let certs: TestCerts;
let broker: RunningBroker;
beforeAll(async () => {
  certs = makeTestCerts();
  broker = await startInProcess({
    'log.dirs': tempDir('sluice-security-'),
    listeners:
      'PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,OPTIONAL://127.0.0.1:0',
    'listener.security.protocol.map':
      'PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,OPTIONAL:SSL',
    'listener.name.optional.ssl.client.auth': 'requested',
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': certs.brokerKeystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': certs.caFile,
    'listener.name.ssl.ssl.client.auth': 'required',
    'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    'listener.name.sasl_plaintext.plain.sasl.jaas.config': PLAIN_JAAS,
    'listener.name.sasl_ssl.plain.sasl.jaas.config': PLAIN_JAAS,
    'group.initial.rebalance.delay.ms': '0',
  });
  // A SCRAM user as AlterUserScramCredentials would store it.
  await broker.context.store.setSecurityRecords([
    {
      kind: 'scram',
      key: scramKey('carol', 'SCRAM-SHA-512'),
      value: scramRecord(createScramCredential('SCRAM-SHA-512', 'carol-secret', 4096)),
    },
  ]);
}, 60_000);
afterAll(async () => {
  await broker?.stop();
});

const port = (name: string) => broker.listeners[name]!.port;
const open = (name: string, extra: Partial<Parameters<typeof Connection.open>[0]> = {}) =>
  Connection.open({ host: '127.0.0.1', port: port(name), requestTimeoutMs: 5000, ...extra });

describe('listeners with security protocols', () => {
  it('binds every listener and answers Metadata with the endpoint of the listener asked', async () => {
    expect(Object.keys(broker.listeners)).toEqual(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL', 'OPTIONAL']);
    const c = await open('SASL_SSL', {
      ssl: { ca: certs.ca },
      sasl: { mechanism: 'PLAIN', username: 'alice', password: 'alice-secret' },
    });
    const md = await c.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: [] });
    expect(md.brokers.map((b) => b.port)).toEqual([port('SASL_SSL')]);
    c.close();
    const p = await open('PLAINTEXT');
    const md2 = await p.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: [] });
    expect(md2.brokers.map((b) => b.port)).toEqual([port('PLAINTEXT')]);
    p.close();
  });

  it('SSL with ssl.client.auth=required: a trusted client certificate is served, none or an untrusted one is not', async () => {
    const alice = certs.client('alice');
    const c = await open('SSL', { ssl: { ca: certs.ca, ...alice } });
    expect((await c.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: [] })).brokers.length).toBe(1);
    c.close();
    await expect(open('SSL', { ssl: { ca: certs.ca } })).rejects.toThrow();
    await expect(open('SSL', { ssl: { ca: certs.ca, ...certs.untrustedClient() } })).rejects.toThrow();
    // And TLS garbage on the raw socket closes only that connection.
    const raw = await RawClient.connect(port('SSL'));
    raw.writeRaw(Buffer.from('this is not a TLS client hello, not at all'));
    expect(await closedWithin(raw, 5000)).toBe(true);
  });

  it('SSL with ssl.client.auth=requested: served with a trusted certificate or none, closed with an untrusted one', async () => {
    const metadataOk = async (c: Connection) =>
      (await c.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: [] })).brokers.length === 1;
    const none = await open('OPTIONAL', { ssl: { ca: certs.ca } });
    expect(await metadataOk(none)).toBe(true);
    none.close();
    const trusted = await open('OPTIONAL', { ssl: { ca: certs.ca, ...certs.client('dora') } });
    expect(await metadataOk(trusted)).toBe(true);
    trusted.close();
    await expect(
      open('OPTIONAL', { ssl: { ca: certs.ca, ...certs.untrustedClient() }, connectTimeoutMs: 3000 }).then(metadataOk),
    ).rejects.toThrow();
  });

  it('SASL_SSL with SCRAM-SHA-512 and SASL_PLAINTEXT with PLAIN: produce and consume end to end', async () => {
    for (const [listener, sasl, ssl] of [
      ['SASL_SSL', { mechanism: 'SCRAM-SHA-512', username: 'carol', password: 'carol-secret' }, { ca: certs.ca }],
      ['SASL_PLAINTEXT', { mechanism: 'PLAIN', username: 'alice', password: 'alice-secret' }, undefined],
    ] as const) {
      const kafka = new Kafka({ brokers: [`127.0.0.1:${port(listener)}`], sasl, ssl, requestTimeoutMs: 10_000 });
      const t = topic(`secured-${listener.toLowerCase()}`, { key: serde.string(), value: serde.string() });
      const producer = kafka.producer();
      await producer.send(t, { key: 'k', value: `over ${listener}` });
      await producer.close();
      const consumer = kafka.consumer({ groupId: `g-${listener}`, autoOffsetReset: 'earliest' });
      let got = '';
      for await (const r of consumer.records(t)) {
        got = r.value;
        break;
      }
      await consumer.close();
      expect(got).toBe(`over ${listener}`);
    }
  }, 60_000);

  it("refuses a wrong password with SASL_AUTHENTICATION_FAILED and Kafka's message, then closes", async () => {
    for (const sasl of [
      { mechanism: 'PLAIN', username: 'alice', password: 'wrong' },
      { mechanism: 'SCRAM-SHA-512', username: 'carol', password: 'wrong' },
      { mechanism: 'SCRAM-SHA-256', username: 'carol', password: 'carol-secret' }, // no SHA-256 credential
    ] as const) {
      const err = await open('SASL_PLAINTEXT', { sasl }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KafkaError);
      expect((err as KafkaError).code).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
      expect((err as Error).message).toMatch(/Authentication failed/);
    }
    // Raw: the answer arrives, then the connection closes.
    const raw = await RawClient.connect(port('SASL_PLAINTEXT'));
    expect((await raw.send(SaslHandshakeApi, 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
    const res = await raw.send(SaslAuthenticateApi, 2, { authBytes: Buffer.from('\0alice\0nope') });
    expect(res.errorCode).toBe(ERROR_CODES.SASL_AUTHENTICATION_FAILED);
    expect(res.errorMessage).toBe('Authentication failed: Invalid username or password');
    expect(await closedWithin(raw, 2000)).toBe(true);
  });

  it('serves nothing but ApiVersions and SaslHandshake before authentication; an unknown mechanism is answered, then closed', async () => {
    const before = await RawClient.connect(port('SASL_PLAINTEXT'));
    expect(
      (await before.send(ApiVersionsApi, 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' })).errorCode,
    ).toBe(0);
    await expect(before.send(MetadataApi, 12, { topics: [] })).rejects.toThrow();
    expect(await closedWithin(before, 2000)).toBe(true);

    const unknown = await RawClient.connect(port('SASL_PLAINTEXT'));
    const hs = await unknown.send(SaslHandshakeApi, 1, { mechanism: 'GSSAPI' });
    expect(hs.errorCode).toBe(ERROR_CODES.UNSUPPORTED_SASL_MECHANISM);
    expect(hs.mechanisms).toEqual(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']);
    expect(await closedWithin(unknown, 2000)).toBe(true);

    // SASL bytes where a request belongs (no handshake) close the connection.
    const garbage = await RawClient.connect(port('SASL_PLAINTEXT'));
    garbage.writeRaw(Buffer.from([0, 0, 0, 12, 0, 36, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]));
    expect(await closedWithin(garbage, 2000)).toBe(true);

    // A handshake on a listener without SASL is answered ILLEGAL_SASL_STATE (as Kafka) and the connection stays.
    const plain = await RawClient.connect(port('PLAINTEXT'));
    expect((await plain.send(SaslHandshakeApi, 1, { mechanism: 'PLAIN' })).errorCode).toBe(
      ERROR_CODES.ILLEGAL_SASL_STATE,
    );
    expect(await closedWithin(plain, 200)).toBe(false);
    plain.close();
  });

  it('keeps serving other clients through 300 failed logins in a row', async () => {
    const ok = await open('SASL_PLAINTEXT', {
      sasl: { mechanism: 'PLAIN', username: 'alice', password: 'alice-secret' },
    });
    for (let i = 0; i < 300; i++) {
      await expect(
        open('SASL_PLAINTEXT', { sasl: { mechanism: 'PLAIN', username: 'alice', password: `guess-${i}` } }),
      ).rejects.toThrow(/Authentication failed/);
    }
    expect((await ok.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: [] })).brokers.length).toBe(1);
    ok.close();
  }, 60_000);

  it('bounds what a client sends before authenticating by sasl.server.max.receive.size', async () => {
    const raw = await RawClient.connect(port('SASL_PLAINTEXT'));
    // A frame declaring 1 MiB, sent in pieces: closed once past 512 KiB, not buffered to the end.
    const head = Buffer.alloc(4);
    head.writeInt32BE(1 << 20);
    raw.writeRaw(head);
    for (let i = 0; i < 10 && !raw.isClosed; i++) raw.writeRaw(Buffer.alloc(64 * 1024));
    expect(await closedWithin(raw, 2000)).toBe(true);
  });
});

describe('re-authentication (KIP-368)', () => {
  it('reports the session lifetime, accepts a re-authentication, and closes a connection used after it expired', async () => {
    const b = await startInProcess({
      'log.dirs': tempDir('sluice-reauth-'),
      listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
      'sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': PLAIN_JAAS,
      'connections.max.reauth.ms': '800',
    });
    try {
      const raw = await RawClient.connect(b.port);
      const login = async () => {
        expect((await raw.send(SaslHandshakeApi, 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
        return raw.send(SaslAuthenticateApi, 2, { authBytes: Buffer.from('\0alice\0alice-secret') });
      };
      const first = await login();
      expect([first.errorCode, first.sessionLifetimeMs]).toEqual([0, 800n]);
      const md = () => raw.send(MetadataApi, 12, { topics: [] });
      expect((await md()).brokers.length).toBe(1);
      await new Promise((r) => setTimeout(r, 900));
      // Expired, but a new handshake on the same connection is re-authentication.
      expect((await login()).errorCode).toBe(0);
      expect((await md()).brokers.length).toBe(1);
      await new Promise((r) => setTimeout(r, 900));
      await expect(md()).rejects.toThrow();
      expect(await closedWithin(raw, 2000)).toBe(true);
    } finally {
      await b.stop();
    }
  });
});
