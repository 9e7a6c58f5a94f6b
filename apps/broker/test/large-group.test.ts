// A consumer group of 100 members on 200 partitions settles with every partition owned by exactly one
// member, two each (issue 20, "keep what works"; its memory beside Kafka is a benchmark row).

import { Kafka, topic } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { sleep, startInProcess } from './helpers.js';

const MEMBERS = 100;
const PARTITIONS = 200;
let broker: RunningBroker;

beforeAll(async () => {
  broker = await startInProcess();
  const admin = new Kafka({ brokers: [`127.0.0.1:${broker.port}`], clientId: 'setup' }).admin();
  try {
    await admin.createTopics([{ name: 'wide', numPartitions: PARTITIONS, replicationFactor: 1 }]);
  } finally {
    await admin.close();
  }
});

afterAll(async () => {
  await broker?.stop();
});

describe('a large consumer group', () => {
  it(`${MEMBERS} members on ${PARTITIONS} partitions: one owner per partition, ${PARTITIONS / MEMBERS} each`, async () => {
    const kafka = new Kafka({ brokers: [`127.0.0.1:${broker.port}`], clientId: 'wide' });
    const consumers = Array.from({ length: MEMBERS }, () => kafka.consumer({ groupId: 'wide-group' }));
    const runs = consumers.map((c) => c.run(topic('wide'), () => {}).catch((e: unknown) => e));
    try {
      const settled = () => {
        const gens = new Set(consumers.map((c) => c.groupMetadata()?.generationId ?? -1));
        const owned = consumers.flatMap((c) => c.assignment().map((tp) => `${tp.topic}-${tp.partition}`));
        return gens.size === 1 && !gens.has(-1) && owned.length === PARTITIONS && new Set(owned).size === PARTITIONS;
      };
      // Bounded: the group has a minute to settle (it takes seconds).
      for (let i = 0; i < 300 && !settled(); i++) await sleep(200);
      const owned = consumers.flatMap((c) => c.assignment().map((tp) => tp.partition));
      expect(owned.sort((a, b) => a - b)).toEqual(Array.from({ length: PARTITIONS }, (_, p) => p));
      expect(consumers.map((c) => c.assignment().length)).toEqual(Array(MEMBERS).fill(PARTITIONS / MEMBERS));
      expect(new Set(consumers.map((c) => c.groupMetadata()?.generationId)).size).toBe(1);
    } finally {
      await Promise.all(consumers.map((c) => Promise.race([c.close(), sleep(10_000)])));
      await Promise.race([Promise.all(runs), sleep(10_000)]);
    }
    // Its own bounds (a minute to settle, 10 s to close) fit inside the timeout.
  }, 120_000);
});
