// Client quota configs through AlterClientQuotas / DescribeClientQuotas: per user, client id, both,
// and their defaults, kept in the metadata store, with Kafka's validation and filter matching.

import { Connection } from '@sluice/client';
import {
  AlterClientQuotasApi,
  ApiVersionsApi,
  buildRecordBatchSync,
  CreateTopicsApi,
  DescribeClientQuotasApi,
  ERROR_CODES,
  FetchApi,
  ProduceApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { fetchRequest, RawClient, startInProcess, tempDir } from './helpers.js';

let broker: RunningBroker;
let c: Connection;
beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-quotas-') });
  c = await Connection.open({ host: '127.0.0.1', port: broker.port });
});
afterAll(async () => {
  c?.close();
  await broker?.stop();
});

const entity = (e: Record<string, string | null>) =>
  Object.entries(e).map(([entityType, entityName]) => ({ entityType, entityName }));
const alter = (
  e: Record<string, string | null>,
  ops: { key: string; value?: number; remove?: boolean }[],
  validateOnly = false,
) =>
  c.request(AlterClientQuotasApi, {
    entries: [
      { entity: entity(e), ops: ops.map((o) => ({ key: o.key, value: o.value ?? 0, remove: o.remove ?? false })) },
    ],
    validateOnly,
  });
const describeQuotas = (
  components: { entityType: string; matchType: number; match: string | null }[],
  strict = false,
) => c.request(DescribeClientQuotasApi, { components, strict });

describe('client quota configs', () => {
  it('stores quotas per entity and describes them with EXACT, DEFAULT and SPECIFIED filters', async () => {
    expect((await alter({ user: 'alice' }, [{ key: 'producer_byte_rate', value: 1024 }])).entries[0]!.errorCode).toBe(
      0,
    );
    await alter({ user: null }, [{ key: 'consumer_byte_rate', value: 2048 }]);
    await alter({ user: 'alice', 'client-id': 'app' }, [{ key: 'request_percentage', value: 12.5 }]);
    const exact = await describeQuotas([{ entityType: 'user', matchType: 0, match: 'alice' }], true);
    expect(exact.entries).toEqual([
      { entity: [{ entityType: 'user', entityName: 'alice' }], values: [{ key: 'producer_byte_rate', value: 1024 }] },
    ]);
    const loose = await describeQuotas([{ entityType: 'user', matchType: 0, match: 'alice' }]);
    expect(loose.entries!.length).toBe(2);
    const defaults = await describeQuotas([{ entityType: 'user', matchType: 1, match: null }]);
    expect(defaults.entries!.map((e) => e.values)).toEqual([[{ key: 'consumer_byte_rate', value: 2048 }]]);
    const specified = await describeQuotas([{ entityType: 'user', matchType: 2, match: null }], true);
    expect(specified.entries!.map((e) => e.entity[0]!.entityName)).toEqual(['alice']);
  });

  it("refuses unknown keys, bad values and entity combinations with Kafka's INVALID_REQUEST; validateOnly stores nothing", async () => {
    expect((await alter({ user: 'bob' }, [{ key: 'nope', value: 1 }])).entries[0]!.errorCode).toBe(
      ERROR_CODES.INVALID_REQUEST,
    );
    expect((await alter({ user: 'bob' }, [{ key: 'producer_byte_rate', value: 1.5 }])).entries[0]!.errorCode).toBe(
      ERROR_CODES.INVALID_REQUEST,
    );
    expect(
      (await alter({ user: 'bob', ip: '1.2.3.4' }, [{ key: 'producer_byte_rate', value: 1 }])).entries[0]!.errorCode,
    ).toBe(ERROR_CODES.INVALID_REQUEST);
    expect((await alter({ user: 'bob' }, [{ key: 'producer_byte_rate', value: 10 }], true)).entries[0]!.errorCode).toBe(
      0,
    );
    expect((await describeQuotas([{ entityType: 'user', matchType: 0, match: 'bob' }])).entries).toEqual([]);
  });

  it('removing the last value removes the stored entity', async () => {
    await alter({ user: 'carol' }, [{ key: 'producer_byte_rate', value: 5 }]);
    await alter({ user: 'carol' }, [{ key: 'producer_byte_rate', remove: true }]);
    expect((await describeQuotas([{ entityType: 'user', matchType: 0, match: 'carol' }])).entries).toEqual([]);
    expect([...broker.context.store.image.securityRecords('quotas').keys()].length).toBe(3);
  });

  it('throttles a client over its producer_byte_rate (throttle_time_ms, then no reads for that long); others are not', async () => {
    await c.request(CreateTopicsApi, {
      ...CreateTopicsApi.request.defaults(),
      topics: [{ name: 'quota', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
    });
    // RawClient's client id is sluice-e2e; the Connection above is sluice-client.
    await alter({ 'client-id': 'sluice-e2e' }, [{ key: 'producer_byte_rate', value: 10_000 }]);
    const records = buildRecordBatchSync({ records: [{ value: Buffer.alloc(120_000, 1) }] });
    const produce = {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5000,
      topicData: [
        { name: 'quota', topicId: '00000000-0000-0000-0000-000000000000', partitionData: [{ index: 0, records }] },
      ],
    };
    const raw = await RawClient.connect(broker.port);
    try {
      const res = await raw.send(ProduceApi, 9, produce);
      expect(res.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
      // 120 kB over the 10 s minimum span is 12 kB/s: 20 % over 10 kB/s, 2 s of throttle.
      expect(res.throttleTimeMs).toBeGreaterThanOrEqual(1500);
      expect(res.throttleTimeMs).toBeLessThanOrEqual(2500);
      const started = Date.now();
      await raw.send(ApiVersionsApi, 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(res.throttleTimeMs - 200);
      const other = await c.request(ProduceApi, produce);
      expect(other.throttleTimeMs).toBe(0);
    } finally {
      raw.close();
    }
  });

  it('throttles a consumer over its consumer_byte_rate the same way', async () => {
    // The topic holds the 240 kB produced above; the default client-id quota applies to sluice-e2e.
    await alter({ 'client-id': null }, [{ key: 'consumer_byte_rate', value: 10_000 }]);
    const raw = await RawClient.connect(broker.port);
    try {
      const res = await raw.send(FetchApi, 12, fetchRequest('quota', [{ partition: 0, fetchOffset: 0n }]));
      expect(res.responses[0]!.partitions[0]!.records!.length).toBeGreaterThan(200_000);
      expect(res.throttleTimeMs).toBeGreaterThan(1000);
    } finally {
      raw.close();
    }
  });
});
