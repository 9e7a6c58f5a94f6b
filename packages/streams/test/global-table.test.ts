// Global tables, record by record: every instance holds the whole table (all partitions, whatever the
// group gives it), a stream joins it by a key picked from the value, updates and deletes reach the joins.
import { serde, topic } from '@sluice/client';
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

interface Order {
  customer: string;
  amount: number;
}

it('globalTable: a full copy on each instance; stream joins (inner and left) by a selected key see updates and deletes', async () => {
  const brokers = [broker.bootstrap];
  const [ordersName, customersName, innerName, leftName] = ['g-orders', 'g-customers', 'g-inner', 'g-left'].map(unique);
  await createTopics(brokers, [ordersName, innerName, leftName], 2);
  // Not co-partitioned with the orders: a global table needs no co-partitioning.
  await createTopics(brokers, [customersName], 3);
  const orders = topic(ordersName, { key: serde.string(), value: serde.json<Order>() });
  const customers = topic(customersName, { key: serde.string(), value: serde.nullable(serde.string()) });
  const out = (name: string) => topic(name, { key: serde.string(), value: serde.string() });
  await produce(brokers, customers, [
    { key: 'c1', value: 'Ada' },
    { key: 'c2', value: 'Bob' },
    { key: 'c3', value: 'Cy' },
  ]);

  const topology = (persistent: boolean) => {
    const b = new StreamsBuilder();
    const names = b.globalTable(customers, { persistent });
    const s = b.stream(orders);
    s.join(
      names,
      (_id, o) => o.customer,
      (o, name) => `${o.amount}:${name}`,
    ).to(out(innerName));
    s.leftJoin(
      names,
      (_id, o) => o.customer,
      (o, name) => `${o.amount}:${name ?? 'unknown'}`,
    ).to(out(leftName));
    return { topology: b.build(), names };
  };
  const applicationId = unique('global');
  // One copy in memory, one in LMDB.
  const one = topology(false);
  const two = topology(true);
  const dirs = [stateDir(), stateDir()];
  const apps = [one, two].map(
    ({ topology }, i) =>
      new KafkaStreams(topology, { brokers, applicationId, stateDir: dirs[i], commitIntervalMs: 100 }),
  );
  await Promise.all(apps.map((a) => a.start()));
  // start() returns after the bootstrap: both instances hold all three customers, from all partitions.
  for (const [app, { names }] of [
    [apps[0], one],
    [apps[1], two],
  ] as const) {
    expect(['c1', 'c2', 'c3'].map((c) => app.queryGlobal(names).get(c))).toEqual(['Ada', 'Bob', 'Cy']);
  }
  const processed = async (n: number) =>
    waitFor(`${n} orders processed`, async () => {
      const all = await Promise.all(apps.map((a) => a.metrics()));
      return all.flat().reduce((a, m) => a + m.processed, 0) >= n;
    });
  const applied = async (n: number) =>
    waitFor(`${n} customer records on both instances`, () =>
      apps.every((a, i) => a.queryGlobal([one, two][i].names).applied() >= n),
    );

  await produce(brokers, orders, [
    { key: 'o1', value: { customer: 'c1', amount: 10 } },
    { key: 'o2', value: { customer: 'c2', amount: 20 } },
    { key: 'o3', value: { customer: 'c3', amount: 30 } },
    { key: 'o4', value: { customer: 'c9', amount: 40 } }, // no such customer
  ]);
  await processed(4);
  await produce(brokers, customers, [
    { key: 'c1', value: 'Ada L.' },
    { key: 'c2', value: null },
  ]);
  await applied(5);
  await produce(brokers, orders, [
    { key: 'o5', value: { customer: 'c1', amount: 50 } },
    { key: 'o6', value: { customer: 'c2', amount: 60 } }, // deleted customer
    { key: 'o7', value: { customer: 'c3', amount: 70 } },
  ]);
  await processed(7);
  const byKey = async (name: string, n: number) =>
    new Map((await readTopic(brokers, out(name), n)).map((r) => [r.key, r.value]));
  expect(await byKey(innerName, 5)).toEqual(
    new Map([
      ['o1', '10:Ada'],
      ['o2', '20:Bob'],
      ['o3', '30:Cy'],
      ['o5', '50:Ada L.'],
      ['o7', '70:Cy'],
    ]),
  );
  expect(await byKey(leftName, 7)).toEqual(
    new Map([
      ['o1', '10:Ada'],
      ['o2', '20:Bob'],
      ['o3', '30:Cy'],
      ['o4', '40:unknown'],
      ['o5', '50:Ada L.'],
      ['o6', '60:unknown'],
      ['o7', '70:Cy'],
    ]),
  );
  // The global topic is not read through the group: it has no committed offsets there.
  const tasks = (await Promise.all(apps.map((a) => a.metrics()))).flat().map((m) => m.taskId);
  expect(tasks.sort()).toEqual(['0_0', '0_1']);
  await Promise.all(apps.map((a) => a.close()));

  // The LMDB copy was checkpointed on close: a restart resumes from there and reads nothing again.
  const again = topology(true);
  const restarted = new KafkaStreams(again.topology, {
    brokers,
    applicationId,
    stateDir: dirs[1],
    commitIntervalMs: 100,
  });
  await restarted.start();
  expect(['c1', 'c2', 'c3'].map((c) => restarted.queryGlobal(again.names).get(c))).toEqual(['Ada L.', null, 'Cy']);
  expect(restarted.queryGlobal(again.names).applied()).toBe(0);
  await restarted.close();
});
