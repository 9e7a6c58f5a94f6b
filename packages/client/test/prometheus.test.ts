import type { RunningBroker } from '@sluice/broker';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumer, Producer, serde, topic } from '../src/index.js';
import { PrometheusSink } from '../src/prometheus.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(2);
});
afterAll(async () => {
  await broker.stop();
});

/** The value of one sample line of the text exposition, e.g. `name{a="b"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('prom-client adapter', () => {
  it('exposes per-client counters and latency histograms after producing and consuming', async () => {
    const registry = new Registry();
    const producerSink = new PrometheusSink({ registry, clientId: 'prod-1' });
    const consumerSink = new PrometheusSink({ registry, clientId: 'cons-1' });
    const name = uniqueTopic('prom');
    const t = topic(name, { value: serde.string() });

    const p = new Producer({ brokers: [broker.bootstrap], metrics: producerSink }, { lingerMs: 1 });
    await Promise.all(Array.from({ length: 120 }, (_, n) => p.send(t, { value: `v${n}` })));
    await p.close();

    const c = new Consumer({ brokers: [broker.bootstrap], metrics: consumerSink }, { autoOffsetReset: 'earliest' });
    let read = 0;
    for await (const _ of c.records(t)) if (++read === 120) break;
    await c.close();

    const text = await registry.metrics();
    expect(sample(text, 'sluice_client_records_sent_total{client_id="prod-1"}')).toBe(120);
    expect(sample(text, 'sluice_client_records_consumed_total{client_id="cons-1"}')).toBe(120);
    // Each client's series are its own.
    expect(sample(text, 'sluice_client_records_sent_total{client_id="cons-1"}')).toBeUndefined();
    expect(sample(text, 'sluice_client_bytes_sent_total{client_id="prod-1"}')).toBeGreaterThan(120 * 2);

    // Request latency histograms per API: Produce for the producer, Fetch for the consumer.
    const produced = sample(text, 'sluice_client_requests_total{client_id="prod-1",api="Produce"}') ?? 0;
    expect(produced).toBeGreaterThan(0);
    expect(sample(text, 'sluice_client_request_latency_seconds_count{client_id="prod-1",api="Produce"}')).toBe(
      produced,
    );
    expect(
      sample(text, 'sluice_client_request_latency_seconds_bucket{le="+Inf",client_id="prod-1",api="Produce"}'),
    ).toBe(produced);
    expect(sample(text, 'sluice_client_request_latency_seconds_sum{client_id="prod-1",api="Produce"}')).toBeGreaterThan(
      0,
    );
    expect(sample(text, 'sluice_client_requests_total{client_id="cons-1",api="Fetch"}')).toBeGreaterThan(0);
    expect(sample(text, 'sluice_client_requests_total{client_id="prod-1",api="Fetch"}')).toBeUndefined();
    // The producer's own send-to-acknowledgement histogram (observe('produce_request_latency_ms')).
    expect(sample(text, 'sluice_client_produce_request_latency_seconds_count{client_id="prod-1"}')).toBe(produced);
    expect(text).toContain('# TYPE sluice_client_request_latency_seconds histogram');
  });

  it('shares metric objects between sinks on one registry and refuses a clashing type', () => {
    const registry = new Registry();
    const a = new PrometheusSink({ registry, clientId: 'a' });
    const b = new PrometheusSink({ registry, clientId: 'b' });
    a.count('retries', 2);
    b.count('retries', 3);
    a.observe('x_ms', 1500);
    expect(registry.getMetricsAsArray().filter((m) => m.name === 'sluice_client_retries_total')).toHaveLength(1);
    return registry.metrics().then((text) => {
      expect(sample(text, 'sluice_client_retries_total{client_id="a"}')).toBe(2);
      expect(sample(text, 'sluice_client_retries_total{client_id="b"}')).toBe(3);
      expect(sample(text, 'sluice_client_x_seconds_sum{client_id="a"}')).toBe(1.5);
      expect(sample(text, 'sluice_client_x_seconds_bucket{le="2.5",client_id="a"}')).toBe(1);
      expect(sample(text, 'sluice_client_x_seconds_bucket{le="1",client_id="a"}')).toBe(0);
      const other = new Registry();
      new Gauge({ name: 'sluice_client_requests_total', help: 'not a counter', registers: [other] });
      expect(() => new PrometheusSink({ registry: other })).toThrow(TypeError);
    });
  });
});
