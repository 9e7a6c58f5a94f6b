// Three brokers sharing their metadata through etcd on loopback (in one process, each with its own
// data directory): they see each other, agree on the controller and on who leads what, spread a
// topic's partitions, and send clients to the leader of each partition.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalEtcd } from '@sluice/cluster';
import {
  ERROR_CODES,
  FetchApi,
  FindCoordinatorApi,
  MetadataApi,
  OffsetCommitApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { clusterBrokerProps, fetchRequest, RawClient, readPartition, startEtcdCluster, until } from './helpers.js';

const logger = createLogger('silent');
const TOPIC = 'spread';
const PARTITIONS = 12;

describe('a 3-broker cluster on etcd', { timeout: 60_000 }, () => {
  let etcd: LocalEtcd;
  const brokers: RunningBroker[] = [];
  const clients: RawClient[] = [];

  beforeAll(async () => {
    const started = await startEtcdCluster('sluice-cluster', {
      'offsets.topic.num.partitions': '6',
      'group.initial.rebalance.delay.ms': '0',
    });
    etcd = started.etcd;
    brokers.push(...started.brokers);
    clients.push(...started.clients);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const b of brokers) await b.stop();
    await etcd?.stop();
  });

  const metadata = (c: RawClient) =>
    c.send(MetadataApi, 12, {
      topics: [{ name: TOPIC, topicId: ZERO_UUID }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });

  it('every broker lists all three and the same controller', async () => {
    await until('all brokers registered everywhere', () =>
      brokers.every((b) => b.context.store.image.brokers.size === 3),
    );
    expect(new Set(brokers.map((b) => b.clusterId)).size).toBe(1);
    const answers = await Promise.all(clients.map(metadata));
    for (const [i, md] of answers.entries()) {
      expect(md.brokers.map((b) => [b.nodeId, b.port])).toEqual(brokers.map((b, j) => [j + 1, b.port]));
      expect(md.controllerId).toBe(answers[0].controllerId);
      expect(md.clusterId).toBe(brokers[i].clusterId);
    }
    expect([1, 2, 3]).toContain(answers[0].controllerId);
  });

  it('spreads a 12-partition topic over the brokers; produce/consume through kafkajs lands on the leaders', async () => {
    const kafka = new Kafka({ clientId: 'cluster-test', brokers: [brokers[1].bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    expect(
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }], waitForLeaders: true }),
    ).toBe(true);
    await admin.disconnect();
    await until('the topic on every broker', () => brokers.every((b) => b.context.topics.get(TOPIC) !== undefined));

    // Metadata agrees from every broker, and each broker leads a third of the partitions.
    const answers = await Promise.all(clients.map(metadata));
    const leaders = answers[0].topics[0].partitions.map((p) => p.leaderId);
    expect(leaders).toHaveLength(PARTITIONS);
    for (const md of answers) {
      expect(md.topics[0].errorCode).toBe(0);
      expect(md.topics[0].partitions.map((p) => p.leaderId)).toEqual(leaders);
      expect(md.topics[0].partitions.map((p) => p.replicaNodes)).toEqual(leaders.map((l) => [l]));
    }
    for (const id of [1, 2, 3]) expect(leaders.filter((l) => l === id)).toHaveLength(PARTITIONS / 3);

    const producer = kafka.producer();
    await producer.connect();
    const messages = Array.from({ length: 120 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    const sent = await producer.send({ topic: TOPIC, messages });
    await producer.disconnect();
    expect(sent.every((r) => r.errorCode === 0)).toBe(true);

    // Each partition's log is on its leader only (one replica each); reading every leader gives all 120.
    const values: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const leader = leaders[p] - 1;
      for (const [i, b] of brokers.entries()) {
        expect(b.context.topics.partition(TOPIC, p) === undefined).toBe(i !== leader);
        expect(existsSync(join(b.dataDir, `${TOPIC}-${p}`))).toBe(i === leader);
      }
      for (const r of await readPartition(clients[leader], TOPIC, p)) values.push(r.value!.toString());
    }
    expect(values.sort()).toEqual(messages.map((m) => m.value).sort());
  });

  it('a broker that does not lead a partition answers NOT_LEADER_OR_FOLLOWER with the current leader', async () => {
    const md = await metadata(clients[0]);
    const p = md.topics[0].partitions.find((x) => x.leaderId !== 1)!;
    const res = await clients[0].send(ProduceApi, 11, {
      transactionalId: null,
      acks: 1,
      timeoutMs: 1000,
      topicData: [{ name: TOPIC, topicId: ZERO_UUID, partitionData: [{ index: p.partitionIndex, records: null }] }],
    });
    const answer = res.responses[0].partitionResponses[0];
    expect(answer.errorCode).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    expect(answer.currentLeader.leaderId).toBe(p.leaderId);
    expect(res.nodeEndpoints.map((e) => [e.nodeId, e.port])).toEqual([[p.leaderId, brokers[p.leaderId - 1].port]]);

    // Versions before the KIP-951 fields get the error alone.
    const old = await clients[0].send(ProduceApi, 9, {
      transactionalId: null,
      acks: 1,
      timeoutMs: 1000,
      topicData: [{ name: TOPIC, topicId: ZERO_UUID, partitionData: [{ index: p.partitionIndex, records: null }] }],
    });
    expect(old.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);

    const topicId = md.topics[0].topicId;
    const fetch16 = await clients[0].send(
      FetchApi,
      16,
      fetchRequest(TOPIC, [{ partition: p.partitionIndex, fetchOffset: 0n }], {
        topics: [{ ...fetchRequest(TOPIC, [{ partition: p.partitionIndex, fetchOffset: 0n }]).topics![0], topicId }],
      }),
    );
    const fetched = fetch16.responses[0].partitions[0];
    expect(fetched.errorCode).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    expect(fetched.currentLeader.leaderId).toBe(p.leaderId);
    expect(fetch16.nodeEndpoints.map((e) => [e.nodeId, e.port])).toEqual([[p.leaderId, brokers[p.leaderId - 1].port]]);
    const fetch4 = await clients[0].send(
      FetchApi,
      4,
      fetchRequest(TOPIC, [{ partition: p.partitionIndex, fetchOffset: 0n }]),
    );
    expect(fetch4.responses[0].partitions[0].errorCode).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
  });

  it('a consumer group reads the whole topic; every broker names the same coordinator, the offsets partition leader', async () => {
    const kafka = new Kafka({ clientId: 'cluster-test', brokers: [brokers[0].bootstrap], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: 'spread-readers' });
    await consumer.connect();
    const seen = new Set<string>();
    try {
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.add(message.value!.toString());
        },
      });
      await until('120 records consumed', () => seen.size === 120, 30_000);
    } finally {
      await consumer.disconnect();
    }
    const answers = await Promise.all(
      clients.map((c) => c.send(FindCoordinatorApi, 4, { key: '', keyType: 0, coordinatorKeys: ['spread-readers'] })),
    );
    const coordinator = answers[0].coordinators[0];
    expect(coordinator.errorCode).toBe(0);
    for (const a of answers)
      expect(a.coordinators[0]).toMatchObject({ nodeId: coordinator.nodeId, port: coordinator.port });
    const offsets = brokers[0].context.topics.get('__consumer_offsets')!;
    const p = brokers[0].context.groups.coordinator.partitionFor('spread-readers');
    expect(coordinator.nodeId).toBe(brokers[0].context.store.image.partition(offsets.topicId, p)!.leader);

    // A broker that is not the coordinator refuses the group's writes with NOT_COORDINATOR.
    const commit = (c: RawClient) =>
      c.send(OffsetCommitApi, 8, {
        groupId: 'spread-readers',
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1n,
        topics: [
          {
            name: TOPIC,
            topicId: ZERO_UUID,
            partitions: [
              {
                partitionIndex: 0,
                committedOffset: 1n,
                committedLeaderEpoch: -1,
                committedMetadata: null,
              },
            ],
          },
        ],
      });
    const other = clients[coordinator.nodeId % 3];
    expect((await commit(other)).topics[0].partitions[0].errorCode).toBe(ERROR_CODES.NOT_COORDINATOR);
    expect((await commit(clients[coordinator.nodeId - 1])).topics[0].partitions[0].errorCode).toBe(0);
  });

  it('grows and deletes the topic from any broker; every broker follows', async () => {
    const kafka = new Kafka({ clientId: 'cluster-test', brokers: [brokers[2].bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: TOPIC, count: PARTITIONS + 3 }] });
      await until('15 partitions everywhere', () =>
        brokers.every((b) => b.context.topics.get(TOPIC)?.partitions.length === PARTITIONS + 3),
      );
      const md = await metadata(clients[0]);
      expect(md.topics[0].partitions.slice(PARTITIONS).every((p) => [1, 2, 3].includes(p.leaderId))).toBe(true);
      await admin.deleteTopics({ topics: [TOPIC] });
      await until('the topic gone everywhere', () => brokers.every((b) => b.context.topics.get(TOPIC) === undefined));
      for (const b of brokers) {
        expect(readdirSync(b.dataDir).filter((d) => d.startsWith(`${TOPIC}-`))).toEqual([]);
      }
      for (const md of await Promise.all(clients.map(metadata))) {
        expect(md.topics[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
      }
    } finally {
      await admin.disconnect();
    }
  });

  it('a broker that stops cleanly loses its leaderships; back on the same data, it leads them again', async () => {
    const admin = new Kafka({ clientId: 't', brokers: [brokers[0].bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'bounce', numPartitions: 6 }], waitForLeaders: true });
    await admin.disconnect();
    await until('the topic on every broker', () => brokers.every((b) => b.context.topics.get('bounce') !== undefined));
    const image = () => brokers[0].context.store.image;
    const topicId = image().topics.get('bounce')!.topicId;
    const ledBy3 = image()
      .partitionsOf(topicId)
      .filter((p) => p.leader === 3)
      .map((p) => p.partition);
    expect(ledBy3.length).toBeGreaterThan(0);
    const third = brokers[2];
    const dir = third.dataDir;
    clients[2].close();
    await third.stop();
    await until('broker 3 gone and its partitions leaderless', () =>
      brokers.slice(0, 2).every((b) => {
        const img = b.context.store.image;
        return !img.brokers.has(3) && ledBy3.every((p) => img.partition(topicId, p)!.leader === -1);
      }),
    );
    const md = await clients[0].send(MetadataApi, 12, {
      topics: [{ name: 'bounce', topicId: ZERO_UUID }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    for (const p of ledBy3) {
      expect(md.topics[0].partitions[p]).toMatchObject({ errorCode: ERROR_CODES.LEADER_NOT_AVAILABLE, leaderId: -1 });
    }
    expect(md.brokers.map((b) => b.nodeId)).toEqual([1, 2]);
    expect([1, 2]).toContain(md.controllerId);

    brokers[2] = await startBroker({
      logger,
      props: clusterBrokerProps(etcd, 3, dir, { 'offsets.topic.num.partitions': '6' }),
    });
    clients[2] = await RawClient.connect(brokers[2].port);
    await until('broker 3 leads its partitions again', () =>
      brokers.every((b) => ledBy3.every((p) => b.context.store.image.partition(topicId, p)!.leader === 3)),
    );
    expect(brokers[2].context.topics.get('bounce')!.partitions.filter((p) => p !== undefined)).toHaveLength(
      ledBy3.length,
    );
  });
});
