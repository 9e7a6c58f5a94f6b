// A cluster without some APIs (an older Kafka, another implementation): the pages that use them
// still render, saying what is missing, instead of failing.
import type { RunningBroker } from '@sluice/broker';
import { startBroker } from '@sluice/broker';
import type { Admin, createContext } from '@sluice/client';
import { DescribeConfigsApi, DescribeLogDirsApi } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { ClusterView } from '../src/cluster.js';

let broker: RunningBroker;
let cluster: ClusterView;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  broker = await startBroker();
  cluster = new ClusterView([broker.bootstrap]);
  await (cluster.admin as Admin).createTopics([
    { name: 'plain', numPartitions: 2, configs: { 'retention.ms': '60000' } },
  ]);
  // As if the broker had announced neither API: the client then refuses them with UNSUPPORTED_VERSION.
  const ctx = (cluster as unknown as { ctx: ReturnType<typeof createContext> }).ctx;
  const conn = await ctx.pool.any();
  conn.versions.delete(DescribeLogDirsApi.apiKey);
  conn.versions.delete(DescribeConfigsApi.apiKey);
  app = createApp({ cluster, metricsUrls: async () => [] });
});

afterAll(async () => {
  await cluster?.close();
  await broker?.stop();
});

const get = async (path: string) => {
  const res = await app.request(`http://127.0.0.1${path}`, { headers: { host: '127.0.0.1' } });
  return { status: res.status, body: await res.text() };
};

describe('missing APIs', () => {
  it('the topic list renders without sizes and retention', async () => {
    const { status, body } = await get('/topics');
    expect(status).toBe(200);
    expect(body).toContain('Sizes: the cluster does not answer DescribeLogDirs.');
    expect(body).toMatch(/plain<\/a><\/td><td class="num">2<\/td><td class="num">—<\/td><td class="num">—</);
  });

  it('a topic page renders its partitions and says the configs could not be read', async () => {
    const { status, body } = await get('/topics/plain');
    expect(status).toBe(200);
    expect(body).toContain('<h2>Partitions (2)</h2>');
    expect(body).toMatch(/DescribeConfigs failed: .*(UNSUPPORTED_VERSION|not support)/i);
  });

  it('the live counters fall back to end offsets without a metrics endpoint', async () => {
    const res = await app.request('http://127.0.0.1/api/counters', { headers: { host: '127.0.0.1' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { source: string }).source).toBe('offsets');
  });
});
