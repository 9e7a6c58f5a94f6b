// `sluice broker` with console.port set serves the console itself, and stops it with the broker.
import { startBroker } from '@sluice/broker';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers.js';

describe('console.port', () => {
  it('the broker serves the console on 127.0.0.1 while it runs, with its own metrics for the live view', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const broker = await startBroker({ props: { 'console.port': String(port), 'metrics.port': String(metricsPort) } });
    try {
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(broker.clusterId);
      const counters = (await (await fetch(`http://127.0.0.1:${port}/api/counters`)).json()) as { source: string };
      expect(counters.source).toBe('prometheus');
    } finally {
      await broker.stop();
    }
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('on a SASL listener the broker-served console asks each browser to log in', async () => {
    const port = await freePort();
    const broker = await startBroker({
      props: {
        'console.port': String(port),
        listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
        'sasl.enabled.mechanisms': 'PLAIN',
        'listener.name.sasl_plaintext.plain.sasl.jaas.config':
          'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-pw";',
      },
    });
    try {
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/`, { redirect: 'manual' })).headers.get('location')).toBe('/login?next=%2F');
      const login = await fetch(`${url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url },
        body: 'username=alice&password=alice-pw&mechanism=PLAIN&next=%2F',
        redirect: 'manual',
      });
      expect(login.status).toBe(303);
      const page = await fetch(`${url}/`, {
        headers: { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0] },
      });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(broker.clusterId);
    } finally {
      await broker.stop();
    }
  });

  it('is off by default', async () => {
    const broker = await startBroker();
    try {
      expect(broker.context.config.console).toBeNull();
    } finally {
      await broker.stop();
    }
  });
});
