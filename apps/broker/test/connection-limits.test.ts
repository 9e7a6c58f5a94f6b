// Kafka's connection limits and idle timeout on a running broker: max.connections.per.ip (and its
// overrides) and max.connections close a new connection over the limit; connections.max.idle.ms
// closes a connection nothing was sent or received on; malformed requests from one address write
// a bounded number of log lines, and every one is counted in a metric.

import { ApiVersionsApi } from '@sluice/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigException } from '../src/config/types.js';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { closedWithin, freePort, RawClient, sleep, startInProcess, tempDir } from './helpers.js';

const brokers: RunningBroker[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const b of brokers.splice(0)) await b.stop();
});

async function start(props: Record<string, string>): Promise<RunningBroker> {
  const b = await startInProcess({ 'log.dirs': tempDir('sluice-limits-'), ...props });
  brokers.push(b);
  return b;
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

/** The connection is served: ApiVersions answers. */
async function served(c: RawClient): Promise<boolean> {
  const r = await Promise.race([
    c.send(ApiVersionsApi, 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' }).then((v) => v.errorCode === 0),
    c.closed.then(() => false),
  ]);
  return r;
}

describe('connection limits', () => {
  it('closes a new connection past max.connections.per.ip, and admits one again after a close', async () => {
    const b = await start({ 'max.connections.per.ip': '2' });
    const [c1, c2] = [await connect(b.port), await connect(b.port)];
    expect(await served(c1)).toBe(true);
    expect(await served(c2)).toBe(true);
    const c3 = await connect(b.port);
    expect(await closedWithin(c3, 2000)).toBe(true);
    c1.close();
    await sleep(50);
    const c4 = await connect(b.port);
    expect(await served(c4)).toBe(true);
    expect(await closedWithin(c2, 100)).toBe(false);
  });

  it('takes an address from max.connections.per.ip.overrides before the default', async () => {
    const b = await start({ 'max.connections.per.ip': '1', 'max.connections.per.ip.overrides': '127.0.0.1:3' });
    const open = [await connect(b.port), await connect(b.port), await connect(b.port)];
    for (const c of open) expect(await served(c)).toBe(true);
    expect(await closedWithin(await connect(b.port), 2000)).toBe(true);
  });

  it('closes a new connection past max.connections', async () => {
    const b = await start({ 'max.connections': '1' });
    const c1 = await connect(b.port);
    expect(await served(c1)).toBe(true);
    expect(await closedWithin(await connect(b.port), 2000)).toBe(true);
    expect(await served(c1)).toBe(true);
  });

  it('refuses overrides that are not ip:count, and a per-IP maximum of 0 without overrides, as Kafka', async () => {
    await expect(start({ 'max.connections.per.ip.overrides': 'nonsense' })).rejects.toThrow(ConfigException);
    await expect(start({ 'max.connections.per.ip': '0' })).rejects.toThrow(ConfigException);
  });

  it('closes a connection idle for connections.max.idle.ms, not one in use', async () => {
    const b = await start({ 'connections.max.idle.ms': '300' });
    const idle = await connect(b.port);
    const busy = await connect(b.port);
    const started = Date.now();
    // The busy one sends a request every 100 ms for 900 ms.
    for (let i = 0; i < 9; i++) {
      expect(await served(busy)).toBe(true);
      await sleep(100);
    }
    expect(idle.isClosed).toBe(true);
    await idle.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(busy.isClosed).toBe(false);
  });
});

describe('malformed requests from one address', () => {
  it('write at most 20 log lines a minute, and all are counted in sluice_invalid_requests_total', async () => {
    const lines: string[] = [];
    const metricsPort = await freePort();
    const b = await startBroker({
      props: { 'log.dirs': tempDir('sluice-limits-'), 'metrics.port': String(metricsPort) },
      logger: createLogger('info', { destination: { write: (l: string) => lines.push(l) } }),
    });
    brokers.push(b);
    const bad = Buffer.from([0, 0, 0, 8, 0x7a, 0xbc, 0, 0, 0, 0, 0, 1]); // an API key that does not exist
    for (let i = 0; i < 60; i++) {
      const c = await connect(b.port);
      c.writeRaw(bad);
      expect(await closedWithin(c, 2000)).toBe(true);
    }
    const closing = lines.filter((l) => l.includes('closing connection'));
    expect(closing.length).toBe(20);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toMatch(/^sluice_invalid_requests_total 60$/m);
    expect(text).toMatch(/^sluice_log_lines_suppressed_total 40$/m);
    expect(text).toMatch(/^sluice_log_dir_offline 0$/m);
  });
});
