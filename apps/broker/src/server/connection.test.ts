// A gathered response's lender (the Fetch handler's lease on log views) is told once when its
// parts have been written, or when they never will be because the connection closed first.
import type { Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection, type FrameHandler, type GatheredFrame } from './connection.js';
import { loopbackSockets } from './test-sockets.js';

const quiet = pino({ level: 'silent' });
const options = { maxRequestBytes: 1 << 20, maxInFlight: 10, idleTimeoutMs: 0 };

function frame(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(4, 0);
  b.writeInt32BE(n, 4);
  return b;
}

function gathered(onWritten: () => void): GatheredFrame {
  const parts: GatheredFrame = [frame(1), Buffer.alloc(4096, 7)];
  parts.onWritten = onWritten;
  // The size prefix covers both parts.
  parts[0].writeInt32BE(4 + 4096, 0);
  return parts;
}

let closeSockets: (() => void) | undefined;
afterEach(() => {
  closeSockets?.();
});

/** A Connection around the server side of a loopback socket, and the client side. */
async function pair(handler: FrameHandler): Promise<{ connection: Connection; client: Socket }> {
  const { server, client, close } = await loopbackSockets();
  closeSockets = close;
  const connection = new Connection(server, 1, handler, options, quiet, () => {});
  return { connection, client };
}

describe('gathered responses tell their lender when they are done', () => {
  it('once written', async () => {
    let written = 0;
    const { client } = await pair({ handle: () => gathered(() => written++) });
    const received = new Promise<number>((resolve) => {
      let n = 0;
      client.on('data', (d: Buffer) => {
        n += d.length;
        if (n >= 8 + 4096) resolve(n);
      });
    });
    client.write(frame(0));
    expect(await received).toBe(8 + 4096);
    await new Promise((r) => setTimeout(r, 20));
    expect(written).toBe(1);
    client.destroy();
  });

  it('when the connection closes before the answer is ready, or while it waits behind another', async () => {
    let written = 0;
    const resolvers: ((f: GatheredFrame) => void)[] = [];
    const { connection, client } = await pair({
      handle: () => new Promise<GatheredFrame>((r) => resolvers.push(r)),
    });
    client.write(Buffer.concat([frame(0), frame(1)]));
    while (resolvers.length < 2) await new Promise((r) => setTimeout(r, 5));
    // The second answer is ready but waits behind the first, unanswered one.
    resolvers[1](gathered(() => written++));
    await new Promise((r) => setTimeout(r, 10));
    expect(written).toBe(0);
    connection.close('test');
    expect(written).toBe(1);
    // The first is answered after the close: it will never be written either.
    resolvers[0](gathered(() => written++));
    await new Promise((r) => setTimeout(r, 10));
    expect(written).toBe(2);
    client.destroy();
  });
});
