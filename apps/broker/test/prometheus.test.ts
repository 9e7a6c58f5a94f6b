// The broker's Prometheus endpoint (metrics.port): requests, bytes in/out per topic, error codes
// answered, partition sizes and connections, scraped over HTTP from a running broker.

import { buildRecordBatchSync, ERROR_CODES, MetadataApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { freePort, RawClient, readPartition, startInProcess, tempDir } from './helpers.js';

let broker: RunningBroker;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-prom-'), 'metrics.port': String(metricsPort) });
});

afterAll(async () => {
  await broker?.stop();
});

function produceBody(records: Buffer) {
  return {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: 'metered', topicId: ZERO_UUID, partitionData: [{ index: 0, records }] }],
  };
}

describe('Prometheus endpoint', () => {
  it('counts requests, bytes per topic, answered error codes, partition sizes and connections', async () => {
    const raw = await RawClient.connect(broker.port);
    await raw.send(MetadataApi, 9, { topics: [{ topicId: ZERO_UUID, name: 'metered' }], allowAutoTopicCreation: true });
    const good = buildRecordBatchSync({ records: [{ value: 'a'.repeat(100) }, { value: 'b'.repeat(100) }] });
    expect((await raw.send(ProduceApi, 9, produceBody(good))).responses[0].partitionResponses[0].errorCode).toBe(0);
    const bad = buildRecordBatchSync({ records: [{ value: 'c' }] });
    bad[bad.length - 1] ^= 1;
    const rejected = await raw.send(ProduceApi, 9, produceBody(bad));
    expect(rejected.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.CORRUPT_MESSAGE);
    expect(await readPartition(raw, 'metered', 0)).toHaveLength(2);

    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    raw.close();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
    expect(value(/sluice_requests_total\{api="Produce",version="9"\} (\d+)/)).toBe(2);
    expect(value(/sluice_bytes_in_total\{topic="metered"\} (\d+)/)).toBe(good.length);
    expect(value(/sluice_bytes_out_total\{topic="metered"\} (\d+)/)).toBeGreaterThanOrEqual(good.length);
    expect(value(/sluice_request_errors_total\{api="Produce",error="CORRUPT_MESSAGE"\} (\d+)/)).toBe(1);
    expect(value(/sluice_partition_size_bytes\{topic="metered",partition="0"\} (\d+)/)).toBe(good.length);
    expect(value(/sluice_connections (\d+)/)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/sluice_request_duration_seconds_bucket\{le="[^"]+",api="Produce",version="9"\}/);
  });
});
