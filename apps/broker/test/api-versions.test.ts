// ApiVersions lists Produce from v0, as Kafka 4.x does (KAFKA-18659), while Produce v0-2 stay refused.
// librdkafka before the fix of its issue 4956 (confluent-kafka 2.6.1 bundles one) turns gzip, snappy and lz4
// on only when the Produce range starts at v0; against a range starting at v3 it sent every batch of those
// codecs uncompressed, silently (found by test/conformance/client-matrix's clients, compared with Kafka).

import { ApiVersionsApi, buildRecordBatchSync, FetchApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { closedWithin, RawClient, startInProcess, tempDir } from './helpers.js';

let broker: RunningBroker;
let raw: RawClient;

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-api-versions-'), 'num.partitions': '1' });
  raw = await RawClient.connect(broker.port);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

describe('ApiVersions', () => {
  it('lists Produce from v0 up to the newest version served, at every ApiVersions version', async () => {
    for (let version = 0; version <= 5; version++) {
      const body = version >= 3 ? { clientSoftwareName: 'rdkafka', clientSoftwareVersion: '2.6.1' } : {};
      const r = await raw.send(ApiVersionsApi, version, body);
      expect(r.errorCode, `v${version}`).toBe(0);
      expect(
        r.apiKeys.find((k) => k.apiKey === ProduceApi.apiKey),
        `v${version}`,
      ).toMatchObject({
        minVersion: 0,
        maxVersion: 13,
      });
      // Only Produce: every other range is the one served (Fetch from v4, as Kafka 4.x).
      expect(
        r.apiKeys.find((k) => k.apiKey === FetchApi.apiKey),
        `v${version}`,
      ).toMatchObject({ minVersion: 4 });
    }
  });

  it('still closes the connection on Produce v0-2 (listed for version negotiation only, as Kafka)', async () => {
    for (const version of [0, 1, 2]) {
      const c = await RawClient.connect(broker.port);
      const request = RawClient.encode(
        ProduceApi,
        3,
        {
          transactionalId: null,
          acks: -1,
          timeoutMs: 5000,
          topicData: [
            {
              name: 'old-produce',
              topicId: ZERO_UUID,
              partitionData: [{ index: 0, records: buildRecordBatchSync({ records: [{ value: 'x' }] }) }],
            },
          ],
        },
        1,
      );
      request.writeInt16BE(version, 6); // the request header's api version, after size and api key
      c.writeRaw(request);
      expect(await closedWithin(c, 5000), `v${version}`).toBe(true);
      c.close();
    }
    // Nothing was appended, and the broker serves on.
    expect(broker.context.topics.partition('old-produce', 0)?.log.logEndOffset ?? 0n).toBe(0n);
    expect((await raw.send(ApiVersionsApi, 2, {})).errorCode).toBe(0);
  });
});
