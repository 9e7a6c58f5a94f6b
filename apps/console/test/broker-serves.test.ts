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

  it('is off by default', async () => {
    const broker = await startBroker();
    try {
      expect(broker.context.config.console).toBeNull();
    } finally {
      await broker.stop();
    }
  });
});
