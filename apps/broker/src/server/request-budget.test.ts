import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection, type FrameHandler } from './connection.js';
import { RequestBudget } from './request-budget.js';

describe('RequestBudget', () => {
  it('admits while any bytes are left (one request may overshoot), and not after', () => {
    const b = new RequestBudget(1000);
    expect(b.tryAcquire(600)).toBe(true);
    expect(b.tryAcquire(600)).toBe(true);
    expect(b.inUse).toBe(1200);
    expect(b.tryAcquire(1)).toBe(false);
    b.release(600);
    expect(b.tryAcquire(5000)).toBe(true);
  });

  it('wakes waiters once each, only while bytes are left', () => {
    const b = new RequestBudget(100);
    b.tryAcquire(150);
    const woken: string[] = [];
    const w1 = () => woken.push('a');
    b.waitForRoom(w1);
    b.waitForRoom(w1);
    b.waitForRoom(() => woken.push('b'));
    b.release(40);
    expect(woken).toEqual([]);
    b.release(110);
    expect(woken).toEqual(['a', 'b']);
    b.release(0);
    expect(woken).toEqual(['a', 'b']);
  });

  it('is unbounded at -1 and 0, as Kafka', () => {
    for (const max of [-1, 0]) {
      const b = new RequestBudget(max);
      for (let i = 0; i < 10; i++) expect(b.tryAcquire(1 << 30)).toBe(true);
    }
  });
});

/** Frames handed to the handler, each answered when the test says so. */
class HeldHandler implements FrameHandler {
  readonly frames: Buffer[] = [];
  private readonly answers: Array<() => void> = [];
  handle(frame: Buffer): Promise<Buffer> {
    this.frames.push(frame);
    return new Promise((resolve) => this.answers.push(() => resolve(Buffer.from([0, 0, 0, 0]))));
  }
  answerNext(): void {
    this.answers.shift()!();
  }
}

const frameOf = (tag: number, size: number) => {
  const f = Buffer.alloc(4 + size, tag);
  f.writeInt32BE(size, 0);
  return f;
};

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A broker-side listener whose connections share `budget`; returns a way to open client sockets. */
async function listen(budget: RequestBudget, handler: FrameHandler) {
  const connections: Connection[] = [];
  const server = createServer((socket) => {
    const options = { maxRequestBytes: 1 << 20, maxInFlight: 100, idleTimeoutMs: 0, budget };
    connections.push(
      new Connection(socket, connections.length + 1, handler, options, pino({ level: 'silent' }), () => {}),
    );
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    connections,
    async open(): Promise<Socket> {
      const s = createConnection({ host: '127.0.0.1', port });
      sockets.push(s);
      s.on('data', () => {});
      await once(s, 'connect');
      return s;
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('connections under queued.max.request.bytes', () => {
  it('stop taking on requests while the broker-wide budget is spent, and resume as answers go out', async () => {
    const budget = new RequestBudget(1000);
    const handler = new HeldHandler();
    const { open } = await listen(budget, handler);
    const a = await open();
    const b = await open();
    a.write(frameOf(1, 600));
    await until(() => handler.frames.length === 1, 'the first request');
    b.write(frameOf(2, 600));
    await until(() => handler.frames.length === 2, 'the second request (admitted while bytes were left)');
    a.write(frameOf(3, 600));
    b.write(frameOf(4, 600));
    await new Promise((r) => setTimeout(r, 100));
    // Both connections read their frames but neither is handed on: the budget is overdrawn.
    expect(handler.frames.length).toBe(2);
    expect(budget.inUse).toBe(1200);

    handler.answerNext();
    await until(() => handler.frames.length === 3, 'a waiting request after an answer');
    expect(budget.inUse).toBe(1200);
    handler.answerNext();
    await until(() => handler.frames.length === 4, 'the last request');
    handler.answerNext();
    handler.answerNext();
    await until(() => budget.inUse === 0, 'every byte back');
    expect(handler.frames.map((f) => f[0]).sort()).toEqual([1, 2, 3, 4]);
  });

  it('gives the bytes of unanswered requests back when a connection closes', async () => {
    const budget = new RequestBudget(1000);
    const handler = new HeldHandler();
    const { open, connections } = await listen(budget, handler);
    const a = await open();
    a.write(frameOf(1, 900));
    a.write(frameOf(2, 900));
    await until(() => handler.frames.length === 2, 'two requests');
    a.write(frameOf(3, 900));
    await new Promise((r) => setTimeout(r, 50));
    expect(handler.frames.length).toBe(2);
    connections[0].close();
    expect(budget.inUse).toBe(0);
    // Answers that come after the close give nothing back twice.
    handler.answerNext();
    handler.answerNext();
    await new Promise((r) => setTimeout(r, 20));
    expect(budget.inUse).toBe(0);
    expect(handler.frames.length).toBe(2);
  });
});
