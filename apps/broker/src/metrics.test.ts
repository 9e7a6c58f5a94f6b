import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type MetricsServer } from './metrics.js';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function sample(text: string, metric: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric} `));
  return line === undefined ? undefined : Number(line.slice(metric.length + 1));
}

describe('metrics', () => {
  it('serves the counters over HTTP at /metrics', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.observeRequest('Produce', 0.002, 9);
    m.observeRequest('Produce', 0.004, 9);
    m.observeRequest('Fetch', 0.3, 12);
    m.bytesIn('orders', 1000, 10);
    m.bytesIn('orders', 24);
    m.bytesOut('orders', 512);
    m.connectionOpened();
    m.connectionOpened();
    m.connectionClosed();
    m.requestError('Produce', 'MESSAGE_TOO_LARGE');
    m.setBrokerStateSource(() => ({ logDirOffline: true, queuedRequestBytes: 4242 }));
    let scrapes = 0;
    m.setPartitionSizeSource(() => {
      scrapes++;
      return [
        { topic: 'orders', partition: 0, bytes: 4096 },
        { topic: 'orders', partition: 1, bytes: 8192 * scrapes },
      ];
    });
    server = await m.listen(0);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sample(text, 'sluice_requests_total{api="Produce",version="9"}')).toBe(2);
    expect(sample(text, 'sluice_requests_total{api="Fetch",version="12"}')).toBe(1);
    expect(sample(text, 'sluice_request_duration_seconds_count{api="Produce",version="9"}')).toBe(2);
    expect(sample(text, 'sluice_request_duration_seconds_sum{api="Produce",version="9"}')).toBeCloseTo(0.006, 9);
    expect(sample(text, 'sluice_request_duration_seconds_bucket{le="0.0025",api="Produce",version="9"}')).toBe(1);
    expect(sample(text, 'sluice_request_duration_seconds_bucket{le="0.005",api="Produce",version="9"}')).toBe(2);
    expect(sample(text, 'sluice_bytes_in_total{topic="orders"}')).toBe(1024);
    expect(sample(text, 'sluice_records_in_total{topic="orders"}')).toBe(10);
    expect(sample(text, 'sluice_bytes_out_total{topic="orders"}')).toBe(512);
    expect(sample(text, 'sluice_connections')).toBe(1);
    expect(sample(text, 'sluice_connections_opened_total')).toBe(2);
    expect(sample(text, 'sluice_request_errors_total{api="Produce",error="MESSAGE_TOO_LARGE"}')).toBe(1);
    expect(sample(text, 'sluice_partition_size_bytes{topic="orders",partition="1"}')).toBe(8192);
    expect(sample(text, 'sluice_log_dir_offline')).toBe(1);
    expect(sample(text, 'sluice_queued_request_bytes')).toBe(4242);

    // The gauge is computed at each scrape.
    const again = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(sample(again, 'sluice_partition_size_bytes{topic="orders",partition="1"}')).toBe(16384);

    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('forgets deleted topics and bounds topic labels', async () => {
    const m = createMetrics({ defaultMetrics: false, maxTopics: 2 });
    m.bytesIn('a', 1);
    m.bytesIn('b', 1);
    m.bytesIn('c', 5);
    let text = await m.text();
    expect(sample(text, 'sluice_bytes_in_total{topic="_other"}')).toBe(5);
    m.forgetTopic('a');
    m.bytesIn('d', 7);
    text = await m.text();
    expect(sample(text, 'sluice_bytes_in_total{topic="a"}')).toBeUndefined();
    expect(sample(text, 'sluice_bytes_in_total{topic="d"}')).toBe(7);
  });

  it('two instances keep separate registries; default metrics are prefixed', async () => {
    const a = createMetrics();
    const b = createMetrics({ defaultMetrics: false });
    a.observeRequest('Metadata', 0.001, 12);
    expect(await b.text()).not.toMatch(/api="Metadata"/);
    expect(await a.text()).toMatch(/sluice_process_cpu_user_seconds_total/);
  });
});
