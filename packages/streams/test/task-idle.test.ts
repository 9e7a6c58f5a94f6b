// max.task.idle.ms: a task reading two partitions (a stream–table join) processes their records in
// timestamp order, waiting for a partition that lags (records on the broker not yet fetched) and, with an
// idle time, for one that is caught up but empty.
import { Producer, serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KafkaStreams, StreamsBuilder } from '../src/index.js';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

const str = (name: string) => topic(name, { key: serde.string(), value: serde.nullable(serde.string()) });

function enrich(ordersName: string, customersName: string, outName: string) {
  const b = new StreamsBuilder();
  const table = b.table(str(customersName));
  b.stream(str(ordersName))
    .leftJoin(table, (o, c) => `${o}:${c ?? 'unknown'}`)
    .to(str(outName));
  return b.build();
}

// Timestamps near now: the broker's retention would delete records from 1970 while the test runs.
const T0 = Date.now();

const processed = async (app: KafkaStreams) => (await app.metrics()).reduce((a, m) => a + m.processed, 0);

it('default (0): an order waits for the customer update on the lagging table partition, older by timestamp', async () => {
  const brokers = [broker.bootstrap];
  const [ordersName, customersName, outName] = ['orders', 'customers', 'out'].map(unique);
  await createTopics(brokers, [ordersName, customersName, outName], 1);
  // The table partition lags: 3,000 older updates (many fetches at 4 KiB per partition), then c1 at T0 + 1000.
  await produce(
    brokers,
    str(customersName),
    Array.from({ length: 3000 }, (_, i) => ({ key: `f${i}`, value: `filler-${i}`, timestamp: T0 + 500 })),
  );
  await produce(brokers, str(customersName), [{ key: 'c1', value: 'Ada', timestamp: T0 + 1000 }]);
  await produce(brokers, str(ordersName), [{ key: 'c1', value: 'o1', timestamp: T0 + 2000 }]);
  const app = new KafkaStreams(enrich(ordersName, customersName, outName), {
    brokers,
    applicationId: unique('idle0'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
    maxPartitionFetchBytes: 4096,
  });
  await app.start();
  try {
    await waitFor('all 3,002 records processed', async () => (await processed(app)) >= 3002, 120_000);
    // In arrival order, o1 came with the first fetch, long before c1: it would have found no customer.
    const out = await readTopic(brokers, str(outName), 1);
    expect(out.map((r) => [r.key, r.value, Number(r.timestamp)])).toEqual([['c1', 'o1:Ada', T0 + 2000]]);
  } finally {
    await app.close();
  }
}, 180_000);

it('maxTaskIdleMs > 0: an order waits for a caught-up, empty table partition up to that long', async () => {
  const brokers = [broker.bootstrap];
  const [ordersName, customersName, outName] = ['orders', 'customers', 'out'].map(unique);
  await createTopics(brokers, [ordersName, customersName, outName], 1);
  const idleMs = 5000;
  const app = new KafkaStreams(enrich(ordersName, customersName, outName), {
    brokers,
    applicationId: unique('idle'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
    maxTaskIdleMs: idleMs,
  });
  await app.start();
  const producer = new Producer({ brokers }, { lingerMs: 1 });
  try {
    // Before anything arrives neither partition has an idle time running (the first look starts it).
    await waitFor('running', () => app.state === 'RUNNING', 60_000);
    // The order comes first; its customer, older by timestamp, a moment later: the order waits for it.
    await producer.send(str(ordersName), { key: 'c2', value: 'o2', timestamp: T0 + 3000 });
    const customerSent = Date.now();
    await producer.send(str(customersName), { key: 'c2', value: 'Bob', timestamp: T0 + 2500 });
    await waitFor('o2 processed', async () => (await processed(app)) >= 2, 60_000);
    // No customer comes for o3: it goes on without one once the customers partition has been empty and
    // caught up for the idle time (counted from when Bob was taken, as Kafka counts it).
    await producer.send(str(ordersName), { key: 'c3', value: 'o3', timestamp: T0 + 4000 });
    await waitFor('o3 processed', async () => (await processed(app)) >= 3, 60_000);
    expect(Date.now() - customerSent).toBeGreaterThanOrEqual(idleMs);
    const out = await readTopic(brokers, str(outName), 2);
    expect(out.map((r) => [r.key, r.value])).toEqual([
      ['c2', 'o2:Bob'],
      ['c3', 'o3:unknown'],
    ]);
  } finally {
    await producer.close();
    await app.close();
  }
}, 180_000);
