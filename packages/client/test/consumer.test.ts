import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumer, type ConsumerRecord, Producer, serde, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(2);
});
afterAll(async () => {
  await broker.stop();
});

async function fill(name: string, count: number, partition = 0, size = 10): Promise<void> {
  const t = topic(name, { value: serde.string() });
  const p = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 1 });
  await Promise.all(
    Array.from({ length: count }, (_, n) => p.send(t, { value: `${n}`.padStart(size, '0'), partition })),
  );
  await p.close();
}

describe('consumer without a group', () => {
  it('reads every partition of a topic from the earliest offset with typed values', async () => {
    const name = uniqueTopic('all');
    await fill(name, 50, 0);
    await fill(name, 30, 1);
    const t = topic(name, { value: serde.string() });
    const c = new Consumer({ brokers: [broker.bootstrap] }, { autoOffsetReset: 'earliest' });
    const seen: ConsumerRecord<Buffer | null, string>[] = [];
    for await (const r of c.records(t)) {
      seen.push(r);
      if (seen.length === 80) break;
    }
    expect(seen.filter((r) => r.partition === 0).map((r) => Number(r.value))).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    expect(seen.filter((r) => r.partition === 1).map((r) => r.offset)).toEqual(
      Array.from({ length: 30 }, (_, i) => BigInt(i)),
    );
    expect(c.position(name, 0)).toBe(50n);
    await c.close();
  });

  it('starts at the latest offset by default and sees only new records', async () => {
    const name = uniqueTopic('latest');
    await fill(name, 10, 0);
    const t = topic(name, { value: serde.string() });
    const c = new Consumer({ brokers: [broker.bootstrap] });
    await c.assign([{ topic: t, partition: 0 }]);
    const it = c.records(t)[Symbol.asyncIterator]();
    const next = it.next();
    await new Promise((r) => setTimeout(r, 300));
    await fill(name, 3, 0);
    expect((await next).value?.offset).toBe(10n);
    await it.return?.(undefined);
    await c.close();
  });

  it('seeks back and forward', async () => {
    const name = uniqueTopic('seek');
    await fill(name, 100, 0);
    const t = topic(name, { value: serde.string() });
    const c = new Consumer({ brokers: [broker.bootstrap] });
    await c.assign([{ topic: t, partition: 0, offset: 90n }]);
    const got: bigint[] = [];
    for await (const r of c.records(t)) {
      got.push(r.offset);
      if (r.offset === 92n) c.seek(t, 0, 5n);
      if (r.offset === 7n) c.seek(t, 0, 'latest');
      if (got.length > 20) break;
      if (r.offset === 7n) {
        setTimeout(() => void fill(name, 1, 0), 100);
      }
      if (r.offset === 100n) break;
    }
    expect(got).toEqual([90n, 91n, 92n, 5n, 6n, 7n, 100n]);
    await c.close();
  });

  it('pauses and resumes partitions', async () => {
    const name = uniqueTopic('pause');
    await fill(name, 5, 0);
    await fill(name, 5, 1);
    const t = topic(name, { value: serde.string() });
    const c = new Consumer({ brokers: [broker.bootstrap] });
    await c.assign([
      { topic: t, partition: 0, offset: 'earliest' },
      { topic: t, partition: 1, offset: 'earliest' },
    ]);
    c.pause([{ topic: name, partition: 1 }]);
    const got: ConsumerRecord<Buffer | null, string>[] = [];
    const iter = c.records(t)[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) got.push((await iter.next()).value as ConsumerRecord<Buffer | null, string>);
    expect(got.every((r) => r.partition === 0)).toBe(true);
    // Nothing more arrives while partition 1 is paused.
    const more = iter.next();
    const raced = await Promise.race([more, new Promise((r) => setTimeout(() => r('quiet'), 400))]);
    expect(raced).toBe('quiet');
    c.resume([{ topic: name, partition: 1 }]);
    const r = (await more).value as ConsumerRecord<Buffer | null, string>;
    expect(r.partition).toBe(1);
    expect(r.offset).toBe(0n);
    await iter.return?.(undefined);
    await c.close();
  });

  it('hands batches to a handler and keeps prefetched bytes under the bound', async () => {
    const name = uniqueTopic('batch');
    await fill(name, 2000, 0, 500);
    const t = topic(name, { value: serde.string() });
    const bound = 64 * 1024;
    const c = new Consumer({ brokers: [broker.bootstrap] }, { maxPrefetchBytes: bound, maxPartitionBytes: 16 * 1024 });
    await c.assign([{ topic: t, partition: 0, offset: 'earliest' }]);
    const fetcher = (c as unknown as { fetcher: { buffered: number } }).fetcher;
    let total = 0;
    let batches = 0;
    let maxBuffered = 0;
    await c.run(t, async (records) => {
      batches++;
      maxBuffered = Math.max(maxBuffered, fetcher.buffered);
      // A slow application: the fetcher must stop at the bound rather than buffer everything.
      await new Promise((r) => setTimeout(r, 2));
      expect(records[0].offset).toBe(BigInt(total));
      total += records.length;
      if (total >= 2000) void c.close();
    });
    expect(total).toBe(2000);
    expect(batches).toBeGreaterThan(10);
    // At most one fetch beyond the bound (a fetch is sent while below it).
    expect(maxBuffered).toBeLessThanOrEqual(bound + 16 * 1024 + 1024);
  });

  it('fails with OFFSET_OUT_OF_RANGE when asked to and no reset policy applies', async () => {
    const name = uniqueTopic('oor');
    await fill(name, 3, 0);
    const t = topic(name, { value: serde.string() });
    const c = new Consumer({ brokers: [broker.bootstrap] }, { autoOffsetReset: 'none' });
    await c.assign([{ topic: t, partition: 0, offset: 50n }]);
    const err = await (async () => {
      for await (const _ of c.records(t)) return null;
    })().catch((e) => e);
    expect(err).toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
    await c.close();
  });
});
