// Repartition topics are purged up to what is committed, as Kafka Streams does after a commit.
import { Admin, serde, topic } from '@sluice/client';
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

it('deletes repartition records below the committed offsets: the log start advances to the end', async () => {
  const brokers = [broker.bootstrap];
  const input = unique('purge-text');
  const output = unique('purge-counts');
  await createTopics(brokers, [input, output], 2);
  const { topology } = wordCountTopology(input, output);
  const applicationId = unique('purge');
  const lines = Array.from({ length: 40 }, (_, i) => `w${i % 5} x${i % 3}`);
  await produce(
    brokers,
    topic(input, { key: serde.nullable(serde.string()), value: serde.string() }),
    lines.map((value, i) => ({ key: `k${i}`, value })),
  );
  const app = new KafkaStreams(topology, {
    brokers,
    applicationId,
    stateDir: stateDir(),
    commitIntervalMs: 100,
    repartitionPurgeIntervalMs: 200,
  });
  const admin = new Admin({ brokers });
  try {
    await app.start();
    // 80 words: each one's count update reaches the output.
    await readTopic(brokers, topic(output, { key: serde.string(), value: serde.json<number>() }), 80);
    const repartition = `${applicationId}-counts-repartition`;
    const tps = [0, 1].map((partition) => ({ topic: repartition, partition }));
    const ends = await admin.listOffsets(tps, 'latest');
    expect(ends.reduce((a, e) => a + e.offset, 0n)).toBe(80n);
    // Everything was processed and, within a commit or two, committed: the purge reaches each end.
    await waitFor('the repartition log start to reach its end', async () => {
      const starts = await admin.listOffsets(tps, 'earliest');
      return starts.every((s, i) => s.offset === ends[i].offset);
    });
    expect(app.purges).toBeGreaterThan(0);
    // The committed offsets are where the log now starts: nothing below them is left to read.
    const committed = await admin.fetchGroupOffsets(applicationId);
    for (const e of ends) {
      expect(committed.find((c) => c.topic === e.topic && c.partition === e.partition)?.offset).toBe(e.offset);
    }
  } finally {
    await app.close();
    await admin.close();
  }
});
