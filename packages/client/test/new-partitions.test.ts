// Partitions added to a topic after a client cached its metadata (as a mirror that follows its source sees).
import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../src/admin.js';
import { Consumer } from '../src/consumer/consumer.js';
import { Producer } from '../src/producer/producer.js';
import { topic } from '../src/serde.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

describe('partitions added after the metadata was cached', () => {
  it('the producer sends to a new partition instead of refusing it', async () => {
    const brokers = [broker.bootstrap];
    const t = topic(uniqueTopic('grow-produce'));
    const admin = new Admin({ brokers });
    const producer = new Producer({ brokers });
    try {
      await admin.createTopics([{ name: t.name, numPartitions: 1 }]);
      await producer.send(t, { value: Buffer.from('a'), partition: 0 });
      await admin.createPartitions([{ topic: t.name, count: 2 }]);
      const meta = await producer.send(t, { value: Buffer.from('b'), partition: 1 });
      expect(meta.partition).toBe(1);
      await expect(producer.send(t, { value: Buffer.from('c'), partition: 5 })).rejects.toThrow(/no partition 5/);
    } finally {
      await producer.close();
      await admin.close();
    }
  });

  for (const from of ['earliest', 0n] as const) {
    it(`a consumer assigned a new partition (from ${String(from)}) reads it`, async () => {
      const brokers = [broker.bootstrap];
      const t = topic(uniqueTopic('grow-consume'));
      const admin = new Admin({ brokers });
      const producer = new Producer({ brokers });
      const consumer = new Consumer({ brokers });
      try {
        await admin.createTopics([{ name: t.name, numPartitions: 1 }]);
        await producer.send(t, { value: Buffer.from('p0'), partition: 0 });
        await consumer.assign([{ topic: t, partition: 0, offset: 'earliest' }]);
        const seen: string[] = [];
        let got: () => void = () => {};
        const both = new Promise<void>((r) => {
          got = r;
        });
        const run = consumer.run(t, (records) => {
          for (const r of records) seen.push(`${r.partition}:${r.value?.toString()}`);
          if (seen.length === 2) got();
        });
        await new Promise((r) => setTimeout(r, 300));
        await admin.createPartitions([{ topic: t.name, count: 2 }]);
        await consumer.assign([{ topic: t, partition: 1, offset: from }]);
        await producer.send(t, { value: Buffer.from('p1'), partition: 1 });
        const failed = run.then(() => {
          throw new Error('run() ended');
        });
        await Promise.race([
          both,
          failed,
          new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${seen.join(',')}`)), 10_000)),
        ]);
        expect(seen).toEqual(['0:p0', '1:p1']);
      } finally {
        await consumer.close();
        await producer.close();
        await admin.close();
      }
    });
  }
});
