// WordCount, checked record by record: each word's updates arrive in order, 1, 2, … its count.
import { serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KafkaStreams } from '../src/index.js';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';
import { wordCountTopology } from './topologies.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

const LINES = [
  'the quick brown fox',
  'jumps over the lazy dog',
  'the dog barks',
  'a fox and a dog',
  'quick quick quick',
  'over and over and over',
];

it('counts words: every update of every word, in order', async () => {
  const brokers = [broker.bootstrap];
  const input = unique('text');
  const output = unique('word-counts');
  await createTopics(brokers, [input, output], 3);
  const { topology, counts } = wordCountTopology(input, output);
  expect(topology.describe()).toContain('Sink: KSTREAM-SINK-0000000003 (topic: counts-repartition)');
  expect(topology.describe()).toContain('Processor: KSTREAM-AGGREGATE-0000000005 (stores: [counts])');
  expect(topology.subTopologies).toHaveLength(2);

  const lines = Array.from({ length: 60 }, (_, i) => LINES[i % LINES.length]);
  await produce(
    brokers,
    topic(input, { key: serde.nullable(serde.string()), value: serde.string() }),
    lines.map((value, i) => ({ key: `line-${i}`, value })),
  );
  const app = new KafkaStreams(topology, {
    brokers,
    applicationId: unique('wordcount'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();

  const expected = new Map<string, number[]>();
  const total = new Map<string, number>();
  for (const line of lines) {
    for (const w of line.split(' ')) {
      const n = (total.get(w) ?? 0) + 1;
      total.set(w, n);
      expected.set(w, [...(expected.get(w) ?? []), n]);
    }
  }
  const updates = [...expected.values()].reduce((a, l) => a + l.length, 0);
  const out = await readTopic(brokers, topic(output, { key: serde.string(), value: serde.json<number>() }), updates);
  const got = new Map<string, number[]>();
  for (const r of out) got.set(r.key, [...(got.get(r.key) ?? []), r.value]);
  expect(got).toEqual(expected);

  // Interactive query of the local store.
  await waitFor('the store holds every word', () => app.query(counts).all().length === total.size);
  expect(app.query(counts).get('the')).toBe(total.get('the'));
  expect(new Map(app.query(counts).all())).toEqual(total);
  const metrics = await app.metrics();
  expect(metrics.reduce((a, m) => a + m.processed, 0)).toBe(lines.length + updates - 0 * 1);
  await app.close();
}, 30_000);
