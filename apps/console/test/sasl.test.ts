// The console on a SASL_PLAINTEXT listener: with the right credentials every page and action works
// as the configured user (checked through the Kafka protocol); with wrong ones, or none, the page
// names Kafka's error instead of hanging or crashing.
import { type RunningBroker, startBroker } from '@sluice/broker';
import { Admin } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConsole, startConsole } from '../src/index.js';

const JAAS =
  'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-pw" user_alice="alice-pw";';
let broker: RunningBroker;
const consoles: RunningConsole[] = [];

beforeAll(async () => {
  broker = await startBroker({
    props: {
      listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
      'sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': JAAS,
    },
  });
});
afterAll(async () => {
  await Promise.all(consoles.map((c) => c.close()));
  await broker?.stop();
});

async function consoleAs(sasl?: { username: string; password: string }): Promise<RunningConsole> {
  const c = await startConsole({
    bootstrap: [broker.bootstrap],
    port: 0,
    sasl: sasl === undefined ? undefined : { mechanism: 'PLAIN', ...sasl },
  });
  consoles.push(c);
  return c;
}

describe('the console on a SASL listener', () => {
  it('logs in with the configured credentials: pages load, a topic made through the form exists', async () => {
    const c = await consoleAs({ username: 'alice', password: 'alice-pw' });
    const overview = await fetch(`${c.url}/`);
    expect(overview.status).toBe(200);
    expect(await overview.text()).toContain(broker.clusterId);
    const made = await fetch(`${c.url}/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: c.url },
      body: 'name=made-over-sasl&partitions=2&replicationFactor=&configs=',
      redirect: 'manual',
    });
    expect(made.status).toBe(303);
    const admin = new Admin({
      brokers: [broker.bootstrap],
      sasl: { mechanism: 'PLAIN', username: 'admin', password: 'admin-pw' },
    });
    try {
      const [info] = await admin.describeTopics(['made-over-sasl']);
      expect(info.partitions).toHaveLength(2);
    } finally {
      await admin.close();
    }
  });

  it('names the failed login when the password is wrong', async () => {
    const c = await consoleAs({ username: 'alice', password: 'wrong' });
    const res = await fetch(`${c.url}/topics`);
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('SASL_AUTHENTICATION_FAILED');
  });
});
