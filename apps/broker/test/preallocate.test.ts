// The preallocate topic config (and log.preallocate, its broker default) reaches the partition logs.
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, topic } from '@sluice/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { startInProcess, tempDir } from './helpers.js';

const SEGMENT = 1 << 20;
let broker: RunningBroker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

async function activeLogSize(props: Record<string, string>, configs: Record<string, string>): Promise<number> {
  const dataDir = tempDir('sluice-prealloc-');
  broker = await startInProcess({ 'log.dirs': dataDir, ...props });
  const kafka = new Kafka({ brokers: [broker.bootstrap] });
  const admin = kafka.admin();
  await admin.createTopics([
    { name: 't', numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': String(SEGMENT), ...configs } },
  ]);
  await admin.close();
  const producer = kafka.producer({ acks: 'all' });
  await producer.send(topic('t'), { value: Buffer.from('x') });
  await producer.close();
  return fs.statSync(path.join(dataDir, 't-0', '00000000000000000000.log')).size;
}

describe('preallocate', () => {
  it('a topic with preallocate=true has its active segment file at segment.bytes', async () => {
    expect(await activeLogSize({}, { preallocate: 'true' })).toBe(SEGMENT);
  });

  it('log.preallocate=true on the broker is every topic default', async () => {
    expect(await activeLogSize({ 'log.preallocate': 'true' }, {})).toBe(SEGMENT);
  });

  it('by default (false, as Kafka) the file holds only the data', async () => {
    expect(await activeLogSize({}, {})).toBeLessThan(1024);
  });
});
