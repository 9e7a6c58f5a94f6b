// Foreign-key table joins, record by record: results follow updates of either side, a changed foreign
// key moves the row to its new partner (the old one no longer updates it), deletes on either side.
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
  product: string;
  qty: number;
}

it('KTable foreign-key join and leftJoin: updates, foreign-key changes and deletes on both sides', async () => {
  const brokers = [broker.bootstrap];
  const [ordersName, productsName, innerName, leftName] = ['fk-orders', 'fk-products', 'fk-inner', 'fk-left'].map(
    unique,
  );
  // Not co-partitioned: the subscription topic takes the products' partitioning.
  await createTopics(brokers, [ordersName, innerName, leftName], 2);
  await createTopics(brokers, [productsName], 3);
  const orders = topic(ordersName, { key: serde.string(), value: serde.nullable(serde.json<Order>()) });
  const products = topic(productsName, { key: serde.string(), value: serde.nullable(serde.string()) });
  const out = (name: string) => topic(name, { key: serde.string(), value: serde.nullable(serde.string()) });

  const b = new StreamsBuilder();
  const o = b.table(orders);
  const p = b.table(products);
  const inner = o.join(
    p,
    (order) => order.product,
    (order, name) => `${order.qty}x${name}`,
  );
  inner.toStream().to(out(innerName));
  o.leftJoin(
    p,
    (order) => order.product,
    (order, name) => `${order.qty}x${name ?? '?'}`,
  )
    .toStream()
    .to(out(leftName));
  const topology = b.build();
  expect(topology.describe()).toMatch(/KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-\d+-topic/);
  expect(topology.describe()).toMatch(/KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-\d+-topic/);
  const app = new KafkaStreams(topology, {
    brokers,
    applicationId: unique('fk'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();

  // [topic, key, value, records processed: the source record plus, per join, subscriptions and answers]
  const phases: Array<[typeof orders | typeof products, string, Order | string | null, number]> = [
    [products, 'p1', 'Apple', 1],
    [products, 'p2', 'Pear', 1],
    [orders, 'o1', { product: 'p1', qty: 2 }, 1 + 2 * 2],
    [orders, 'o2', { product: 'p3', qty: 1 }, 1 + 2 * 2], // no p3 yet: the left join says so, the inner one nothing
    [products, 'p3', 'Fig', 1 + 2 * 1],
    [products, 'p1', 'Green Apple', 1 + 2 * 1],
    [orders, 'o1', { product: 'p2', qty: 2 }, 1 + 2 * 3], // unsubscribe p1, subscribe p2, its answer
    [products, 'p1', 'Red Apple', 1], // o1 left p1: no answer
    [products, 'p2', null, 1 + 2 * 1], // o1's partner deleted
    [orders, 'o2', null, 1 + 2 * 2], // row deleted: unsubscribed with a null answer
  ];
  let processed = 0;
  for (const [t, key, value, n] of phases) {
    await produce(brokers, t as typeof products, [{ key, value: value as string | null }]);
    processed += n;
    const want = processed;
    await waitFor(
      `${want} records processed`,
      async () => (await app.metrics()).reduce((a, m) => a + m.processed, 0) >= want,
    );
  }
  const perKey = async (name: string, n: number) => {
    const m = new Map<string, Array<string | null>>();
    for (const r of await readTopic(brokers, out(name), n)) m.set(r.key, [...(m.get(r.key) ?? []), r.value]);
    return m;
  };
  expect(await perKey(innerName, 6)).toEqual(
    new Map([
      ['o1', ['2xApple', '2xGreen Apple', '2xPear', null]],
      ['o2', ['1xFig', null]],
    ]),
  );
  expect(await perKey(leftName, 7)).toEqual(
    new Map([
      ['o1', ['2xApple', '2xGreen Apple', '2xPear', '2x?']],
      ['o2', ['1x?', '1xFig', null]],
    ]),
  );
  expect(app.query(inner).get('o1')).toBeNull();
  await app.close();
});
