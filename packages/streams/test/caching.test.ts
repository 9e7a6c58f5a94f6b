// Record caching (statestore.cache.max.bytes): a count's updates to a key are merged and go downstream
// once per commit, or when the cache is full (least recently updated key first).
import { serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KafkaStreams, StreamsBuilder, type StreamsConfig } from '../src/index.js';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

const words = (name: string) => topic(name, { key: serde.string(), value: serde.string() });
const counts = (name: string) => topic(name, { key: serde.string(), value: serde.json<number>() });

async function setup(extra: Partial<StreamsConfig>) {
  const brokers = [broker.bootstrap];
  const [input, output] = ['words', 'cached-counts'].map(unique);
  await createTopics(brokers, [input, output], 1);
  const build = () => {
    const b = new StreamsBuilder();
    b.stream(words(input)).groupByKey().count({ name: 'counts' }).toStream().to(counts(output));
    return b.build();
  };
  const config: StreamsConfig = { brokers, applicationId: unique('cache'), stateDir: stateDir(), ...extra };
  const started = async () => {
    const app = new KafkaStreams(build(), config);
    await app.start();
    return app;
  };
  const send = (keys: string[]) =>
    produce(
      brokers,
      words(input),
      keys.map((key) => ({ key, value: key })),
    );
  const processed = (app: KafkaStreams, n: number) =>
    waitFor(`${n} processed`, async () => (await app.metrics()).reduce((a, m) => a + m.processed, 0) >= n);
  const read = async (n: number) =>
    (await readTopic(brokers, counts(output), n, { timeoutMs: 5000 })).map((r) => [r.key, r.value]);
  return { started, send, processed, read };
}

it('a commit sends one update per key: the count after all the records since the last commit', async () => {
  // No commit from the interval in this test: only close() commits.
  const t = await setup({ cacheMaxBytesBuffering: 1 << 20, commitIntervalMs: 600_000 });
  let app = await t.started();
  await t.send(['a', 'b', 'a', 'a', 'b']);
  await t.processed(app, 5);
  expect(await t.read(0)).toEqual([]); // held in the cache
  await app.close();
  expect(await t.read(2)).toEqual([
    ['a', 3],
    ['b', 2],
  ]);
  // The store and changelog kept every update: a restarted instance counts on from there.
  app = await t.started();
  await t.send(['b', 'a', 'b']);
  await t.processed(app, 3);
  await app.close();
  expect(await t.read(4)).toEqual([
    ['a', 3],
    ['b', 2],
    ['a', 4], // least recently updated first: a (updated second) before b (updated last)
    ['b', 4],
  ]);
});

it('a full cache sends its least recently updated key on', async () => {
  // An entry is ~78 bytes here (key, value, its id and 64 of overhead): two fit, a third evicts one.
  const t = await setup({ cacheMaxBytesBuffering: 200, commitIntervalMs: 600_000 });
  const app = await t.started();
  await t.send(['a', 'a', 'b', 'b', 'c', 'c', 'a']);
  await t.processed(app, 7);
  // c evicted a (at 2), then a's return evicted b (at 2).
  expect(await t.read(2)).toEqual([
    ['a', 2],
    ['b', 2],
  ]);
  await app.close();
  expect(await t.read(4)).toEqual([
    ['a', 2],
    ['b', 2],
    ['c', 2],
    ['a', 3],
  ]);
});

it('the commit interval flushes the cache without a close', async () => {
  const t = await setup({ cacheMaxBytesBuffering: 1 << 20, commitIntervalMs: 200 });
  const app = await t.started();
  await t.send(['a', 'a', 'a', 'b']);
  let out: unknown[][] = [];
  await waitFor('the final counts of a and b', async () => {
    out = await t.read(0);
    return out.some(([k, v]) => k === 'a' && v === 3) && out.some(([k, v]) => k === 'b' && v === 1);
  });
  // Merged or not depends on how the records fell between commits; never more than one per record, in order.
  const as = out.filter(([k]) => k === 'a').map(([, v]) => v as number);
  expect(as.length).toBeLessThanOrEqual(3);
  expect(as).toEqual([...as].sort((x, y) => x - y));
  await app.close();
});
