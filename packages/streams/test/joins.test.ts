// Each join kind, record by record: stream–table enrichment (inner and left), table–table (inner,
// left, outer) and stream–stream within join windows. Inputs go in phases, each processed before the
// next, so the order in which the two sides meet is the one the expected results assume.
import { serde, type Topic, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { JoinWindows, KafkaStreams, type KStream, StreamsBuilder } from '../src/index.js';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

interface Order {
  id: string;
  amount: number;
}
interface Customer {
  name: string;
  tier: 'gold' | 'basic';
}
const str = (name: string) => topic(name, { key: serde.string(), value: serde.nullable(serde.string()) });

async function processedAtLeast(app: KafkaStreams, n: number): Promise<void> {
  await waitFor(`${n} records processed`, async () => (await app.metrics()).reduce((a, m) => a + m.processed, 0) >= n);
}

it('stream–table: orders enriched with the customer as of each order; left join keeps unknown customers', async () => {
  const brokers = [broker.bootstrap];
  const [ordersName, customersName, outName, leftName] = ['orders', 'customers', 'enriched', 'enriched-left'].map(
    unique,
  );
  await createTopics(brokers, [ordersName, customersName, outName, leftName], 2);
  const orders = topic(ordersName, { key: serde.string(), value: serde.json<Order>() });
  const customers = topic(customersName, { key: serde.string(), value: serde.nullable(serde.json<Customer>()) });
  const b = new StreamsBuilder();
  const table = b.table(customers);
  const stream = b.stream(orders);
  stream.join(table, (o, c) => `${o.id}:${o.amount}:${c.name}:${c.tier}`).to(str(outName));
  stream.leftJoin(table, (o, c) => `${o.id}:${c?.name ?? 'unknown'}`).to(str(leftName));
  const app = new KafkaStreams(b.build(), {
    brokers,
    applicationId: unique('enrich'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();

  await produce(brokers, customers, [
    { key: 'c1', value: { name: 'Ada', tier: 'basic' } },
    { key: 'c2', value: { name: 'Bob', tier: 'gold' } },
  ]);
  await processedAtLeast(app, 2);
  await produce(brokers, orders, [
    { key: 'c1', value: { id: 'o1', amount: 10 } },
    { key: 'c2', value: { id: 'o2', amount: 20 } },
    { key: 'c3', value: { id: 'o3', amount: 30 } },
  ]);
  await processedAtLeast(app, 5);
  await produce(brokers, customers, [
    { key: 'c1', value: { name: 'Ada', tier: 'gold' } },
    { key: 'c2', value: null },
  ]);
  await processedAtLeast(app, 7);
  await produce(brokers, orders, [
    { key: 'c1', value: { id: 'o4', amount: 40 } },
    { key: 'c2', value: { id: 'o5', amount: 50 } },
  ]);

  const inner = await readTopic(brokers, str(outName), 3);
  const byKey = (rs: Array<{ key: string; value: string | null }>) => {
    const m = new Map<string, Array<string | null>>();
    for (const r of rs) m.set(r.key, [...(m.get(r.key) ?? []), r.value]);
    return m;
  };
  expect(byKey(inner)).toEqual(
    new Map([
      ['c1', ['o1:10:Ada:basic', 'o4:40:Ada:gold']],
      ['c2', ['o2:20:Bob:gold']], // o5 finds no customer (deleted): no output from the inner join
    ]),
  );
  const left = await readTopic(brokers, str(leftName), 5);
  expect(byKey(left)).toEqual(
    new Map([
      ['c1', ['o1:Ada', 'o4:Ada']],
      ['c2', ['o2:Bob', 'o5:unknown']],
      ['c3', ['o3:unknown']],
    ]),
  );
  await app.close();
});

it('table–table: inner, left and outer joins emit the joined value on every update of either side', async () => {
  const brokers = [broker.bootstrap];
  const [lName, rName, innerName, leftName, outerName] = ['l', 'r', 'inner', 'left', 'outer'].map(unique);
  await createTopics(brokers, [lName, rName, innerName, leftName, outerName], 1);
  const b = new StreamsBuilder();
  const l = b.table(str(lName));
  const r = b.table(str(rName));
  l.join(r, (a, c) => `${a}+${c}`)
    .toStream()
    .to(str(innerName));
  l.leftJoin(r, (a, c) => `${a}+${c ?? '-'}`)
    .toStream()
    .to(str(leftName));
  l.outerJoin(r, (a, c) => `${a ?? '-'}+${c ?? '-'}`)
    .toStream()
    .to(str(outerName));
  const app = new KafkaStreams(b.build(), {
    brokers,
    applicationId: unique('tt'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();
  const phases: Array<[Topic<string, string | null>, string, string | null]> = [
    [str(lName), 'k1', 'a1'],
    [str(lName), 'k2', 'a2'],
    [str(rName), 'k1', 'b1'],
    [str(rName), 'k3', 'b3'],
    [str(lName), 'k1', 'a1x'],
    [str(rName), 'k1', null],
    [str(lName), 'k2', null],
  ];
  let n = 0;
  for (const [t, key, value] of phases) {
    await produce(brokers, t, [{ key, value }]);
    await processedAtLeast(app, ++n);
  }
  const read = async (name: string, count: number) =>
    (await readTopic(brokers, str(name), count)).map((x): [string, string | null] => [x.key, x.value]);
  expect(await read(innerName, 3)).toEqual([
    ['k1', 'a1+b1'],
    ['k1', 'a1x+b1'],
    ['k1', null], // b1 deleted
  ]);
  expect(await read(leftName, 6)).toEqual([
    ['k1', 'a1+-'],
    ['k2', 'a2+-'],
    ['k1', 'a1+b1'],
    ['k1', 'a1x+b1'],
    ['k1', 'a1x+-'],
    ['k2', null],
  ]);
  expect(await read(outerName, 7)).toEqual([
    ['k1', 'a1+-'],
    ['k2', 'a2+-'],
    ['k1', 'a1+b1'],
    ['k3', '-+b3'],
    ['k1', 'a1x+b1'],
    ['k1', 'a1x+-'],
    ['k2', null],
  ]);
  await app.close();
});

it('stream–stream: records of both sides within the time difference join, once per pair; late ones are dropped', async () => {
  const brokers = [broker.bootstrap];
  const [lName, rName, outName] = ['clicks', 'views', 'joined'].map(unique);
  await createTopics(brokers, [lName, rName, outName], 1);
  const b = new StreamsBuilder();
  const left: KStream<string, string | null> = b.stream(str(lName));
  const right = b.stream(str(rName));
  left.join(right, (a, c) => `${a}/${c}`, JoinWindows.ofTimeDifferenceAndGrace(10, 5)).to(str(outName));
  const app = new KafkaStreams(b.build(), {
    brokers,
    applicationId: unique('ss'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();
  const phases: Array<[string, string, number]> = [
    [lName, 'L1', 100],
    [rName, 'R1', 105],
    [rName, 'R2', 120],
    [lName, 'L2', 115],
    [lName, 'L3', 200], // stream time 200: records before 200 - 15 are late
    [rName, 'R3', 150], // late: dropped
    [rName, 'R4', 195],
  ];
  let n = 0;
  for (const [t, value, timestamp] of phases) {
    await produce(brokers, str(t), [{ key: 'k', value, timestamp }]);
    await processedAtLeast(app, ++n);
  }
  const out = await readTopic(brokers, str(outName), 4);
  expect(out.map((r) => [r.value, r.timestamp])).toEqual([
    ['L1/R1', 105n],
    ['L2/R1', 115n],
    ['L2/R2', 120n],
    ['L3/R4', 200n],
  ]);
  expect((await app.metrics()).reduce((a, m) => a + m.droppedLate, 0)).toBe(1);
  await app.close();
});

it('stream–stream left and outer: a record without a partner is emitted with null only once its window closes', async () => {
  const brokers = [broker.bootstrap];
  const [lName, rName, leftName, outerName] = ['ll', 'rr', 'left-joined', 'outer-joined'].map(unique);
  await createTopics(brokers, [lName, rName, leftName, outerName], 1);
  const b = new StreamsBuilder();
  const left: KStream<string, string | null> = b.stream(str(lName));
  const right = b.stream(str(rName));
  const windows = JoinWindows.ofTimeDifferenceAndGrace(10, 5);
  left.leftJoin(right, (a, c) => `${a}/${c ?? 'null'}`, windows).to(str(leftName));
  left.outerJoin(right, (a, c) => `${a ?? 'null'}/${c ?? 'null'}`, windows).to(str(outerName));
  const app = new KafkaStreams(b.build(), {
    brokers,
    applicationId: unique('ss-outer'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();
  // Windows close at timestamp + 10 + 5: a record waits until stream time passes that.
  const phases: Array<[string, string, string, number]> = [
    [lName, 'k', 'L1', 100],
    [rName, 'k', 'R1', 105], // joins L1: L1 no longer waits
    [lName, 'k', 'L2', 120], // no partner within 10: waits
    [rName, 'k2', 'R2', 121], // waits (outer join only)
    [lName, 'k', 'L3', 200], // stream time 200: L2 (closes 135) and R2 (136) come out, before L3 is joined
    [rName, 'k3', 'R3', 188], // out of order, its window already past 200: out at once (outer), not late
    [rName, 'k', 'R4', 195], // joins L3
    [lName, 'k', 'L5', 300], // stream time 300: nothing waits (L3 joined); L5 waits past the test's end
  ];
  let n = 0;
  for (const [t, key, value, timestamp] of phases) {
    await produce(brokers, str(t), [{ key, value, timestamp }]);
    await processedAtLeast(app, ++n);
  }
  const read = async (name: string, count: number) =>
    (await readTopic(brokers, str(name), count)).map((x) => [x.key, x.value, Number(x.timestamp)]);
  expect(await read(leftName, 3)).toEqual([
    ['k', 'L1/R1', 105],
    ['k', 'L2/null', 120],
    ['k', 'L3/R4', 200],
  ]);
  expect(await read(outerName, 5)).toEqual([
    ['k', 'L1/R1', 105],
    ['k', 'L2/null', 120],
    ['k2', 'null/R2', 121],
    ['k3', 'null/R3', 188],
    ['k', 'L3/R4', 200],
  ]);
  expect((await app.metrics()).reduce((a, m) => a + m.droppedLate, 0)).toBe(0);
  await app.close();
});
