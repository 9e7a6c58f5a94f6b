// Answers where the differential suite against Apache Kafka (test/conformance) found Sluice
// answering differently; each test pins Kafka's answer on the broker alone, without Kafka.

import { once } from 'node:events';
import { createConnection } from 'node:net';
import { ApiVersionsApi, type ApiVersionsResponse, ERROR_CODES, Reader, ResponseHeaderCodec } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, startInProcess, tempDir } from './helpers.js';

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
