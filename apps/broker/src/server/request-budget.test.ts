import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection, type FrameHandler } from './connection.js';
import { RequestBudget } from './request-budget.js';

describe('RequestBudget', () => {
  it('counts bytes read, spent once none are left (one read may overshoot)', () => {
    const b = new RequestBudget(1000);
    b.acquire(600);
    expect(b.exhausted).toBe(false);
    b.acquire(600);
    expect(b.inUse).toBe(1200);
    expect(b.exhausted).toBe(true);
    b.release(600);
    expect(b.exhausted).toBe(false);
  });

  it('wakes waiters once each, only while bytes are left', () => {
    const b = new RequestBudget(100);
    b.acquire(150);
    const woken: string[] = [];
    const w1 = () => woken.push('a');
    b.waitForRoom(w1);
    b.waitForRoom(w1);
    b.waitForRoom(() => woken.push('b'));
    expect(b.pausedReads).toBe(2);
    b.release(40);
    expect(woken).toEqual([]);
    b.release(110);
    expect(woken).toEqual(['a', 'b']);
    b.release(0);
    expect(woken).toEqual(['a', 'b']);
  });

  it('lets one connection at a time finish its frame past the bound, and wakes waiters when it has', () => {
    const b = new RequestBudget(100);
    b.acquire(200);
    const a = {};
    const c = {};
    expect(b.claimCompletion(a)).toBe(true);
    expect(b.claimCompletion(a)).toBe(true);
    expect(b.claimCompletion(c)).toBe(false);
    let woken = 0;
    b.waitForRoom(() => woken++);
    b.releaseCompletion(c);
    expect(woken).toBe(0);
    b.releaseCompletion(a);
    expect(woken).toBe(1);
    expect(b.claimCompletion(c)).toBe(true);
  });

  it('is unbounded at -1 and 0, as Kafka', () => {
    for (const max of [-1, 0]) {
      const b = new RequestBudget(max);
      for (let i = 0; i < 10; i++) b.acquire(1 << 30);
      expect(b.exhausted).toBe(false);
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
  it('stop reading while the broker-wide budget is spent, and resume as answers go out', async () => {
    const budget = new RequestBudget(1000);
    const handler = new HeldHandler();
    const { open } = await listen(budget, handler);
    const a = await open();
    const b = await open();
    a.write(frameOf(1, 600));
    await until(() => handler.frames.length === 1, 'the first request');
    b.write(frameOf(2, 600));
    await until(() => handler.frames.length === 2, 'the second request (read while bytes were left)');
    expect(budget.exhausted).toBe(true);
    // b read into the spent budget and stopped; a had nothing to read then, so it reads one more.
    a.write(frameOf(3, 600));
    await until(() => handler.frames.length === 3, 'the read that finds the budget spent');
    b.write(frameOf(4, 600));
    a.write(frameOf(5, 600));
    await new Promise((r) => setTimeout(r, 100));
    expect(handler.frames.length).toBe(3);
    expect(budget.inUse).toBe(1800);
    expect(budget.waiters).toBe(2);

    handler.answerNext();
    handler.answerNext();
    await until(() => handler.frames.length === 5, 'both waiting requests after answers');
    for (let i = 0; i < 3; i++) handler.answerNext();
    await until(() => budget.inUse === 0, 'every byte back');
    expect(handler.frames.map((f) => f[0]).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('counts the bytes of partly received frames, stops reading when they spend the budget, and lets one frame finish at a time', async () => {
    const budget = new RequestBudget(100_000);
    const handler = new HeldHandler();
    const { open } = await listen(budget, handler);
    const a = await open();
    const b = await open();
    const frameA = frameOf(1, 500_000);
    const frameB = frameOf(2, 500_000);
    // a announces 500 kB and sends 60 kB: the bytes count though no frame is complete.
    a.write(frameA.subarray(0, 60_004));
    await until(() => budget.inUse === 60_000, 'the partial frame counted');
    expect(budget.exhausted).toBe(false);
    // b's 200 kB spend the budget; b found it spent with a frame under way, so b may finish that frame.
    b.write(frameB.subarray(0, 200_004));
    await until(() => budget.inUse === 260_000, "b's partial frame counted");
    expect(budget.exhausted).toBe(true);
    // a finds the budget spent and b finishing: a stops reading (after at most one read).
    a.write(frameA.subarray(60_004));
    await until(() => budget.waiters === 1, 'a waiting for the budget');
    await new Promise((r) => setTimeout(r, 100));
    const readByA = budget.inUse - 260_000;
    expect(readByA).toBeGreaterThan(0);
    expect(readByA).toBeLessThanOrEqual(65_536);
    expect(handler.frames.length).toBe(0);
    expect(budget.pausedReads).toBeGreaterThanOrEqual(1);
    // b's frame completes past the bound; then a may finish its own.
    b.write(frameB.subarray(200_004));
    await until(() => handler.frames.length === 2, 'both frames, one finished after the other');
    expect(handler.frames[0].equals(frameB.subarray(4))).toBe(true);
    expect(handler.frames[1].equals(frameA.subarray(4))).toBe(true);
    expect(budget.inUse).toBe(1_000_000);
    handler.answerNext();
    handler.answerNext();
    await until(() => budget.inUse === 0, 'every byte back');
    expect(budget.waiters).toBe(0);
  });

  it('gives the bytes of a partial frame back when its connection closes', async () => {
    const budget = new RequestBudget(1000);
    const handler = new HeldHandler();
    const { open, connections } = await listen(budget, handler);
    const a = await open();
    a.write(frameOf(1, 5000).subarray(0, 3004));
    await until(() => budget.inUse === 3000, 'the partial frame counted');
    connections[0].close();
    expect(budget.inUse).toBe(0);
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
