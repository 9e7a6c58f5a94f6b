// The console over TLS to brokers, configured by Kafka's client settings as `--command-config`
// takes them: a PEM trust store, a PEM key store for mutual TLS, host name verification
// (ssl.endpoint.identification.algorithm) and SASL_SSL with the login page.
import { readFileSync } from 'node:fs';
import { type RunningBroker, startBroker } from '@sluice/broker';
import { Admin } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { securityFromProperties } from '../src/client-config.js';
import { type RunningConsole, startConsole } from '../src/index.js';
import { type ConsoleTestCerts, makeCerts } from './certs.js';

const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-pw";';
let certs: ConsoleTestCerts;
let broker: RunningBroker;
/** A broker whose certificate names another host than the one the console dials. */
let misnamed: RunningBroker;
const consoles: RunningConsole[] = [];

function brokerProps(keystore: string, listeners: string): Record<string, string> {
  return {
    listeners,
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': keystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': certs.caFile,
    'listener.name.ssl.ssl.client.auth': 'required',
    'sasl.enabled.mechanisms': 'PLAIN',
    'listener.name.sasl_ssl.plain.sasl.jaas.config': JAAS,
  };
}

beforeAll(async () => {
  certs = makeCerts();
  broker = await startBroker({
    props: brokerProps(
      certs.brokerKeystore('broker', 'DNS:localhost,IP:127.0.0.1'),
      'SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0',
    ),
  });
  misnamed = await startBroker({
    props: brokerProps(certs.brokerKeystore('misnamed', 'DNS:elsewhere.invalid'), 'SSL://127.0.0.1:0'),
  });
}, 60_000);
afterAll(async () => {
  await Promise.all(consoles.map((c) => c.close()));
  await broker?.stop();
  await misnamed?.stop();
});

/** A console started as `sluice console --command-config` with these properties would be. */
async function consoleWith(target: RunningBroker, listener: string, props: Record<string, string>) {
  const security = securityFromProperties(props);
  const c = await startConsole({
    bootstrap: [`127.0.0.1:${target.listeners[listener]?.port}`],
    port: 0,
    ssl: security.ssl,
    sasl: security.sasl,
    login: security.login,
  });
  consoles.push(c);
  return c;
}

const mutualTls = () => ({
  'security.protocol': 'SSL',
  'ssl.truststore.type': 'PEM',
  'ssl.truststore.location': certs.caFile,
  'ssl.keystore.type': 'PEM',
  'ssl.keystore.location': certs.clientKeystore,
});

describe('the console over TLS', () => {
  it('SSL with a client certificate (ssl.client.auth=required): pages load, a topic made through the form exists', async () => {
    const c = await consoleWith(broker, 'SSL', mutualTls());
    const overview = await fetch(`${c.url}/`);
    expect(overview.status).toBe(200);
    expect(await overview.text()).toContain(broker.clusterId);
    const made = await fetch(`${c.url}/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: c.url },
      body: 'name=made-over-tls&partitions=3&replicationFactor=&configs=',
      redirect: 'manual',
    });
    expect(made.status).toBe(303);
    const admin = new Admin({
      brokers: [`127.0.0.1:${broker.listeners.SASL_SSL?.port}`],
      ssl: { ca: readFileSync(certs.caFile, 'utf8') },
      sasl: { mechanism: 'PLAIN', username: 'alice', password: 'alice-pw' },
    });
    try {
      const [info] = await admin.describeTopics(['made-over-tls']);
      expect(info.partitions).toHaveLength(3);
    } finally {
      await admin.close();
    }
  });

  it('without the client certificate, or trusting another CA, the page names the TLS failure', async () => {
    const { 'ssl.keystore.location': _, 'ssl.keystore.type': __, ...noKeystore } = mutualTls();
    const noCert = await fetch(`${(await consoleWith(broker, 'SSL', noKeystore)).url}/topics`);
    expect(noCert.status).toBeGreaterThanOrEqual(500);
    const t1 = await noCert.text();
    expect(t1).toMatch(/NETWORK_EXCEPTION:.*certificate required/);

    const untrusted = await fetch(
      `${(await consoleWith(broker, 'SSL', { ...mutualTls(), 'ssl.truststore.location': certs.otherCaFile })).url}/topics`,
    );
    expect(untrusted.status).toBeGreaterThanOrEqual(500);
    const t2 = await untrusted.text();
    expect(t2).toMatch(/NETWORK_EXCEPTION:.*self-signed certificate in certificate chain/);
  });

  it('checks the broker name against its certificate unless ssl.endpoint.identification.algorithm is empty', async () => {
    const checked = await fetch(`${(await consoleWith(misnamed, 'SSL', mutualTls())).url}/`);
    expect(checked.status).toBeGreaterThanOrEqual(500);
    const t3 = await checked.text();
    expect(t3).toMatch(/Hostname\/IP does not match certificate/);
    const unchecked = await consoleWith(misnamed, 'SSL', {
      ...mutualTls(),
      'ssl.endpoint.identification.algorithm': '',
    });
    const res = await fetch(`${unchecked.url}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(misnamed.clusterId);
  });

  it('SASL_SSL without credentials in the file: the login page, then pages over TLS as that user', async () => {
    const c = await consoleWith(broker, 'SASL_SSL', {
      'security.protocol': 'SASL_SSL',
      'sasl.mechanism': 'PLAIN',
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': certs.caFile,
    });
    expect((await fetch(`${c.url}/topics`, { redirect: 'manual' })).headers.get('location')).toBe(
      '/login?next=%2Ftopics',
    );
    const login = await fetch(`${c.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: c.url },
      body: 'username=alice&password=alice-pw&mechanism=PLAIN&next=%2Ftopics',
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
    const topics = await fetch(`${c.url}/topics`, { headers: { cookie } });
    expect(topics.status).toBe(200);
    expect(await topics.text()).toContain('made-over-tls');
  });
});
