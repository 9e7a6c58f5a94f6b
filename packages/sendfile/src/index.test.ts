import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sendFile, sendFileUnavailableReason, socketFd } from './index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sendfile-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A connected pair on loopback: `server` is the accepted end. */
async function pair(): Promise<{ server: net.Socket; client: net.Socket; close: () => void }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  await new Promise<void>((resolve) => (client.connecting ? client.once('connect', () => resolve()) : resolve()));
  return {
    server,
    client,
    close: () => {
      server.destroy();
      client.destroy();
      listener.close();
    },
  };
}

function fileOf(bytes: Buffer): { fd: number; close: () => void } {
  const p = path.join(dir, `f-${Math.random().toString(16).slice(2)}`);
  fs.writeFileSync(p, bytes);
  const fd = fs.openSync(p, 'r');
  return { fd, close: () => fs.closeSync(fd) };
}

// Built by `npm ci` (node-gyp, as the mmap addon); a machine without a compiler falls back to copies,
// but this repository's own install must have built it.
describe.runIf(process.platform === 'linux')('sendFile', () => {
  it('is built and loads', () => {
    expect(sendFileUnavailableReason).toBeNull();
    expect(typeof sendFile).toBe('function');
  });

  it('moves the exact bytes of a range of the file onto the socket', async () => {
    const bytes = Buffer.alloc(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
    const file = fileOf(bytes);
    const { server, client, close } = await pair();
    try {
      const fd = socketFd(server);
      expect(fd).not.toBeNull();
      const received: Buffer[] = [];
      let got = 0;
      const want = 200_001;
      const done = new Promise<void>((resolve) =>
        client.on('data', (b: Buffer) => {
          received.push(b);
          got += b.length;
          if (got >= want) resolve();
        }),
      );
      let at = 12_345;
      const end = at + want;
      // Bounded: each round either sends bytes or waits for the reader (which reads everything).
      for (let round = 0; at < end && round < 10_000; round++) {
        const n = (sendFile as NonNullable<typeof sendFile>)(fd as number, file.fd, at, end - at);
        if (n > 0) at += n;
        else if (n === -1) await new Promise((r) => setTimeout(r, 1));
        else throw new Error(`unexpected ${n}`);
      }
      await done;
      expect(Buffer.concat(received)).toEqual(bytes.subarray(12_345, end));
    } finally {
      close();
      file.close();
    }
  });

  it('answers 0 at the end of the file and -1 when the socket is full', async () => {
    const file = fileOf(Buffer.alloc(8 << 20, 7));
    const { server, client, close } = await pair();
    try {
      client.pause();
      const fd = socketFd(server) as number;
      const call = sendFile as NonNullable<typeof sendFile>;
      expect(call(fd, file.fd, 8 << 20, 100)).toBe(0);
      // The reader reads nothing, so the socket buffers fill: bounded by 64 rounds of 8 MiB.
      let full = false;
      for (let round = 0; round < 64 && !full; round++) {
        let at = 0;
        while (at < 8 << 20) {
          const n = call(fd, file.fd, at, (8 << 20) - at);
          if (n === -1) {
            full = true;
            break;
          }
          at += n;
        }
      }
      expect(full).toBe(true);
    } finally {
      close();
      file.close();
    }
  });

  it('refuses bad arguments with an error rather than a crash', () => {
    const call = sendFile as NonNullable<typeof sendFile>;
    expect(() => call(-1, 0, 0, 1)).toThrow(/out of range/);
    expect(() => call(1, 0, 0, 0)).toThrow(/out of range/);
    expect(() => (call as unknown as (...a: unknown[]) => number)(1, 2)).toThrow(/expects/);
    const file = fileOf(Buffer.alloc(10));
    // A regular file is no socket, and a read-only descriptor takes no writes: EBADF from the kernel.
    expect(() => call(file.fd, file.fd, 0, 10)).toThrow(/sendfile/);
    file.close();
  });

  it('gives no descriptor for a socket that has none', () => {
    expect(socketFd(new net.Socket())).toBeNull();
  });
});
