// Certificate reload without restart, as Kafka's dynamic SSL update: IncrementalAlterConfigs of
// `listener.name.<l>.ssl.keystore.location` on this broker's resource re-reads the key store; new
// connections get the new certificate, open ones keep working; a store that does not load, a
// different subject, or the name without the listener prefix is refused and changes nothing.

import { copyFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { Connection } from '@sluice/client';
import { ERROR_CODES, IncrementalAlterConfigsApi, MetadataApi } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { makeTestCerts, type TestCerts } from './certs.js';
import { startInProcess, tempDir } from './helpers.js';

let certs: TestCerts;
let broker: RunningBroker;
let admin: Connection;

beforeAll(async () => {
  certs = makeTestCerts();
  broker = await startInProcess({
    'log.dirs': tempDir('sluice-tls-reload-'),
    listeners: 'PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,SSL:SSL',
    'listener.name.ssl.ssl.keystore.type': 'PEM',
    'listener.name.ssl.ssl.keystore.location': certs.brokerKeystore,
  });
  admin = await Connection.open({ host: '127.0.0.1', port: broker.listeners.PLAINTEXT!.port });
}, 60_000);
afterAll(async () => {
  admin?.close();
  await broker?.stop();
});

/** The SHA-256 fingerprint of the certificate a new TLS connection to the SSL listener gets. */
function servedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port: broker.listeners.SSL!.port, ca: certs.ca, servername: 'localhost' },
      () => {
        const fp = s.getPeerX509Certificate()!.fingerprint256;
        s.destroy();
        resolve(fp);
      },
    );
    s.once('error', reject);
  });
}

const fingerprintOf = async (keystore: string) => {
  const { X509Certificate } = await import('node:crypto');
  const { readFileSync } = await import('node:fs');
  const pem = readFileSync(keystore, 'utf8');
  return new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----'))).fingerprint256;
};

async function setConfigs(configs: Record<string, string>, resourceName = String(broker.context.nodeId)) {
  const res = await admin.request(IncrementalAlterConfigsApi, {
    resources: [
      {
        resourceType: 4, // BROKER
        resourceName,
        configs: Object.entries(configs).map(([name, value]) => ({ name, configOperation: 0, value })),
      },
    ],
    validateOnly: false,
  });
  return res.responses[0]!;
}

describe('dynamic ssl.keystore.location (certificate reload)', () => {
  it('new connections get the new certificate, open ones keep working', async () => {
    const before = await servedFingerprint();
    expect(before).toBe(await fingerprintOf(certs.brokerKeystore));
    const open = await Connection.open({ host: '127.0.0.1', port: broker.listeners.SSL!.port, ssl: { ca: certs.ca } });
    try {
      const renewed = certs.renewedBrokerKeystore();
      const res = await setConfigs({ 'listener.name.ssl.ssl.keystore.location': renewed });
      expect([res.errorCode, res.errorMessage]).toEqual([0, null]);
      const after = await servedFingerprint();
      expect(after).not.toBe(before);
      expect(after).toBe(await fingerprintOf(renewed));
      expect((await open.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: [] })).brokers.length).toBe(
        1,
      );
      // The same location set again after the file was replaced is read again (Kafka compares file times).
      copyFileSync(certs.renewedBrokerKeystore(), renewed);
      expect((await setConfigs({ 'listener.name.ssl.ssl.keystore.location': renewed })).errorCode).toBe(0);
      const third = await servedFingerprint();
      expect(third).not.toBe(after);
      expect(third).toBe(await fingerprintOf(renewed));
    } finally {
      open.close();
    }
  });

  it('refuses a store that does not load, another subject, the unprefixed name and the cluster default; nothing changes', async () => {
    const served = await servedFingerprint();
    const refusals: [Record<string, string>, string, RegExp][] = [
      [
        { 'listener.name.ssl.ssl.keystore.location': '/nonexistent/keystore.pem' },
        String(broker.context.nodeId),
        /SSLFactory failed/,
      ],
      [
        {
          'listener.name.ssl.ssl.keystore.location': certs.renewedBrokerKeystore({
            subject: '/CN=impostor/O=Elsewhere',
          }),
        },
        String(broker.context.nodeId),
        /Keystore DistinguishedName does not match/,
      ],
      [
        { 'ssl.keystore.location': certs.renewedBrokerKeystore() },
        String(broker.context.nodeId),
        /only per-listener using the listener prefix/,
      ],
      [{ 'listener.name.ssl.ssl.keystore.location': certs.renewedBrokerKeystore() }, '', /broker id must be specified/],
    ];
    for (const [configs, resource, message] of refusals) {
      const res = await setConfigs(configs, resource);
      expect(res.errorCode).toBe(ERROR_CODES.INVALID_REQUEST);
      expect(res.errorMessage).toMatch(message);
    }
    expect(await servedFingerprint()).toBe(served);
  });
});
