// @sluice/streams against Apache Kafka 4.4.0 itself: WordCount (a repartition topic, an LMDB store and its
// changelog, consumer-group tasks) at-least-once and exactly-once, every update checked in order.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, type ConsumerRecord, Producer, serde, topic } from '@sluice/client';
import { KafkaStreams } from '@sluice/streams';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { wordCountTopology } from '../../packages/streams/test/topologies.js';
import { type BrokerUnderTest, startKafka } from './brokers.js';

let kafka: BrokerUnderTest;
let seq = 0;
const unique = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  kafka = await startKafka({ 'group.initial.rebalance.delay.ms': '0' });
}, 180_000);
afterAll(async () => {
  await kafka?.stop();
});

const LINES = ['the quick brown fox', 'jumps over the lazy dog', 'the dog barks', 'a fox and a dog'];

async function readUntil(brokers: string[], name: string, count: number, readCommitted: boolean) {
  const c = new Consumer(
    { brokers },
    { autoOffsetReset: 'earliest', isolationLevel: readCommitted ? 'read_committed' : 'read_uncommitted' },
  );
  const out: ConsumerRecord<string, number>[] = [];
  const deadline = Date.now() + 60_000;
  for await (const r of c.records(topic(name, { key: serde.string(), value: serde.json<number>() }))) {
    out.push(r);
    if (out.length >= count || Date.now() > deadline) break;
  }
  await c.close();
  return out;
}

it.each([
  'at_least_once',
  'exactly_once_v2',
] as const)('WordCount %s: every update of every word, in order', async (guarantee) => {
  const brokers = [kafka.bootstrap];
  const input = unique('text');
  const output = unique('word-counts');
  const admin = new Admin({ brokers });
  await admin.createTopics([
    { name: input, numPartitions: 3 },
    { name: output, numPartitions: 3 },
  ]);
  await admin.close();
  const lines = Array.from({ length: 40 }, (_, i) => LINES[i % LINES.length]);
  const producer = new Producer({ brokers });
  const inT = topic(input, { key: serde.nullable(serde.string()), value: serde.string() });
  await Promise.all(lines.map((value, i) => producer.send(inT, { key: `line-${i}`, value })));
  await producer.close();

  const expected = new Map<string, number[]>();
  for (const line of lines) {
    for (const w of line.split(' ')) {
      const seqOf = expected.get(w) ?? [];
      seqOf.push(seqOf.length + 1);
      expected.set(w, seqOf);
    }
  }
  const updates = [...expected.values()].reduce((a, l) => a + l.length, 0);
  const app = new KafkaStreams(wordCountTopology(input, output).topology, {
    brokers,
    applicationId: unique('wordcount'),
    stateDir: mkdtempSync(join(tmpdir(), 'streams-kafka-')),
    processingGuarantee: guarantee,
    commitIntervalMs: 100,
  });
  await app.start();
  const out = await readUntil(brokers, output, updates, guarantee === 'exactly_once_v2');
  await app.close();
  const got = new Map<string, number[]>();
  for (const r of out) got.set(r.key, [...(got.get(r.key) ?? []), r.value]);
  expect(got).toEqual(expected);
}, 120_000);
