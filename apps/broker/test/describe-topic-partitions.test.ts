// DescribeTopicPartitions on the single embedded node: name order, the partition limit and the
// cursor that pages through it, unknown and invalid names, and the requests Kafka refuses.

import { CreateTopicsApi, DescribeTopicPartitionsApi, ERROR_CODES, ZERO_UUID } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, startInProcess, tempDir } from './helpers.js';

let broker: RunningBroker;
let raw: RawClient;

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-dtp-'), 'auto.create.topics.enable': 'false' });
  raw = await RawClient.connect(broker.port);
  const res = await raw.send(CreateTopicsApi, 7, {
    topics: [
      { name: 'dtp-b', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] },
      { name: 'dtp-a', numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] },
      { name: 'dtp-c', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics.map((t) => t.errorCode)).toEqual([0, 0, 0]);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

const describeTopics = (
  names: string[],
  limit = 2000,
  cursor: { topicName: string; partitionIndex: number } | null = null,
) =>
  raw.send(DescribeTopicPartitionsApi, 0, {
    topics: names.map((name) => ({ name })),
    responsePartitionLimit: limit,
    cursor,
  });

/** topic:partition for every partition of an answer, in answer order. */
const listed = (res: Awaited<ReturnType<typeof describeTopics>>) =>
  res.topics.flatMap((t) => t.partitions.map((p) => `${t.name}:${p.partitionIndex}`));

describe('DescribeTopicPartitions on one node', () => {
  it('answers the requested topics in name order with this node as leader, replica and ISR', async () => {
    const res = await describeTopics(['dtp-c', 'dtp-a', 'dtp-b', 'dtp-a']);
    expect(res.topics.map((t) => t.name)).toEqual(['dtp-a', 'dtp-b', 'dtp-c']);
    expect(res.nextCursor).toBeNull();
    const a = res.topics[0];
    expect(a.errorCode).toBe(0);
    expect(a.topicId).toBe(broker.context.topics.get('dtp-a')?.topicId);
    expect(a.isInternal).toBe(false);
    expect(a.topicAuthorizedOperations).toBeGreaterThan(0);
    expect(a.partitions).toEqual(
      [0, 1, 2].map((p) => ({
        errorCode: 0,
        partitionIndex: p,
        leaderId: 1,
        leaderEpoch: 0,
        replicaNodes: [1],
        isrNodes: [1],
        eligibleLeaderReplicas: [],
        lastKnownElr: [],
        offlineReplicas: [],
      })),
    );
  });

  it('pages through every topic with the partition limit and the cursor', async () => {
    const pages: string[][] = [];
    let cursor: { topicName: string; partitionIndex: number } | null = null;
    for (let i = 0; i < 10; i++) {
      const res = await describeTopics([], 2, cursor);
      pages.push(listed(res));
      cursor = res.nextCursor === null ? null : { ...res.nextCursor };
      if (cursor === null) break;
    }
    expect(pages).toEqual([
      ['dtp-a:0', 'dtp-a:1'],
      ['dtp-a:2', 'dtp-b:0'],
      ['dtp-b:1', 'dtp-c:0'],
    ]);
  });

  it('a topic that does not fit at all is left for the next cursor at its partition 0', async () => {
    const res = await describeTopics(['dtp-a', 'dtp-b'], 3);
    expect(listed(res)).toEqual(['dtp-a:0', 'dtp-a:1', 'dtp-a:2']);
    expect(res.nextCursor).toEqual({ topicName: 'dtp-b', partitionIndex: 0 });
  });

  it('a limit below 1 counts as 1', async () => {
    const res = await describeTopics(['dtp-c', 'dtp-b'], 0);
    expect(listed(res)).toEqual(['dtp-b:0']);
    expect(res.nextCursor).toEqual({ topicName: 'dtp-b', partitionIndex: 1 });
  });

  it('starts at the cursor; topics named before it are left out', async () => {
    const res = await describeTopics(['dtp-a', 'dtp-b', 'dtp-c'], 10, { topicName: 'dtp-b', partitionIndex: 1 });
    expect(listed(res)).toEqual(['dtp-b:1', 'dtp-c:0']);
    // A cursor past the last partition gives the topic with no partitions.
    const past = await describeTopics(['dtp-c'], 10, { topicName: 'dtp-c', partitionIndex: 5 });
    expect(past.topics.map((t) => [t.name, t.errorCode, t.partitions.length])).toEqual([['dtp-c', 0, 0]]);
  });

  it('unknown and invalid names get their errors when named, and nothing when every topic is asked for', async () => {
    const res = await describeTopics(['nosuch', 'bad/name', 'dtp-c']);
    expect(res.topics.map((t) => [t.name, t.errorCode, t.topicId])).toEqual([
      ['bad/name', ERROR_CODES.INVALID_TOPIC_EXCEPTION, ZERO_UUID],
      ['dtp-c', 0, broker.context.topics.get('dtp-c')?.topicId],
      ['nosuch', ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, ZERO_UUID],
    ]);
    const everything = await describeTopics([]);
    expect(everything.topics.map((t) => t.name)).toEqual(['dtp-a', 'dtp-b', 'dtp-c']);
  });

  it('refuses a cursor outside the topic list or with a negative partition (INVALID_REQUEST for every topic)', async () => {
    const outside = await describeTopics(['dtp-a', 'dtp-c'], 10, { topicName: 'dtp-b', partitionIndex: 0 });
    expect(outside.topics.map((t) => [t.name, t.errorCode, t.partitions.length])).toEqual([
      ['dtp-a', ERROR_CODES.INVALID_REQUEST, 0],
      ['dtp-c', ERROR_CODES.INVALID_REQUEST, 0],
    ]);
    const negative = await describeTopics(['dtp-a'], 10, { topicName: 'dtp-a', partitionIndex: -1 });
    expect(negative.topics.map((t) => t.errorCode)).toEqual([ERROR_CODES.INVALID_REQUEST]);
    expect(negative.nextCursor).toBeNull();
  });
});
