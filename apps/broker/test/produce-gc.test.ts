// Sustained Produce must not keep the broker process in back-to-back full GCs. Before the heap
// tuning (src/server/heap-tuning.ts) V8 ran a Mark-Compact every few MiB received: the short-lived
// request Buffers counted against an old-generation limit sized for the broker's ~10 MiB heap.
// The built entry (dist/cli.js) is what shows it: under tsx the heap is larger and hides it.

import { buildRecordBatchSync, MetadataApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, freePort, RawClient, spawnBroker, tempDir } from './helpers.js';

let broker: BrokerProcess | undefined;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  broker = await spawnBroker({
    built: true,
    dataDir: tempDir('sluice-gc-'),
    overrides: { 'metrics.port': String(metricsPort), 'num.partitions': '6' },
  });
}, 30_000);

afterAll(async () => {
  await broker?.kill();
});

const majorGcs = async (): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const m = /sluice_nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
};

describe('Produce and the broker heap', () => {
  it('takes 192 MiB of 96 KiB requests with at most a few full GCs', async () => {
    const raw = await RawClient.connect(broker!.port);
    await raw.send(MetadataApi, 9, { topics: [{ topicId: ZERO_UUID, name: 'gc' }], allowAutoTopicCreation: true });
    // Six ~16 KiB batches per request, one per partition, as Kafka's Java producer sends them.
    const value = Buffer.alloc(1000, 7);
    const batch = buildRecordBatchSync({ records: Array.from({ length: 16 }, () => ({ value })) });
    const request = {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5000,
      topicData: [
        {
          name: 'gc',
          topicId: ZERO_UUID,
          partitionData: Array.from({ length: 6 }, (_, index) => ({ index, records: batch })),
        },
      ],
    };
    // Five requests in flight, as max.in.flight.requests.per.connection allows.
    const produce = async (requests: number) => {
      for (let i = 0; i < requests; i += 5) {
        const sent = Array.from({ length: 5 }, () => raw.send(ProduceApi, 9, request));
        for (const r of await Promise.all(sent)) expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
      }
    };
    // The first ~100 MiB warm the broker up (V8 grows the young generation), as earlier benchmark rows do.
    await produce(1024);
    const before = await majorGcs();
    await produce(2048);
    const during = (await majorGcs()) - before;
    raw.close();
    // Without the tuning: about one full GC per 7 MiB here (27-31 of them).
    expect(during).toBeLessThanOrEqual(4);
  }, 60_000);
});
