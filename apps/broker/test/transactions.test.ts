// Transactions end to end: kafkajs's transactional producer and read_committed consumer against
// an in-process broker, and the raw protocol for what a consumer is told (LSO, aborted
// transactions). Every wait is bounded.

import {
  AddOffsetsToTxnApi,
  AddPartitionsToTxnApi,
  ApiVersionsApi,
  buildRecordBatchSync,
  CreateTopicsApi,
  DescribeProducersApi,
  DescribeTransactionsApi,
  EndTxnApi,
  ERROR_CODES,
  FetchApi,
  InitProducerIdApi,
  ListOffsetsApi,
  ListTransactionsApi,
  OffsetFetchApi,
  ProduceApi,
  TxnOffsetCommitApi,
  ZERO_UUID,
} from '@sluice/protocol';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { decodeRecords, fetchRequest, RawClient, sleep, startInProcess } from './helpers.js';

const { Kafka, logLevel } = kafkajs;
const READ_COMMITTED = 1;

let broker: RunningBroker;
let raw: RawClient;
let kafka: InstanceType<typeof Kafka>;

beforeAll(async () => {
  broker = await startInProcess({
    'transaction.state.log.num.partitions': '3',
    'offsets.topic.num.partitions': '3',
    'group.initial.rebalance.delay.ms': '0',
    'transaction.abort.timed.out.transaction.cleanup.interval.ms': '200',
  });
  raw = await RawClient.connect(broker.port);
  kafka = new Kafka({ brokers: [broker.bootstrap], clientId: 'txn-test', logLevel: logLevel.NOTHING });
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

async function createTopic(name: string, partitions = 1): Promise<void> {
  const r = await raw.send(CreateTopicsApi, 7, {
    timeoutMs: 10_000,
    validateOnly: false,
    topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }],
  });
  expect(r.topics[0].errorCode).toBe(0);
}

/** One Fetch v12 of partition 0 from `offset` in the given isolation level. */
/**
 * Polls while `pending` holds, for up to 20 s by the clock: markers, LSO moves and group joins follow
 * their answers asynchronously, and a loaded machine can take seconds. The assertions after it say what
 * was wrong if the deadline passes.
 */
async function waitWhile(pending: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await pending()) && Date.now() < deadline) await sleep(20);
}

async function fetchOnce(topic: string, isolationLevel: number, offset = 0n) {
  const res = await raw.send(
    FetchApi,
    12,
    fetchRequest(topic, [{ partition: 0, fetchOffset: offset }], { isolationLevel }),
  );
  const p = res.responses[0].partitions[0];
  return { ...p, decoded: await decodeRecords(0, p.records) };
}

/** The values of the data records a fetch returned (the test's records have no key; markers do). */
const values = (records: Awaited<ReturnType<typeof decodeRecords>>) =>
  records.filter((r) => r.key === null).map((r) => r.value?.toString());

async function latest(topic: string, isolationLevel: number): Promise<bigint> {
  const r = await raw.send(ListOffsetsApi, 7, {
    replicaId: -1,
    isolationLevel,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
  });
  return r.topics[0].partitions[0].offset;
}

async function byTime(topic: string, isolationLevel: number, timestamp: bigint): Promise<bigint> {
  const r = await raw.send(ListOffsetsApi, 7, {
    replicaId: -1,
    isolationLevel,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp }] }],
  });
  return r.topics[0].partitions[0].offset;
}

function transactionalProducer(transactionalId: string, transactionTimeout = 30_000) {
  return kafka.producer({ transactionalId, maxInFlightRequests: 1, idempotent: true, transactionTimeout });
}

describe('transactions', () => {
  it('a committed transaction is visible to read_committed only after the commit', async () => {
    await createTopic('tx-commit');
    const producer = transactionalProducer('tx-commit-1');
    await producer.connect();
    const tx = await producer.transaction();
    await tx.send({ topic: 'tx-commit', messages: [{ value: 'a' }, { value: 'b' }] });

    // Open: read_uncommitted sees the records, read_committed stops at the LSO before them.
    const uncommitted = await fetchOnce('tx-commit', 0);
    expect(values(uncommitted.decoded)).toEqual(['a', 'b']);
    expect(uncommitted.highWatermark).toBe(2n);
    expect(uncommitted.lastStableOffset).toBe(0n);
    const committedView = await fetchOnce('tx-commit', READ_COMMITTED);
    expect(committedView.decoded).toEqual([]);
    expect(committedView.lastStableOffset).toBe(0n);
    expect(await latest('tx-commit', READ_COMMITTED)).toBe(0n);
    expect(await latest('tx-commit', 0)).toBe(2n);
    // A lookup by timestamp finds nothing a read_committed consumer may read yet.
    expect(await byTime('tx-commit', READ_COMMITTED, 0n)).toBe(-1n);
    expect(await byTime('tx-commit', 0, 0n)).toBe(0n);

    await tx.commit();
    // The marker is written right after EndTxn is answered: bounded wait for the LSO to move.
    await waitWhile(async () => (await latest('tx-commit', READ_COMMITTED)) < 3n);
    const after = await fetchOnce('tx-commit', READ_COMMITTED);
    expect(after.lastStableOffset).toBe(3n);
    expect(values(after.decoded)).toEqual(['a', 'b']);
    expect(after.abortedTransactions).toEqual([]);
    await producer.disconnect();
  });

  it('an aborted transaction is never visible to a read_committed consumer', async () => {
    await createTopic('tx-abort');
    const producer = transactionalProducer('tx-abort-1');
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({ topic: 'tx-abort', messages: [{ value: 'bad-1' }, { value: 'bad-2' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({ topic: 'tx-abort', messages: [{ value: 'good' }] });
    await committed.commit();
    await producer.disconnect();
    await waitWhile(async () => (await latest('tx-abort', READ_COMMITTED)) < 5n);

    // The broker tells read_committed fetchers which producer aborted from which offset.
    const f = await fetchOnce('tx-abort', READ_COMMITTED);
    expect(f.lastStableOffset).toBe(5n);
    expect(f.abortedTransactions).toEqual([{ producerId: f.decoded[0].producerId, firstOffset: 0n }]);

    // kafkajs's consumer (read_committed by default) skips the aborted records.
    const consumer = kafka.consumer({ groupId: 'tx-abort-reader', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'tx-abort', fromBeginning: true });
    const seen: string[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value?.toString() ?? '');
      },
    });
    await waitWhile(async () => seen.length < 1);
    await sleep(200);
    await consumer.disconnect();
    expect(seen).toEqual(['good']);
  });

  it('a new producer with the same transactional id fences the old one and aborts its open transaction', async () => {
    await createTopic('tx-fence');
    const zombie = transactionalProducer('tx-fence-1');
    await zombie.connect();
    const open = await zombie.transaction();
    await open.send({ topic: 'tx-fence', messages: [{ value: 'zombie' }] });

    const successor = transactionalProducer('tx-fence-1');
    await successor.connect();
    const tx = await successor.transaction();
    await tx.send({ topic: 'tx-fence', messages: [{ value: 'successor' }] });
    await tx.commit();

    // The zombie can neither write nor commit any more.
    const err = await open.commit().then(
      () => null,
      (e: Error & { type?: string }) => e,
    );
    expect(err?.type).toMatch(/INVALID_PRODUCER_EPOCH|PRODUCER_FENCED/);
    await waitWhile(async () => (await latest('tx-fence', READ_COMMITTED)) < 4n);
    const f = await fetchOnce('tx-fence', READ_COMMITTED);
    expect(f.abortedTransactions).toHaveLength(1);
    expect(f.abortedTransactions?.[0].firstOffset).toBe(0n);
    await successor.disconnect();
    await zombie.disconnect().catch(() => {});
  });

  it('offsets sent in a transaction become the group offsets only on commit', async () => {
    await createTopic('tx-offsets');
    const producer = transactionalProducer('tx-offsets-1');
    await producer.connect();
    const fetchGroup = async (requireStable: boolean) => {
      const r = await raw.send(OffsetFetchApi, 7, {
        groupId: 'tx-group',
        topics: [{ name: 'tx-offsets', partitionIndexes: [0] }],
        requireStable,
      });
      return r.topics[0].partitions[0];
    };
    const aborted = await producer.transaction();
    await aborted.sendOffsets({
      consumerGroupId: 'tx-group',
      topics: [{ topic: 'tx-offsets', partitions: [{ partition: 0, offset: '7' }] }],
    });
    expect((await fetchGroup(true)).errorCode).toBe(ERROR_CODES.UNSTABLE_OFFSET_COMMIT);
    await aborted.abort();
    await waitWhile(async () => (await fetchGroup(true)).errorCode !== 0);
    expect(await fetchGroup(true)).toMatchObject({ errorCode: 0, committedOffset: -1n });

    const committed = await producer.transaction();
    await committed.sendOffsets({
      consumerGroupId: 'tx-group',
      topics: [{ topic: 'tx-offsets', partitions: [{ partition: 0, offset: '9' }] }],
    });
    expect((await fetchGroup(false)).committedOffset).toBe(-1n);
    await committed.commit();
    await waitWhile(async () => (await fetchGroup(true)).committedOffset !== 9n);
    expect(await fetchGroup(true)).toMatchObject({ errorCode: 0, committedOffset: 9n });
    await producer.disconnect();
  });

  it('the coordinator aborts a transaction past its timeout and fences its producer', async () => {
    await createTopic('tx-timeout');
    const producer = transactionalProducer('tx-timeout-1', 1000);
    await producer.connect();
    const tx = await producer.transaction();
    await tx.send({ topic: 'tx-timeout', messages: [{ value: 'late' }] });
    expect(await latest('tx-timeout', READ_COMMITTED)).toBe(0n);
    // Timeout 1 s, checked every 200 ms: aborted within a few seconds (bounded).
    await waitWhile(async () => (await latest('tx-timeout', READ_COMMITTED)) < 2n);
    expect(await latest('tx-timeout', READ_COMMITTED)).toBe(2n);
    const f = await fetchOnce('tx-timeout', READ_COMMITTED);
    expect(f.abortedTransactions).toHaveLength(1);
    const err = await tx.commit().then(
      () => null,
      (e: Error & { type?: string }) => e,
    );
    expect(err?.type).toMatch(/INVALID_PRODUCER_EPOCH|PRODUCER_FENCED/);
    await producer.disconnect().catch(() => {});
  });

  it('raw: a transactional batch for a partition not in the transaction is refused (KIP-890 part 1); describe and list show the transaction', async () => {
    await createTopic('tx-raw');
    const init = await raw.send(InitProducerIdApi, 4, {
      transactionalId: 'raw-1',
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect(init.errorCode).toBe(0);
    const who = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    const produce = (baseSequence: number) =>
      raw.send(ProduceApi, 9, {
        transactionalId: 'raw-1',
        acks: -1,
        timeoutMs: 5000,
        topicData: [
          {
            name: 'tx-raw',
            topicId: ZERO_UUID,
            partitionData: [
              {
                index: 0,
                records: buildRecordBatchSync({
                  records: [{ value: 'v' }],
                  ...who,
                  baseSequence,
                  isTransactional: true,
                }),
              },
            ],
          },
        ],
      });
    // Not added to a transaction: refused, nothing stored, the LSO not held back.
    expect((await produce(0)).responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.INVALID_TXN_STATE);
    expect(await latest('tx-raw', 0)).toBe(0n);
    const added = await raw.send(AddPartitionsToTxnApi, 3, {
      v3AndBelowTransactionalId: 'raw-1',
      v3AndBelowProducerId: who.producerId,
      v3AndBelowProducerEpoch: who.producerEpoch,
      v3AndBelowTopics: [{ name: 'tx-raw', partitions: [0] }],
    });
    expect(added.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(0);
    expect((await produce(0)).responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 0n });

    const described = await raw.send(DescribeTransactionsApi, 0, { transactionalIds: ['raw-1', 'nobody'] });
    expect(described.transactionStates[0]).toMatchObject({
      errorCode: 0,
      transactionState: 'Ongoing',
      producerId: who.producerId,
      topics: [{ topic: 'tx-raw', partitions: [0] }],
    });
    expect(described.transactionStates[1].errorCode).toBe(ERROR_CODES.TRANSACTIONAL_ID_NOT_FOUND);
    const listed = await raw.send(ListTransactionsApi, 1, {
      stateFilters: ['Ongoing', 'Bogus'],
      producerIdFilters: [],
      durationFilter: -1n,
    });
    expect(listed.unknownStateFilters).toEqual(['Bogus']);
    expect(listed.transactionStates.map((t) => t.transactionalId)).toContain('raw-1');
    const producers = async () =>
      (await raw.send(DescribeProducersApi, 0, { topics: [{ name: 'tx-raw', partitionIndexes: [0] }] })).topics[0]
        .partitions[0].activeProducers[0];
    expect((await producers()).currentTxnStartOffset).toBe(0n);

    const ended = await raw.send(EndTxnApi, 3, { transactionalId: 'raw-1', ...who, committed: false });
    expect(ended.errorCode).toBe(0);
    await waitWhile(async () => (await latest('tx-raw', READ_COMMITTED)) < 2n);
    expect((await producers()).currentTxnStartOffset).toBe(-1n);
    // EndTxn for the wrong epoch: PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before.
    const stale = {
      transactionalId: 'raw-1',
      producerId: who.producerId,
      producerEpoch: who.producerEpoch - 1,
      committed: true,
    };
    expect((await raw.send(EndTxnApi, 3, stale)).errorCode).toBe(ERROR_CODES.PRODUCER_FENCED);
    expect((await raw.send(EndTxnApi, 1, stale)).errorCode).toBe(ERROR_CODES.INVALID_PRODUCER_EPOCH);
  });

  it('raw: TxnOffsetCommit needs the group in the transaction (AddOffsetsToTxn) and the current epoch', async () => {
    await createTopic('tx-raw-offsets');
    const init = await raw.send(InitProducerIdApi, 4, {
      transactionalId: 'raw-offsets',
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    const commit = async (producerEpoch: number) =>
      (
        await raw.send(TxnOffsetCommitApi, 3, {
          transactionalId: 'raw-offsets',
          groupId: 'raw-offsets-group',
          producerId: init.producerId,
          producerEpoch,
          generationIdOrMemberEpoch: -1,
          memberId: '',
          groupInstanceId: null,
          topics: [
            {
              name: 'tx-raw-offsets',
              topicId: ZERO_UUID,
              partitions: [{ partitionIndex: 0, committedOffset: 5n, committedLeaderEpoch: -1, committedMetadata: '' }],
            },
          ],
        })
      ).topics[0].partitions[0].errorCode;
    expect(await commit(init.producerEpoch)).toBe(ERROR_CODES.INVALID_TXN_STATE);
    const added = await raw.send(AddOffsetsToTxnApi, 3, {
      transactionalId: 'raw-offsets',
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      groupId: 'raw-offsets-group',
    });
    expect(added.errorCode).toBe(0);
    expect(await commit(init.producerEpoch - 1)).toBe(ERROR_CODES.INVALID_PRODUCER_EPOCH);
    expect(await commit(init.producerEpoch)).toBe(0);
  });

  it('raw: transactions V2 (KIP-890 part 2) — feature finalized in ApiVersions, Produce v12 and TxnOffsetCommit v5 add to the transaction, EndTxn v5 bumps the epoch', async () => {
    const versions = await raw.send(ApiVersionsApi, 3, {
      clientSoftwareName: 'test',
      clientSoftwareVersion: '1',
    });
    expect(versions.finalizedFeatures).toContainEqual(
      expect.objectContaining({ name: 'transaction.version', minVersionLevel: 2, maxVersionLevel: 2 }),
    );
    // A range from 0 only from v4 on, as Kafka (KAFKA-17011).
    expect(versions.supportedFeatures).toEqual([]);
    const v4 = await raw.send(ApiVersionsApi, 4, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    expect(v4.supportedFeatures).toEqual([{ name: 'transaction.version', minVersion: 0, maxVersion: 2 }]);
    expect(versions.apiKeys.find((a) => a.apiKey === EndTxnApi.apiKey)?.maxVersion).toBe(5);
    await createTopic('tx-v2');
    const init = await raw.send(InitProducerIdApi, 5, {
      transactionalId: 'raw-v2',
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect(init.errorCode).toBe(0);
    const produce = (producerEpoch: number, value: string) =>
      raw.send(ProduceApi, 12, {
        transactionalId: 'raw-v2',
        acks: -1,
        timeoutMs: 5000,
        topicData: [
          {
            name: 'tx-v2',
            topicId: ZERO_UUID,
            partitionData: [
              {
                index: 0,
                records: buildRecordBatchSync({
                  records: [{ value }],
                  producerId: init.producerId,
                  producerEpoch,
                  baseSequence: 0,
                  isTransactional: true,
                }),
              },
            ],
          },
        ],
      });
    // No AddPartitionsToTxn: the leader adds the partition (v11 would be refused, as above).
    expect((await produce(init.producerEpoch, 'first')).responses[0].partitionResponses[0].errorCode).toBe(0);
    const offsets = await raw.send(TxnOffsetCommitApi, 5, {
      transactionalId: 'raw-v2',
      groupId: 'raw-v2-group',
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [
        {
          name: 'tx-v2',
          topicId: ZERO_UUID,
          partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' }],
        },
      ],
    });
    expect(offsets.topics[0].partitions[0].errorCode).toBe(0);
    const described = await raw.send(DescribeTransactionsApi, 0, { transactionalIds: ['raw-v2'] });
    expect(described.transactionStates[0].topics.map((t) => t.topic).sort()).toEqual(['__consumer_offsets', 'tx-v2']);
    const ended = await raw.send(EndTxnApi, 5, {
      transactionalId: 'raw-v2',
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      committed: true,
    });
    expect(ended).toMatchObject({ errorCode: 0, producerId: init.producerId, producerEpoch: init.producerEpoch + 1 });
    await waitWhile(async () => (await latest('tx-v2', READ_COMMITTED)) < 2n);
    const read = await fetchOnce('tx-v2', READ_COMMITTED);
    // The marker carries the bumped epoch.
    const marker = read.decoded.find((r) => r.key !== null);
    expect(marker).toBeDefined();
    expect(values(read.decoded)).toEqual(['first']);
    // The old epoch is fenced; the next transaction goes on under the new one from sequence 0.
    expect((await produce(init.producerEpoch, 'zombie')).responses[0].partitionResponses[0].errorCode).toBe(
      ERROR_CODES.INVALID_PRODUCER_EPOCH,
    );
    expect((await produce(ended.producerEpoch, 'second')).responses[0].partitionResponses[0].errorCode).toBe(0);
  });
});

describe('compaction of a transactional topic', () => {
  it('an aborted transaction leaves what fetches are told once compaction removed its data, before its marker goes: later commits of the producer stay visible', async () => {
    const name = 'tx-compacted';
    const r = await raw.send(CreateTopicsApi, 7, {
      timeoutMs: 10_000,
      validateOnly: false,
      topics: [
        {
          name,
          numPartitions: 1,
          replicationFactor: 1,
          assignments: [],
          configs: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'delete.retention.ms', value: '1000' },
            { name: 'min.cleanable.dirty.ratio', value: '0.01' },
            // The broker's own maintenance (at the real time) never finds this topic due; the passes
            // below run with a clock days ahead.
            { name: 'min.compaction.lag.ms', value: String(24 * 3600_000) },
          ],
        },
      ],
    });
    expect(r.topics[0].errorCode).toBe(0);
    const log = () => broker.context.topics.get(name)!.partitions[0]!.log;
    const settle = async () => {
      await waitWhile(async () => (await latest(name, READ_COMMITTED)) < log().logEndOffset);
      expect(await latest(name, READ_COMMITTED)).toBe(log().logEndOffset);
      log().roll();
    };
    const producer = transactionalProducer('tx-compacted-1');
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({ topic: name, messages: [{ key: 'a', value: 'aborted' }] });
    await aborted.abort();
    await settle();
    for (const value of ['committed-1', 'committed-2']) {
      const tx = await producer.transaction();
      await tx.send({ topic: name, messages: [{ key: value, value }] });
      await tx.commit();
      await settle();
    }
    expect((await fetchOnce(name, READ_COMMITTED)).abortedTransactions).toHaveLength(1);

    // Pass 1 removes the aborted data; pass 2 (run as new data came) finds its transaction empty:
    // the index entry goes, the marker gets its delete horizon; pass 3, past delete.retention.ms and
    // with nothing new, removes the marker.
    const day = 24 * 3600_000;
    await broker.context.logs.startCleaning(Date.now() + 2 * day);
    const tx = await producer.transaction();
    await tx.send({ topic: name, messages: [{ key: 'committed-3', value: 'committed-3' }] });
    await tx.commit();
    await settle();
    await producer.disconnect();
    await broker.context.logs.startCleaning(Date.now() + 2 * day);
    expect((await fetchOnce(name, READ_COMMITTED)).abortedTransactions).toEqual([]);
    await broker.context.logs.startCleaning(Date.now() + 3 * day);
    const res = await fetchOnce(name, READ_COMMITTED);
    expect(res.decoded.map((x) => x.value?.toString())).not.toContain('aborted');
    // The abort marker is gone: had the fetch still named the aborted transaction, a consumer would
    // skip every later transactional batch of that producer until its next abort marker.
    expect(res.abortedTransactions).toEqual([]);
    expect(
      res.decoded.filter((x) => x.key?.toString().startsWith('committed')).map((x) => x.value?.toString()),
    ).toEqual(['committed-1', 'committed-2', 'committed-3']);
    // The abort marker (offset 1) is gone; the commit markers stay, their transactions still have data.
    expect(res.decoded.filter((x) => x.key?.length === 4).map((x) => x.offset)).toEqual([3n, 5n, 7n]);
  });
});
