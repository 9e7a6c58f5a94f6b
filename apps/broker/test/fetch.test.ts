// Fetch long polling (max_wait_ms/min_bytes woken by appends) and incremental fetch sessions (KIP-227).

import {
  buildRecordBatchSync,
  CreateTopicsApi,
  ERROR_CODES,
  FetchApi,
  type FetchResponse,
  MetadataApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { decodeRecords, fetchRequest, RawClient, sleep, startInProcess } from './helpers.js';

let broker: RunningBroker;
let consumer: RawClient;
let producer: RawClient;

beforeAll(async () => {
  broker = await startInProcess();
  consumer = await RawClient.connect(broker.port);
  producer = await RawClient.connect(broker.port);
  const res = await producer.send(CreateTopicsApi, 5, {
    topics: ['poll', 'session'].map((name) => ({
      name,
      numPartitions: 3,
      replicationFactor: 1,
      assignments: [],
      configs: [],
    })),
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics.map((t) => t.errorCode)).toEqual([0, 0]);
});

afterAll(async () => {
  consumer?.close();
  producer?.close();
  await broker?.stop();
});

async function produce(topic: string, partition: number, values: string[]): Promise<bigint> {
  const res = await producer.send(ProduceApi, 9, {
    transactionalId: null,
    acks: 1,
    timeoutMs: 5000,
    topicData: [
      {
        name: topic,
        topicId: ZERO_UUID,
        partitionData: [
          { index: partition, records: buildRecordBatchSync({ records: values.map((value) => ({ value })) }) },
        ],
      },
    ],
  });
  const p = res.responses[0].partitionResponses[0];
  expect(p.errorCode).toBe(0);
  return p.baseOffset;
}

/** Partitions of a response as `partition → { hw, values }`. */
async function summary(res: FetchResponse) {
  const out: Record<number, { hw: bigint; values: string[]; error: number }> = {};
  for (const t of res.responses) {
    for (const p of t.partitions) {
      const records = await decodeRecords(p.partitionIndex, p.records);
      out[p.partitionIndex] = {
        hw: p.highWatermark,
        values: records.map((r) => r.value?.toString() ?? ''),
        error: p.errorCode,
      };
    }
  }
  return out;
}

describe('long polling', () => {
  it('a waiting fetch returns as soon as another client produces, well before max_wait_ms', async () => {
    const started = performance.now();
    const pending = consumer.send(
      FetchApi,
      12,
      fetchRequest('poll', [{ partition: 0, fetchOffset: 0n }], { maxWaitMs: 5000, minBytes: 1 }),
    );
    await sleep(300);
    // Still waiting: nothing has arrived.
    expect(broker.context.notifier.waiting).toBe(1);
    const producedAt = performance.now();
    await produce('poll', 0, ['wake up']);
    const res = await pending;
    const answeredAt = performance.now();
    expect(await summary(res)).toEqual({ 0: { hw: 1n, values: ['wake up'], error: 0 } });
    expect(answeredAt - started).toBeGreaterThanOrEqual(300);
    expect(answeredAt - producedAt).toBeLessThan(1000);
    expect(broker.context.notifier.waiting).toBe(0);
  });

  it('returns after about max_wait_ms when nothing arrives (an append elsewhere does not end the wait)', async () => {
    const started = performance.now();
    const pending = consumer.send(
      FetchApi,
      12,
      fetchRequest('poll', [{ partition: 1, fetchOffset: 0n }], { maxWaitMs: 1500, minBytes: 1 }),
    );
    await sleep(200);
    await produce('poll', 2, ['elsewhere']);
    const res = await pending;
    const elapsed = performance.now() - started;
    expect(await summary(res)).toEqual({ 1: { hw: 0n, values: [], error: 0 } });
    expect(elapsed).toBeGreaterThanOrEqual(1450);
    expect(elapsed).toBeLessThan(4000);
  });

  it('min_bytes: waits until enough bytes have arrived, not just the first append', async () => {
    const pending = consumer.send(
      FetchApi,
      12,
      fetchRequest('poll', [{ partition: 2, fetchOffset: 1n }], { maxWaitMs: 5000, minBytes: 300 }),
    );
    let done = false;
    pending.then(() => {
      done = true;
    });
    await produce('poll', 2, ['small']);
    await sleep(100);
    expect(done).toBe(false);
    const started = performance.now();
    await produce('poll', 2, ['x'.repeat(400)]);
    const res = await pending;
    expect(performance.now() - started).toBeLessThan(1000);
    expect((await summary(res))[2].values).toEqual(['small', 'x'.repeat(400)]);
  });

  it('pipelined requests behind a waiting fetch are answered in order', async () => {
    const waiting = consumer.send(
      FetchApi,
      12,
      fetchRequest('poll', [{ partition: 0, fetchOffset: 1n }], { maxWaitMs: 700, minBytes: 1 }),
    );
    const metadata = consumer.send(MetadataApi, 9, { topics: null, allowAutoTopicCreation: false });
    const order: string[] = [];
    await Promise.all([waiting.then(() => order.push('fetch')), metadata.then(() => order.push('metadata'))]);
    expect(order).toEqual(['fetch', 'metadata']);
  });
});

describe('incremental fetch sessions (KIP-227)', () => {
  const all = [0, 1, 2].map((partition) => ({ partition, fetchOffset: 0n }));
  let sessionId = 0;

  it('a full request with epoch 0 creates a session and answers every partition', async () => {
    await produce('session', 0, ['a0', 'a1']);
    const res = await consumer.send(FetchApi, 12, fetchRequest('session', all, { sessionId: 0, sessionEpoch: 0 }));
    expect(res.errorCode).toBe(0);
    expect(res.sessionId).toBeGreaterThan(0);
    sessionId = res.sessionId;
    expect(await summary(res)).toEqual({
      0: { hw: 2n, values: ['a0', 'a1'], error: 0 },
      1: { hw: 0n, values: [], error: 0 },
      2: { hw: 0n, values: [], error: 0 },
    });
  });

  it('incremental requests with the right epoch answer only partitions that changed', async () => {
    // The consumer moved partition 0 forward; nothing new anywhere: an empty answer.
    let res = await consumer.send(
      FetchApi,
      12,
      fetchRequest('session', [{ partition: 0, fetchOffset: 2n }], { sessionId, sessionEpoch: 1 }),
    );
    expect(res.errorCode).toBe(0);
    expect(res.sessionId).toBe(sessionId);
    expect(await summary(res)).toEqual({});

    // Data arrives on partition 1; the request names nothing, the session remembers the offsets.
    await produce('session', 1, ['b0']);
    res = await consumer.send(FetchApi, 12, {
      ...fetchRequest('session', [], { sessionId, sessionEpoch: 2 }),
      topics: [],
    });
    expect(await summary(res)).toEqual({ 1: { hw: 1n, values: ['b0'], error: 0 } });

    // Partition 1 forgotten; new data there is no longer reported, partition 2 still is.
    await produce('session', 1, ['b1']);
    await produce('session', 2, ['c0']);
    res = await consumer.send(FetchApi, 12, {
      ...fetchRequest('session', [{ partition: 1, fetchOffset: 1n }], { sessionId, sessionEpoch: 3 }),
      topics: [],
      forgottenTopicsData: [{ topic: 'session', topicId: '00000000-0000-0000-0000-000000000000', partitions: [1] }],
    });
    expect(await summary(res)).toEqual({ 2: { hw: 1n, values: ['c0'], error: 0 } });

    // A long poll inside the session wakes on an append to a partition it follows.
    const pending = consumer.send(
      FetchApi,
      12,
      fetchRequest('session', [{ partition: 2, fetchOffset: 1n }], { sessionId, sessionEpoch: 4, maxWaitMs: 5000 }),
    );
    await sleep(100);
    const t0 = performance.now();
    await produce('session', 0, ['a2']);
    res = await pending;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await summary(res)).toEqual({ 0: { hw: 3n, values: ['a2'], error: 0 } });
  });

  it('a wrong epoch → INVALID_FETCH_SESSION_EPOCH, an unknown session → FETCH_SESSION_ID_NOT_FOUND', async () => {
    const wrong = await consumer.send(FetchApi, 12, fetchRequest('session', [], { sessionId, sessionEpoch: 99 }));
    expect(wrong.errorCode).toBe(ERROR_CODES.INVALID_FETCH_SESSION_EPOCH);
    expect(wrong.responses).toEqual([]);
    // A replayed old epoch is just as wrong.
    const replay = await consumer.send(FetchApi, 12, fetchRequest('session', [], { sessionId, sessionEpoch: 4 }));
    expect(replay.errorCode).toBe(ERROR_CODES.INVALID_FETCH_SESSION_EPOCH);
    // The session itself is intact: the right epoch still works.
    const right = await consumer.send(
      FetchApi,
      12,
      fetchRequest('session', [{ partition: 0, fetchOffset: 3n }], { sessionId, sessionEpoch: 5 }),
    );
    expect(right.errorCode).toBe(0);
    const unknown = await consumer.send(
      FetchApi,
      12,
      fetchRequest('session', [], { sessionId: sessionId + 1000, sessionEpoch: 1 }),
    );
    expect(unknown.errorCode).toBe(ERROR_CODES.FETCH_SESSION_ID_NOT_FOUND);
    // Closing the session (epoch -1) makes its id unknown.
    const close = await consumer.send(
      FetchApi,
      12,
      fetchRequest('session', [{ partition: 0, fetchOffset: 3n }], { sessionId, sessionEpoch: -1 }),
    );
    expect(close.errorCode).toBe(0);
    const after = await consumer.send(FetchApi, 12, fetchRequest('session', [], { sessionId, sessionEpoch: 6 }));
    expect(after.errorCode).toBe(ERROR_CODES.FETCH_SESSION_ID_NOT_FOUND);
  });
});
