// Consumer.records() is written by hand (not an async generator) for speed: it must behave as the async
// generator it replaced: queued next() calls, return() and throw() ending it, close() ending it after
// a record, errors ending it.

import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumer, DeserializationError, Producer, serde, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(1);
});
afterAll(async () => {
  await broker.stop();
});

async function fill(name: string, values: string[]): Promise<void> {
  const t = topic(name, { value: serde.string() });
  const p = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 1 });
  await Promise.all(values.map((value) => p.send(t, { value, partition: 0 })));
  await p.close();
}

const numbers = (n: number) => Array.from({ length: n }, (_, i) => `${i}`);

describe('Consumer.records() as an async generator', () => {
  it('hands out the records in order to next() calls made at once, then ends on return()', async () => {
    const name = uniqueTopic('stream-queue');
    await fill(name, numbers(20));
    const t = topic(name, { value: serde.string() });
    const c = new Consumer({ brokers: [broker.bootstrap] }, { autoOffsetReset: 'earliest' });
    const it = c.records(t);
    expect(it[Symbol.asyncIterator]()).toBe(it);
    // Ten calls before the first has answered (the first one starts the consumer and fetches).
    const first = await Promise.all(Array.from({ length: 10 }, () => it.next()));
    expect(first.map((r) => r.done)).toEqual(Array(10).fill(false));
    expect(first.map((r) => r.value?.value)).toEqual(numbers(10));
    expect(c.position(name, 0)).toBe(10n);
    const next = await it.next();
    expect(next.value?.offset).toBe(10n);
    expect(await it.return(undefined)).toEqual({ value: undefined, done: true });
    expect(await it.next()).toEqual({ value: undefined, done: true });
    // The position counts the records handed out, no more.
    expect(c.position(name, 0)).toBe(11n);
    await c.close();
  });

  it('ends after throw() with that error, and after close() once a record was handed out', async () => {
    const name = uniqueTopic('stream-end');
    await fill(name, numbers(5));
    const t = topic(name, { value: serde.string() });
    const c = new Consumer({ brokers: [broker.bootstrap] }, { autoOffsetReset: 'earliest' });
    const it = c.records(t);
    expect((await it.next()).value?.value).toBe('0');
    const boom = new Error('boom');
    await expect(it.throw(boom)).rejects.toBe(boom);
    expect(await it.next()).toEqual({ value: undefined, done: true });
    expect(c.position(name, 0)).toBe(1n);

    // The records the ended stream had fetched went with it: read again from the position.
    c.seek(t, 0, 1n);
    const it2 = c.records(t);
    expect((await it2.next()).value?.value).toBe('1');
    await c.close();
    // Records 2.. are decoded and waiting, but the consumer is closed: the stream ends.
    expect(await it2.next()).toEqual({ value: undefined, done: true });
    expect(await it2.next()).toEqual({ value: undefined, done: true });
  });

  it('a DeserializationError (policy throw) rejects next() and ends the stream; a new one meets it again', async () => {
    const name = uniqueTopic('stream-bad');
    await fill(name, ['1', '2', 'x', '4']);
    const t = topic(name, { value: serde.json<number>() });
    const c = new Consumer({ brokers: [broker.bootstrap] }, { autoOffsetReset: 'earliest' });
    const it = c.records(t);
    const got = await Promise.all([it.next(), it.next(), it.next().catch((e: unknown) => e), it.next()]);
    expect(got[0].value?.value).toBe(1);
    expect(got[1].value?.value).toBe(2);
    expect(got[2]).toBeInstanceOf(DeserializationError);
    expect((got[2] as DeserializationError).offset).toBe(2n);
    expect(got[3]).toEqual({ value: undefined, done: true });
    expect(c.position(name, 0)).toBe(2n);
    // With 'skip' semantics by hand: a new stream starts at the bad record again.
    await expect(c.records(t).next()).rejects.toBeInstanceOf(DeserializationError);
    c.seek(t, 0, 3n);
    expect((await c.records(t).next()).value?.value).toBe(4);
    await c.close();
  });
});
