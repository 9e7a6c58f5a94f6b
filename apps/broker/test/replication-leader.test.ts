// The leader side of replication on one real broker: a second "broker" is only a registration in
// etcd, and this test plays its replica fetcher with raw Fetch requests (ReplicaState), so every
// step of the high watermark, acks=all and the ISR is in the test's hands.

import { join } from 'node:path';
import { Connection } from '@sluice/client';
import { EtcdMetadataStore, LocalEtcd } from '@sluice/cluster';
import { PartitionLog } from '@sluice/log';
import {
  buildRecordBatchSync,
  CreatePartitionsApi,
  CreateTopicsApi,
  ERROR_CODES,
  FetchApi,
  type FetchRequest,
  MetadataApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { ReplicaFetcher } from '@sluice/replication';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { followed, leaderConnection } from '../src/state/follower-fetchers.js';
import { Partition } from '../src/state/partition.js';
import { fetchRequest, RawClient, sleep, tempDir } from './helpers.js';

const TOPIC = 'replicated';
const LAG_MS = 3000;

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('replication, leader side (one broker, a scripted follower)', { timeout: 60_000 }, () => {
  let etcd: LocalEtcd;
  let broker: RunningBroker;
  let fake: EtcdMetadataStore;
  let fakeEpoch = -1;
  let raw: RawClient;
  // Responses on one connection come in request order: a waiting acks=all produce would hold up
  // the fetches behind it, so the consumer and the follower have their own connections.
  let consumer: RawClient;
  let follower: RawClient;
  let topicId = '';
  /** A partition broker 1 leads with broker 2 as its other replica. */
  let partition = -1;

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    broker = await startBroker({
      logger: createLogger('silent'),
      props: {
        'node.id': '1',
        'metadata.etcd.endpoints': etcd.endpoints.join(','),
        'log.dirs': tempDir('sluice-repl-leader-'),
        listeners: 'PLAINTEXT://127.0.0.1:0',
        'replica.lag.time.max.ms': String(LAG_MS),
        'broker.rack': 'r1',
        'replica.selector.class': 'org.apache.kafka.common.replica.RackAwareReplicaSelector',
      },
    });
    fake = await EtcdMetadataStore.open({ endpoints: etcd.endpoints, clusterId: broker.clusterId });
    fakeEpoch = (await fake.registerBroker({ nodeId: 2, incarnationId: 'fake', listeners: [], rack: 'r2' }))
      .brokerEpoch;
    await until('both brokers registered', () => broker.context.store.image.brokers.size === 2);
    raw = await RawClient.connect(broker.port);
    consumer = await RawClient.connect(broker.port);
    follower = await RawClient.connect(broker.port);
    const created = await raw.send(CreateTopicsApi, 7, {
      topics: [
        {
          name: TOPIC,
          numPartitions: 4,
          replicationFactor: 2,
          assignments: [],
          configs: [{ name: 'min.insync.replicas', value: '2' }],
        },
      ],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(created.topics[0].errorCode).toBe(0);
    topicId = created.topics[0].topicId;
    const image = broker.context.store.image;
    const led = image.partitionsOf(topicId).find((p) => p.leader === 1);
    expect(led?.replicas.sort()).toEqual([1, 2]);
    partition = led!.partition;
  }, 60_000);

  afterAll(async () => {
    raw?.close();
    consumer?.close();
    follower?.close();
    // The scripted broker leaves first: nobody would move leaderships to it on a controlled shutdown.
    await fake?.unregisterBroker(2, fakeEpoch).catch(() => {});
    await fake?.close();
    await broker?.stop();
    await etcd?.stop();
  });

  const record = () => broker.context.store.image.partition(topicId, partition)!;
  const produce = (values: string[], acks = -1, timeoutMs = 10_000) =>
    raw
      .send(ProduceApi, 9, {
        transactionalId: null,
        acks,
        timeoutMs,
        topicData: [
          {
            name: TOPIC,
            topicId: ZERO_UUID,
            partitionData: [
              { index: partition, records: buildRecordBatchSync({ records: values.map((value) => ({ value })) }) },
            ],
          },
        ],
      })
      .then((r) => r.responses[0].partitionResponses[0]);
  const consume = (fetchOffset: bigint, currentLeaderEpoch = -1) => {
    const req = fetchRequest(TOPIC, [{ partition, fetchOffset }]);
    req.topics![0].partitions[0].currentLeaderEpoch = currentLeaderEpoch;
    return consumer.send(FetchApi, 12, req).then((r) => r.responses[0].partitions[0]);
  };
  /** A fetch as broker 2's replica fetcher sends it (v15+: ReplicaState). */
  const followerFetch = (fetchOffset: bigint, lastFetchedEpoch = -1) => {
    const req: Partial<FetchRequest> = fetchRequest(TOPIC, [{ partition, fetchOffset }]);
    req.replicaState = { replicaId: 2, replicaEpoch: -1n };
    req.topics![0].topicId = topicId;
    req.topics![0].partitions[0].lastFetchedEpoch = lastFetchedEpoch;
    return follower.send(FetchApi, 17, req).then((r) => r.responses[0].partitions[0]);
  };

  it('acks=all waits for the follower; consumers see only what the ISR has', async () => {
    // The follower's first fetch, as its fetcher sends it once it learns of the partition.
    expect((await followerFetch(0n)).errorCode).toBe(0);
    let answered = false;
    const pending = produce(['a', 'b', 'c']).then((r) => {
      answered = true;
      return r;
    });
    await sleep(300);
    expect(answered).toBe(false);
    const before = await consume(0n);
    expect(before.highWatermark).toBe(0n);
    expect(before.records?.length ?? 0).toBe(0);

    const first = await followerFetch(0n);
    expect(first.records!.length).toBeGreaterThan(0); // the follower reads past the high watermark
    expect(first.highWatermark).toBe(0n);
    await sleep(100);
    expect(answered).toBe(false);

    const second = await followerFetch(3n, record().leaderEpoch);
    expect(second.highWatermark).toBe(3n);
    const acked = await pending;
    expect(acked.errorCode).toBe(0);
    expect(acked.baseOffset).toBe(0n);
    const after = await consume(0n);
    expect(after.highWatermark).toBe(3n);
    expect(after.records!.length).toBeGreaterThan(0);
  });

  it('KIP-392: a consumer in the follower rack is sent to the in-sync follower; one in the leader rack reads here', async () => {
    const inRack = async (rackId: string) => {
      const req = fetchRequest(TOPIC, [{ partition, fetchOffset: 0n }], { rackId });
      return (await consumer.send(FetchApi, 12, req)).responses[0].partitions[0];
    };
    const there = await inRack('r2');
    expect(there.preferredReadReplica).toBe(2);
    expect(there.records?.length ?? 0).toBe(0);
    expect(there.highWatermark).toBe(3n);
    for (const rack of ['r1', '']) {
      const here = await inRack(rack);
      expect(here.preferredReadReplica).toBe(-1);
      expect(here.records!.length).toBeGreaterThan(0);
    }
  });

  it('reports the leader epoch from the metadata and checks the current leader epoch as Kafka', async () => {
    const md = await raw.send(MetadataApi, 12, {
      topics: [{ name: TOPIC, topicId: ZERO_UUID }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    const p = md.topics[0].partitions.find((x) => x.partitionIndex === partition)!;
    expect(p.leaderEpoch).toBe(record().leaderEpoch);
    expect(p.isrNodes.sort()).toEqual([1, 2]);
    const epoch = record().leaderEpoch;
    expect((await consume(0n, epoch)).errorCode).toBe(0);
    expect((await consume(0n, epoch + 1)).errorCode).toBe(ERROR_CODES.UNKNOWN_LEADER_EPOCH);
    // A stale epoch: one below the current (the partition's first epoch is 0, so move it first).
    if (epoch > 0) expect((await consume(0n, epoch - 1)).errorCode).toBe(ERROR_CODES.FENCED_LEADER_EPOCH);
  });

  it('KIP-320: a follower whose last epoch the leader has fetches on; an epoch above all of the leader is OFFSET_OUT_OF_RANGE', async () => {
    const epoch = record().leaderEpoch;
    const ok = await followerFetch(3n, epoch);
    expect(ok.divergingEpoch).toEqual({ epoch: -1, endOffset: -1n });
    // An epoch above any the leader has: no end offset to give, so OFFSET_OUT_OF_RANGE (as Kafka).
    const unknown = await followerFetch(3n, epoch + 5);
    expect(unknown.errorCode).toBe(ERROR_CODES.OFFSET_OUT_OF_RANGE);
    expect(unknown.records?.length ?? 0).toBe(0);
  });

  it('a follower that stops fetching leaves the ISR after replica.lag.time.max.ms; then acks=all is NOT_ENOUGH_REPLICAS; it rejoins once caught up', async () => {
    const appended = produce(['d'], 1);
    expect((await appended).errorCode).toBe(0);
    await until('ISR shrink', () => record().isr.length === 1, LAG_MS * 4);
    expect(record().isr).toEqual([1]);
    expect((await produce(['e'])).errorCode).toBe(ERROR_CODES.NOT_ENOUGH_REPLICAS);
    await followerFetch(3n, record().leaderEpoch);
    await followerFetch(4n, record().leaderEpoch);
    await until('ISR expansion', () => record().isr.length === 2);
    expect(record().isr.sort()).toEqual([1, 2]);
    // The follower fetches past 'f' only once the leader has it: a fetch at 5 that came first would be
    // out of range, and the acks=all write would wait for a fetch that never comes.
    const leaderLog = broker.context.topics.partition(TOPIC, partition)!.log;
    expect(leaderLog.logEndOffset).toBe(4n);
    const pending = produce(['f']);
    await until("'f' appended on the leader", () => leaderLog.logEndOffset === 5n);
    await followerFetch(5n, record().leaderEpoch);
    expect((await pending).errorCode).toBe(0);
  });

  it('an acks=all append the follower never takes ends with REQUEST_TIMED_OUT at the request timeout', async () => {
    const started = Date.now();
    const r = await produce(['g'], -1, 500);
    expect(r.errorCode).toBe(ERROR_CODES.REQUEST_TIMED_OUT);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('a follower with a divergent tail truncates it through the diverging epoch and ends byte-identical (real fetcher and logs)', async () => {
    const leaderPartition = broker.context.topics.partition(TOPIC, partition)!;
    const leaderEnd = leaderPartition.log.logEndOffset;
    const dir = tempDir('sluice-repl-follower-');
    const follower = new Partition(TOPIC, partition, PartitionLog.open(join(dir, `${TOPIC}-${partition}`)));
    // The follower has everything the leader has, plus a tail of the same epoch the leader never had.
    follower.appendAsFollower(Buffer.from(leaderPartition.log.read(0n, 1 << 24).records));
    const epoch = record().leaderEpoch;
    follower.appendAsFollower(
      buildRecordBatchSync({
        records: ['x', 'y', 'z'].map((value) => ({ value })),
        baseOffset: leaderEnd,
        partitionLeaderEpoch: epoch,
      }),
    );
    expect(follower.log.logEndOffset).toBe(leaderEnd + 3n);

    // A new leader epoch (as after an election that kept broker 1), then records in it.
    const before = record();
    await fake.alterPartitions(
      [
        {
          expectedPartitionEpoch: before.partitionEpoch,
          next: { ...before, leaderEpoch: epoch + 1, partitionEpoch: before.partitionEpoch + 1 },
        },
      ],
      { kind: 'broker', nodeId: 2, brokerEpoch: fakeEpoch },
    );
    await until('the new epoch on the broker', () => leaderPartition.leaderEpoch === epoch + 1);
    const fenced = await consume(0n, epoch);
    expect(fenced.errorCode).toBe(ERROR_CODES.FENCED_LEADER_EPOCH);
    // KIP-951: a fenced fetch names the current leader (as Kafka's does).
    expect(fenced.currentLeader).toEqual({ leaderId: 1, leaderEpoch: epoch + 1 });
    expect((await produce(['n1', 'n2'], 1)).errorCode).toBe(0);
    // KIP-320 for consumers too: one that read epoch `epoch` past where it ends here learns where it ends.
    const req = fetchRequest(TOPIC, [{ partition, fetchOffset: leaderEnd + 3n }]);
    req.topics![0].partitions[0].currentLeaderEpoch = epoch + 1;
    req.topics![0].partitions[0].lastFetchedEpoch = epoch;
    const diverging = (await consumer.send(FetchApi, 12, req)).responses[0].partitions[0];
    expect(diverging).toMatchObject({ errorCode: 0, divergingEpoch: { epoch, endOffset: leaderEnd } });

    const fetcher = new ReplicaFetcher({
      nodeId: 2,
      maxWaitMs: 100,
      minBytes: 1,
      partitionMaxBytes: 1 << 20,
      responseMaxBytes: 10 << 20,
      backoffMs: 50,
      connect: async () => leaderConnection(await Connection.open({ host: '127.0.0.1', port: broker.port }), 2, 100),
    });
    try {
      fetcher.add(followed(follower, topicId), epoch + 1);
      await until(
        'the follower caught up in the new epoch',
        () =>
          follower.log.logEndOffset === leaderPartition.log.logEndOffset &&
          follower.log.leaderEpochCache.latestEpoch() === epoch + 1,
      );
    } finally {
      await fetcher.stop();
    }
    expect(follower.log.logEndOffset).toBe(leaderEnd + 2n);
    expect(Buffer.compare(follower.log.read(0n, 1 << 24).records, leaderPartition.log.read(0n, 1 << 24).records)).toBe(
      0,
    );
    follower.log.close();
  });

  it('CreatePartitions gives the new partitions the topic replication factor', async () => {
    const r = await raw.send(CreatePartitionsApi, 3, {
      topics: [{ name: TOPIC, count: 6, assignments: null }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(r.results[0].errorCode).toBe(0);
    const image = broker.context.store.image;
    await until('the new partitions', () => image.partitionsOf(topicId).length === 6);
    expect(image.partitionsOf(topicId).map((p) => p.replicas.length)).toEqual([2, 2, 2, 2, 2, 2]);
  });
});
