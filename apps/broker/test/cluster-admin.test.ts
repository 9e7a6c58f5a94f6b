// The cluster's admin surface with three brokers on etcd (in one process): explicit replica
// assignments in CreateTopics/CreatePartitions, DescribeTopicPartitions from every broker, and
// ElectLeaders / partition reassignments through the metadata store.

import { LocalEtcd } from '@sluice/cluster';
import {
  CreatePartitionsApi,
  CreateTopicsApi,
  DescribeTopicPartitionsApi,
  ERROR_CODES,
  MetadataApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { RawClient, sleep, tempDir } from './helpers.js';

const logger = createLogger('silent');

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

type Assignment = { partitionIndex: number; brokerIds: number[] };
const lists = (...replicas: number[][]): Assignment[] =>
  replicas.map((brokerIds, partitionIndex) => ({ partitionIndex, brokerIds }));

describe('the admin surface of a 3-broker cluster', { timeout: 60_000 }, () => {
  let etcd: LocalEtcd;
  const brokers: RunningBroker[] = [];
  const clients: RawClient[] = [];

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    for (const nodeId of [1, 2, 3]) {
      brokers.push(
        await startBroker({
          logger,
          props: {
            'node.id': String(nodeId),
            'metadata.etcd.endpoints': etcd.endpoints.join(','),
            'log.dirs': tempDir(`sluice-cluster-admin-${nodeId}-`),
            listeners: 'PLAINTEXT://127.0.0.1:0',
            'auto.create.topics.enable': 'false',
          },
        }),
      );
    }
    for (const b of brokers) clients.push(await RawClient.connect(b.port));
    await until('all brokers registered everywhere', () =>
      brokers.every((b) => b.context.store.image.brokers.size === 3),
    );
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const b of brokers) await b.stop();
    await etcd?.stop();
  });

  const create = async (
    c: RawClient,
    name: string,
    assignments: Assignment[],
    numPartitions = -1,
    replicationFactor = -1,
  ) =>
    (
      await c.send(CreateTopicsApi, 7, {
        topics: [{ name, numPartitions, replicationFactor, assignments, configs: [] }],
        timeoutMs: 5000,
        validateOnly: false,
      })
    ).topics[0];

  const leadersOf = async (c: RawClient, name: string) => {
    const md = await c.send(MetadataApi, 12, {
      topics: [{ name, topicId: ZERO_UUID }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    return md.topics[0].partitions.map((p) => [p.leaderId, p.replicaNodes]);
  };

  it('CreateTopics puts each partition where its assignment says; every broker agrees', async () => {
    const res = await create(clients[0], 'placed', lists([3], [1], [2], [3]));
    expect([res.errorCode, res.numPartitions, res.replicationFactor]).toEqual([0, 4, 1]);
    await until('the topic on every broker', () => brokers.every((b) => b.context.topics.get('placed') !== undefined));
    for (const c of clients) {
      expect(await leadersOf(c, 'placed')).toEqual([
        [3, [3]],
        [1, [1]],
        [2, [2]],
        [3, [3]],
      ]);
    }
    // Each log is only on its replica.
    expect(brokers.map((b) => b.context.topics.get('placed')?.partitions.map((p) => p !== undefined))).toEqual([
      [false, true, false, false],
      [false, false, true, false],
      [true, false, false, true],
    ]);
  });

  it('refuses unknown brokers, inconsistent lengths and (until replication) more than one replica', async () => {
    const unknown = await create(clients[1], 'refused', lists([1], [4]));
    expect([unknown.errorCode, unknown.errorMessage]).toEqual([
      ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
      'The manual partition assignment includes broker 4, but no such broker is registered.',
    ]);
    const uneven = await create(clients[1], 'refused', lists([1], [2, 3]));
    expect(uneven.errorCode).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    expect(uneven.errorMessage).toMatch(/not consistent with previous partitions, which have 1 replica/);
    const twoReplicas = await create(clients[1], 'refused', lists([1, 2], [2, 3]));
    expect(twoReplicas.errorCode).toBe(ERROR_CODES.INVALID_REPLICATION_FACTOR);
    const placedTwo = await create(clients[1], 'refused', [], 3, 2);
    expect(placedTwo.errorCode).toBe(ERROR_CODES.INVALID_REPLICATION_FACTOR);
    const four = await create(clients[1], 'refused', [], 3, 4);
    expect([four.errorCode, four.errorMessage]).toEqual([
      ERROR_CODES.INVALID_REPLICATION_FACTOR,
      'Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached because only 3 broker(s) are registered.',
    ]);
    await sleep(100);
    for (const b of brokers) expect(b.context.store.image.topics.has('refused')).toBe(false);
  });

  it('CreatePartitions places new partitions where the assignments say', async () => {
    const res = await clients[2].send(CreatePartitionsApi, 3, {
      topics: [{ name: 'placed', count: 6, assignments: [{ brokerIds: [2] }, { brokerIds: [1] }] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(res.results[0].errorCode).toBe(0);
    await until('six partitions everywhere', () =>
      brokers.every((b) => b.context.topics.get('placed')?.partitions.length === 6),
    );
    expect((await leadersOf(clients[0], 'placed')).slice(4)).toEqual([
      [2, [2]],
      [1, [1]],
    ]);
  });

  it('DescribeTopicPartitions answers the same from every broker, pages with the cursor', async () => {
    const answers = await Promise.all(
      clients.map((c) =>
        c.send(DescribeTopicPartitionsApi, 0, {
          topics: [{ name: 'placed' }],
          responsePartitionLimit: 4,
          cursor: null,
        }),
      ),
    );
    for (const a of answers) {
      expect(a).toEqual(answers[0]);
      expect(a.topics[0].partitions.map((p) => [p.partitionIndex, p.leaderId, p.replicaNodes, p.isrNodes])).toEqual([
        [0, 3, [3], [3]],
        [1, 1, [1], [1]],
        [2, 2, [2], [2]],
        [3, 3, [3], [3]],
      ]);
      expect(a.nextCursor).toEqual({ topicName: 'placed', partitionIndex: 4 });
    }
    const rest = await clients[1].send(DescribeTopicPartitionsApi, 0, {
      topics: [{ name: 'placed' }],
      responsePartitionLimit: 4,
      cursor: { topicName: 'placed', partitionIndex: 4 },
    });
    expect(rest.topics[0].partitions.map((p) => [p.partitionIndex, p.leaderId])).toEqual([
      [4, 2],
      [5, 1],
    ]);
    expect(rest.nextCursor).toBeNull();
  });
});
