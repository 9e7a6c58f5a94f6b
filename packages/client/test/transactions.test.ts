import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin, Consumer, ERROR_CODES, KafkaError, Producer, serde, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(1);
});
afterAll(async () => {
  await broker.stop();
});

/** Reads `topic` from the beginning until `count` records came (or 5 s passed) in the given isolation level. */
async function readAll(name: string, isolationLevel: 'read_committed' | 'read_uncommitted', count: number) {
  const t = topic(name, { value: serde.string() });
  const c = new Consumer(
    { brokers: [broker.bootstrap] },
    { autoOffsetReset: 'earliest', isolationLevel, maxWaitMs: 100 },
  );
  const seen: string[] = [];
  const deadline = Date.now() + 5000;
  const stop = setTimeout(() => void c.close(), 5000);
  try {
    for await (const r of c.records(t)) {
      seen.push(r.value);
      if (seen.length >= count || Date.now() > deadline) break;
    }
  } finally {
    clearTimeout(stop);
    await c.close();
  }
  return seen;
}

describe('transactional producer', () => {
  it('commits and aborts: read_committed consumers see only committed records', async () => {
    const name = uniqueTopic('txn');
    const t = topic(name, { value: serde.string() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { transactionalId: `${name}-tx`, lingerMs: 1 });
    await p.initTransactions();
    p.beginTransaction();
    await Promise.all([p.send(t, { value: 'aborted-1' }), p.send(t, { value: 'aborted-2' })]);
    await p.abortTransaction();
    await p.transaction(async (tx) => {
      await tx.send(t, { value: 'committed-1' });
      await tx.send(t, { value: 'committed-2' });
    });
    // A body that throws aborts the transaction and rethrows.
    await expect(
      p.transaction(async (tx) => {
        await tx.send(t, { value: 'aborted-3' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await p.transaction(async (tx) => {
      await tx.send(t, { value: 'committed-3' });
    });
    await p.close();
    expect(await readAll(name, 'read_committed', 3)).toEqual(['committed-1', 'committed-2', 'committed-3']);
    expect(await readAll(name, 'read_uncommitted', 6)).toEqual([
      'aborted-1',
      'aborted-2',
      'committed-1',
      'committed-2',
      'aborted-3',
      'committed-3',
    ]);
  });

  it("a read_committed consumer's position passes the markers and aborted records at the end", async () => {
    const name = uniqueTopic('txn-tail');
    const t = topic(name, { value: serde.string() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { transactionalId: `${name}-tx`, lingerMs: 1 });
    await p.transaction(async (tx) => {
      await tx.send(t, { value: 'committed', partition: 0 });
    });
    p.beginTransaction();
    await p.send(t, { value: 'aborted', partition: 0 });
    await p.abortTransaction();
    await p.close();
    // committed, its marker, aborted, its marker: the end offset is 4.
    const admin = new Admin({ brokers: [broker.bootstrap] });
    const [end] = await admin.listOffsets([{ topic: name, partition: 0 }], 'latest', 'read_committed');
    await admin.close();
    expect(end.offset).toBe(4n);
    const c = new Consumer({ brokers: [broker.bootstrap] }, { isolationLevel: 'read_committed', maxWaitMs: 50 });
    await c.assign([{ topic: t, partition: 0, offset: 'earliest' }]);
    const seen: string[] = [];
    const reached = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if ((c.position(name, 0) ?? 0n) >= end.offset) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
      setTimeout(() => {
        clearInterval(timer);
        resolve();
      }, 5000);
    });
    const run = c.run(t, (records) => {
      for (const r of records) seen.push(r.value);
    });
    await reached;
    expect(c.position(name, 0)).toBe(4n);
    await c.close();
    await run;
    expect(seen).toEqual(['committed']);
  });

  it('commit includes a record sent without awaiting to a topic whose metadata was not yet known', async () => {
    const name = uniqueTopic('txn-slow');
    const admin = new Admin({ brokers: [broker.bootstrap] });
    await admin.createTopics([{ name, numPartitions: 1 }]);
    await admin.close();
    const t = topic(name, { value: serde.string() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { transactionalId: `${name}-tx`, lingerMs: 1 });
    await p.initTransactions();
    p.beginTransaction();
    const sent = p.send(t, { value: 'in-the-transaction' });
    await p.commitTransaction();
    await sent;
    await p.close();
    expect(await readAll(name, 'read_committed', 1)).toEqual(['in-the-transaction']);
  });

  it('a batch the broker refused leaves no sequence gap: the abort bumps the epoch and the next transaction commits', async () => {
    const name = uniqueTopic('txn-gap');
    const admin = new Admin({ brokers: [broker.bootstrap] });
    await admin.createTopics([{ name, numPartitions: 1, configs: { 'max.message.bytes': '2000' } }]);
    await admin.close();
    const t = topic(name, { value: serde.string() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { transactionalId: `${name}-tx`, lingerMs: 1 });
    await p.transaction(async (tx) => {
      await tx.send(t, { value: 'committed-1' });
    });
    // The broker refuses the batch (MESSAGE_TOO_LARGE): its sequence numbers never reach the partition.
    await expect(
      p.transaction(async (tx) => {
        await tx.send(t, { value: 'x'.repeat(5000) });
      }),
    ).rejects.toMatchObject({ code: ERROR_CODES.MESSAGE_TOO_LARGE });
    await p.transaction(async (tx) => {
      await tx.send(t, { value: 'committed-2' });
    });
    await p.close();
    expect(await readAll(name, 'read_committed', 2)).toEqual(['committed-1', 'committed-2']);
  });

  it('with 5 batches in flight, the batches behind a refused one fail with the transaction instead of retrying until their delivery timeout', async () => {
    const name = uniqueTopic('txn-gap-inflight');
    const admin = new Admin({ brokers: [broker.bootstrap] });
    await admin.createTopics([{ name, numPartitions: 1, configs: { 'max.message.bytes': '2000' } }]);
    await admin.close();
    const t = topic(name, { value: serde.string() });
    const p = new Producer(
      { brokers: [broker.bootstrap] },
      { transactionalId: `${name}-tx`, lingerMs: 0, batchSize: 100, maxInFlight: 5, deliveryTimeoutMs: 20_000 },
    );
    // The partition knows the producer (with no state, a broker takes any sequence, as Kafka does).
    await p.transaction(async (tx) => {
      await tx.send(t, { value: 'committed-1' });
    });
    p.beginTransaction();
    // Batches closed tick by tick (linger 0, batch.size 100), so that several are in flight at once; one
    // in the middle is refused.
    const sends: Promise<number>[] = [];
    for (let i = 0; i < 40; i++) {
      const sent = p.send(t, { value: i === 5 ? 'x'.repeat(5000) : `behind-${i}` });
      sends.push(
        sent.then(
          () => 0,
          (err: KafkaError) => err.code,
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
    }
    const codes = await Promise.all(sends);
    expect(codes[5]).toBe(ERROR_CODES.MESSAGE_TOO_LARGE);
    expect(codes.slice(6).filter((c) => c === 0 || c === ERROR_CODES.REQUEST_TIMED_OUT)).toEqual([]);
    await p.abortTransaction();
    await p.transaction(async (tx) => {
      await tx.send(t, { value: 'committed-2' });
    });
    await p.close();
    expect(await readAll(name, 'read_committed', 2)).toEqual(['committed-1', 'committed-2']);
  }, 60_000);

  it('sends outside a transaction are refused, and a second producer of the id fences the first', async () => {
    const name = uniqueTopic('txn-fence');
    const t = topic(name, { value: serde.string() });
    const first = new Producer({ brokers: [broker.bootstrap] }, { transactionalId: `${name}-tx`, lingerMs: 1 });
    await first.initTransactions();
    await expect(first.send(t, { value: 'x' })).rejects.toMatchObject({ code: ERROR_CODES.INVALID_TXN_STATE });
    first.beginTransaction();
    await first.send(t, { value: 'zombie' });

    const second = new Producer({ brokers: [broker.bootstrap] }, { transactionalId: `${name}-tx`, lingerMs: 1 });
    await second.transaction(async (tx) => {
      await tx.send(t, { value: 'successor' });
    });
    const err = await first.commitTransaction().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KafkaError);
    expect([ERROR_CODES.PRODUCER_FENCED, ERROR_CODES.INVALID_PRODUCER_EPOCH]).toContain((err as KafkaError).code);
    await first.close();
    await second.close();
    expect(await readAll(name, 'read_committed', 1)).toEqual(['successor']);
  });

  it('consume-transform-produce: offsets commit with the output records', async () => {
    const input = uniqueTopic('txn-in');
    const output = uniqueTopic('txn-out');
    const tin = topic(input, { value: serde.string() });
    const tout = topic(output, { value: serde.string() });
    const plain = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 1 });
    await Promise.all(['a', 'b', 'c'].map((value) => plain.send(tin, { value })));
    await plain.close();

    const groupId = `${input}-eos`;
    const p = new Producer({ brokers: [broker.bootstrap] }, { transactionalId: `${input}-tx`, lingerMs: 1 });
    const c = new Consumer(
      { brokers: [broker.bootstrap] },
      { groupId, autoCommit: false, autoOffsetReset: 'earliest', isolationLevel: 'read_committed', maxWaitMs: 100 },
    );
    let n = 0;
    for await (const r of c.records(tin)) {
      await p.transaction(async (tx) => {
        await tx.send(tout, { value: r.value.toUpperCase() });
        await tx.sendOffsetsToTransaction(
          [{ topic: input, partitions: [{ partition: r.partition, offset: r.offset + 1n }] }],
          c.groupMetadata() ?? groupId,
        );
      });
      if (++n === 3) break;
    }
    await c.close();
    await p.close();
    expect(await readAll(output, 'read_committed', 3)).toEqual(['A', 'B', 'C']);
    // The group's committed offset is past the last input record: a restarted loop reads nothing again.
    const offsets = broker.context.groups.coordinator.fetchOffsets(
      groupId,
      [{ name: input, partitionIndexes: [0] }],
      true,
    );
    expect(offsets.topics[0].partitions[0]).toMatchObject({ committedOffset: 3n, errorCode: 0 });
  });

  it('admin lists and describes transactions', async () => {
    const name = uniqueTopic('txn-admin');
    const t = topic(name, { value: serde.string() });
    const p = new Producer(
      { brokers: [broker.bootstrap] },
      { transactionalId: `${name}-tx`, lingerMs: 1, transactionTimeoutMs: 30_000 },
    );
    await p.initTransactions();
    p.beginTransaction();
    await p.send(t, { value: 'open', partition: 0 });
    const admin = new Admin({ brokers: [broker.bootstrap] });
    try {
      const listed = await admin.listTransactions(['Ongoing']);
      expect(listed.map((x) => x.transactionalId)).toContain(`${name}-tx`);
      const d = await admin.describeTransaction(`${name}-tx`);
      expect(d).toMatchObject({ state: 'Ongoing', timeoutMs: 30_000, partitions: [{ topic: name, partition: 0 }] });
      expect(d.startTimeMs).toBeGreaterThan(0n);
      await expect(admin.describeTransaction('no-such-id')).rejects.toMatchObject({
        code: ERROR_CODES.TRANSACTIONAL_ID_NOT_FOUND,
      });
      await p.abortTransaction();
      for (let i = 0; i < 50 && (await admin.describeTransaction(`${name}-tx`)).state !== 'CompleteAbort'; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect((await admin.describeTransaction(`${name}-tx`)).state).toBe('CompleteAbort');
    } finally {
      await admin.close();
      await p.close();
    }
  });
});
