// Transactions across brokers: three `sluice broker` processes on an etcd of their own, a topic
// whose three partitions are led by the three brokers, and a transactional producer speaking the
// raw protocol. The coordinator sends WriteTxnMarkers to the other leaders, leaders ask the
// coordinator's broker to verify a first transactional batch (KIP-890 part 1), and when the
// coordinator's broker is SIGKILLed the broker that takes over its `__transaction_state`
// partition finishes each transaction in the direction decided. Bounded: leases of 3 s, every
// wait has a deadline.

import { LocalEtcd } from '@sluice/cluster';
import {
  AddPartitionsToTxnApi,
  buildRecordBatchSync,
  CreateTopicsApi,
  EndTxnApi,
  ERROR_CODES,
  FetchApi,
  FindCoordinatorApi,
  InitProducerIdApi,
  iterateBatches,
  MetadataApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, fetchRequest, RawClient, sleep, spawnBroker, tempDir } from './helpers.js';

const SESSION_MS = 3000;
const TOPIC = 'txn-cluster';
const READ_COMMITTED = 1;
const OVERRIDES = {
  'broker.session.timeout.ms': String(SESSION_MS),
  'offsets.topic.num.partitions': '1',
  'transaction.state.log.num.partitions': '3',
  // The state topic replicated on all three (a new coordinator loads what the old one wrote).
  'transaction.state.log.replication.factor': '3',
  'default.replication.factor': '3',
  'transaction.abort.timed.out.transaction.cleanup.interval.ms': '300',
};

interface Node {
  id: number;
  dataDir: string;
  process: BrokerProcess | null;
  client: RawClient | null;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(100);
  }
}

/** What a read_committed consumer keeps of a fetch: aborted transactions' records and markers skipped. */
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

describe('transactions across a 3-broker cluster', { timeout: 180_000 }, () => {
  let etcd: LocalEtcd;
  let metadataUri: string;
  const nodes: Node[] = [];

  const start = async (node: Node) => {
    node.process = await spawnBroker({
      dataDir: node.dataDir,
      args: ['--node-id', String(node.id), '--metadata', metadataUri],
      overrides: OVERRIDES,
      timeoutMs: 60_000,
    });
    node.client = await RawClient.connect(node.process.port);
  };
  const live = () => nodes.filter((n) => n.client !== null);
  const clientOf = (id: number) => {
    const c = nodes.find((n) => n.id === id)?.client;
    if (!c) throw new Error(`broker ${id} is not running`);
    return c;
  };
  const metadata = (c: RawClient) =>
    c.send(MetadataApi, 12, {
      topics: [{ name: TOPIC, topicId: ZERO_UUID }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
  /** The leader of each partition, once every partition has a live one. */
  const leaders = () =>
    until('every partition led by a live broker', async () => {
      const md = await metadata(live()[0].client!);
      const ls = md.topics[0].partitions.sort((a, b) => a.partitionIndex - b.partitionIndex).map((p) => p.leaderId);
      return ls.length === 3 && ls.every((l) => live().some((n) => n.id === l)) && ls;
    });
  const coordinatorOf = (transactionalId: string) =>
    until(`a coordinator for ${transactionalId}`, async () => {
      const r = await live()[0].client!.send(FindCoordinatorApi, 4, {
        key: '',
        keyType: 1,
        coordinatorKeys: [transactionalId],
      });
      const c = r.coordinators[0];
      return c.errorCode === 0 && live().some((n) => n.id === c.nodeId) && c.nodeId;
    });

  /** A raw transactional producer: id and epoch, and its next sequence per partition. */
  const producer = async (transactionalId: string, transactionTimeoutMs = 60_000) => {
    const coordinator = await coordinatorOf(transactionalId);
    const init = await until(`InitProducerId for ${transactionalId}`, async () => {
      const r = await clientOf(coordinator).send(InitProducerIdApi, 4, {
        transactionalId,
        transactionTimeoutMs,
        producerId: -1n,
        producerEpoch: -1,
      });
      return r.errorCode === 0 && r;
    });
    const who = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    const sequences = [0, 0, 0];
    return {
      who,
      coordinator,
      /** Adds partitions, retrying while the previous transaction's markers are written (CONCURRENT_TRANSACTIONS), as clients do. */
      add: (partitions: number[]) =>
        until(`partitions ${partitions} in ${transactionalId}`, async () => {
          const r = await clientOf(coordinator).send(AddPartitionsToTxnApi, 3, {
            v3AndBelowTransactionalId: transactionalId,
            v3AndBelowProducerId: who.producerId,
            v3AndBelowProducerEpoch: who.producerEpoch,
            v3AndBelowTopics: [{ name: TOPIC, partitions }],
          });
          const codes = r.resultsByTopicV3AndBelow[0].resultsByPartition.map((p) => p.partitionErrorCode);
          if (codes.every((c) => c === ERROR_CODES.CONCURRENT_TRANSACTIONS)) return false;
          expect(codes).toEqual(partitions.map(() => 0));
          return true;
        }),
      /** One transactional batch to the partition's leader; the produce error code. */
      send: async (leader: number, partition: number, values: string[]) => {
        const r = await clientOf(leader).send(ProduceApi, 11, {
          transactionalId,
          acks: -1,
          timeoutMs: 10_000,
          topicData: [
            {
              name: TOPIC,
              topicId: ZERO_UUID,
              partitionData: [
                {
                  index: partition,
                  records: buildRecordBatchSync({
                    records: values.map((value) => ({ value })),
                    ...who,
                    baseSequence: sequences[partition],
                    isTransactional: true,
                  }),
                },
              ],
            },
          ],
        });
        const code = r.responses[0].partitionResponses[0].errorCode;
        if (code === 0) sequences[partition] += values.length;
        return code;
      },
      end: async (committed: boolean) =>
        (await clientOf(coordinator).send(EndTxnApi, 3, { transactionalId, ...who, committed })).errorCode,
    };
  };

  /** One partition as a read_committed consumer sees it on its leader, once nothing is open there (LSO = HW). */
  const settled = (partition: number) =>
    until(`${TOPIC}-${partition} with no open transaction`, async () => {
      const ls = await leaders();
      const res = await clientOf(ls[partition]).send(
        FetchApi,
        12,
        fetchRequest(TOPIC, [{ partition, fetchOffset: 0n }], { isolationLevel: READ_COMMITTED }),
      );
      const p = res.responses[0].partitions[0];
      if (p.errorCode !== 0 || p.lastStableOffset !== p.highWatermark) return false;
      return committedValues(p.records, p.abortedTransactions ?? []);
    });

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    metadataUri = `etcd://${etcd.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
    for (const id of [1, 2, 3])
      nodes.push({ id, dataDir: tempDir(`sluice-txn-cluster-${id}-`), process: null, client: null });
    await Promise.all(nodes.map(start));
    await until('three brokers in Metadata', async () => (await metadata(nodes[0].client!)).brokers.length === 3);
    const created = await nodes[0].client!.send(CreateTopicsApi, 7, {
      topics: [
        {
          name: TOPIC,
          numPartitions: -1,
          replicationFactor: -1,
          // Partition p led by broker p + 1, replicated on all three.
          assignments: [
            { partitionIndex: 0, brokerIds: [1, 2, 3] },
            { partitionIndex: 1, brokerIds: [2, 3, 1] },
            { partitionIndex: 2, brokerIds: [3, 1, 2] },
          ],
          configs: [{ name: 'min.insync.replicas', value: '2' }],
        },
      ],
      timeoutMs: 10_000,
      validateOnly: false,
    });
    expect(created.topics[0].errorCode).toBe(0);
    expect(await leaders()).toEqual([1, 2, 3]);
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) {
      n.client?.close();
      await n.process?.kill('SIGKILL');
    }
    await etcd?.stop();
  });

  it('commits and aborts over partitions led by all three brokers; read_committed sees exactly the committed records', async () => {
    const ls = await leaders();
    const p = await producer('cross-1');
    await p.add([0, 1, 2]);
    for (let i = 0; i < 3; i++) expect(await p.send(ls[i], i, [`c${i}-a`, `c${i}-b`])).toBe(0);
    expect(await p.end(true)).toBe(0);
    await p.add([0, 1, 2]);
    for (let i = 0; i < 3; i++) expect(await p.send(ls[i], i, [`x${i}`])).toBe(0);
    expect(await p.end(false)).toBe(0);
    // The markers reached the leaders on the other brokers: nothing open anywhere, only the commit visible.
    for (let i = 0; i < 3; i++) expect(await settled(i)).toEqual([`c${i}-a`, `c${i}-b`]);
  });

  it('a leader asks the coordinator on another broker before taking a first transactional batch (KIP-890 part 1)', async () => {
    const ls = await leaders();
    const p = await producer('cross-verify');
    const elsewhere = [0, 1, 2].find((i) => ls[i] !== p.coordinator)!;
    // Not added to the transaction: the remote coordinator says no, nothing is written.
    expect(await p.send(ls[elsewhere], elsewhere, ['hanging'])).toBe(ERROR_CODES.INVALID_TXN_STATE);
    await p.add([elsewhere]);
    expect(await p.send(ls[elsewhere], elsewhere, ['verified'])).toBe(0);
    expect(await p.end(true)).toBe(0);
    expect(await settled(elsewhere)).toContain('verified');
    expect(await settled(elsewhere)).not.toContain('hanging');
  });

  const killCoordinatorAndRestart = async (coordinator: number, check: () => Promise<void>) => {
    const victim = nodes.find((n) => n.id === coordinator)!;
    victim.client?.close();
    victim.client = null;
    await victim.process?.kill('SIGKILL');
    victim.process = null;
    await check();
    await start(victim);
    await until('three brokers in Metadata', async () => (await metadata(nodes[0].client!)).brokers.length === 3);
  };

  it('SIGKILL of the coordinator right after a commit is decided: the new coordinator completes the commit on every partition', async () => {
    const ls = await leaders();
    const p = await producer('cross-decided');
    await p.add([0, 1, 2]);
    for (let i = 0; i < 3; i++) expect(await p.send(ls[i], i, [`d${i}`])).toBe(0);
    expect(await p.end(true)).toBe(0);
    await killCoordinatorAndRestart(p.coordinator, async () => {
      for (let i = 0; i < 3; i++) {
        const values = await settled(i);
        expect(values).toContain(`d${i}`);
        expect(values).not.toContain(`x${i}`);
      }
    });
  });

  it('SIGKILL of the coordinator while a transaction is open: the new coordinator aborts it at its timeout', async () => {
    const ls = await leaders();
    const p = await producer('cross-open', 4000);
    await p.add([0, 1, 2]);
    for (let i = 0; i < 3; i++) expect(await p.send(ls[i], i, [`o${i}`])).toBe(0);
    await killCoordinatorAndRestart(p.coordinator, async () => {
      for (let i = 0; i < 3; i++) {
        const values = await settled(i);
        expect(values).not.toContain(`o${i}`);
        expect(values).toContain(`d${i}`);
      }
    });
  });
});
