// SIGKILL the broker process in the middle of an acks=-1 produce loop (flush after every message),
// restart it on the same data directory, and find every acknowledged message where it was
// acknowledged. Idempotent producer state must survive the crash too.

import { rmSync } from 'node:fs';
import {
  buildRecordBatchSync,
  CreateTopicsApi,
  DescribeConfigsApi,
  IncrementalAlterConfigsApi,
  InitProducerIdApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, RawClient, readPartition, sleep, spawnBroker, tempDir } from './helpers.js';

const TOPIC = 'crash';
const WRITERS = 3;
const PIPELINE = 4;
const PER_BATCH = 10;

interface Acked {
  partition: number;
  baseOffset: bigint;
  values: string[];
  producerId: bigint;
  baseSequence: number;
  batch: Buffer;
}

const dataDir = tempDir('sluice-crash-');
const started: BrokerProcess[] = [];

afterAll(async () => {
  for (const b of started) await b.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

const produceBody = (partition: number, records: Buffer) => ({
  transactionalId: null,
  acks: -1,
  timeoutMs: 10_000,
  topicData: [{ name: TOPIC, topicId: ZERO_UUID, partitionData: [{ index: partition, records }] }],
});

/** One connection writing idempotent batches to its own partition, PIPELINE requests in flight. */
async function writer(port: number, partition: number, acked: Acked[], stop: { killed: boolean }): Promise<void> {
  const client = await RawClient.connect(port);
  const init = await client.send(InitProducerIdApi, 4, {
    transactionalId: null,
    transactionTimeoutMs: 60_000,
    producerId: -1n,
    producerEpoch: -1,
  });
  let sequence = 0;
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  // Bounded by the kill: once the connection is gone every send fails and the loop ends.
  while (!stop.killed && !client.isClosed) {
    const values = Array.from({ length: PER_BATCH }, (_, i) => `w${partition}-${n}-${i}`);
    n++;
    const baseSequence = sequence;
    sequence += PER_BATCH;
    const batch = buildRecordBatchSync({
      records: values.map((value, i) => ({ key: `k${i}`, value })),
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      baseSequence,
    });
    const p: Promise<void> = client.send(ProduceApi, 9, produceBody(partition, batch)).then(
      (res) => {
        const r = res.responses[0].partitionResponses[0];
        if (r.errorCode !== 0) throw new Error(`produce error ${r.errorCode}`);
        acked.push({ partition, baseOffset: r.baseOffset, values, producerId: init.producerId, baseSequence, batch });
      },
      () => {
        // Killed with this request in flight: not acknowledged, so no promise about it.
      },
    );
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
    if (inFlight.size >= PIPELINE) await Promise.race(inFlight);
  }
  await Promise.allSettled(inFlight);
  client.close();
}

describe('crash recovery', () => {
  it('every message acknowledged with acks=-1 before SIGKILL is there after a restart', async () => {
    const first = await spawnBroker({ dataDir, overrides: { 'log.flush.interval.messages': '1' } });
    started.push(first);
    const admin = await RawClient.connect(first.port);
    const created = await admin.send(CreateTopicsApi, 5, {
      topics: [{ name: TOPIC, numPartitions: WRITERS, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(created.topics[0].errorCode).toBe(0);
    // A config change acknowledged before the crash must survive it too.
    const altered = await admin.send(IncrementalAlterConfigsApi, 1, {
      resources: [
        {
          resourceType: 2,
          resourceName: TOPIC,
          configs: [{ name: 'retention.ms', configOperation: 0, value: '7654321' }],
        },
      ],
      validateOnly: false,
    });
    expect(altered.responses[0].errorCode).toBe(0);
    admin.close();

    const acked: Acked[] = [];
    const stop = { killed: false };
    const writers = Array.from({ length: WRITERS }, (_, p) => writer(first.port, p, acked, stop));
    // Let the loop run until a good number of batches is acknowledged, then kill mid-flight.
    const deadline = Date.now() + 20_000;
    while (acked.length < 150 && Date.now() < deadline) await sleep(20);
    expect(acked.length).toBeGreaterThanOrEqual(150);
    first.child.kill('SIGKILL');
    stop.killed = true;
    expect(await first.kill('SIGKILL')).toBeNull();
    await Promise.all(writers);
    const ackedAtKill = acked.length;

    const second = await spawnBroker({ dataDir });
    started.push(second);
    const reader = await RawClient.connect(second.port);
    for (let p = 0; p < WRITERS; p++) {
      const records = await readPartition(reader, TOPIC, p);
      // Dense offsets from 0: the recovered log is a valid prefix (CRCs checked while reading).
      expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => BigInt(i)));
      const byOffset = new Map(records.map((r) => [r.offset, r.value?.toString()]));
      const mine = acked.filter((a) => a.partition === p);
      expect(mine.length).toBeGreaterThan(0);
      for (const a of mine) {
        const found = a.values.map((_, i) => byOffset.get(a.baseOffset + BigInt(i)));
        expect(found, `batch acknowledged at ${p}@${a.baseOffset}`).toEqual(a.values);
      }
      // Nothing appears twice.
      expect(new Set(records.map((r) => r.value?.toString())).size).toBe(records.length);
    }

    // Producer state was rebuilt from the log: a retry of the last acknowledged batch of each
    // partition is a duplicate answered with its original offset, not a second copy.
    for (let p = 0; p < WRITERS; p++) {
      const last = acked
        .filter((a) => a.partition === p)
        .sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : 1))
        .pop()!;
      const before = (await readPartition(reader, TOPIC, p)).length;
      const res = await reader.send(ProduceApi, 9, produceBody(p, last.batch));
      expect(res.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: last.baseOffset });
      expect((await readPartition(reader, TOPIC, p)).length).toBe(before);
    }
    const configs = await reader.send(DescribeConfigsApi, 4, {
      resources: [{ resourceType: 2, resourceName: TOPIC, configurationKeys: ['retention.ms'] }],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    expect(configs.results[0].configs.map((c) => [c.name, c.value])).toEqual([['retention.ms', '7654321']]);
    reader.close();
    expect(acked.length).toBe(ackedAtKill);
    expect(await second.kill('SIGTERM')).toBe(0);
  });
});
