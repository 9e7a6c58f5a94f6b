// A record that does not deserialize: 'skip' counts it and goes on, a dead-letter topic gets it with
// where it came from, 'stop' fails the application naming topic, partition and offset. A clean close
// commits what was processed: a restart processes nothing again.
import { serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DeserializationPolicy, KafkaStreams, StreamsBuilder } from '../src/index.js';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

interface Reading {
  celsius: number;
}

async function setup(policy: DeserializationPolicy, commitIntervalMs = 100) {
  const brokers = [broker.bootstrap];
  const [input, output] = ['readings', 'fahrenheit'].map(unique);
  await createTopics(brokers, [input, output], 1);
  // Written as text: the second record is not JSON.
  await produce(brokers, topic(input, { key: serde.string(), value: serde.string() }), [
    { key: 'a', value: '{"celsius":10}' },
    { key: 'b', value: 'not json' },
    { key: 'c', value: '{"celsius":100}' },
  ]);
  const b = new StreamsBuilder();
  b.stream(topic(input, { key: serde.string(), value: serde.json<Reading>() }))
    .mapValues((r) => r.celsius * 1.8 + 32)
    .to(topic(output, { key: serde.string(), value: serde.json<number>() }));
  const config = {
    brokers,
    applicationId: unique('errors'),
    stateDir: stateDir(),
    commitIntervalMs,
    deserializationErrors: policy,
  };
  return { brokers, input, output, topology: b.build(), config };
}

it('skip: the bad record is counted and passed over', async () => {
  // No commit before close: the commit interval is longer than the test.
  const s = await setup('skip', 600_000);
  const app = new KafkaStreams(s.topology, s.config);
  await app.start();
  const out = await readTopic(s.brokers, topic(s.output, { key: serde.string(), value: serde.json<number>() }), 2);
  expect(out.map((r) => [r.key, r.value])).toEqual([
    ['a', 50],
    ['c', 212],
  ]);
  await waitFor('skipped counted', async () => (await app.metrics())[0]?.skippedDeserialization === 1);
  await app.close();

  // Committed on close: a restart with the same application id has nothing left to process.
  const again = new KafkaStreams(s.topology, s.config);
  await again.start();
  await waitFor('tasks assigned', async () => (await again.metrics()).length === 1);
  await new Promise((r) => setTimeout(r, 500));
  expect((await again.metrics())[0].processed).toBe(0);
  await again.close();
});

it('dead letter: the bad record goes to the dead-letter topic with its topic, partition, offset and bytes', async () => {
  const dlq = unique('dead-letters');
  const s = await setup({ deadLetterTopic: dlq });
  await createTopics(s.brokers, [dlq], 1);
  const app = new KafkaStreams(s.topology, s.config);
  await app.start();
  const dead = await readTopic(
    s.brokers,
    topic(dlq, { key: serde.string(), value: serde.json<Record<string, string>>() }),
    1,
  );
  expect(dead).toHaveLength(1);
  expect(dead[0].key).toBe('b');
  expect(dead[0].value).toMatchObject({ topic: s.input, partition: 0, offset: '1' });
  expect(Buffer.from(dead[0].value.value, 'base64').toString()).toBe('not json');
  expect(dead[0].value.error).toContain(`${s.input}-0 offset 1`);
  const out = await readTopic(s.brokers, topic(s.output, { key: serde.string(), value: serde.json<number>() }), 2);
  expect(out.map((r) => r.key)).toEqual(['a', 'c']);
  await app.close();
});

it('stop: the application fails with an error naming topic, partition and offset', async () => {
  const s = await setup('stop');
  const app = new KafkaStreams(s.topology, s.config);
  const failed = new Promise<unknown>((resolve) => app.onError(resolve));
  await app.start();
  const err = (await failed) as Error;
  expect(err.message).toContain(`the value of the record at ${s.input}-0 offset 1`);
  expect(app.state).toBe('ERROR');
  await app.close();
  // Nothing past the bad record was processed.
  const out = await readTopic(s.brokers, topic(s.output, { key: serde.string(), value: serde.json<number>() }), 0, {
    settleMs: 1000,
  });
  expect(out.map((r) => r.key)).not.toContain('c');
});
