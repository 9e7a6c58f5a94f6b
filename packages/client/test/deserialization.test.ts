// A record whose key or value does not deserialize: the error names topic, partition and offset and
// carries the raw record; the application chooses to throw (default), skip, or handle it.

import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin, Consumer, type ConsumerOptions, DeserializationError, Producer, serde, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(1);
});
afterAll(async () => {
  await broker.stop();
});

interface Order {
  id: number;
}

/** Four records in one partition: JSON, not JSON (offset 1), JSON, and a key that is not a number (offset 3). */
async function mixedTopic(): Promise<string> {
  const name = uniqueTopic('mixed');
  const raw = topic(name, { key: serde.string(), value: serde.string() });
  const p = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 20 });
  // One batch, so that the bad records sit in the middle of a fetched chunk.
  await Promise.all([
    p.send(raw, { key: '1', value: '{"id":1}' }),
    p.send(raw, { key: '2', value: 'k2:hello' }),
    p.send(raw, { key: '3', value: '{"id":3}' }),
    p.send(raw, { key: 'four', value: '{"id":4}' }),
  ]);
  await p.close();
  return name;
}

const numberKey = {
  serialize: (v: number) => Buffer.from(String(v)),
  deserialize: (b: Buffer | null) => {
    const n = Number(b?.toString());
    if (!Number.isInteger(n)) throw new TypeError(`not a number: ${b?.toString()}`);
    return n;
  },
};

function consumer(options: ConsumerOptions = {}): Consumer {
  return new Consumer({ brokers: [broker.bootstrap] }, { autoOffsetReset: 'earliest', ...options });
}

/** Reads until `count` records were handed out, or until the iteration ends or throws. */
async function read(c: Consumer, name: string, count: number): Promise<{ ids: number[]; error: unknown }> {
  const t = topic(name, { key: numberKey, value: serde.json<Order>() });
  const ids: number[] = [];
  try {
    for await (const r of c.records(t)) {
      ids.push(r.value.id);
      if (ids.length === count) break;
    }
    return { ids, error: null };
  } catch (error) {
    return { ids, error };
  }
}

describe('records that do not deserialize', () => {
  it('throw by default, naming topic, partition and offset, and stay in place until the application seeks', async () => {
    const name = await mixedTopic();
    const c = consumer();
    try {
      const first = await read(c, name, 4);
      expect(first.ids).toEqual([1]);
      const err = first.error as DeserializationError;
      expect(err).toBeInstanceOf(DeserializationError);
      expect({ topic: err.topic, partition: err.partition, offset: err.offset, part: err.part }).toEqual({
        topic: name,
        partition: 0,
        offset: 1n,
        part: 'value',
      });
      expect(err.message).toContain(`${name}-0 offset 1`);
      expect(err.cause).toBeInstanceOf(SyntaxError);
      expect(err.record.value?.toString()).toBe('k2:hello');
      expect(c.position(name, 0)).toBe(1n);
      // Iterating again meets the same record.
      const again = await read(c, name, 4);
      expect(again.ids).toEqual([]);
      expect((again.error as DeserializationError).offset).toBe(1n);
      // Seeking past it goes on, to the bad key.
      c.seek(name, 0, 2n);
      const rest = await read(c, name, 4);
      expect(rest.ids).toEqual([3]);
      expect(rest.error).toMatchObject({ offset: 3n, part: 'key' });
      expect((rest.error as DeserializationError).record.key?.toString()).toBe('four');
    } finally {
      await c.close();
    }
  });

  it('are passed over with skip, and a group commits past them', async () => {
    const name = await mixedTopic();
    const groupId = uniqueTopic('g');
    const c = consumer({ groupId, onDeserializationError: 'skip' });
    const got = await read(c, name, 2);
    await c.close();
    expect(got).toEqual({ ids: [1, 3], error: null });
    // id 3 was the last record handed out; the bad key at offset 3 was never reached.
    const admin = new Admin({ brokers: [broker.bootstrap] });
    expect((await admin.fetchGroupOffsets(groupId))[0]?.offset).toBe(3n);
    await admin.close();
  });

  it('go to a handler, in order among the records, in records() and in run()', async () => {
    const name = await mixedTopic();
    const events: string[] = [];
    const onDeserializationError = async (err: DeserializationError) => {
      await new Promise((res) => setTimeout(res, 5));
      events.push(`bad ${err.part}@${err.offset}: ${err.record[err.part]?.toString()}`);
    };
    const c1 = consumer({ onDeserializationError });
    const t = topic(name, { key: numberKey, value: serde.json<Order>() });
    for await (const r of c1.records(t)) {
      events.push(`record ${r.value.id}`);
      if (r.value.id === 3) break;
    }
    await c1.close();
    expect(events).toEqual(['record 1', 'bad value@1: k2:hello', 'record 3']);

    events.length = 0;
    const c2 = consumer({ onDeserializationError });
    const done = new Promise<void>((resolve) => {
      void c2.run(t, (records) => {
        events.push(`batch ${records.map((r) => r.value.id).join(',')}`);
        if (events.length >= 3) resolve();
      });
    });
    await done;
    // Let the handler for the bad key at offset 3 (the chunk's last entry) run too.
    const deadline = Date.now() + 5000;
    while (events.length < 4 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    await c2.close();
    expect(events).toEqual(['batch 1', 'bad value@1: k2:hello', 'batch 3', 'bad key@3: four']);
  });
});
