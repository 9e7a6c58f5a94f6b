// Partly received requests count in queued.max.request.bytes: clients that announce large frames
// and send them slowly, or not at all to the end, cannot take the broker's memory past the budget
// plus one frame. Measured on a broker child process (its peak resident memory, VmHWM).

import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, sleep, spawnBroker } from './helpers.js';

const MiB = 1024 * 1024;
const brokers: BrokerProcess[] = [];
afterAll(async () => {
  for (const b of brokers) await b.kill('SIGKILL');
});

/** A value from /proc/<pid>/status in bytes (VmRSS, VmHWM). */
function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Announces a `frameBytes` frame and writes up to `sendBytes` of it in 64 KiB pieces, each once
 * the previous one left the socket's buffer, until `deadline`. Resolves with the bytes written.
 */
async function announceAndSend(port: number, frameBytes: number, sendBytes: number, deadline: number) {
  const s: Socket = createConnection({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  const head = Buffer.alloc(4);
  head.writeInt32BE(frameBytes);
  s.write(head);
  const piece = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  while (sent < sendBytes && Date.now() < deadline && !s.destroyed) {
    if (!s.write(piece)) {
      // Paused by the broker: wait for room, bounded by the deadline.
      await Promise.race([new Promise((r) => s.once('drain', r)), sleep(Math.max(0, deadline - Date.now()))]);
    }
    sent += piece.length;
  }
  return s;
}

describe('partly received requests under queued.max.request.bytes', () => {
  it('keep the broker under budget + one frame however many clients announce large frames', async () => {
    const budget = 4 * MiB;
    const maxFrame = 16 * MiB;
    const broker = await spawnBroker({
      overrides: { 'queued.max.request.bytes': String(budget), 'socket.request.max.bytes': String(maxFrame) },
    });
    brokers.push(broker);
    const pid = broker.child.pid!;
    const before = procStatus(pid, 'VmRSS');
    // 24 clients each announce a 16 MiB frame and send 15 MiB of it (360 MiB in all) for at most 3 s.
    const deadline = Date.now() + 3000;
    const sockets = await Promise.all(
      Array.from({ length: 24 }, () => announceAndSend(broker.port, maxFrame, 15 * MiB, deadline)),
    );
    await sleep(Math.max(0, deadline - Date.now()) + 200);
    const grown = procStatus(pid, 'VmHWM') - before;
    for (const s of sockets) s.destroy();
    // Budget + one frame being finished + one read per connection, with slack for the heap's own
    // growth; without counting partial frames the broker holds all 360 MiB.
    expect(grown, `peak resident memory grew by ${(grown / MiB).toFixed(0)} MiB`).toBeLessThan(100 * MiB);
  }, 60_000);
});
