// Scale-out: a second and a third instance with the same application id take over tasks as they join;
// the counts they produce together equal one instance's, update by update.
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

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa'];

it('two, then three instances share the tasks; their results equal a single instance’s', async () => {
  const brokers = [broker.bootstrap];
  const input = unique('lines');
  const output = unique('scaled-counts');
  await createTopics(brokers, [input, output], 6);
  const inT = topic(input, { key: serde.nullable(serde.string()), value: serde.string() });
  const appId = unique('scale');
  const start = async () => {
    const app = new KafkaStreams(wordCountTopology(input, output).topology, {
      brokers,
      applicationId: appId,
      stateDir: stateDir(),
      commitIntervalMs: 100,
      sessionTimeoutMs: 6000,
    });
    await app.start();
    return app;
  };
  const expected = new Map<string, number[]>();
  let line = 0;
  const send = async (n: number) => {
    const records = Array.from({ length: n }, () => {
      const words = [WORDS[line % WORDS.length], WORDS[(line * 7) % WORDS.length], WORDS[(line * 3) % WORDS.length]];
      for (const w of words) {
        const seq = expected.get(w) ?? [];
        seq.push(seq.length + 1);
        expected.set(w, seq);
      }
      line++;
      return { key: `line-${line}`, value: words.join(' ') };
    });
    await produce(brokers, inT, records);
  };
  const updates = () => [...expected.values()].reduce((a, s) => a + s.length, 0);
  const outT = topic(output, { key: serde.string(), value: serde.json<number>() });
  const outputsReach = (n: number) =>
    waitFor(
      `${n} updates`,
      async () => (await readTopic(brokers, outT, n, { settleMs: 0, timeoutMs: 3000 })).length >= n,
      30_000,
    );

  const a = await start();
  await send(200);
  await outputsReach(updates());
  const b = await start();
  await send(200);
  await outputsReach(updates());
  const c = await start();
  await send(200);
  await outputsReach(updates());
  await waitFor('three instances hold tasks', async () => {
    const counts = await Promise.all([a, b, c].map(async (x) => (await x.metrics()).length));
    return counts.every((n) => n > 0);
  });
  await send(100);

  const out = await readTopic(brokers, outT, updates());
  const got = new Map<string, number[]>();
  for (const r of out) got.set(r.key, [...(got.get(r.key) ?? []), r.value]);
  expect(got).toEqual(expected);
  const tasks = await Promise.all([a, b, c].map(async (x) => (await x.metrics()).map((m) => m.taskId)));
  // 6 partitions × 2 sub-topologies, each task on exactly one instance.
  expect(tasks.flat().sort()).toEqual(
    ['0_0', '0_1', '0_2', '0_3', '0_4', '0_5', '1_0', '1_1', '1_2', '1_3', '1_4', '1_5'].sort(),
  );
  await Promise.all([a.close(), b.close(), c.close()]);
}, 60_000);
