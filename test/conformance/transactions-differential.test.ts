import {
  AddOffsetsToTxnApi,
  AddPartitionsToTxnApi,
  ApiVersionsApi,
  buildRecordBatchSync,
  DescribeTransactionsApi,
  EndTxnApi,
  FindCoordinatorApi,
  InitProducerIdApi,
  ListTransactionsApi,
  ProduceApi,
  TxnOffsetCommitApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, startKafka, startSluice } from './brokers.js';
import { createTopic, type Side } from './scripts.js';
import { WireClient } from './wire-client.js';

// The transaction APIs' answers on their error paths, the same script against Sluice and Apache Kafka:
// bad timeouts, unknown ids, wrong producer ids and epochs (at a version before and after
// PRODUCER_FENCED), EndTxn in every state, fencing by a new InitProducerId, unknown partitions,
// TxnOffsetCommit outside the transaction, DescribeTransactions/ListTransactions. Error codes and
// states are compared (producer ids differ by nature). Run with `npm run test:conformance`.

/** Codes a coordinator answers while it starts or finishes a transaction: retried, bounded. */
const TRANSIENT = new Set([14, 15, 16, 51]);

async function retrying<T>(call: () => Promise<T>, codeOf: (r: T) => number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const r = await call();
    if (!TRANSIENT.has(codeOf(r)) || attempt >= 100) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function script(s: Side): Promise<Record<string, unknown>> {
  const c = s.client;
  await createTopic(s, 'txd');
  const out: Record<string, unknown> = {};
  const found = await retrying(
    () => c.send(FindCoordinatorApi, 3, { ...FindCoordinatorApi.request.defaults(), key: 'txd-1', keyType: 1 }),
    (r) => r.errorCode,
  );
  out.findCoordinator = found.errorCode;
  const init = (tid: string, timeout: number, version = 4, producerId = -1n, producerEpoch = -1) =>
    retrying(
      () =>
        c.send(InitProducerIdApi, version, {
          ...InitProducerIdApi.request.defaults(),
          transactionalId: tid,
          transactionTimeoutMs: timeout,
          producerId,
          producerEpoch,
        }),
      (r) => r.errorCode,
    );
  out.badTimeout = (await init('txd-1', 0)).errorCode;
  out.tooLongTimeout = (await init('txd-1', 3_600_000)).errorCode;
  const first = await init('txd-1', 60_000);
  out.init = [first.errorCode, first.producerEpoch];
  const add = (version: number, tid: string, producerId: bigint, producerEpoch: number, topic = 'txd') =>
    retrying(
      () =>
        c.send(AddPartitionsToTxnApi, version, {
          ...AddPartitionsToTxnApi.request.defaults(),
          v3AndBelowTransactionalId: tid,
          v3AndBelowProducerId: producerId,
          v3AndBelowProducerEpoch: producerEpoch,
          v3AndBelowTopics: [{ name: topic, partitions: [0] }],
        }),
      (r) => r.resultsByTopicV3AndBelow[0]?.resultsByPartition[0]?.partitionErrorCode ?? -2,
    ).then((r) => r.resultsByTopicV3AndBelow.map((t) => t.resultsByPartition.map((p) => p.partitionErrorCode)));
  const end = (version: number, producerEpoch: number, committed: boolean, producerId = first.producerId) =>
    c
      .send(EndTxnApi, version, {
        ...EndTxnApi.request.defaults(),
        transactionalId: 'txd-1',
        producerId,
        producerEpoch,
        committed,
      })
      .then((r) => r.errorCode);
  const endRetrying = (version: number, producerEpoch: number, committed: boolean) =>
    retrying(
      () => end(version, producerEpoch, committed),
      (code) => code,
    );
  out.endWithoutTxn = await end(3, first.producerEpoch, true);
  out.addUnknownId = await add(3, 'txd-nobody', first.producerId, first.producerEpoch);
  out.addWrongProducer = await add(3, 'txd-1', first.producerId + 1000n, first.producerEpoch);
  out.addWrongEpochV3 = await add(3, 'txd-1', first.producerId, first.producerEpoch + 1);
  out.addWrongEpochV1 = await add(1, 'txd-1', first.producerId, first.producerEpoch + 1);
  out.addUnknownTopic = await add(3, 'txd-1', first.producerId, first.producerEpoch, 'txd-missing');
  // The group's coordinator first (Kafka creates __consumer_offsets on this lookup).
  out.findGroupCoordinator = (
    await retrying(
      () => c.send(FindCoordinatorApi, 3, { ...FindCoordinatorApi.request.defaults(), key: 'txd-group', keyType: 0 }),
      (r) => r.errorCode,
    )
  ).errorCode;
  const txnOffsetCommit = () =>
    c.send(TxnOffsetCommitApi, 3, {
      ...TxnOffsetCommitApi.request.defaults(),
      transactionalId: 'txd-1',
      groupId: 'txd-group',
      producerId: first.producerId,
      producerEpoch: first.producerEpoch,
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [
        {
          name: 'txd',
          topicId: ZERO_UUID,
          partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' }],
        },
      ],
    });
  out.txnOffsetsOutsideTxn = (
    await retrying(txnOffsetCommit, (r) => r.topics[0]?.partitions[0]?.errorCode ?? -2)
  ).topics[0].partitions[0].errorCode;
  out.add = await add(3, 'txd-1', first.producerId, first.producerEpoch);
  out.addOffsets = (
    await retrying(
      () =>
        c.send(AddOffsetsToTxnApi, 3, {
          transactionalId: 'txd-1',
          producerId: first.producerId,
          producerEpoch: first.producerEpoch,
          groupId: 'txd-group',
        }),
      (r) => r.errorCode,
    )
  ).errorCode;
  const described = await c.send(DescribeTransactionsApi, 0, { transactionalIds: ['txd-1', 'txd-nobody'] });
  out.described = described.transactionStates.map((t) => [
    t.errorCode,
    t.transactionState,
    t.transactionTimeoutMs,
    t.topics.map((x) => x.topic).sort(),
  ]);
  const listed = await c.send(ListTransactionsApi, 1, {
    ...ListTransactionsApi.request.defaults(),
    stateFilters: ['Ongoing', 'NoSuchState'],
    producerIdFilters: [],
    durationFilter: -1n,
  });
  out.listed = [listed.errorCode, listed.unknownStateFilters, listed.transactionStates.map((t) => t.transactionState)];
  out.commit = await endRetrying(3, first.producerEpoch, true);
  out.commitAgain = await endRetrying(3, first.producerEpoch, true);
  out.abortAfterCommit = await end(3, first.producerEpoch, false);
  out.endWrongEpochV3 = await end(3, first.producerEpoch - 1, true);
  out.endWrongEpochV1 = await end(1, first.producerEpoch - 1, true);
  out.endWrongProducer = await end(3, first.producerEpoch, true, first.producerId + 1000n);
  // A new InitProducerId with an open transaction: it is aborted, the epoch bumped twice, the old producer fenced.
  await add(3, 'txd-1', first.producerId, first.producerEpoch);
  const second = await init('txd-1', 60_000);
  out.reinit = [second.errorCode, second.producerEpoch - first.producerEpoch];
  out.oldProducerAdds = await add(3, 'txd-1', first.producerId, first.producerEpoch);
  // KIP-360: the current producer asks for a bump with its id and epoch; a stale epoch is fenced.
  const bumped = await init('txd-1', 60_000, 4, second.producerId, second.producerEpoch);
  out.kip360 = [bumped.errorCode, bumped.producerEpoch - second.producerEpoch];
  out.kip360Stale = (await init('txd-1', 60_000, 4, second.producerId, first.producerEpoch)).errorCode;
  out.kip360StaleV3 = (await init('txd-1', 60_000, 3, second.producerId, first.producerEpoch)).errorCode;
  return out;
}

/** Transactions V2 (KIP-890 part 2): the feature, Produce v12 adding the partition, EndTxn v5's epoch bump and its retries. */
async function scriptV2(s: Side): Promise<Record<string, unknown>> {
  const c = s.client;
  await createTopic(s, 'txv2');
  const out: Record<string, unknown> = {};
  for (const version of [3, 4]) {
    const versions = await c.send(ApiVersionsApi, version, {
      ...ApiVersionsApi.request.defaults(),
      clientSoftwareName: 'conformance',
      clientSoftwareVersion: '1',
    });
    out[`supportedV${version}`] = versions.supportedFeatures.filter((f) => f.name === 'transaction.version');
    out[`finalizedV${version}`] = versions.finalizedFeatures.filter((f) => f.name === 'transaction.version');
    out.endTxnMax = versions.apiKeys.find((a) => a.apiKey === EndTxnApi.apiKey)?.maxVersion;
  }
  // Kafka creates __transaction_state and __consumer_offsets on the first lookups.
  for (const [key, keyType] of [
    ['txv2-1', 1],
    ['txv2-group', 0],
  ] as const) {
    await retrying(
      () => c.send(FindCoordinatorApi, 3, { ...FindCoordinatorApi.request.defaults(), key, keyType }),
      (r) => r.errorCode,
    );
  }
  const init = await retrying(
    () =>
      c.send(InitProducerIdApi, 5, {
        ...InitProducerIdApi.request.defaults(),
        transactionalId: 'txv2-1',
        transactionTimeoutMs: 60_000,
        producerId: -1n,
        producerEpoch: -1,
      }),
    (r) => r.errorCode,
  );
  const base = init.producerEpoch;
  const sequences = new Map<number, number>();
  const produce = (producerEpoch: number) =>
    retrying(
      () =>
        c
          .send(ProduceApi, 12, {
            ...ProduceApi.request.defaults(),
            transactionalId: 'txv2-1',
            acks: -1,
            timeoutMs: 10_000,
            topicData: [
              {
                name: 'txv2',
                topicId: ZERO_UUID,
                partitionData: [
                  {
                    index: 0,
                    records: buildRecordBatchSync({
                      records: [{ value: 'v' }],
                      producerId: init.producerId,
                      producerEpoch,
                      baseSequence: sequences.get(producerEpoch) ?? 0,
                      isTransactional: true,
                    }),
                  },
                ],
              },
            ],
          })
          .then((r) => r.responses[0].partitionResponses[0].errorCode),
      // NOT_ENOUGH_REPLICAS: the coordinator still writes the previous transaction's markers.
      (code) => (code === 19 ? 51 : code),
    ).then((code) => {
      if (code === 0) sequences.set(producerEpoch, (sequences.get(producerEpoch) ?? 0) + 1);
      return code;
    });
  const end = async (producerEpoch: number, committed: boolean) => {
    const r = await retrying(
      () =>
        c.send(EndTxnApi, 5, {
          ...EndTxnApi.request.defaults(),
          transactionalId: 'txv2-1',
          producerId: init.producerId,
          producerEpoch,
          committed,
        }),
      (x) => x.errorCode,
    );
    return [
      r.errorCode,
      r.producerEpoch < 0 ? r.producerEpoch : r.producerEpoch - base,
      r.producerId === init.producerId,
    ];
  };
  expect(init.errorCode).toBe(0);
  out.produceWithoutAdd = await produce(base);
  out.commit = await end(base, true);
  out.commitRetried = await end(base, true);
  out.abortRetried = await end(base, false);
  out.commitNewEpochNothingOpen = await end(base + 1, true);
  out.abortNewEpochNothingOpen = await end(base + 1, false);
  out.endStaleEpoch = await end(base - 1, true);
  out.produceOldEpoch = await produce(base);
  out.produceNewEpoch = await produce(base + 1);
  out.offsetsWithoutAddOffsets = (
    await retrying(
      () =>
        c.send(TxnOffsetCommitApi, 5, {
          ...TxnOffsetCommitApi.request.defaults(),
          transactionalId: 'txv2-1',
          groupId: 'txv2-group',
          producerId: init.producerId,
          producerEpoch: base + 1,
          generationIdOrMemberEpoch: -1,
          memberId: '',
          groupInstanceId: null,
          topics: [
            {
              name: 'txv2',
              topicId: ZERO_UUID,
              partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' }],
            },
          ],
        }),
      (r) => r.topics[0]?.partitions[0]?.errorCode ?? -2,
    )
  ).topics[0].partitions[0].errorCode;
  const described = await c.send(DescribeTransactionsApi, 0, { transactionalIds: ['txv2-1'] });
  out.described = described.transactionStates.map((t) => [t.transactionState, t.topics.map((x) => x.topic).sort()]);
  out.abort = await end(base + 1, false);
  return out;
}

/**
 * Sequence numbers around a refused batch in a transaction (Produce v11, as @sluice/client and Java
 * before transactions V2 send): MESSAGE_TOO_LARGE leaves a gap the next batch is refused for
 * (OUT_OF_ORDER_SEQUENCE_NUMBER) until it is filled; after an abort, an InitProducerId bump on the
 * current id and epoch (KIP-360) lets the producer start over at sequence 0, and the old epoch is fenced.
 */
async function scriptSequences(s: Side): Promise<Record<string, unknown>> {
  const c = s.client;
  await createTopic(s, 'txseq', { configs: { 'max.message.bytes': '2000' } });
  const out: Record<string, unknown> = {};
  const tid = 'txseq-1';
  await retrying(
    () => c.send(FindCoordinatorApi, 3, { ...FindCoordinatorApi.request.defaults(), key: tid, keyType: 1 }),
    (r) => r.errorCode,
  );
  const init = (producerId = -1n, producerEpoch = -1) =>
    retrying(
      () =>
        c.send(InitProducerIdApi, 4, {
          ...InitProducerIdApi.request.defaults(),
          transactionalId: tid,
          transactionTimeoutMs: 60_000,
          producerId,
          producerEpoch,
        }),
      (r) => r.errorCode,
    );
  const first = await init();
  const add = (producerEpoch: number) =>
    retrying(
      () =>
        c.send(AddPartitionsToTxnApi, 3, {
          ...AddPartitionsToTxnApi.request.defaults(),
          v3AndBelowTransactionalId: tid,
          v3AndBelowProducerId: first.producerId,
          v3AndBelowProducerEpoch: producerEpoch,
          v3AndBelowTopics: [{ name: 'txseq', partitions: [0] }],
        }),
      (r) => r.resultsByTopicV3AndBelow[0]?.resultsByPartition[0]?.partitionErrorCode ?? -2,
    ).then((r) => r.resultsByTopicV3AndBelow[0]?.resultsByPartition[0]?.partitionErrorCode);
  const produce = (producerEpoch: number, baseSequence: number, value = 'v') =>
    retrying(
      () =>
        c
          .send(ProduceApi, 11, {
            ...ProduceApi.request.defaults(),
            transactionalId: tid,
            acks: -1,
            timeoutMs: 10_000,
            topicData: [
              {
                name: 'txseq',
                topicId: ZERO_UUID,
                partitionData: [
                  {
                    index: 0,
                    records: buildRecordBatchSync({
                      records: [{ value }],
                      producerId: first.producerId,
                      producerEpoch,
                      baseSequence,
                      isTransactional: true,
                    }),
                  },
                ],
              },
            ],
          })
          .then((r) => r.responses[0].partitionResponses[0].errorCode),
      // NOT_ENOUGH_REPLICAS: the partition's transaction verification is still in progress.
      (code) => (code === 19 ? 51 : code),
    );
  const e0 = first.producerEpoch;
  out.init = first.errorCode;
  out.add = await add(e0);
  out.first = await produce(e0, 0);
  out.tooLarge = await produce(e0, 1, 'x'.repeat(5000));
  out.afterGap = await produce(e0, 2);
  out.gapFilled = await produce(e0, 1);
  out.next = await produce(e0, 2);
  out.abort = await retrying(
    () =>
      c.send(EndTxnApi, 4, {
        ...EndTxnApi.request.defaults(),
        transactionalId: tid,
        producerId: first.producerId,
        producerEpoch: e0,
        committed: false,
      }),
    (r) => r.errorCode,
  ).then((r) => r.errorCode);
  const bumped = await init(first.producerId, e0);
  out.bump = [bumped.errorCode, bumped.producerEpoch - e0, bumped.producerId === first.producerId];
  out.addNewEpoch = await add(bumped.producerEpoch);
  out.newEpochFromZero = await produce(bumped.producerEpoch, 0);
  out.newEpochGap = await produce(bumped.producerEpoch, 5);
  out.oldEpoch = await produce(e0, 3);
  return out;
}

let sluice: BrokerUnderTest | undefined;
let kafka: BrokerUnderTest | undefined;
const sides: Side[] = [];

beforeAll(async () => {
  [sluice, kafka] = await Promise.all([startSluice(), startKafka()]);
  for (const b of [sluice, kafka]) {
    const client = await WireClient.connect(b.port, b.kind);
    sides.push({ broker: b, client, connect: (id) => WireClient.connect(b.port, b.kind, id) });
  }
}, 240_000);

afterAll(async () => {
  for (const s of sides) s.client.close();
  await Promise.all([sluice?.stop(), kafka?.stop()]);
});

describe('transaction APIs, differential', () => {
  it('answer as Kafka does on every error path', async () => {
    const [fromSluice, fromKafka] = await Promise.all(sides.map((s) => script(s)));
    expect(fromSluice).toEqual(fromKafka);
  }, 180_000);

  it('transactions V2 (KIP-890 part 2): feature, Produce v12, EndTxn v5 epoch bumps and retries as Kafka', async () => {
    const [fromSluice, fromKafka] = await Promise.all(sides.map((s) => scriptV2(s)));
    expect(fromSluice).toEqual(fromKafka);
  }, 180_000);

  it('sequence numbers around a refused batch, and after an abort and a KIP-360 epoch bump, as Kafka', async () => {
    const [fromSluice, fromKafka] = await Promise.all(sides.map((s) => scriptSequences(s)));
    expect(fromSluice).toEqual(fromKafka);
  }, 180_000);
});
