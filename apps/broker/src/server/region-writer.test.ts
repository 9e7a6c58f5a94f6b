// Response frames whose records are file ranges (FileRegion) go out with sendfile: the bytes the
// reader gets must be exactly the frame's, in order, whether or not the socket fills up, and the
// responses after such a frame must wait for it.

import { once } from 'node:events';
import fs from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FileRegion } from '@sluice/log';
import { type SendFile, sendFile, socketFd } from '@sluice/sendfile';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Connection, type GatheredFrame } from './connection.js';
import { RegionFrameWriter } from './region-writer.js';
import { loopbackSockets } from './test-sockets.js';

const quiet = pino({ level: 'silent' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-region-writer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let closeSockets: (() => void) | undefined;
afterEach(() => {
  closeSockets?.();
});

/** The accepted (server) side of a loopback socket, and the client side; closed after the test. */
async function sockets(): Promise<{ server: Socket; client: Socket }> {
  const pair = await loopbackSockets();
  closeSockets = pair.close;
  return pair;
}

/** A file of `size` patterned bytes, open for reading; its bytes too. */
function patternedFile(size: number, seed: number): { fd: number; bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131 + seed + (i >> 11)) & 0xff;
  const p = path.join(dir, `f-${seed}`);
  fs.writeFileSync(p, bytes);
  return { fd: fs.openSync(p, 'r'), bytes };
}

/** Resolves with the first `n` bytes the socket receives. */
function receive(socket: Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) resolve(Buffer.concat(chunks).subarray(0, n));
    });
  });
}

const call = sendFile as SendFile;

describe('RegionFrameWriter', () => {
  it('writes buffers and regions in order, the exact bytes, through a full socket', async () => {
    const a = patternedFile(6 << 20, 1);
    const b = patternedFile(1 << 20, 2);
    const parts = [
      Buffer.from('head'),
      new FileRegion(a.fd, 1234, (5 << 20) + 7) as unknown as Buffer,
      Buffer.alloc(100, 0x2a),
      new FileRegion(b.fd, 0, 1 << 20) as unknown as Buffer,
      Buffer.from('tail'),
    ];
    const expected = Buffer.concat([
      parts[0],
      a.bytes.subarray(1234, 1234 + (5 << 20) + 7),
      parts[2],
      b.bytes,
      parts[4],
    ]);
    const { server: s, client } = await sockets();
    // The reader waits first: sendfile finds the socket full and slices go through the stream.
    client.pause();
    const results: (string | null)[] = [];
    let full = 0;
    const counting: SendFile = (...args) => {
      const n = call(...args);
      if (n === -1) full++;
      return n;
    };
    const finished = new Promise<void>((resolve) => {
      new RegionFrameWriter(s, socketFd(s) as number, counting, parts, (error) => {
        results.push(error);
        resolve();
      }).start();
    });
    const got = receive(client, expected.length);
    await new Promise((r) => setTimeout(r, 100));
    expect(results).toEqual([]);
    client.resume();
    expect((await got).equals(expected)).toBe(true);
    await finished;
    expect(results).toEqual([null]);
    expect(full).toBeGreaterThan(0);
    s.destroy();
    client.destroy();
  });

  it('reports a file cut short under the region (the frame cannot be completed)', async () => {
    const a = patternedFile(100_000, 3);
    const { server: s, client } = await sockets();
    const error = await new Promise<string | null>((resolve) =>
      new RegionFrameWriter(
        s,
        socketFd(s) as number,
        call,
        [Buffer.from('head'), new FileRegion(a.fd, 50_000, 60_000) as unknown as Buffer],
        resolve,
      ).start(),
    );
    expect(error).toMatch(/ended at byte 100000 .*truncated/);
    s.destroy();
    client.destroy();
  });

  it('writes nothing more and reports nothing once aborted', async () => {
    const a = patternedFile(4 << 20, 4);
    const { server: s, client } = await sockets();
    client.pause();
    const results: (string | null)[] = [];
    const writer = new RegionFrameWriter(
      s,
      socketFd(s) as number,
      call,
      [Buffer.from('head'), new FileRegion(a.fd, 0, 4 << 20) as unknown as Buffer, Buffer.from('tail')],
      (e) => results.push(e),
    );
    writer.start();
    await new Promise((r) => setTimeout(r, 50));
    writer.abort();
    const before = s.bytesWritten;
    client.resume();
    await new Promise((r) => setTimeout(r, 200));
    expect(results).toEqual([]);
    // Only the slice already queued in the stream may still have gone.
    expect(s.bytesWritten - before).toBeLessThanOrEqual(64 * 1024);
    s.destroy();
    client.destroy();
  });
});

describe('a Connection with sendfile', () => {
  const frame = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeInt32BE(4, 0);
    b.writeInt32BE(n, 4);
    return b;
  };

  it('answers in request order: a response behind a region frame waits for it; the lender is told once', async () => {
    const a = patternedFile(3 << 20, 5);
    const { server: s, client } = await sockets();
    let lent = 0;
    let requests = 0;
    const regionFrame = (): GatheredFrame => {
      const head = Buffer.alloc(8);
      head.writeInt32BE(4 + (3 << 20), 0);
      head.writeInt32BE(100, 4);
      const parts: GatheredFrame = [head, new FileRegion(a.fd, 0, 3 << 20) as unknown as Buffer];
      parts.onWritten = () => lent++;
      return parts;
    };
    const connection = new Connection(
      s,
      1,
      { handle: () => (requests++ === 0 ? regionFrame() : frame(200 + requests)) },
      { maxRequestBytes: 1 << 20, maxInFlight: 10, idleTimeoutMs: 0, sendFile: call },
      quiet,
      () => {},
    );
    expect(connection.zeroCopy).toBe(true);
    client.pause();
    client.write(Buffer.concat([frame(0), frame(1), frame(2)]));
    const total = 8 + (3 << 20) + 16;
    const got = receive(client, total);
    await new Promise((r) => setTimeout(r, 100));
    client.resume();
    const bytes = await got;
    expect(bytes.readInt32BE(4)).toBe(100);
    expect(bytes.subarray(8, 8 + (3 << 20)).equals(a.bytes)).toBe(true);
    expect(bytes.readInt32BE(8 + (3 << 20) + 4)).toBe(202);
    expect(bytes.readInt32BE(8 + (3 << 20) + 12)).toBe(203);
    await new Promise((r) => setTimeout(r, 20));
    expect(lent).toBe(1);
    connection.close('test');
    expect(lent).toBe(1);
    client.destroy();
  });

  it('a connection without sendfile closes rather than write a region as nothing', async () => {
    const a = patternedFile(100_000, 6);
    const { server: s, client } = await sockets();
    let lent = 0;
    const parts: GatheredFrame = [frame(1), new FileRegion(a.fd, 0, 100_000) as unknown as Buffer];
    parts.onWritten = () => lent++;
    const connection = new Connection(
      s,
      1,
      { handle: () => parts },
      { maxRequestBytes: 1 << 20, maxInFlight: 10, idleTimeoutMs: 0 },
      quiet,
      () => {},
    );
    expect(connection.zeroCopy).toBe(false);
    client.write(frame(0));
    await once(client, 'close');
    expect(connection.closed).toBe(true);
    expect(lent).toBe(1);
  });
});
