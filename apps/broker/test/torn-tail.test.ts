// A clean stop, then the last 100 bytes of the partition's log cut off (a torn last batch), then
// restarts: the records before the torn batch stay readable at their offsets, a new acks=-1
// produce gets the next offset (never one still on disk), and all of it survives a SIGKILL.

import fs from 'node:fs';
import path from 'node:path';
import { buildRecordBatchSync, CreateTopicsApi, InitProducerIdApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, listOffset, RawClient, readPartition, spawnBroker, tempDir } from './helpers.js';

const TOPIC = 'torn';
const dataDir = tempDir('sluice-torn-');
const started: BrokerProcess[] = [];

afterAll(async () => {
  for (const b of started) await b.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function idempotentProduce(client: RawClient, values: string[]): Promise<bigint> {
  const init = await client.send(InitProducerIdApi, 4, {
    transactionalId: null,
    transactionTimeoutMs: 60_000,
    producerId: -1n,
    producerEpoch: -1,
  });
  const batch = buildRecordBatchSync({
    records: values.map((value) => ({ key: null, value })),
    producerId: init.producerId,
    producerEpoch: init.producerEpoch,
    baseSequence: 0,
  });
  const res = await client.send(ProduceApi, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 10_000,
    topicData: [{ name: TOPIC, topicId: ZERO_UUID, partitionData: [{ index: 0, records: batch }] }],
  });
  const r = res.responses[0].partitionResponses[0];
  if (r.errorCode !== 0) throw new Error(`produce error ${r.errorCode}`);
  return r.baseOffset;
}

const recordValue = (batch: number, i: number) => `${batch}-${i}-${'x'.repeat(500)}`;

describe('a torn last batch after a clean stop', () => {
  it('keeps the 90 records before it, and the next produce gets offset 90', async () => {
    const first = await spawnBroker({ dataDir });
    started.push(first);
    const client = await RawClient.connect(first.port);
    const created = await client.send(CreateTopicsApi, 5, {
      topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(created.topics[0].errorCode).toBe(0);
    // Ten batches of ten 500-byte records: each passes index.interval.bytes, so the torn batch is
    // the last indexed one, where a clean start resumes its scan.
    for (let b = 0; b < 10; b++) {
      const values = Array.from({ length: 10 }, (_, i) => recordValue(b, i));
      expect(await idempotentProduce(client, values)).toBe(BigInt(b * 10));
    }
    client.close();
    expect(await first.kill('SIGTERM')).toBe(0);

    const segment = path.join(dataDir, `${TOPIC}-0`, '00000000000000000000.log');
    fs.truncateSync(segment, fs.statSync(segment).size - 100);

    const second = await spawnBroker({ dataDir });
    started.push(second);
    const c2 = await RawClient.connect(second.port);
    expect((await listOffset(c2, TOPIC, 0, -1n)).offset).toBe(90n);
    const kept = await readPartition(c2, TOPIC, 0);
    expect(kept.map((r) => r.offset)).toEqual(Array.from({ length: 90 }, (_, i) => BigInt(i)));
    expect(kept.map((r) => r.value?.toString())).toEqual(kept.map((_, i) => recordValue(Math.floor(i / 10), i % 10)));
    expect(await idempotentProduce(c2, ['after the cut'])).toBe(90n);
    c2.close();
    expect(await second.kill('SIGKILL')).toBeNull();

    const third = await spawnBroker({ dataDir });
    started.push(third);
    const c3 = await RawClient.connect(third.port);
    const all = await readPartition(c3, TOPIC, 0);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 91 }, (_, i) => BigInt(i)));
    expect(all[90].value?.toString()).toBe('after the cut');
    c3.close();
    expect(third.output()).not.toMatch(/out of order/);
    expect(await third.kill('SIGTERM')).toBe(0);
  });
});
