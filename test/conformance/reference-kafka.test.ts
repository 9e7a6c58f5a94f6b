import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './brokers.js';

// Smoke test of scripts/reference-kafka: the reference Apache Kafka broker installs, starts, answers a
// hand-built ApiVersions v0 request on a raw socket, and stops. Run with `npm run test:conformance`.

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(root, 'scripts', 'reference-kafka', 'reference-kafka.sh');

const API_VERSIONS = 18;
const PRODUCE = 0;
const FETCH = 1;
const MAX_RESPONSE = 64 * 1024;

function hasTool(cmd: string, arg: string): boolean {
  return spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
}

function refKafka(args: string[]) {
  return run('bash', [script, ...args], { cwd: root, timeout: 280_000, maxBuffer: 4 * 1024 * 1024 });
}

/** ApiVersions v0 request: size, api key, api version, correlation id, client id (int16 length + bytes). */
function apiVersionsV0(correlationId: number, clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const body = Buffer.alloc(2 + 2 + 4 + 2 + id.length);
  let o = body.writeInt16BE(API_VERSIONS, 0);
  o = body.writeInt16BE(0, o);
  o = body.writeInt32BE(correlationId, o);
  o = body.writeInt16BE(id.length, o);
  id.copy(body, o);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

/** Sends one request and resolves with the response frame without its size prefix. */
function roundTrip(port: number, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let received = 0;
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(10_000, () => fail(new Error('no ApiVersions response within 10 s')));
    socket.once('error', fail);
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 4) return;
      const all = Buffer.concat(chunks, received);
      const size = all.readInt32BE(0);
      if (size < 0 || size > MAX_RESPONSE) return fail(new Error(`implausible response size ${size}`));
      if (received < 4 + size) return;
      socket.end();
      resolve(all.subarray(4, 4 + size));
    });
  });
}

describe('reference Apache Kafka broker', () => {
  let port = 0;
  let controllerPort = 0;
  let dir = '';

  beforeAll(async () => {
    // The conformance suite is opt-in and needs Java; say so plainly rather than passing vacuously.
    if (!hasTool('java', '-version') || !hasTool('mvn', '-v')) {
      throw new Error('the conformance suite needs `java` (17+) and `mvn` on PATH');
    }
    dir = mkdtempSync(join(tmpdir(), 'sluice-ref-kafka-'));
    port = await freePort();
    controllerPort = await freePort([port]);
    await refKafka(['start', '--port', String(port), '--controller-port', String(controllerPort), '--dir', dir]);
  });

  afterAll(async () => {
    if (dir === '') return;
    await refKafka(['stop', '--port', String(port), '--dir', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports itself running with a pid and RSS', async () => {
    const { stdout } = await refKafka(['status', '--port', String(port), '--dir', dir]);
    expect(stdout).toMatch(new RegExp(`^running pid=\\d+ port=${port} .*rss_kb=\\d+`));
  });

  it('answers a hand-built ApiVersions v0 request', async () => {
    const correlationId = 0x5a17ce;
    const response = await roundTrip(port, apiVersionsV0(correlationId, 'sluice-conformance'));
    // v0 response: correlation id, error code, [api key, min version, max version].
    expect(response.readInt32BE(0)).toBe(correlationId);
    expect(response.readInt16BE(4)).toBe(0);
    const count = response.readInt32BE(6);
    expect(count).toBeGreaterThan(0);
    expect(response.length).toBe(10 + count * 6);
    const ranges = new Map<number, [number, number]>();
    for (let i = 0, o = 10; i < count; i++, o += 6) {
      ranges.set(response.readInt16BE(o), [response.readInt16BE(o + 2), response.readInt16BE(o + 4)]);
    }
    // Every Kafka still serves ApiVersions v0, so any client can negotiate from it.
    expect(ranges.get(API_VERSIONS)?.[0]).toBe(0);
    expect(ranges.get(API_VERSIONS)?.[1]).toBeGreaterThanOrEqual(3);
    expect(ranges.get(PRODUCE)?.[1]).toBeGreaterThanOrEqual(9);
    expect(ranges.get(FETCH)?.[1]).toBeGreaterThanOrEqual(12);
  });

  it('stops, and stopping again is a no-op', async () => {
    await refKafka(['stop', '--port', String(port), '--dir', dir]);
    await refKafka(['stop', '--port', String(port), '--dir', dir]);
    const status = await refKafka(['status', '--port', String(port), '--dir', dir]).then(
      () => 0,
      (err: { code?: number }) => err.code ?? -1,
    );
    expect(status).toBe(3);
    await expect(roundTrip(port, apiVersionsV0(1, 'x'))).rejects.toThrow();
  });
});
