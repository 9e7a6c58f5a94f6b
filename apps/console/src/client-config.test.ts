import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClientProperties, securityFromProperties } from './client-config.js';

const file = `# as for kafka-topics --command-config
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="p\\"w=1";
`;

const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
const dir = mkdtempSync(join(tmpdir(), 'sluice-console-config-'));
function write(name: string, text: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('securityFromProperties: SASL', () => {
  it("reads Kafka's client settings, flags over the file", () => {
    const props = parseClientProperties(file);
    expect(securityFromProperties(props).sasl).toEqual({
      mechanism: 'SCRAM-SHA-512',
      username: 'alice',
      password: 'p"w=1',
    });
    expect(securityFromProperties(props, { saslMechanism: 'PLAIN' }).sasl?.mechanism).toBe('PLAIN');
    expect(securityFromProperties(props, { securityProtocol: 'PLAINTEXT' })).toEqual({ login: false });
    expect(securityFromProperties({})).toEqual({ login: false });
  });

  it('a SASL protocol without credentials, or --login, means a login page per session', () => {
    expect(
      securityFromProperties({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'SCRAM-SHA-256' }),
    ).toEqual({
      login: true,
      mechanism: 'SCRAM-SHA-256',
    });
    expect(securityFromProperties({ 'security.protocol': 'SASL_PLAINTEXT' })).toEqual({ login: true });
    expect(securityFromProperties({}, { login: true })).toEqual({ login: true, mechanism: 'PLAIN' });
    expect(() => securityFromProperties(parseClientProperties(file), { login: true })).toThrow(/fixed identity/);
  });

  it('names what is wrong', () => {
    const props = parseClientProperties(file);
    expect(() => securityFromProperties(props, { securityProtocol: 'SASL_TLS' })).toThrow(/security.protocol SASL_TLS/);
    expect(() => securityFromProperties(props, { saslMechanism: 'GSSAPI' })).toThrow(/sasl.mechanism GSSAPI/);
    expect(() =>
      securityFromProperties({
        'security.protocol': 'SASL_PLAINTEXT',
        'sasl.mechanism': 'PLAIN',
        'sasl.jaas.config': 'x required;',
      }),
    ).toThrow(/username/);
    expect(() => parseClientProperties('=nokey')).toThrow(/cannot read/);
  });
});

describe('securityFromProperties: TLS', () => {
  const ca = pem('CERTIFICATE', 'Y2E=');
  const caFile = write('ca.pem', `some text\n${ca}\n`);

  it('SSL: the PEM trust store becomes the CAs; no trust store means the system CAs', () => {
    const s = securityFromProperties({
      'security.protocol': 'SSL',
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': caFile,
    });
    expect(s.ssl).toEqual({ ca: [ca] });
    expect(s.sasl).toBeUndefined();
    expect(securityFromProperties({ 'security.protocol': 'SSL' }).ssl).toEqual({});
  });

  it('a PEM key store gives the client key and chain (mutual TLS), with ssl.key.password', () => {
    const key = pem('ENCRYPTED PRIVATE KEY', 'a2V5');
    const cert = pem('CERTIFICATE', 'Y2VydA==');
    const keystore = write('client.keystore.pem', `${key}\n${cert}\n${ca}\n`);
    const s = securityFromProperties({
      'security.protocol': 'SSL',
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': keystore,
      'ssl.key.password': 'k',
    });
    expect(s.ssl).toEqual({ key, cert: `${cert}\n${ca}`, passphrase: 'k' });
    const p12 = write('client.p12', Buffer.from([0x30, 0x82, 0x01]));
    const pk = securityFromProperties({
      'security.protocol': 'SSL',
      'ssl.keystore.type': 'PKCS12',
      'ssl.keystore.location': p12,
      'ssl.keystore.password': 'pw',
    }).ssl as { pfx: Buffer; passphrase: string };
    expect([...pk.pfx]).toEqual([0x30, 0x82, 0x01]);
    expect(pk.passphrase).toBe('pw');
  });

  it('ssl.endpoint.identification.algorithm empty skips the host name check only', () => {
    const s = securityFromProperties({
      'security.protocol': 'SASL_SSL',
      'ssl.truststore.location': caFile,
      'ssl.endpoint.identification.algorithm': '',
    });
    expect(s.login).toBe(true);
    const ssl = s.ssl as { ca: string[]; checkServerIdentity: () => undefined };
    expect(ssl.ca).toEqual([ca]);
    expect(ssl.checkServerIdentity()).toBeUndefined();
  });

  it('names what it cannot read', () => {
    const jks = write('trust.jks', Buffer.from([0xfe, 0xed, 0xfe, 0xed]));
    expect(() => securityFromProperties({ 'security.protocol': 'SSL', 'ssl.truststore.location': jks })).toThrow(
      /ssl.truststore.type JKS is not supported/,
    );
    expect(() =>
      securityFromProperties({ 'security.protocol': 'SSL', 'ssl.truststore.location': join(dir, 'missing.pem') }),
    ).toThrow(/missing.pem/);
    expect(() =>
      securityFromProperties({
        'security.protocol': 'SSL',
        'ssl.keystore.type': 'PEM',
        'ssl.keystore.location': caFile,
      }),
    ).toThrow(/must hold one private key/);
    expect(() =>
      securityFromProperties({ 'security.protocol': 'SSL', 'ssl.endpoint.identification.algorithm': 'ldap' }),
    ).toThrow(/identification.algorithm ldap/);
  });
});
