// @sluice/client's transactional producer with 5 batches in flight per partition, against Apache Kafka 4.4
// and Sluice side by side: transactions one after the other (commit, abort, commit, …) with several small
// batches in flight per partition; and a transaction whose batch the broker refuses (MESSAGE_TOO_LARGE)
// while others are in flight behind it. Every committed transaction must be read by read_committed, in
// order, and nothing else; the transaction after the refused one must commit (its sequence numbers must
// not carry the refused batch's gap, which both brokers answer OUT_OF_ORDER_SEQUENCE_NUMBER).
import { Admin, Consumer, ERROR_CODES, type KafkaError, Producer, serde, topic } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, startKafka, startSluice } from './brokers.js';
import { waitForLeaders, waitForPartitionsReady } from './scripts.js';
import { WireClient } from './wire-client.js';

const PARTITIONS = 3;

let kafka: BrokerUnderTest | undefined;
let sluice: BrokerUnderTest | undefined;
beforeAll(async () => {
  [kafka, sluice] = await Promise.all([startKafka(), startSluice()]);
}, 300_000);
afterAll(async () => {
  await Promise.all([kafka?.stop(), sluice?.stop()]);
});

const broker = (kind: 'kafka' | 'sluice') => (kind === 'kafka' ? kafka : sluice) as BrokerUnderTest;

async function createTopic(b: BrokerUnderTest, name: string, configs: Record<string, string> = {}) {
  const admin = new Admin({ brokers: [b.bootstrap] });
  await admin.createTopics([{ name, numPartitions: PARTITIONS, configs }]);
  await admin.close();
  const wire = await WireClient.connect(b.port, b.kind);
  try {
    const side = { broker: b, client: wire, connect: () => WireClient.connect(b.port, b.kind) };
    await waitForLeaders(side, name);
    await waitForPartitionsReady(side, name, PARTITIONS);
  } finally {
    wire.close();
  }
  return topic(name, { key: serde.string(), value: serde.string() });
}

/** Reads `expected` values in read_committed mode from the start of every partition (bounded by 60 s). */
async function readCommitted(b: BrokerUnderTest, name: string, expected: number): Promise<string[]> {
  const t = topic(name, { key: serde.string(), value: serde.string() });
  const c = new Consumer({ brokers: [b.bootstrap] }, { isolationLevel: 'read_committed', maxWaitMs: 200 });
  await c.assign(
    Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: t, partition, offset: 'earliest' as const })),
  );
  const got: string[] = [];
  const stop = setTimeout(() => void c.close(), 60_000);
  try {
    for await (const r of c.records(t)) {
      got.push(r.value);
      if (got.length >= expected) break;
    }
  } finally {
    clearTimeout(stop);
    await c.close();
  }
  return got;
}

describe('@sluice/client transactions with 5 batches in flight', () => {
  it.each(['kafka', 'sluice'] as const)('commits and aborts one after the other on %s', async (kind) => {
    const b = broker(kind);
    const name = `txn-inflight-${kind}`;
    const t = await createTopic(b, name);
    // Small batches, no linger: each partition has several batches in flight at once.
    const p = new Producer(
      { brokers: [b.bootstrap] },
      { transactionalId: name, maxInFlight: 5, batchSize: 1024, lingerMs: 0 },
    );
    const committed: string[] = [];
    try {
      await p.initTransactions();
      for (let i = 0; i < 8; i++) {
        const values = Array.from({ length: 300 }, (_, j) => `${i}-${j}`);
        const body = async (tx: Producer) => {
          await Promise.all(values.map((v, j) => tx.send(t, { key: `k${j % 7}`, value: v })));
          if (i % 3 === 1) throw new Error('abort on purpose');
        };
        if (i % 3 === 1) await expect(p.transaction(body)).rejects.toThrow('abort on purpose');
        else {
          await p.transaction(body);
          committed.push(...values);
        }
      }
    } finally {
      await p.close();
    }
    const got = await readCommitted(b, name, committed.length);
    expect([...got].sort()).toEqual([...committed].sort());
  });

  it.each(['kafka', 'sluice'] as const)('a refused batch fails its transaction only, on %s', async (kind) => {
    const b = broker(kind);
    const name = `txn-refused-${kind}`;
    const t = await createTopic(b, name, { 'max.message.bytes': '2000' });
    const p = new Producer(
      { brokers: [b.bootstrap] },
      { transactionalId: name, maxInFlight: 5, batchSize: 100, lingerMs: 0, deliveryTimeoutMs: 30_000 },
    );
    try {
      // The partition knows the producer first (a broker takes any sequence from a producer it has no state of).
      await p.transaction(async (tx) => {
        await tx.send(t, { key: 'k', value: 'committed-1', partition: 0 });
      });
      p.beginTransaction();
      // Batches closed tick by tick so that several are in flight when the sixth is refused.
      const codes: Promise<number>[] = [];
      for (let i = 0; i < 40; i++) {
        const sent = p.send(t, { key: 'k', value: i === 5 ? 'x'.repeat(5000) : `aborted-${i}`, partition: 0 });
        codes.push(
          sent.then(
            () => 0,
            (err: KafkaError) => err.code,
          ),
        );
        await new Promise((resolve) => setImmediate(resolve));
      }
      const outcome = await Promise.all(codes);
      expect(outcome[5]).toBe(ERROR_CODES.MESSAGE_TOO_LARGE);
      // Nothing behind it is stored, and nothing waits for its delivery timeout.
      expect(outcome.slice(6).filter((c) => c === 0 || c === ERROR_CODES.REQUEST_TIMED_OUT)).toEqual([]);
      await p.abortTransaction();
      await p.transaction(async (tx) => {
        await tx.send(t, { key: 'k', value: 'committed-2', partition: 0 });
      });
    } finally {
      await p.close();
    }
    expect(await readCommitted(b, name, 2)).toEqual(['committed-1', 'committed-2']);
  });
});
