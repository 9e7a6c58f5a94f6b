// Table groupBy with a subtractor, record by record: a row that moves to another group is taken out of
// the old one, an update within a group replaces the old value, a deleted row leaves its group.
import { serde, type Topic, topic } from '@sluice/client';
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

interface User {
  region: string;
  score: number;
}

it('KTable.groupBy → count, aggregate and reduce subtract the old row and add the new one', async () => {
  const brokers = [broker.bootstrap];
  const [usersName, countName, sumName, maxName] = ['users', 'region-count', 'region-sum', 'region-names'].map(unique);
  await createTopics(brokers, [usersName, countName, sumName, maxName], 2);
  const users = topic(usersName, { key: serde.string(), value: serde.nullable(serde.json<User>()) });
  const out = (name: string) => topic(name, { key: serde.string(), value: serde.nullable(serde.json<number>()) });
  const namesOut = topic(maxName, { key: serde.string(), value: serde.nullable(serde.string()) });

  const b = new StreamsBuilder();
  const table = b.table(users);
  const byRegion = table.groupBy((id, u) => [u.region, { id, score: u.score }], {
    key: serde.string(),
    value: serde.json<{ id: string; score: number }>(),
  });
  const counts = byRegion.count({ name: 'region-count' });
  counts.toStream().to(out(countName));
  byRegion
    .aggregate(
      () => 0,
      (_region, u, sum) => sum + u.score,
      (_region, u, sum) => sum - u.score,
      { name: 'region-sum', value: serde.json<number>() },
    )
    .toStream()
    .to(out(sumName));
  // reduce: the ids in a region as a sorted comma list.
  table
    .groupBy((id, u) => [u.region, id], { key: serde.string(), value: serde.string(), name: 'region-ids' })
    .reduce(
      (agg, id) => [...agg.split(',').filter((x) => x !== ''), id].sort().join(','),
      (agg, id) =>
        agg
          .split(',')
          .filter((x) => x !== id)
          .join(','),
      { name: 'region-ids-store', value: serde.string() },
    )
    .toStream()
    .to(namesOut);
  const topology = b.build();
  // The table, then one sub-topology per aggregation (each has its own repartition topic, as in Kafka).
  expect(topology.subTopologies).toHaveLength(4);
  expect(topology.describe()).toContain('(topic: region-count-repartition)');
  expect(topology.describe()).toContain('(topic: region-ids-repartition)');

  const app = new KafkaStreams(topology, {
    brokers,
    applicationId: unique('groupby'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();
  // Each phase is processed (table source and the repartition records) before the next goes in.
  const phases: Array<[string, User | null, number]> = [
    ['u1', { region: 'eu', score: 10 }, 1],
    ['u2', { region: 'eu', score: 5 }, 1],
    ['u3', { region: 'us', score: 7 }, 1],
    ['u1', { region: 'us', score: 10 }, 2], // moves: a subtraction from eu, an addition to us
    ['u2', { region: 'eu', score: 8 }, 1], // same group: one record with old and new
    ['u3', null, 1], // deleted: leaves us
  ];
  let processed = 0;
  for (const [key, value, repartitioned] of phases) {
    await produce(brokers, users, [{ key, value }]);
    // Three aggregations: each gets `repartitioned` records through its repartition topic.
    processed += 1 + 3 * repartitioned;
    const want = processed;
    await waitFor(
      `${want} records processed`,
      async () => (await app.metrics()).reduce((a, m) => a + m.processed, 0) >= want,
    );
  }
  const perKey = async <V>(t: Topic<string, V | null>, n: number) => {
    const m = new Map<string, Array<V | null>>();
    for (const r of await readTopic(brokers, t, n)) m.set(r.key, [...(m.get(r.key) ?? []), r.value]);
    return m;
  };
  expect(await perKey<number>(out(countName), 7)).toEqual(
    new Map([
      ['eu', [1, 2, 1, 1]],
      ['us', [1, 2, 1]],
    ]),
  );
  expect(await perKey<number>(out(sumName), 7)).toEqual(
    new Map([
      ['eu', [10, 15, 5, 8]],
      ['us', [7, 17, 10]],
    ]),
  );
  expect(await perKey<string>(namesOut, 7)).toEqual(
    new Map([
      ['eu', ['u1', 'u1,u2', 'u2', 'u2']],
      ['us', ['u3', 'u1,u3', 'u1']],
    ]),
  );
  expect(app.query(counts).get('eu')).toBe(1);
  expect(app.query(counts).get('us')).toBe(1);
  await app.close();
});
