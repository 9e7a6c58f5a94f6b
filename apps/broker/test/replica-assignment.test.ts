// Explicit replica assignments in CreateTopics and CreatePartitions on the single embedded node,
// checked as Kafka's controller checks them (the 3-broker cases are in cluster-admin.test.ts).

import { CreatePartitionsApi, CreateTopicsApi, ERROR_CODES, MetadataApi, ZERO_UUID } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, startInProcess, tempDir } from './helpers.js';

let broker: RunningBroker;
let raw: RawClient;

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-assign-'), 'auto.create.topics.enable': 'false' });
  raw = await RawClient.connect(broker.port);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

type Assignment = { partitionIndex: number; brokerIds: number[] };
const lists = (...replicas: number[][]): Assignment[] =>
  replicas.map((brokerIds, partitionIndex) => ({ partitionIndex, brokerIds }));

async function create(name: string, assignments: Assignment[], counts = { numPartitions: -1, replicationFactor: -1 }) {
  const res = await raw.send(CreateTopicsApi, 7, {
    topics: [{ name, ...counts, assignments, configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  return res.topics[0];
}

async function grow(name: string, count: number, assignments: number[][] | null) {
  const res = await raw.send(CreatePartitionsApi, 3, {
    topics: [{ name, count, assignments: assignments?.map((brokerIds) => ({ brokerIds })) ?? null }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  return res.results[0];
}

const partitionsOf = async (name: string) => {
  const md = await raw.send(MetadataApi, 12, {
    topics: [{ name, topicId: ZERO_UUID }],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  return md.topics[0].partitions.map((p) => [p.partitionIndex, p.leaderId, p.replicaNodes]);
};

describe('explicit replica assignments on one node', () => {
  it('creates a topic with one partition per assignment, in partition-index order', async () => {
    const res = await create('assigned', [
      { partitionIndex: 1, brokerIds: [1] },
      { partitionIndex: 0, brokerIds: [1] },
    ]);
    expect([res.errorCode, res.numPartitions, res.replicationFactor]).toEqual([0, 2, 1]);
    expect(await partitionsOf('assigned')).toEqual([
      [0, 1, [1]],
      [1, 1, [1]],
    ]);
  });

  it.each([
    [
      'unknown broker',
      lists([2]),
      'The manual partition assignment includes broker 2, but no such broker is registered.',
    ],
    ['a broker twice', lists([1, 1]), 'The manual partition assignment includes the broker 1 more than once.'],
    ['an empty list', lists([1], []), 'The manual partition assignment includes an empty replica list.'],
    [
      'a gap in the partition indexes',
      [
        { partitionIndex: 0, brokerIds: [1] },
        { partitionIndex: 2, brokerIds: [1] },
      ],
      'partitions should be a consecutive 0-based integer sequence',
    ],
    [
      'a partition index twice',
      [
        { partitionIndex: 0, brokerIds: [1] },
        { partitionIndex: 0, brokerIds: [1] },
      ],
      'Found multiple manual partition assignments for partition 0',
    ],
  ])('refuses %s with INVALID_REPLICA_ASSIGNMENT and creates nothing', async (_what, assignments, message) => {
    const res = await create('refused-assignment', assignments);
    expect([res.errorCode, res.errorMessage]).toEqual([ERROR_CODES.INVALID_REPLICA_ASSIGNMENT, message]);
    expect(broker.context.topics.get('refused-assignment')).toBeUndefined();
  });

  it('refuses assignments beside a partition count or replication factor (INVALID_REQUEST)', async () => {
    const withFactor = await create('both-set', lists([1]), { numPartitions: -1, replicationFactor: 1 });
    expect([withFactor.errorCode, withFactor.errorMessage]).toEqual([
      ERROR_CODES.INVALID_REQUEST,
      'A manual partition assignment was specified, but replication factor was not set to -1.',
    ]);
    const withCount = await create('both-set', lists([1]), { numPartitions: 1, replicationFactor: -1 });
    expect(withCount.errorCode).toBe(ERROR_CODES.INVALID_REQUEST);
  });

  it('refuses a replication factor above the one broker with Kafka’s message', async () => {
    const res = await create('rf2', [], { numPartitions: 1, replicationFactor: 2 });
    expect([res.errorCode, res.errorMessage]).toEqual([
      ERROR_CODES.INVALID_REPLICATION_FACTOR,
      'Unable to replicate the partition 2 time(s): The target replication factor of 2 cannot be reached because only 1 broker(s) are registered.',
    ]);
  });

  it('CreatePartitions takes explicit lists, counted and checked against the topic', async () => {
    expect(await grow('assigned', 4, [[1]])).toMatchObject({
      errorCode: ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
      errorMessage: 'Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.',
    });
    expect(await grow('assigned', 3, [[3]])).toMatchObject({
      errorCode: ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
      errorMessage: 'The manual partition assignment includes broker 3, but no such broker is registered.',
    });
    expect(await grow('assigned', 3, [[1]])).toMatchObject({ errorCode: 0 });
    expect(await partitionsOf('assigned')).toEqual([
      [0, 1, [1]],
      [1, 1, [1]],
      [2, 1, [1]],
    ]);
  });
});
