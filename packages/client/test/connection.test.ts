import { createServer } from 'node:net';
import type { RunningBroker } from '@sluice/broker';
import {
  AddPartitionsToTxnApi,
  ApiVersionsApi,
  defaultMetadataRequest,
  MetadataApi,
  ProduceApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerPool, parseAddress } from '../src/broker-pool.js';
import { Connection } from '../src/connection.js';
import { ConnectionError, KafkaError, RequestTimeoutError } from '../src/errors.js';
import { Metadata } from '../src/metadata.js';
import { Metrics } from '../src/metrics.js';
import { backoffMs, withRetry } from '../src/retry.js';
import { clientRange, negotiateVersions } from '../src/versions.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(3);
});
afterAll(async () => {
  await broker.stop();
});

describe('version negotiation', () => {
  it('picks min(max) when the ranges overlap and leaves an API out when they do not', () => {
    const v = negotiateVersions([
      { apiKey: ProduceApi.apiKey, minVersion: 3, maxVersion: 99 },
      { apiKey: MetadataApi.apiKey, minVersion: 0, maxVersion: 4 },
      { apiKey: ApiVersionsApi.apiKey, minVersion: 50, maxVersion: 60 },
      { apiKey: 9999, minVersion: 0, maxVersion: 1 },
    ]);
    // The client's own ceiling for Produce (v12+ mean transactions V2 and topic ids, which it does not speak).
    expect(v.get(ProduceApi.apiKey)).toBe(clientRange(ProduceApi).max);
    expect(clientRange(ProduceApi).max).toBe(11);
    expect(v.get(MetadataApi.apiKey)).toBe(4);
    expect(v.has(ApiVersionsApi.apiKey)).toBe(false);
    expect(v.has(9999)).toBe(false);
  });

  it('takes caps given in place of its own (a broker speaks AddPartitionsToTxn v4+ to another broker)', () => {
    const theirs = [{ apiKey: AddPartitionsToTxnApi.apiKey, minVersion: 0, maxVersion: 5 }];
    expect(negotiateVersions(theirs).get(AddPartitionsToTxnApi.apiKey)).toBe(3);
    expect(
      negotiateVersions(theirs, new Map([[AddPartitionsToTxnApi.apiKey, 5]])).get(AddPartitionsToTxnApi.apiKey),
    ).toBe(5);
  });

  it('negotiates with the broker and uses the agreed versions', async () => {
    const { host, port } = parseAddress(broker.bootstrap);
    const c = await Connection.open({ host, port });
    expect(c.versions.get(MetadataApi.apiKey)).toBeGreaterThanOrEqual(9);
    expect(c.version(MetadataApi, 4)).toBe(4);
    const res = await c.request(MetadataApi, { ...defaultMetadataRequest(), topics: [] }, { maxVersion: 1 });
    expect(res.brokers.length).toBe(1);
    c.close();
  });
});

describe('connection', () => {
  it('pipelines many requests over one socket with a bounded number in flight', async () => {
    const { host, port } = parseAddress(broker.bootstrap);
    const metrics = new Metrics();
    const c = await Connection.open({ host, port, maxInFlight: 3, metrics });
    let maxSeen = 0;
    const all = Array.from({ length: 50 }, () => {
      const p = c.request(MetadataApi, { ...defaultMetadataRequest(), topics: [] });
      maxSeen = Math.max(maxSeen, c.inFlight);
      return p;
    });
    const res = await Promise.all(all);
    expect(res).toHaveLength(50);
    expect(maxSeen).toBe(3);
    expect(metrics.snapshot().counters['requests{api=Metadata}']).toBe(50);
    expect(metrics.snapshot().histograms['request_latency_ms{api=Metadata}'].count).toBe(50);
    c.close();
  });

  it('fails pending requests with a retriable error when the broker goes silent', async () => {
    // A server that accepts and answers ApiVersions, then never answers again.
    const server = createServer((s) => {
      s.once('data', (d) => {
        const corr = d.readInt32BE(8);
        const body = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // v4 response header v0 (correlation id), error 0, compact array of 0 keys (1), throttle (4), no tagged fields (1).
        const frame = Buffer.alloc(4 + 4 + 2 + 1 + 4 + 1);
        frame.writeInt32BE(frame.length - 4, 0);
        frame.writeInt32BE(corr, 4);
        frame.writeInt16BE(0, 8);
        frame.writeUInt8(1, 10);
        void body;
        s.write(frame);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const c = await Connection.open({ host: '127.0.0.1', port, requestTimeoutMs: 200 });
    // No Metadata version was negotiated: the request fails at once, typed.
    await expect(c.request(MetadataApi, defaultMetadataRequest())).rejects.toMatchObject({
      errorName: 'UNSUPPORTED_VERSION',
    });
    c.versions.set(MetadataApi.apiKey, 1);
    const err = await c.request(MetadataApi, { ...defaultMetadataRequest(), topics: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as KafkaError).retriable).toBe(true);
    expect(c.closed).toBe(true);
    const err2 = await c.request(MetadataApi, defaultMetadataRequest()).catch((e) => e);
    expect(err2).toBeInstanceOf(KafkaError);
    server.close();
  });

  it('rejects a connection to a closed port with a retriable ConnectionError', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const err = await Connection.open({ host: '127.0.0.1', port }).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).retriable).toBe(true);
  });
});

describe('broker pool and metadata', () => {
  it('reuses one connection per broker and lane, and reconnects after a close', async () => {
    const pool = new BrokerPool([parseAddress(broker.bootstrap)]);
    const a = await pool.get(parseAddress(broker.bootstrap));
    const b = await pool.get(parseAddress(broker.bootstrap));
    const f = await pool.get(parseAddress(broker.bootstrap), 'fetch');
    expect(a).toBe(b);
    expect(f).not.toBe(a);
    a.close();
    const c = await pool.get(parseAddress(broker.bootstrap));
    expect(c).not.toBe(a);
    expect(c.closed).toBe(false);
    await pool.close();
  });

  it('caches topic metadata, coalesces refreshes and refreshes after invalidate()', async () => {
    const metrics = new Metrics();
    const pool = new BrokerPool([parseAddress(broker.bootstrap)], { metrics });
    const md = new Metadata(pool, { allowAutoTopicCreation: true });
    const name = uniqueTopic('md');
    const [t1, t2] = await Promise.all([md.topic(name), md.topic(name)]);
    expect(t1.partitions).toHaveLength(3);
    expect(t2).toBe(t1);
    const before = metrics.snapshot().counters['requests{api=Metadata}'];
    await md.topic(name);
    expect(metrics.snapshot().counters['requests{api=Metadata}']).toBe(before);
    md.invalidate(name);
    const t3 = await md.topic(name);
    expect(metrics.snapshot().counters['requests{api=Metadata}']).toBe(before + 1);
    expect((await md.leader(name, 2)).port).toBe(parseAddress(broker.bootstrap).port);
    expect(t3.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    await expect(md.leader(name, 7)).rejects.toMatchObject({ errorName: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await pool.close();
  });
});

describe('retry', () => {
  it('backs off exponentially with ±20% jitter, capped', () => {
    expect(backoffMs(0, 100, 1000, () => 0.5)).toBe(100);
    expect(backoffMs(3, 100, 1000, () => 0.5)).toBe(800);
    expect(backoffMs(10, 100, 1000, () => 0.5)).toBe(1000);
    expect(backoffMs(2, 100, 1000, () => 0)).toBe(320);
    expect(backoffMs(2, 100, 1000, () => 1)).toBe(480);
  });

  it('retries retriable errors only, up to the limit', async () => {
    let calls = 0;
    const v = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new KafkaError(6);
        return 'ok';
      },
      { initialBackoffMs: 1 },
    );
    expect(v).toBe('ok');
    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new KafkaError(87);
      }),
    ).rejects.toMatchObject({ code: 87 });
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new KafkaError(7);
        },
        { retries: 2, initialBackoffMs: 1 },
      ),
    ).rejects.toMatchObject({ code: 7 });
    expect(calls).toBe(3);
  });
});
