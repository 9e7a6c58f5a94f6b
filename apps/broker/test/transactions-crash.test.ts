// Transactions across broker restarts: after a SIGKILL the partitions rebuild their open and
// aborted transactions from the log and the coordinator reloads `__transaction_state`; after a
// clean stop they come back from the producer snapshot. Bounded: two restarts, seconds each.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FetchApi, iterateBatches, ListOffsetsApi } from '@sluice/protocol';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, fetchRequest, RawClient, sleep, spawnBroker, tempDir } from './helpers.js';

const { Kafka, logLevel } = kafkajs;
const READ_COMMITTED = 1;
const TOPIC = 'tx-crash';
const OVERRIDES = {
  'transaction.state.log.num.partitions': '2',
  'offsets.topic.num.partitions': '2',
  'num.partitions': '1',
};
let broker: BrokerProcess | undefined;

afterAll(async () => {
  await broker?.kill('SIGKILL');
});

async function view(port: number) {
  const raw = await RawClient.connect(port);
  try {
    const res = await raw.send(
      FetchApi,
      12,
      fetchRequest(TOPIC, [{ partition: 0, fetchOffset: 0n }], { isolationLevel: READ_COMMITTED }),
    );
    const p = res.responses[0].partitions[0];
    const lso = await raw.send(ListOffsetsApi, 7, {
      replicaId: -1,
      isolationLevel: READ_COMMITTED,
      topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
    });
    return {
      lastStableOffset: p.lastStableOffset,
      listedLso: lso.topics[0].partitions[0].offset,
      committed: committedValues(p.records, p.abortedTransactions ?? []),
      aborted: p.abortedTransactions?.map((a) => a.firstOffset),
    };
  } finally {
    raw.close();
  }
}

/** Waits (bounded by the clock: a loaded machine is slow to write markers) until the listed LSO is `lso`. */
async function lsoReaches(port: number, lso: bigint): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = -1n;
  while ((last = (await view(port)).listedLso) < lso) {
    if (Date.now() > deadline) throw new Error(`the last stable offset stayed at ${last}, not ${lso}`);
    await sleep(20);
  }
}

/** What a read_committed consumer keeps: records of aborted transactions skipped, as Kafka's fetcher does. */
function committedValues(records: Buffer | null, aborted: { producerId: bigint; firstOffset: bigint }[]): string[] {
  const pending = [...aborted].sort((x, y) => (x.firstOffset < y.firstOffset ? -1 : 1));
  const abortedProducers = new Set<bigint>();
  const out: string[] = [];
  for (const batch of iterateBatches(records ?? Buffer.alloc(0))) {
    while (pending.length > 0 && pending[0].firstOffset <= batch.lastOffset) {
      abortedProducers.add(pending.shift()!.producerId);
    }
    if (batch.isControl) {
      abortedProducers.delete(batch.producerId);
      continue;
    }
    if (batch.isTransactional && abortedProducers.has(batch.producerId)) continue;
    for (const r of batch.records()) out.push(r.value?.toString() ?? '');
  }
  return out;
}

const producerFor = (port: number, transactionalId: string) =>
  new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }).producer({
    transactionalId,
    maxInFlightRequests: 1,
    idempotent: true,
    transactionTimeout: 600_000,
  });

describe('transactions across restarts', () => {
  it('an open transaction holds the LSO after a SIGKILL, and a new producer aborts it', async () => {
    const dataDir = tempDir('sluice-txn-crash-');
    broker = await spawnBroker({ dataDir, overrides: OVERRIDES });
    const p1 = producerFor(broker.port, 'crash-a');
    await p1.connect();
    const a = await p1.transaction();
    await a.send({ topic: TOPIC, messages: [{ key: 'k', value: 'committed-1' }] });
    await a.commit(); // offsets 0, marker 1
    const b = await p1.transaction();
    await b.send({ topic: TOPIC, messages: [{ key: 'k', value: 'aborted-1' }] });
    await b.abort(); // offsets 2, marker 3
    const c = await p1.transaction();
    await c.send({ topic: TOPIC, messages: [{ key: 'k', value: 'open-1' }] }); // offset 4, left open
    await p1.disconnect();
    // EndTxn is answered once the outcome is decided; the markers follow. Both must be in the log before the kill.
    await lsoReaches(broker.port, 4n);

    await broker.kill('SIGKILL');
    broker = await spawnBroker({ dataDir, overrides: OVERRIDES });
    const afterCrash = await view(broker.port);
    expect(afterCrash).toEqual({ lastStableOffset: 4n, listedLso: 4n, committed: ['committed-1'], aborted: [2n] });

    // The reloaded coordinator knows the open transaction's partitions: a new producer aborts it.
    const p2 = producerFor(broker.port, 'crash-a');
    await p2.connect();
    const d = await p2.transaction();
    await d.send({ topic: TOPIC, messages: [{ key: 'k', value: 'committed-2' }] });
    await d.commit();
    await p2.disconnect();
    await lsoReaches(broker.port, 8n);
    const done = await view(broker.port);
    expect(done).toEqual({
      lastStableOffset: 8n,
      listedLso: 8n,
      committed: ['committed-1', 'committed-2'],
      aborted: [2n, 4n],
    });

    // A clean stop keeps the same view (the producer snapshot carries the transactions).
    expect(await broker.kill('SIGTERM')).toBe(0);
    broker = await spawnBroker({ dataDir, overrides: OVERRIDES });
    expect(await view(broker.port)).toEqual(done);
    // The aborted transactions are in Kafka's .txnindex beside the segment: two 34-byte entries.
    const index = readFileSync(join(dataDir, `${TOPIC}-0`, '00000000000000000000.txnindex'));
    expect(index.length).toBe(68);
    expect([index.readBigInt64BE(10), index.readBigInt64BE(18)]).toEqual([2n, 3n]);
    // Three broker start-ups under tsx: many seconds each on a loaded 2-core machine.
  }, 120_000);
});
