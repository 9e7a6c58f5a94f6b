// Answers where the differential suite against Apache Kafka (test/conformance) found Sluice
// answering differently; each test pins Kafka's answer on the broker alone, without Kafka.

import { once } from 'node:events';
import { createConnection } from 'node:net';
import {
  ApiVersionsApi,
  type ApiVersionsResponse,
  CreateTopicsApi,
  ERROR_CODES,
  MetadataApi,
  Reader,
  ResponseHeaderCodec,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, startInProcess, tempDir } from './helpers.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

let broker: RunningBroker;
let raw: RawClient;

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-parity-'), 'num.partitions': '1' });
  raw = await RawClient.connect(broker.port);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

/**
 * ApiVersions v3 on a fresh connection, decoded at v3 whatever the error code (RawClient takes an
 * ApiVersions error for the v0 body of an unsupported version).
 */
async function apiVersionsV3(clientSoftwareName: string, clientSoftwareVersion: string): Promise<ApiVersionsResponse> {
  const socket = createConnection({ host: '127.0.0.1', port: broker.port });
  await once(socket, 'connect');
  socket.write(RawClient.encode(ApiVersionsApi, 3, { clientSoftwareName, clientSoftwareVersion }, 1));
  let got = Buffer.alloc(0);
  // Bounded: one response frame, then the socket is closed.
  while (got.length < 4 || got.length < 4 + got.readInt32BE(0)) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got = Buffer.concat([got, chunk]);
  }
  socket.destroy();
  const r = new Reader(got.subarray(4, 4 + got.readInt32BE(0)));
  ResponseHeaderCodec.decode(r, 0);
  return ApiVersionsApi.response.decode(r, 3);
}

describe('ApiVersions', () => {
  it('v3+ refuses a client software name or version Kafka would not accept', async () => {
    for (const [name, version] of [
      ['', '1.0'],
      ['ok', 'bad version!'],
      ['-leading-dash', '1'],
      ['trailing.', '1'],
    ]) {
      const r = await apiVersionsV3(name, version);
      expect(r.errorCode, `${name}/${version}`).toBe(ERROR_CODES.INVALID_REQUEST);
      expect(r.apiKeys).toEqual([]);
    }
    const ok = await apiVersionsV3('a.b-c', '1.0.0-rc1');
    expect(ok.errorCode).toBe(0);
    expect(ok.apiKeys.length).toBeGreaterThan(10);
    // v0-v2 carry no software name.
    expect((await raw.send(ApiVersionsApi, 2, {})).errorCode).toBe(0);
  });
});

const creatable = (name: string, numPartitions = 1) => ({
  name,
  numPartitions,
  replicationFactor: 1,
  assignments: [],
  configs: [],
});

async function createTopics(topics: ReturnType<typeof creatable>[], validateOnly = false, version = 7) {
  return (await raw.send(CreateTopicsApi, version, { topics, timeoutMs: 5000, validateOnly })).topics;
}

describe('CreateTopics', () => {
  it('answers a name given twice once, with INVALID_REQUEST, after the other results', async () => {
    const r = await createTopics([creatable('ct-dup'), creatable('ct-single'), creatable('ct-dup')]);
    expect(r.map((t) => [t.name, t.errorCode])).toEqual([
      ['ct-single', 0],
      ['ct-dup', ERROR_CODES.INVALID_REQUEST],
    ]);
    expect(r[1]).toMatchObject({ errorMessage: 'Duplicate topic name.', topicId: ZERO_UUID, numPartitions: -1 });
    const md = await raw.send(MetadataApi, 12, {
      topics: [{ topicId: ZERO_UUID, name: 'ct-dup' }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    expect(md.topics[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('refuses a request of more than 10,000 partitions in all with POLICY_VIOLATION, every topic', async () => {
    const r = await createTopics([creatable('ct-many-a', 6000), creatable('ct-many-b', 5000)], true);
    expect(r.map((t) => [t.errorCode, t.errorMessage])).toEqual([
      [ERROR_CODES.POLICY_VIOLATION, 'Excessively large number of partitions per request.'],
      [ERROR_CODES.POLICY_VIOLATION, 'Excessively large number of partitions per request.'],
    ]);
    // Invalid counts do not add up; 10,000 in all is still allowed.
    const ok = await createTopics([creatable('ct-many-c', 10_000), creatable('ct-many-d', -7)], true);
    expect(ok.map((t) => t.errorCode)).toEqual([0, ERROR_CODES.INVALID_PARTITIONS]);
  });

  it('v5+: a failed topic has empty configs; validate-only returns a fresh topic id', async () => {
    const [failed] = await createTopics([creatable('bad name!')]);
    expect(failed.errorCode).toBe(ERROR_CODES.INVALID_TOPIC_EXCEPTION);
    expect(failed.configs).toEqual([]);
    const [a] = await createTopics([creatable('ct-vo')], true);
    const [b] = await createTopics([creatable('ct-vo')], true);
    expect(a.errorCode).toBe(0);
    expect(a.topicId).not.toBe(ZERO_UUID);
    expect(b.topicId).not.toBe(a.topicId);
  });
});
