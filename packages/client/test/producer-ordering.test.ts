import type { RunningBroker } from '@sluice/broker';
import type { ProduceResponse } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin, Consumer, ERROR_CODES, type KafkaError, Producer, serde, topic } from '../src/index.js';
import { interceptProduces, sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(1);
});
afterAll(async () => {
  await broker.stop();
});

const NOT_LEADER_OR_FOLLOWER = 6;

/**
 * Makes the producer's first `count` Produce requests for `name` come back NOT_LEADER_OR_FOLLOWER without
 * reaching the broker, as a leader not yet ready on a fresh topic answers them. Their answers are held
 * until a Produce request for `name` reached the broker and was answered (or `holdMs` passed), so that a
 * later batch sent meanwhile is written first, as it was against Kafka.
 */
function failFirstProduces(p: Producer, name: string, count: number, holdMs: number): { faked(): number } {
  let faked = 0;
  let released: () => void = () => {};
  const realAnswered = new Promise<void>((resolve) => {
    released = resolve;
  });
  interceptProduces(p, name, (req, send) => {
    if (faked >= count) return send().finally(released);
    faked++;
    const held = Promise.race([realAnswered, new Promise((resolve) => setTimeout(resolve, holdMs))]);
    return held.then(
      () =>
        ({
          responses: req.topicData.map((t) => ({
            name: t.name,
            partitionResponses: t.partitionData.map((d) => ({
              index: d.index,
              errorCode: NOT_LEADER_OR_FOLLOWER,
              baseOffset: -1n,
              errorMessage: 'leader not ready (faked by the test)',
            })),
          })),
        }) as unknown as ProduceResponse,
    );
  });
  return { faked: () => faked };
}

/** Reads partition 0 of `name` from the beginning until `count` records came (or 10 s passed). */
async function readAll(name: string, count: number, isolationLevel: 'read_committed' | 'read_uncommitted') {
  const t = topic(name, { value: serde.string() });
  const c = new Consumer({ brokers: [broker.bootstrap] }, { isolationLevel, maxWaitMs: 100 });
  await c.assign([{ topic: t, partition: 0, offset: 'earliest' }]);
  const seen: string[] = [];
  const stop = setTimeout(() => void c.close(), 10_000);
  try {
    for await (const r of c.records(t)) {
      seen.push(r.value);
      if (seen.length >= count) break;
    }
  } finally {
    clearTimeout(stop);
    await c.close();
  }
  return seen;
}

describe('producer ordering with 5 batches in flight on a fresh topic', () => {
  it.each([
    'idempotent',
    'transactional',
  ] as const)('%s: the first batches answered NOT_LEADER_OR_FOLLOWER are written first, once each', async (kind) => {
    const name = uniqueTopic(`fresh-${kind}`);
    const t = topic(name, { value: serde.string() });
    const p = new Producer(
      { brokers: [broker.bootstrap] },
      {
        ...(kind === 'transactional' ? { transactionalId: `${name}-tx` } : {}),
        lingerMs: 0,
        batchSize: 100,
        maxInFlight: 5,
        retryBackoffMs: 5,
        retryBackoffMaxMs: 20,
        // Without ordering the resent first batches come back OUT_OF_ORDER_SEQUENCE_NUMBER until this passes.
        deliveryTimeoutMs: 6_000,
      },
    );
    const fake = failFirstProduces(p, name, 2, 500);
    if (kind === 'transactional') {
      await p.initTransactions();
      p.beginTransaction();
    }
    // Batches closed tick by tick (linger 0, batch.size 100), so that several would be in flight at once.
    const sends: Promise<unknown>[] = [];
    const values = Array.from({ length: 30 }, (_, i) => `v${i}`);
    for (const value of values) {
      sends.push(p.send(t, { value }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const outcomes = await Promise.allSettled(sends);
    expect(
      outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
    ).toEqual([]);
    if (kind === 'transactional') await p.commitTransaction();
    await p.close();
    expect(fake.faked()).toBe(2);
    const offsets = outcomes.map((o) => (o as PromiseFulfilledResult<{ offset: bigint }>).value.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(
      await readAll(name, values.length, kind === 'transactional' ? 'read_committed' : 'read_uncommitted'),
    ).toEqual(values);
  }, 30_000);

  it('idempotent: a batch the broker refuses for good leaves no sequence gap; the batches behind it are written once, in order', async () => {
    const name = uniqueTopic('gap-idempotent');
    const admin = new Admin({ brokers: [broker.bootstrap] });
    await admin.createTopics([{ name, numPartitions: 1, configs: { 'max.message.bytes': '2000' } }]);
    await admin.close();
    const t = topic(name, { value: serde.string() });
    const p = new Producer(
      { brokers: [broker.bootstrap] },
      {
        lingerMs: 0,
        batchSize: 100,
        maxInFlight: 5,
        retryBackoffMs: 5,
        retryBackoffMaxMs: 20,
        deliveryTimeoutMs: 6_000,
      },
    );
    await p.send(t, { value: 'first' });
    // Batches closed tick by tick, several in flight at once; the broker refuses one in the middle
    // (MESSAGE_TOO_LARGE), so the sequences after it can never follow under this producer id.
    const values = Array.from({ length: 20 }, (_, i) => (i === 5 ? 'x'.repeat(5000) : `v${i}`));
    const sends: Promise<number>[] = [];
    for (const value of values) {
      sends.push(
        p.send(t, { value }).then(
          () => 0,
          (err: KafkaError) => err.code,
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
    }
    const codes = await Promise.all(sends);
    expect(codes[5]).toBe(ERROR_CODES.MESSAGE_TOO_LARGE);
    expect(codes.filter((c, i) => i !== 5 && c !== 0)).toEqual([]);
    expect(await p.send(t, { value: 'last' }).then(() => 'ok')).toBe('ok');
    await p.close();
    const written = ['first', ...values.filter((_, i) => i !== 5), 'last'];
    expect(await readAll(name, written.length, 'read_uncommitted')).toEqual(written);
  }, 30_000);
});
