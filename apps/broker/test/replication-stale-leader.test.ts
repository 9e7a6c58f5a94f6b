// A leader cut off from etcd while the cluster moves its leadership elsewhere must not acknowledge
// an acks=all write: its followers no longer fetch from it, and it cannot shrink the ISR to itself
// (the store is out of reach, and the change would be refused on the partition epoch anyway).
// Broker 1 is a real broker reaching etcd through a proxy the test cuts; broker 2 is only a
// registration, and the test plays its part.

import { EtcdMetadataStore, LocalEtcd } from '@sluice/cluster';
import {
  buildRecordBatchSync,
  CreateTopicsApi,
  ERROR_CODES,
  FetchApi,
  type FetchRequest,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../../packages/cluster/src/testing/tcp-proxy.js';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { fetchRequest, RawClient, sleep, tempDir } from './helpers.js';

const TOPIC = 'stale';

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('a stale leader (cut off from etcd) acknowledges nothing', { timeout: 90_000 }, () => {
  let etcd: LocalEtcd;
  let proxy: TcpProxy;
  let broker: RunningBroker;
  let fake: EtcdMetadataStore;
  let fakeEpoch = -1;
  let producer: RawClient;
  let follower: RawClient;
  let topicId = '';
  let partition = -1;

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    proxy = await TcpProxy.start(Number(new URL(etcd.endpoints[0]).port));
    broker = await startBroker({
      logger: createLogger('silent'),
      props: {
        'node.id': '1',
        'metadata.etcd.endpoints': proxy.url,
        'log.dirs': tempDir('sluice-repl-stale-'),
        listeners: 'PLAINTEXT://127.0.0.1:0',
        'broker.session.timeout.ms': '3000',
        'replica.lag.time.max.ms': '1000',
      },
    });
    fake = await EtcdMetadataStore.open({ endpoints: etcd.endpoints, clusterId: broker.clusterId });
    fakeEpoch = (await fake.registerBroker({ nodeId: 2, incarnationId: 'fake', listeners: [], rack: null }))
      .brokerEpoch;
    await until('both brokers registered', () => broker.context.store.image.brokers.size === 2);
    producer = await RawClient.connect(broker.port);
    follower = await RawClient.connect(broker.port);
    const created = await producer.send(CreateTopicsApi, 7, {
      topics: [
        {
          name: TOPIC,
          numPartitions: 4,
          replicationFactor: 2,
          assignments: [],
          configs: [{ name: 'min.insync.replicas', value: '1' }],
        },
      ],
      timeoutMs: 5000,
      validateOnly: false,
    });
    topicId = created.topics[0].topicId;
    partition = broker.context.store.image.partitionsOf(topicId).find((p) => p.leader === 1)!.partition;
  }, 60_000);

  afterAll(async () => {
    producer?.close();
    follower?.close();
    await fake?.unregisterBroker(2, fakeEpoch).catch(() => {});
    await fake?.close();
    proxy?.restore();
    await broker?.stop();
    await proxy?.stop();
    await etcd?.stop();
  });

  const produce = (value: string, timeoutMs: number) =>
    producer
      .send(ProduceApi, 9, {
        transactionalId: null,
        acks: -1,
        timeoutMs,
        topicData: [
          {
            name: TOPIC,
            topicId: ZERO_UUID,
            partitionData: [{ index: partition, records: buildRecordBatchSync({ records: [{ value }] }) }],
          },
        ],
      })
      .then((r) => r.responses[0].partitionResponses[0]);
  const followerFetch = (fetchOffset: bigint) => {
    const req: Partial<FetchRequest> = fetchRequest(TOPIC, [{ partition, fetchOffset }]);
    req.replicaState = { replicaId: 2, replicaEpoch: -1n };
    req.topics![0].topicId = topicId;
    return follower.send(FetchApi, 17, req).then((r) => r.responses[0].partitions[0]);
  };

  it('times out instead of acknowledging, and answers NOT_LEADER_OR_FOLLOWER once it hears of the new leader', async () => {
    // In sync: broker 2 fetches, an acks=all write is acknowledged.
    await followerFetch(0n);
    const first = produce('a', 5000);
    // The follower fetches past 'a' only once the leader has it: a fetch at 1 before the append is
    // out of range, the follower falls behind and leaves the ISR, and then 'b' below is acknowledged.
    const leaderLog = broker.context.topics.partition(TOPIC, partition)!.log;
    await until("'a' appended on the leader", () => leaderLog.logEndOffset === 1n);
    await followerFetch(1n);
    expect((await first).errorCode).toBe(0);
    expect(broker.context.store.image.partition(topicId, partition)!.isr.sort()).toEqual([1, 2]);

    // Broker 1 loses etcd; meanwhile the cluster makes broker 2 the leader with the ISR [2].
    proxy.partition();
    const record = fake.image.partition(topicId, partition)!;
    await fake.alterPartitions(
      [
        {
          expectedPartitionEpoch: record.partitionEpoch,
          next: {
            ...record,
            leader: 2,
            leaderEpoch: record.leaderEpoch + 1,
            isr: [2],
            partitionEpoch: record.partitionEpoch + 1,
          },
        },
      ],
      { kind: 'broker', nodeId: 2, brokerEpoch: fakeEpoch },
    );
    // Broker 1 still believes it leads: it takes the write, but its follower is gone and the ISR
    // cannot shrink to broker 1 alone, so the write is never acknowledged.
    expect(broker.context.store.image.partition(topicId, partition)!.leader).toBe(1);
    const stale = await produce('b', 2500);
    expect(stale.errorCode).toBe(ERROR_CODES.REQUEST_TIMED_OUT);

    proxy.restore();
    await until(
      'broker 1 sees the new leader',
      () => broker.context.store.image.partition(topicId, partition)!.leader === 2,
    );
    expect((await produce('c', 2500)).errorCode).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
  });
});
