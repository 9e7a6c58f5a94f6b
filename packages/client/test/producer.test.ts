import type { RunningBroker } from '@sluice/broker';
import { RecordBatch } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Consumer,
  type ConsumerRecord,
  Metrics,
  Producer,
  partitionForKey,
  serde,
  type Topic,
  topic,
} from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(4);
});
afterAll(async () => {
  await broker.stop();
});

interface Item {
  n: number;
  text: string;
}

async function readAll<K, V>(t: Topic<K, V>, count: number, partitions = 4): Promise<ConsumerRecord<K, V>[]> {
  const c = new Consumer({ brokers: [broker.bootstrap] });
  await c.assign(
    Array.from({ length: partitions }, (_, partition) => ({ topic: t, partition, offset: 'earliest' as const })),
  );
  const out: ConsumerRecord<K, V>[] = [];
  if (count > 0) {
    for await (const r of c.records(t)) {
      out.push(r);
      if (out.length >= count) break;
    }
  }
  await c.close();
  return out;
}

describe('producer', () => {
  it.each([
    'none',
    'gzip',
    'snappy',
    'lz4',
    'zstd',
  ] as const)('round-trips records with %s compression', async (compression) => {
    const t = topic(uniqueTopic(`codec-${compression}`), { key: serde.string(), value: serde.json<Item>() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { compression, lingerMs: 2 });
    const sent = await Promise.all(
      Array.from({ length: 400 }, (_, n) =>
        p.send(t, {
          key: `key-${n % 13}`,
          value: { n, text: 'x'.repeat(n % 50) },
          headers: { trace: `t${n}`, bin: Buffer.from([n & 255]) },
        }),
      ),
    );
    await p.close();
    const got = await readAll(t, 400);
    expect(got).toHaveLength(400);
    const byN = new Map(got.map((r) => [r.value.n, r]));
    for (let n = 0; n < 400; n++) {
      const r = byN.get(n) as ConsumerRecord<string, Item>;
      expect(r.key).toBe(`key-${n % 13}`);
      expect(r.value.text).toBe('x'.repeat(n % 50));
      expect(r.headers.trace?.toString()).toBe(`t${n}`);
      expect(r.headers.bin).toEqual(Buffer.from([n & 255]));
      expect(r.partition).toBe(sent[n].partition);
      expect(r.offset).toBe(sent[n].offset);
    }
  });

  it('places keyed records with the murmur2 partitioner and keeps per-key order', async () => {
    const t = topic(uniqueTopic('keyed'), { key: serde.string(), value: serde.int32() });
    const p = new Producer({ brokers: [broker.bootstrap] });
    const sent = await Promise.all(Array.from({ length: 200 }, (_, n) => p.send(t, { key: `k${n % 10}`, value: n })));
    await p.close();
    for (let n = 0; n < 200; n++) expect(sent[n].partition).toBe(partitionForKey(Buffer.from(`k${n % 10}`), 4));
    const got = await readAll(t, 200);
    for (let k = 0; k < 10; k++) {
      const values = got.filter((r) => r.key === `k${k}`).map((r) => r.value);
      expect(values).toEqual(Array.from({ length: 20 }, (_, i) => k + 10 * i));
    }
  });

  it('batches records sent together (linger.ms) and sticks keyless records to one partition', async () => {
    const metrics = new Metrics();
    const t = topic(uniqueTopic('sticky'), { value: serde.string() });
    const p = new Producer({ brokers: [broker.bootstrap], metrics }, { lingerMs: 20, batchSize: 1 << 20 });
    await p.send(t, { value: 'warm-up' });
    const before = metrics.snapshot().counters['requests{api=Produce}'];
    const sent = await Promise.all(Array.from({ length: 300 }, (_, n) => p.send(t, { value: `v${n}` })));
    expect(new Set(sent.map((s) => s.partition)).size).toBe(1);
    expect(metrics.snapshot().counters['requests{api=Produce}'] - before).toBe(1);
    // Consecutive offsets in one batch.
    for (let i = 1; i < 300; i++) expect(sent[i].offset).toBe(sent[0].offset + BigInt(i));
    expect(metrics.snapshot().counters.records_sent).toBe(301);
    await p.close();
  });

  it('closes a batch at batch.size and spreads keyless batches over partitions', async () => {
    const t = topic(uniqueTopic('batchsize'), { value: serde.bytes() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 50, batchSize: 4096 });
    const sent = await Promise.all(Array.from({ length: 200 }, () => p.send(t, { value: Buffer.alloc(1000, 1) })));
    await p.close();
    // 1000-byte records in 4 KiB batches: many batches, moved between partitions (KIP-480).
    expect(new Set(sent.map((s) => s.partition)).size).toBeGreaterThan(1);
    expect((await readAll(t, 200)).length).toBe(200);
  });

  it('reuses batch buffers: many full and partly filled batches come back intact, in order', async () => {
    const t = topic(uniqueTopic('spare-buffers'), { value: serde.bytes() });
    // 8 KiB batches of 1000-byte values (8 a batch), one partition, 2 in flight: buffers go round many times.
    const p = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 1, batchSize: 8192, maxInFlight: 2 });
    const payloadOf = (n: number) => Buffer.alloc(1000, n % 251);
    const sent: Promise<{ offset: bigint }>[] = [];
    for (let n = 0; n < 600; n++) {
      sent.push(p.send(t, { value: payloadOf(n), partition: 0 }));
      // Now and then a pause: a lingered batch, less than half full, is copied out of its buffer.
      if (n % 97 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    const acks = await Promise.all(sent);
    await p.close();
    expect(acks.map((a) => a.offset)).toEqual(Array.from({ length: 600 }, (_, n) => BigInt(n)));
    const got = await readAll(t, 600, 1);
    expect(got).toHaveLength(600);
    for (let n = 0; n < 600; n++) expect(got[n].value.equals(payloadOf(n))).toBe(true);
  });

  it('refuses a record whose timestamp cannot be encoded, alone: the records around it are sent', async () => {
    const t = topic(uniqueTopic('bad-timestamp'), { value: serde.string() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 5 });
    const now = Date.now();
    const a = p.send(t, { value: 'a', partition: 0, timestamp: now });
    const bad = p.send(t, { value: 'bad', partition: 0, timestamp: now + 2 ** 52 });
    const fraction = p.send(t, { value: 'fraction', partition: 1, timestamp: 0.5 });
    const c = p.send(t, { value: 'c', partition: 0, timestamp: now + 1 });
    await expect(bad).rejects.toThrow(RangeError);
    await expect(fraction).rejects.toThrow(RangeError);
    expect((await a).offset).toBe(0n);
    expect((await c).offset).toBe(1n);
    expect(p.bufferedBytes).toBe(0);
    await p.close();
    expect((await readAll(t, 2, 1)).map((r) => r.value)).toEqual(['a', 'c']);
  });

  it('supports acks=0 (no offsets) and acks=1', async () => {
    const t = topic(uniqueTopic('acks'), { value: serde.string() });
    const p0 = new Producer({ brokers: [broker.bootstrap] }, { acks: 0 });
    expect(p0.options.idempotent).toBe(false);
    const r0 = await Promise.all(Array.from({ length: 20 }, (_, n) => p0.send(t, { value: `a0-${n}`, partition: 0 })));
    expect(r0.every((r) => r.offset === -1n)).toBe(true);
    await p0.close();
    const p1 = new Producer({ brokers: [broker.bootstrap] }, { acks: 1 });
    const r1 = await p1.send(t, { value: 'a1', partition: 0 });
    expect(r1.offset).toBe(20n);
    await p1.close();
    expect(() => new Producer({ brokers: [broker.bootstrap] }, { acks: 1, idempotent: true })).toThrow(RangeError);
    const got = await readAll(t, 21, 1);
    expect(got.map((r) => r.value)).toEqual([...Array.from({ length: 20 }, (_, n) => `a0-${n}`), 'a1']);
  });

  it('idempotent retries after broken connections neither duplicate nor reorder records', async () => {
    const t = topic(uniqueTopic('idem'), { key: serde.string(), value: serde.int32() });
    const metrics = new Metrics();
    const p = new Producer(
      { brokers: [broker.bootstrap], metrics },
      { lingerMs: 0, batchSize: 2048, retryBackoffMs: 5, retryBackoffMaxMs: 50 },
    );
    expect(p.options.idempotent).toBe(true);
    await p.send(t, { key: 'k0', value: -1 });
    // Cut the producer's connections while requests are in flight, again and again.
    const pool = (
      p as unknown as { ctx: { pool: { connections: Map<string, Promise<{ close(): void; inFlight: number }>> } } }
    ).ctx.pool;
    // Cut the produce connections when they have requests in flight, checking every turn of the
    // event loop (a timer would miss the short moments when a fast broker has not answered); after
    // each cut, let the producer recover for a while, and stop after MAX_CUTS so it can finish.
    const MAX_CUTS = 8;
    let cuts = 0;
    let cutting = true;
    const cutter = (async () => {
      while (cutting && cuts < MAX_CUTS) {
        let cut = false;
        for (const [key, c] of pool.connections) {
          if (!key.endsWith('/produce')) continue;
          const conn = await c.catch(() => null);
          if (conn !== null && conn.inFlight > 0) {
            conn.close();
            cuts++;
            cut = true;
          }
        }
        await new Promise((r) => (cut ? setTimeout(r, 20) : setImmediate(r)));
      }
    })();
    const sends: Promise<unknown>[] = [];
    let n = 0;
    // Bounded: 10 rounds of 300 records, up to 20 while fewer than 3 cuts have happened.
    for (let round = 0; round < 20 && (round < 10 || cuts < 3); round++) {
      for (let i = 0; i < 300; i++, n++) sends.push(p.send(t, { key: `k${n % 4}`, value: n }));
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(sends);
    cutting = false;
    await cutter;
    await p.close();
    expect(cuts).toBeGreaterThan(0);
    expect(metrics.snapshot().counters.produce_retries).toBeGreaterThan(0);
    const got = await readAll(t, n + 1);
    const values = got.map((r) => r.value);
    expect(new Set(values).size).toBe(n + 1);
    for (let k = 0; k < 4; k++) {
      const vs = got.filter((r) => r.key === `k${k}` && r.value >= 0).map((r) => r.value);
      expect(vs).toEqual([...vs].sort((a, b) => a - b));
      expect(vs).toHaveLength(n / 4);
    }
  });

  it('idempotent batches built while others wait are sent with the sequence they were built with', async () => {
    const t = topic(uniqueTopic('idem-seq'), { key: serde.string(), value: serde.int32() });
    const metrics = new Metrics();
    // Small batches and one request in flight: many batches queue up, built before they can be sent.
    const p = new Producer({ brokers: [broker.bootstrap], metrics }, { lingerMs: 0, batchSize: 512, maxInFlight: 1 });
    await p.send(t, { key: 'k0', value: -1 });
    const rewrites = vi.spyOn(RecordBatch.prototype, 'updateCrc');
    const sends: Promise<unknown>[] = [];
    for (let n = 0; n < 2000; n++) sends.push(p.send(t, { key: `k${n % 4}`, value: n }));
    const acks = (await Promise.all(sends)) as Array<{ partition: number; offset: bigint }>;
    // Every batch was built with its sequence: none had to be rewritten.
    expect(rewrites).not.toHaveBeenCalled();
    rewrites.mockRestore();
    await p.close();
    expect(metrics.snapshot().counters.produce_retries ?? 0).toBe(0);
    const got = await readAll(t, 2001);
    for (let k = 0; k < 4; k++) {
      const vs = got.filter((r) => r.key === `k${k}` && r.value >= 0).map((r) => r.value);
      expect(vs).toEqual(Array.from({ length: 500 }, (_, i) => i * 4 + k));
    }
    expect(new Set(acks.map((a) => `${a.partition}/${a.offset}`)).size).toBe(2000);
  });

  it('applies backpressure: send() waits while buffer.memory is full and never exceeds it', async () => {
    const t = topic(uniqueTopic('bufmem'), { value: serde.bytes() });
    const limit = 64 * 1024;
    const p = new Producer({ brokers: [broker.bootstrap] }, { bufferMemory: limit, lingerMs: 5, batchSize: 16 * 1024 });
    await p.send(t, { value: Buffer.alloc(1) });
    let maxUsed = 0;
    let settled = 0;
    const sends = Array.from({ length: 1000 }, () => {
      const s = p.send(t, { value: Buffer.alloc(1024, 7) }).then((r) => {
        settled++;
        return r;
      });
      maxUsed = Math.max(maxUsed, p.bufferedBytes);
      return s;
    });
    // Right after the calls, only what fits is buffered; the rest waits.
    expect(p.bufferedBytes).toBeLessThanOrEqual(limit);
    expect(p.waitingSends).toBeGreaterThan(900);
    const watch = setInterval(() => {
      maxUsed = Math.max(maxUsed, p.bufferedBytes);
    }, 1);
    await Promise.all(sends);
    clearInterval(watch);
    expect(settled).toBe(1000);
    expect(maxUsed).toBeLessThanOrEqual(limit);
    expect(p.bufferedBytes).toBe(0);
    await p.close();
    expect((await readAll(t, 1001)).length).toBe(1001);
  });

  it('rejects a record larger than buffer.memory at once', async () => {
    const t = topic(uniqueTopic('huge'), { value: serde.bytes() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { bufferMemory: 1000 });
    await expect(p.send(t, { value: Buffer.alloc(2000) })).rejects.toMatchObject({
      errorName: 'RECORD_LIST_TOO_LARGE',
    });
    await p.close();
  });
});

describe('producer delivery timeout', () => {
  it('fails records with a typed error when the broker stays away past delivery.timeout.ms', async () => {
    const b = await sluice(1);
    const t = topic(uniqueTopic('gone'), { value: serde.string() });
    const p = new Producer(
      { brokers: [b.bootstrap], connectTimeoutMs: 200 },
      { deliveryTimeoutMs: 800, retryBackoffMs: 20 },
    );
    await p.send(t, { value: 'first' });
    await b.stop();
    const started = Date.now();
    const err = await p.send(t, { value: 'lost' }).catch((e) => e);
    expect(err).toMatchObject({ retriable: true });
    expect(Date.now() - started).toBeLessThan(5000);
    await p.close().catch(() => {});
  });
});
