// Client quota configs through AlterClientQuotas / DescribeClientQuotas: per user, client id, both,
// and their defaults, kept in the metadata store, with Kafka's validation and filter matching.

import { Connection } from '@sluice/client';
import {
  AlterClientQuotasApi,
  ApiVersionsApi,
  buildRecordBatchSync,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteTopicsApi,
  DescribeClientQuotasApi,
  ERROR_CODES,
  FetchApi,
  MetadataApi,
  ProduceApi,
  ZERO_UUID,
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

  it('throttles a consumer over its consumer_byte_rate as Kafka does: the throttled Fetch carries no data and its bytes do not count', async () => {
    // The topic holds two 120 kB batches (offsets 0 and 1); the default client-id quota applies to
    // sluice-e2e. 15 kB/s over the 10 s minimum span lets 150 kB through.
    await alter({ user: null }, [{ key: 'consumer_byte_rate', remove: true }]); // (set above; it would win)
    await alter({ 'client-id': null }, [{ key: 'consumer_byte_rate', value: 15_000 }]);
    const raw = await RawClient.connect(broker.port);
    const other = await RawClient.connect(broker.port);
    try {
      const first = await raw.send(FetchApi, 12, fetchRequest('quota', [{ partition: 0, fetchOffset: 1n }]));
      expect(first.throttleTimeMs).toBe(0);
      expect(first.responses[0]!.partitions[0]!.records!.length).toBeGreaterThan(100_000);
      // Both batches would take the rate to 36 kB/s: answered empty, with the throttle.
      const second = await raw.send(FetchApi, 12, fetchRequest('quota', [{ partition: 0, fetchOffset: 0n }]));
      expect(second.throttleTimeMs).toBeGreaterThan(5000);
      expect(second.responses).toEqual([]);
      // Its 240 kB were taken back: the same client id on another connection is still within the quota.
      const third = await other.send(FetchApi, 12, fetchRequest('quota', [{ partition: 0, fetchOffset: 2n }]));
      expect(third.throttleTimeMs).toBe(0);
    } finally {
      raw.close();
      other.close();
    }
  });
  it('request_percentage: a client over its share of handling time gets a throttle (at most one window, 1 s) and waits it out; others do not', async () => {
    await alter({ 'client-id': 'busy' }, [{ key: 'request_percentage', value: 0.001 }]);
    const busy = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'busy' });
    try {
      const metadata = () => busy.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: null });
      let throttle = 0;
      for (let i = 0; i < 2000 && throttle === 0; i++) throttle = (await metadata()).throttleTimeMs;
      expect(throttle).toBeGreaterThan(0);
      expect(throttle).toBeLessThanOrEqual(1000);
      const started = Date.now();
      await metadata();
      expect(Date.now() - started).toBeGreaterThanOrEqual(throttle - 100);
      expect((await c.request(MetadataApi, { ...MetadataApi.request.defaults(), topics: null })).throttleTimeMs).toBe(
        0,
      );
    } finally {
      busy.close();
    }
  });

  it('controller_mutation_rate: strict versions refuse topics while in debt (THROTTLING_QUOTA_EXCEEDED), older ones only throttle', async () => {
    // 0.5 partitions/s: a burst of 5.5 (11 windows), so 6 partitions leave a debt of 0.5, paid back in 1 s.
    await alter({ 'client-id': 'mutator' }, [{ key: 'controller_mutation_rate', value: 0.5 }]);
    const open = () => Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'mutator' });
    const create = (conn: Connection, topics: [string, number][], maxVersion?: number) =>
      conn.request(
        CreateTopicsApi,
        {
          ...CreateTopicsApi.request.defaults(),
          topics: topics.map(([name, numPartitions]) => ({
            name,
            numPartitions,
            replicationFactor: 1,
            assignments: [],
            configs: [],
          })),
          timeoutMs: 5000,
        },
        { maxVersion },
      );
    // @sluice/client waits out a throttle before its next request on a connection: fresh ones for each step.
    const [m1, m2, m3, m4] = await Promise.all([open(), open(), open(), open()]);
    try {
      const strict = await create(m1, [
        ['mutation-a', 6],
        ['mutation-b', 1],
      ]);
      expect(strict.topics.map((t) => [t.name, t.errorCode, t.errorMessage])).toEqual([
        ['mutation-a', 0, null],
        ['mutation-b', ERROR_CODES.THROTTLING_QUOTA_EXCEEDED, 'The throttling quota has been exceeded.'],
      ]);
      expect(strict.throttleTimeMs).toBeGreaterThan(700);
      expect(strict.throttleTimeMs).toBeLessThanOrEqual(1000);
      // The connection is then not read for that long.
      const started = Date.now();
      await m1.request(ApiVersionsApi, ApiVersionsApi.request.defaults());
      expect(Date.now() - started).toBeGreaterThanOrEqual(strict.throttleTimeMs - 150);
      // Still in debt: DeleteTopics v6 and CreatePartitions v3 are refused the same way.
      await create(m2, [['mutation-c', 3]], 5); // v5 is permissive: created, deeper in debt
      const del = await m3.request(DeleteTopicsApi, {
        topics: [{ name: 'mutation-a', topicId: ZERO_UUID }],
        topicNames: [],
        timeoutMs: 5000,
      });
      expect(del.responses[0]!.errorCode).toBe(ERROR_CODES.THROTTLING_QUOTA_EXCEEDED);
      const grow = await m4.request(CreatePartitionsApi, {
        topics: [{ name: 'mutation-a', count: 7, assignments: null }],
        timeoutMs: 5000,
        validateOnly: false,
      });
      expect(grow.results[0]!.errorCode).toBe(ERROR_CODES.THROTTLING_QUOTA_EXCEEDED);
      expect(grow.throttleTimeMs).toBeGreaterThan(1000);
    } finally {
      for (const m of [m1, m2, m3, m4]) m.close();
    }
  });

  it('controller_mutation_rate: a permissive version (CreateTopics v5) creates the topic and answers the throttle', async () => {
    await alter({ 'client-id': 'permissive' }, [{ key: 'controller_mutation_rate', value: 0.5 }]);
    const conn = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'permissive' });
    try {
      const res = await conn.request(
        CreateTopicsApi,
        {
          ...CreateTopicsApi.request.defaults(),
          topics: [
            { name: 'permissive-a', numPartitions: 6, replicationFactor: 1, assignments: [], configs: [] },
            { name: 'permissive-b', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] },
          ],
          timeoutMs: 5000,
        },
        { maxVersion: 5 },
      );
      expect(res.topics.map((t) => t.errorCode)).toEqual([0, 0]);
      // 8 partitions against a burst of 5.5: 2.5 in debt at 0.5/s.
      expect(res.throttleTimeMs).toBeGreaterThan(4500);
      expect(res.throttleTimeMs).toBeLessThanOrEqual(5000);
    } finally {
      conn.close();
    }
  });
});
