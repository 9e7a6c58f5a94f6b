import { ERROR_CODES as E, KafkaError } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import type { CoordinatorRecord } from './coordinator.js';
import { ManualScheduler } from './scheduler.js';
import {
  TransactionCoordinator,
  type TransactionCoordinatorConfig,
  type TxnMarkers,
} from './transaction-coordinator.js';
import {
  decodeTransactionLogKey,
  decodeTransactionLogValue,
  encodeTransactionLogKey,
  encodeTransactionLogValue,
  TxnState,
} from './transaction-records.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness(config: Partial<TransactionCoordinatorConfig> = {}) {
  const clock = new ManualScheduler();
  const log: { partition: number; record: CoordinatorRecord }[] = [];
  const markers: TxnMarkers[] = [];
  const state = { failAppend: null as KafkaError | null, markerCodes: null as number[] | null, nextId: 1000n };
  const options = {
    config: { numPartitions: 4, ...config },
    scheduler: clock,
    append: (partition: number, records: CoordinatorRecord[]) => {
      if (state.failAppend) throw state.failAppend;
      for (const record of records) log.push({ partition, record });
    },
    writeMarkers: (m: TxnMarkers) => {
      markers.push(m);
      return state.markerCodes ?? m.partitions.map(() => E.NONE);
    },
    nextProducerId: () => state.nextId++,
  };
  const c = new TransactionCoordinator(options);
  /** A coordinator restarted on the same log. */
  const restart = () => {
    c.shutdown();
    const again = new TransactionCoordinator(options);
    for (let p = 0; p < 4; p++) {
      again.loadPartition(
        p,
        log.filter((l) => l.partition === p).map((l) => l.record),
      );
    }
    return again;
  };
  const stored = (tid: string) => {
    const mine = log.filter((l) => decodeTransactionLogKey(l.record.key) === tid);
    const last = mine[mine.length - 1]?.record.value;
    return last ? decodeTransactionLogValue(last) : last;
  };
  return { c, clock, log, markers, state, restart, stored };
}

const init = (c: TransactionCoordinator, tid = 'tx', producerId = -1n, producerEpoch = -1) =>
  c.initProducerId({ transactionalId: tid, transactionTimeoutMs: 60_000, producerId, producerEpoch });

describe('transaction log records', () => {
  it('round-trips a key and a value in Kafka format (key type 0, value version 0)', () => {
    const k = encodeTransactionLogKey('my-tx');
    expect(k.readInt16BE(0)).toBe(0);
    expect(k.readInt16BE(2)).toBe(5);
    expect(decodeTransactionLogKey(k)).toBe('my-tx');
    const v = {
      producerId: 7n,
      previousProducerId: -1n,
      producerEpoch: 3,
      transactionTimeoutMs: 60000,
      state: TxnState.Ongoing,
      partitions: [{ topic: 't', partitions: [0, 2] }],
      lastUpdateTimestampMs: 1234,
      startTimestampMs: 1200,
    };
    const buf = encodeTransactionLogValue(v);
    // version, pid, epoch, timeout, state, [topic [p]], two timestamps
    expect(buf.length).toBe(2 + 8 + 2 + 4 + 1 + 4 + (2 + 1 + 4 + 8) + 16);
    expect(decodeTransactionLogValue(buf)).toEqual({ ...v, nextProducerId: -1n, clientTransactionVersion: 0 });
  });

  it('writes value version 1 with its tagged fields for a transactions V2 transaction, as Kafka does', () => {
    const v = {
      producerId: 7n,
      previousProducerId: 5n,
      nextProducerId: 9n,
      clientTransactionVersion: 2,
      producerEpoch: 3,
      transactionTimeoutMs: 60000,
      state: TxnState.PrepareCommit,
      partitions: [{ topic: 't', partitions: [0] }],
      lastUpdateTimestampMs: 1234,
      startTimestampMs: 1200,
    };
    const buf = encodeTransactionLogValue(v);
    expect(buf.readInt16BE(0)).toBe(1);
    // Three tagged fields at the end: tag 0 (8 bytes), tag 1 (8 bytes), tag 2 (2 bytes).
    expect([...buf.subarray(buf.length - 25)]).toEqual([
      3, 0, 8, 0, 0, 0, 0, 0, 0, 0, 5, 1, 8, 0, 0, 0, 0, 0, 0, 0, 9, 2, 2, 0, 2,
    ]);
    expect(decodeTransactionLogValue(buf)).toEqual(v);
  });

  it('refuses an unknown value version and a truncated value with an error, not a crash', () => {
    const buf = encodeTransactionLogValue({
      producerId: 1n,
      previousProducerId: -1n,
      producerEpoch: 0,
      transactionTimeoutMs: 1,
      state: TxnState.Empty,
      partitions: [],
      lastUpdateTimestampMs: 0,
      startTimestampMs: -1,
    });
    const bad = Buffer.from(buf);
    bad.writeInt16BE(9, 0);
    expect(() => decodeTransactionLogValue(bad)).toThrow(/unknown value version 9/);
    expect(() => decodeTransactionLogValue(buf.subarray(0, 12))).toThrow();
    const huge = Buffer.from(buf);
    huge.writeInt32BE(0x7fffffff, 17);
    expect(() => decodeTransactionLogValue(huge)).toThrow();
  });

  it('skips keys of other record types', () => {
    const k = Buffer.alloc(4);
    k.writeInt16BE(1, 0);
    expect(decodeTransactionLogKey(k)).toBeNull();
  });
});

describe('TransactionCoordinator', () => {
  it('InitProducerId gives a new id at epoch 0, then bumps the epoch on each call', async () => {
    const { c, stored } = harness();
    expect(await init(c)).toEqual({ errorCode: 0, producerId: 1000n, producerEpoch: 0 });
    expect(stored('tx')).toMatchObject({ producerId: 1000n, producerEpoch: 0, state: TxnState.Empty });
    expect(await init(c)).toEqual({ errorCode: 0, producerId: 1000n, producerEpoch: 1 });
  });

  it('refuses a bad timeout and an empty transactional id', async () => {
    const { c } = harness({ transactionMaxTimeoutMs: 1000 });
    expect(
      (await c.initProducerId({ transactionalId: 'a', transactionTimeoutMs: 1001, producerId: -1n, producerEpoch: -1 }))
        .errorCode,
    ).toBe(E.INVALID_TRANSACTION_TIMEOUT);
    expect(
      (await c.initProducerId({ transactionalId: 'a', transactionTimeoutMs: 0, producerId: -1n, producerEpoch: -1 }))
        .errorCode,
    ).toBe(E.INVALID_TRANSACTION_TIMEOUT);
    expect(
      (await c.initProducerId({ transactionalId: '', transactionTimeoutMs: 10, producerId: -1n, producerEpoch: -1 }))
        .errorCode,
    ).toBe(E.INVALID_REQUEST);
  });

  it('commits: Ongoing, PrepareCommit, markers to every partition, CompleteCommit', async () => {
    const { c, markers, stored } = harness();
    const { producerId, producerEpoch } = await init(c);
    const who = { transactionalId: 'tx', producerId, producerEpoch };
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }])).toBe(E.NONE);
    expect(await c.addPartitions(who, [{ topic: 'b', partition: 1 }])).toBe(E.NONE);
    expect(stored('tx')).toMatchObject({
      state: TxnState.Ongoing,
      partitions: [
        { topic: 'a', partitions: [0] },
        { topic: 'b', partitions: [1] },
      ],
    });
    expect(await c.endTransaction(who, true)).toBe(E.NONE);
    await flush();
    expect(markers).toEqual([
      {
        transactionalId: 'tx',
        producerId,
        producerEpoch,
        coordinatorEpoch: 0,
        commit: true,
        partitions: [
          { topic: 'a', partition: 0 },
          { topic: 'b', partition: 1 },
        ],
      },
    ]);
    expect(stored('tx')).toMatchObject({ state: TxnState.CompleteCommit, partitions: [] });
    // A retried EndTxn of the same decision succeeds; the opposite one is refused.
    expect(await c.endTransaction(who, true)).toBe(E.NONE);
    expect(await c.endTransaction(who, false)).toBe(E.INVALID_TXN_STATE);
    // The next transaction starts from CompleteCommit.
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }])).toBe(E.NONE);
    expect(c.get('tx')?.state).toBe(TxnState.Ongoing);
  });

  it('answers Kafka error codes on the wrong producer, epoch and state', async () => {
    const { c } = harness();
    const { producerId, producerEpoch } = await init(c);
    const tp = [{ topic: 'a', partition: 0 }];
    expect(await c.addPartitions({ transactionalId: 'nope', producerId, producerEpoch }, tp)).toBe(
      E.INVALID_PRODUCER_ID_MAPPING,
    );
    expect(await c.addPartitions({ transactionalId: 'tx', producerId: 5n, producerEpoch }, tp)).toBe(
      E.INVALID_PRODUCER_ID_MAPPING,
    );
    expect(await c.addPartitions({ transactionalId: 'tx', producerId, producerEpoch: producerEpoch + 1 }, tp)).toBe(
      E.PRODUCER_FENCED,
    );
    // No transaction is open.
    expect(await c.endTransaction({ transactionalId: 'tx', producerId, producerEpoch }, true)).toBe(
      E.INVALID_TXN_STATE,
    );
  });

  it('answers CONCURRENT_TRANSACTIONS while markers are pending and retries failed markers', async () => {
    const { c, markers, state, clock } = harness();
    const { producerId, producerEpoch } = await init(c);
    const who = { transactionalId: 'tx', producerId, producerEpoch };
    await c.addPartitions(who, [
      { topic: 'a', partition: 0 },
      { topic: 'a', partition: 1 },
    ]);
    state.markerCodes = [E.NONE, E.NOT_LEADER_OR_FOLLOWER];
    expect(await c.endTransaction(who, false)).toBe(E.NONE);
    await flush();
    expect(c.get('tx')?.state).toBe(TxnState.PrepareAbort);
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }])).toBe(E.CONCURRENT_TRANSACTIONS);
    expect(await c.endTransaction(who, false)).toBe(E.CONCURRENT_TRANSACTIONS);
    expect(await c.endTransaction(who, true)).toBe(E.INVALID_TXN_STATE);
    state.markerCodes = null;
    clock.advance(100);
    await flush();
    // Only the partition that failed is written again.
    expect(markers[1].partitions).toEqual([{ topic: 'a', partition: 1 }]);
    expect(c.get('tx')?.state).toBe(TxnState.CompleteAbort);
  });

  it('retries markers a leader refuses (with backoff) until its partition moves to another coordinator', async () => {
    const { c, markers, state, clock } = harness();
    const { producerId, producerEpoch } = await init(c);
    const who = { transactionalId: 'tx', producerId, producerEpoch };
    await c.addPartitions(who, [{ topic: 'a', partition: 0 }]);
    state.markerCodes = [E.NOT_LEADER_OR_FOLLOWER];
    expect(await c.endTransaction(who, true)).toBe(E.NONE);
    await flush();
    for (const ms of [100, 200, 400]) {
      clock.advance(ms);
      await flush();
    }
    expect(markers).toHaveLength(4);
    // The state partition moved away: the new coordinator finishes the transaction, this one stops.
    c.unloadPartition(c.partitionFor('tx'));
    for (let i = 0; i < 10; i++) {
      clock.advance(5000);
      await flush();
    }
    expect(markers).toHaveLength(4);
  });

  it('transactions V2 (KIP-890 part 2): EndTxn bumps the epoch, the markers carry it, the answer gives it; retries and stale epochs as Kafka answers', async () => {
    const { c, markers, stored } = harness();
    const { producerId, producerEpoch } = await init(c);
    const who = { transactionalId: 'tx', producerId, producerEpoch };
    // Added by a partition leader for a V2 producer (AddPartitionsToTxn v5).
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }], 2)).toBe(E.NONE);
    expect(stored('tx')?.clientTransactionVersion).toBe(2);
    const ended = await c.endTxn(who, true, 2);
    expect(ended).toEqual({ errorCode: E.NONE, producerId, producerEpoch: producerEpoch + 1 });
    await flush();
    expect(markers[0]).toMatchObject({ producerId, producerEpoch: producerEpoch + 1, commit: true });
    expect(c.get('tx')?.state).toBe(TxnState.CompleteCommit);
    // The same EndTxn again (its answer lost): the same answer; with the new epoch it is a new EndTxn, and there is nothing open.
    expect(await c.endTxn(who, true, 2)).toEqual(ended);
    expect((await c.endTxn(who, false, 2)).errorCode).toBe(E.INVALID_TXN_STATE);
    expect((await c.endTxn({ ...who, producerEpoch: producerEpoch + 1 }, true, 2)).errorCode).toBe(E.INVALID_TXN_STATE);
    expect((await c.endTxn({ ...who, producerEpoch: producerEpoch - 1 }, true, 2)).errorCode).toBe(E.PRODUCER_FENCED);
    // The next transaction runs under the bumped epoch; the old one is fenced.
    const next = { ...who, producerEpoch: producerEpoch + 1 };
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }], 2)).toBe(E.PRODUCER_FENCED);
    expect(await c.addPartitions(next, [{ topic: 'a', partition: 0 }], 2)).toBe(E.NONE);
    expect(await c.endTxn(next, false, 2)).toEqual({ errorCode: E.NONE, producerId, producerEpoch: producerEpoch + 2 });
    await flush();
    // An abort with nothing open (Kafka 4.4 under V2): taken, the epoch bumped, no marker written.
    const written = markers.length;
    const idle = { ...who, producerEpoch: producerEpoch + 2 };
    expect(await c.endTxn(idle, false, 2)).toEqual({ errorCode: E.NONE, producerId, producerEpoch: producerEpoch + 3 });
    await flush();
    expect(markers).toHaveLength(written);
    expect(c.get('tx')?.state).toBe(TxnState.CompleteAbort);
  });

  it('transactions V2: an EndTxn at the last epoch moves the producer to a new id at epoch 0; the markers go out under the old id', async () => {
    const { c, markers, restart } = harness();
    const { producerId } = await init(c);
    const meta = c.get('tx')!;
    meta.producerEpoch = 32766;
    const who = { transactionalId: 'tx', producerId, producerEpoch: 32766 };
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }], 2)).toBe(E.NONE);
    const ended = await c.endTxn(who, true, 2);
    expect(ended).toEqual({ errorCode: E.NONE, producerId: 1001n, producerEpoch: 0 });
    await flush();
    expect(markers[0]).toMatchObject({ producerId, producerEpoch: 32767 });
    expect(c.get('tx')).toMatchObject({ producerId: 1001n, producerEpoch: 0, previousProducerId: producerId });
    // A retry under the old id and epoch gets the new ones; after a restart too.
    expect(await c.endTxn(who, true, 2)).toEqual(ended);
    expect(await restart().endTxn(who, true, 2)).toEqual(ended);
  });

  it('a new InitProducerId aborts an open transaction and fences the old producer (KIP-98)', async () => {
    const { c, markers } = harness();
    const first = await init(c);
    const zombie = { transactionalId: 'tx', producerId: first.producerId, producerEpoch: first.producerEpoch };
    await c.addPartitions(zombie, [{ topic: 'a', partition: 0 }]);
    expect((await init(c)).errorCode).toBe(E.CONCURRENT_TRANSACTIONS);
    await flush();
    // Aborted under a bumped epoch, so the partition fences the old producer.
    expect(markers).toMatchObject([{ commit: false, producerEpoch: first.producerEpoch + 1 }]);
    const second = await init(c);
    expect(second).toEqual({ errorCode: 0, producerId: first.producerId, producerEpoch: first.producerEpoch + 2 });
    expect(await c.addPartitions(zombie, [{ topic: 'a', partition: 0 }])).toBe(E.PRODUCER_FENCED);
    expect(await c.endTransaction(zombie, true)).toBe(E.PRODUCER_FENCED);
  });

  it('KIP-360: a producer with its current id and epoch bumps; a stale one is fenced; a retry gets the same answer', async () => {
    const { c } = harness();
    const first = await init(c);
    const bumped = await init(c, 'tx', first.producerId, first.producerEpoch);
    expect(bumped).toEqual({ errorCode: 0, producerId: first.producerId, producerEpoch: first.producerEpoch + 1 });
    // The same request again (its answer lost): same answer, no second bump.
    expect(await init(c, 'tx', first.producerId, first.producerEpoch)).toEqual(bumped);
    expect((await init(c, 'tx', 999n, 0)).errorCode).toBe(E.PRODUCER_FENCED);
  });

  it('rotates to a new producer id when the epoch is exhausted', async () => {
    const { c } = harness();
    await init(c);
    const meta = c.get('tx')!;
    meta.producerEpoch = 32766;
    const r = await init(c);
    expect(r).toEqual({ errorCode: 0, producerId: 1001n, producerEpoch: 0 });
    expect(c.get('tx')?.previousProducerId).toBe(1000n);
  });

  it('aborts a transaction past its timeout and fences its producer', async () => {
    const { c, clock, markers } = harness({ abortTimedOutTransactionsIntervalMs: 1000 });
    const r = await c.initProducerId({
      transactionalId: 'tx',
      transactionTimeoutMs: 5000,
      producerId: -1n,
      producerEpoch: -1,
    });
    const who = { transactionalId: 'tx', producerId: r.producerId, producerEpoch: r.producerEpoch };
    await c.addPartitions(who, [{ topic: 'a', partition: 0 }]);
    clock.advance(4000);
    await flush();
    expect(c.get('tx')?.state).toBe(TxnState.Ongoing);
    clock.advance(1000);
    await flush();
    await flush();
    expect(markers).toMatchObject([{ commit: false, producerEpoch: r.producerEpoch + 1 }]);
    expect(c.get('tx')?.state).toBe(TxnState.CompleteAbort);
    expect(await c.endTransaction(who, true)).toBe(E.PRODUCER_FENCED);
  });

  it('expires idle transactional ids with a tombstone', async () => {
    const { c, clock, log } = harness({
      transactionalIdExpirationMs: 10_000,
      removeExpiredTransactionalIdsIntervalMs: 5000,
    });
    await init(c);
    clock.advance(15_000);
    await flush();
    expect(c.get('tx')).toBeUndefined();
    expect(log[log.length - 1].record.value).toBeNull();
    expect(c.describe('tx').errorCode).toBe(E.TRANSACTIONAL_ID_NOT_FOUND);
  });

  it('a failed write changes nothing and maps the error as Kafka does', async () => {
    const { c, state } = harness();
    const r = await init(c);
    const who = { transactionalId: 'tx', producerId: r.producerId, producerEpoch: r.producerEpoch };
    state.failAppend = new KafkaError(E.NOT_LEADER_OR_FOLLOWER, 'moved');
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }])).toBe(E.NOT_COORDINATOR);
    state.failAppend = new KafkaError(E.KAFKA_STORAGE_ERROR, 'disk');
    expect(await c.addPartitions(who, [{ topic: 'a', partition: 0 }])).toBe(E.COORDINATOR_NOT_AVAILABLE);
    expect(c.get('tx')?.state).toBe(TxnState.Empty);
    expect(c.get('tx')?.pending).toBe(false);
  });

  it('after a restart, a transaction decided but not completed gets its markers; an open one stays open', async () => {
    const { c, state, restart, markers } = harness();
    const a = await init(c, 'decided');
    const b = await init(c, 'open');
    await c.addPartitions({ transactionalId: 'decided', ...a }, [{ topic: 't', partition: 0 }]);
    await c.addPartitions({ transactionalId: 'open', ...b }, [{ topic: 't', partition: 1 }]);
    // The markers never arrive before the "crash".
    state.markerCodes = [E.NOT_LEADER_OR_FOLLOWER];
    await c.endTransaction({ transactionalId: 'decided', ...a }, true);
    await flush();
    state.markerCodes = null;
    const markersBefore = markers.length;
    const again = restart();
    await flush();
    expect(markers.slice(markersBefore)).toMatchObject([
      { transactionalId: 'decided', commit: true, partitions: [{ topic: 't', partition: 0 }] },
    ]);
    expect(again.get('decided')?.state).toBe(TxnState.CompleteCommit);
    expect(again.get('open')).toMatchObject({
      state: TxnState.Ongoing,
      producerId: b.producerId,
      producerEpoch: b.producerEpoch,
    });
    again.shutdown();
  });

  it('verifies partitions for KIP-890 and lists and describes transactions', async () => {
    const { c } = harness();
    const r = await init(c);
    const who = { transactionalId: 'tx', producerId: r.producerId, producerEpoch: r.producerEpoch };
    await c.addPartitions(who, [{ topic: 'a', partition: 0 }]);
    expect(
      c.verifyPartitions(who, [
        { topic: 'a', partition: 0 },
        { topic: 'a', partition: 1 },
      ]),
    ).toEqual([E.NONE, E.INVALID_TXN_STATE]);
    expect(c.verifyPartitions({ ...who, producerEpoch: 9 }, [{ topic: 'a', partition: 0 }])).toEqual([
      E.PRODUCER_FENCED,
    ]);
    expect(c.describe('tx')).toMatchObject({ state: 'Ongoing', topics: [{ topic: 'a', partition: 0 }] });
    expect(c.list(['Ongoing'])).toEqual([{ transactionalId: 'tx', producerId: r.producerId, state: 'Ongoing' }]);
    expect(c.list(['Empty'])).toEqual([]);
  });
});
