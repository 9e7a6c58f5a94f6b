// subscribe(): one group consumer reads several topics, each record decoded with its own topic's serdes.
import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Consumer, Producer, serde, type Topic, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(2);
});
afterAll(async () => {
  await broker?.stop();
});

it('a group consumer subscribed to two topics gets the records of both, typed by each topic', async () => {
  const texts = topic(uniqueTopic('texts'), { key: serde.string(), value: serde.string() });
  const numbers = topic(uniqueTopic('numbers'), { key: serde.string(), value: serde.int32() });
  const producer = new Producer({ brokers: [broker.bootstrap] });
  await Promise.all([
    ...['a', 'b', 'c'].map((v) => producer.send(texts, { key: v, value: v.toUpperCase() })),
    ...[1, 2].map((n) => producer.send(numbers, { key: `n${n}`, value: n })),
  ]);
  await producer.close();
  const consumer = new Consumer(
    { brokers: [broker.bootstrap] },
    { groupId: uniqueTopic('multi'), autoOffsetReset: 'earliest' },
  );
  consumer.subscribe([texts, numbers] as Topic<unknown, unknown>[]);
  const got: Array<[string, unknown, unknown]> = [];
  await consumer.run(texts as Topic<unknown, unknown>, async (records) => {
    for (const r of records) got.push([r.topic, r.key, r.value]);
    if (got.length >= 5) await consumer.close();
  });
  expect(got.sort((a, b) => String(a[1]).localeCompare(String(b[1])))).toEqual([
    [texts.name, 'a', 'A'],
    [texts.name, 'b', 'B'],
    [texts.name, 'c', 'C'],
    [numbers.name, 'n1', 1],
    [numbers.name, 'n2', 2],
  ]);
});
