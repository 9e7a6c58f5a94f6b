// Internal topics replicated: on a 3-broker cluster (processes, etcd on loopback) __consumer_offsets
// and __transaction_state get offsets.topic.replication.factor / transaction.state.log.replication.factor
// replicas (Kafka's defaults, 3) and __transaction_state min.insync.replicas =
// transaction.state.log.min.isr; when the coordinator's broker is SIGKILLed, the new coordinator
// serves every committed offset from its replica. An offset commit is answered only once the
// in-sync replicas have it (Kafka's coordinators write acks=all), so no answered commit is lost.

import { LocalEtcd } from '@sluice/cluster';
import {
  CreateTopicsApi,
  DescribeConfigsApi,
  DescribeTransactionsApi,
  ERROR_CODES,
  FindCoordinatorApi,
  InitProducerIdApi,
  MetadataApi,
  OffsetCommitApi,
  OffsetFetchApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import {
  type BrokerProcess,
  clusterBrokerProps,
  RawClient,
  sleep,
  spawnBroker,
  startEtcdCluster,
  tempDir,
  until as untilShort,
} from './helpers.js';

const TOPIC = 'committed';
const PARTITIONS = 6;
const OFFSETS = '__consumer_offsets';
const TXN_STATE = '__transaction_state';

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('internal topics replicated (offsets.topic.replication.factor)', { timeout: 180_000 }, () => {
  let etcd: LocalEtcd;
  const brokers = new Map<number, BrokerProcess>();
  const clients = new Map<number, RawClient>();

  const overridesOf = (nodeId: number) => ({
    'node.id': String(nodeId),
    'metadata.etcd.endpoints': etcd.endpoints.join(','),
    'broker.session.timeout.ms': '3000',
    'replica.lag.time.max.ms': '10000',
    'offsets.topic.num.partitions': '3',
    'transaction.state.log.num.partitions': '3',
    'group.initial.rebalance.delay.ms': '0',
  });

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    await Promise.all(
      [1, 2, 3].map(async (nodeId) => {
        const b = await spawnBroker({ overrides: overridesOf(nodeId), timeoutMs: 60_000 });
        brokers.set(nodeId, b);
        clients.set(nodeId, await RawClient.connect(b.port));
      }),
    );
    await until('all brokers registered', async () => {
      const md = await metadata(clients.get(1)!, []);
      return md.brokers.length === 3;
    });
    const created = await clients.get(1)!.send(CreateTopicsApi, 7, {
      topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, assignments: [], configs: [] }],
      timeoutMs: 10_000,
      validateOnly: false,
    });
    expect(created.topics[0].errorCode).toBe(0);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients.values()) c.close();
    await Promise.all([...brokers.values()].map((b) => b.kill('SIGKILL')));
    await etcd?.stop();
  });

  const metadata = (c: RawClient, topics: string[]) =>
    c.send(MetadataApi, 12, {
      topics: topics.map((name) => ({ name, topicId: ZERO_UUID })),
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
  const alive = () =>
    [...clients.entries()].filter(([id]) => {
      const { child } = brokers.get(id)!;
      return child.exitCode === null && child.signalCode === null;
    });

  /** The coordinator every live broker names for `key`, once all agree on a live one. */
  const coordinatorOf = async (key: string, keyType: 0 | 1, exclude: number[] = []): Promise<number> => {
    let ids: number[] = [];
    await until(`a coordinator for ${key}`, async () => {
      const answers = await Promise.all(
        alive()
          .filter(([id]) => !exclude.includes(id))
          .map(([, c]) => c.send(FindCoordinatorApi, 4, { key: '', keyType, coordinatorKeys: [key] })),
      );
      ids = answers.map((a) => a.coordinators[0].nodeId);
      return ids.every((id) => id > 0 && !exclude.includes(id)) && new Set(ids).size === 1;
    });
    return ids[0];
  };

  const commit = (c: RawClient, group: string, offset: (p: number) => bigint) =>
    c.send(OffsetCommitApi, 8, {
      groupId: group,
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [
        {
          name: TOPIC,
          topicId: ZERO_UUID,
          partitions: Array.from({ length: PARTITIONS }, (_, p) => ({
            partitionIndex: p,
            committedOffset: offset(p),
            committedLeaderEpoch: -1,
            committedMetadata: null,
          })),
        },
      ],
    });
  const fetchOffsets = async (c: RawClient, group: string) => {
    const res = await c.send(OffsetFetchApi, 8, {
      groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics: null }],
      requireStable: false,
    });
    const g = res.groups[0];
    const byPartition = new Map<number, bigint>();
    for (const t of g.topics) for (const p of t.partitions) byPartition.set(p.partitionIndex, p.committedOffset);
    return { errorCode: g.errorCode, byPartition };
  };

  it('creates __consumer_offsets and __transaction_state with 3 replicas, the latter with min.insync.replicas 2', async () => {
    await coordinatorOf('first-group', 0);
    await coordinatorOf('first-txn', 1);
    const c = clients.get(1)!;
    await until('both internal topics in Metadata with leaders', async () => {
      const md = await metadata(c, [OFFSETS, TXN_STATE]);
      return md.topics.every((t) => t.errorCode === 0 && t.partitions.every((p) => p.leaderId > 0));
    });
    const md = await metadata(c, [OFFSETS, TXN_STATE]);
    for (const t of md.topics) {
      expect(t.isInternal).toBe(true);
      expect(t.partitions).toHaveLength(3);
      for (const p of t.partitions) expect([...p.replicaNodes].sort()).toEqual([1, 2, 3]);
    }
    const configs = await c.send(DescribeConfigsApi, 4, {
      resources: [
        { resourceType: 2, resourceName: TXN_STATE, configurationKeys: ['min.insync.replicas', 'cleanup.policy'] },
        { resourceType: 2, resourceName: OFFSETS, configurationKeys: ['cleanup.policy'] },
      ],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    const values = configs.results.map((r) => Object.fromEntries(r.configs.map((e) => [e.name, e.value])));
    expect(values[0]).toEqual({ 'min.insync.replicas': '2', 'cleanup.policy': 'compact' });
    expect(values[1]).toEqual({ 'cleanup.policy': 'compact' });
  });

  it("a transactional id's producer id and epoch survive a SIGKILL of its coordinator", async () => {
    const txnId = 'survives-txn-coordinator-kill';
    const first = await coordinatorOf(txnId, 1);
    const init = () =>
      clients.get(first)!.send(InitProducerIdApi, 4, {
        transactionalId: txnId,
        transactionTimeoutMs: 60_000,
        producerId: -1n,
        producerEpoch: -1,
      });
    let started = await init();
    await until('a producer id', async () => {
      started = started.errorCode === 0 ? started : await init();
      return started.errorCode === 0;
    });
    const dataDir = brokers.get(first)!.dataDir;
    await brokers.get(first)!.kill('SIGKILL');
    const next = await coordinatorOf(txnId, 1, [first]);
    const c = clients.get(next)!;
    let described = await c.send(DescribeTransactionsApi, 0, { transactionalIds: [txnId] });
    await until('the transaction on the new coordinator', async () => {
      described = await c.send(DescribeTransactionsApi, 0, { transactionalIds: [txnId] });
      return described.transactionStates[0].errorCode === 0;
    });
    expect(described.transactionStates[0]).toMatchObject({
      transactionState: 'Empty',
      producerId: started.producerId,
      producerEpoch: started.producerEpoch,
    });
    // The producer starting again is fenced from its old epoch: same producer id, the next epoch.
    const again = await c.send(InitProducerIdApi, 4, {
      transactionalId: txnId,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect(again).toMatchObject({
      errorCode: 0,
      producerId: started.producerId,
      producerEpoch: started.producerEpoch + 1,
    });
    // Back on its data, for the cases below.
    clients.get(first)!.close();
    const restarted = await spawnBroker({ dataDir, overrides: overridesOf(first), timeoutMs: 60_000 });
    brokers.set(first, restarted);
    clients.set(first, await RawClient.connect(restarted.port));
    await until('the restarted broker registered', async () => (await metadata(c, [])).brokers.length === 3);
  });

  it('answers an offset commit only once the followers have it: none answered is lost when the coordinator dies', async () => {
    const group = 'unreplicated-commit';
    const leader = await coordinatorOf(group, 0);
    const followers = [...brokers.keys()].filter((id) => id !== leader);
    const before = await commit(clients.get(leader)!, group, (p) => BigInt(10 + p));
    for (const p of before.topics[0].partitions) expect(p.errorCode).toBe(0);
    // Both followers stopped (shorter than the lease and replica.lag.time.max.ms: they stay in the ISR):
    // the commit cannot reach them, so it must not be answered as stored.
    for (const id of followers) brokers.get(id)!.child.kill('SIGSTOP');
    let answer: number[] | 'none' = 'none';
    const pending = commit(clients.get(leader)!, group, (p) => BigInt(20 + p)).then(
      (res) => {
        answer = res.topics[0].partitions.map((p) => p.errorCode);
      },
      () => {},
    );
    await sleep(1000);
    await brokers.get(leader)!.kill('SIGKILL');
    for (const id of followers) brokers.get(id)!.child.kill('SIGCONT');
    await pending;
    expect(answer).toBe('none');
    const next = await coordinatorOf(group, 0, [leader]);
    let fetched = await fetchOffsets(clients.get(next)!, group);
    await until('the committed offsets from the new coordinator', async () => {
      fetched = await fetchOffsets(clients.get(next)!, group);
      return fetched.errorCode === 0;
    });
    // The unanswered commit may or may not have landed; the answered one is there.
    const got = Object.fromEntries(fetched.byPartition);
    const first = Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, BigInt(10 + p)]));
    const second = Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, BigInt(20 + p)]));
    expect([first, second]).toContainEqual(got);
  });

  it('the coordinator that takes over after a SIGKILL serves every committed offset', async () => {
    const group = 'survives-coordinator-kill';
    const first = await coordinatorOf(group, 0);
    // Several commits, the last one right before the kill: each answered commit must survive.
    for (let round = 1; round <= 20; round++) {
      const res = await commit(clients.get(first)!, group, (p) => BigInt(round * 100 + p));
      for (const p of res.topics[0].partitions) expect(p.errorCode).toBe(0);
    }
    await brokers.get(first)!.kill('SIGKILL');
    const next = await coordinatorOf(group, 0, [first]);
    expect(next).not.toBe(first);
    let fetched = await fetchOffsets(clients.get(next)!, group);
    // The new coordinator may still be loading the partition (COORDINATOR_LOAD_IN_PROGRESS): ask again.
    await until('the committed offsets from the new coordinator', async () => {
      fetched = await fetchOffsets(clients.get(next)!, group);
      return fetched.errorCode === 0;
    });
    expect(Object.fromEntries(fetched.byPartition)).toEqual(
      Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, BigInt(2000 + p)])),
    );
  });
});

describe('internal topic creation waits for enough brokers (as in Kafka)', { timeout: 60_000 }, () => {
  it('FindCoordinator answers COORDINATOR_NOT_AVAILABLE while fewer brokers than offsets.topic.replication.factor are registered', async () => {
    const { etcd, brokers, clients } = await startEtcdCluster(
      'sluice-internal-rf',
      { 'offsets.topic.num.partitions': '2' },
      2,
    );
    let third: RunningBroker | undefined;
    try {
      const find = async (c: RawClient) =>
        (await c.send(FindCoordinatorApi, 4, { key: '', keyType: 0, coordinatorKeys: ['g'] })).coordinators[0];
      const refused = await find(clients[0]);
      expect(refused.errorCode).toBe(ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
      expect(refused.errorMessage).toContain('Unable to replicate the partition 3 time(s)');
      await sleep(500);
      expect(brokers[0].context.store.image.topics.has(OFFSETS)).toBe(false);
      // A third broker registers: the next lookup creates the topic with 3 replicas.
      third = await startBroker({
        logger: createLogger('silent'),
        props: clusterBrokerProps(etcd, 3, tempDir('sluice-internal-rf-3-')),
      });
      await untilShort('all three registered', () => brokers[0].context.store.image.brokers.size === 3);
      await untilShort('a coordinator', async () => (await find(clients[0])).errorCode === 0);
      const topic = brokers[0].context.store.image.topics.get(OFFSETS)!;
      for (let p = 0; p < 2; p++) {
        expect([...brokers[0].context.store.image.partition(topic.topicId, p)!.replicas].sort()).toEqual([1, 2, 3]);
      }
    } finally {
      for (const c of clients) c.close();
      for (const b of [...brokers, ...(third ? [third] : [])]) await b.stop();
      await etcd.stop();
    }
  });
});
