import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer, serde, topic } from '../src/index.js';
import { interceptProduces, sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(1);
});
afterAll(async () => {
  await broker.stop();
});

/**
 * Holds the producer's Produce requests for `name` before they reach the broker until `open()`, counting
 * them and the batches (partitions) they carry: what the sender does while no answer can come back.
 */
function gateProduces(p: Producer, name: string) {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const requests: number[] = [];
  interceptProduces(p, name, (req, send) => {
    requests.push(req.topicData.reduce((n, t) => n + t.partitionData.length, 0));
    return opened.then(send);
  });
  return { requests, open };
}

/** Waits (bounded) until `cond` holds; returns whether it did. */
async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  return cond();
}

describe('producer pipelining behind the in-flight limit', () => {
  it('sends as many requests as the in-flight limit allows at once, not one per answer', async () => {
    const name = uniqueTopic('pipeline');
    const t = topic(name, { value: serde.bytes() });
    const p = new Producer(
      { brokers: [broker.bootstrap] },
      { acks: 1, idempotent: false, lingerMs: 0, batchSize: 1100, maxInFlight: 5 },
    );
    await p.send(t, { value: Buffer.alloc(10) });
    const gate = gateProduces(p, name);
    // Seven 1 KiB records in one tick: seven full batches of the one partition, five may be in flight.
    const sends = Array.from({ length: 7 }, () => p.send(t, { value: Buffer.alloc(1024, 1) }));
    const reached = await until(() => gate.requests.length >= 5);
    gate.open();
    const acks = await Promise.all(sends);
    await p.close();
    expect(reached).toBe(true);
    // Five went out before any answer; the other two after.
    expect(gate.requests.length).toBe(7);
    const offsets = acks.map((a) => Number(a.offset));
    expect(offsets).toEqual(offsets.map((_, i) => offsets[0] + i));
  });

  it('keeps filling a lingered batch while an earlier one waits to be sent, instead of queueing one batch per tick', async () => {
    const name = uniqueTopic('hold');
    const t = topic(name, { value: serde.string() });
    const p = new Producer(
      { brokers: [broker.bootstrap] },
      { acks: 1, idempotent: false, lingerMs: 0, batchSize: 64 * 1024, maxInFlight: 1 },
    );
    await p.send(t, { value: 'warm-up' });
    const gate = gateProduces(p, name);
    const sends = [p.send(t, { value: 'a' })];
    expect(await until(() => gate.requests.length === 1)).toBe(true);
    // One record per tick while the first request is held: 'b' closes alone (nothing queued then); the
    // rest wait behind it in one batch, not twenty.
    for (let i = 0; i < 20; i++) {
      sends.push(p.send(t, { value: `r${i}` }));
      await new Promise((r) => setImmediate(r));
    }
    gate.open();
    const acks = await Promise.all(sends);
    await p.close();
    expect(gate.requests.length).toBeLessThanOrEqual(3);
    const offsets = acks.map((a) => Number(a.offset));
    expect(offsets).toEqual(offsets.map((_, i) => offsets[0] + i));
  });
});
