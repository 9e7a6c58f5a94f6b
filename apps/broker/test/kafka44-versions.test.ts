// The API versions of Kafka 4.4 that change what a request means (the codec follows Kafka 4.4's
// schemas): Produce v13, OffsetCommit v10 and OffsetFetch v10 name topics by id; DescribeGroups v6
// answers an unknown group with GROUP_ID_NOT_FOUND; ApiVersions v5 asks for a rebootstrap when the
// client meant another cluster or node; ListOffsets v11 knows the earliest-pending-upload query.
// The conformance suite compares the same answers with Apache Kafka 4.4 (test/conformance).

import {
  ApiVersionsApi,
  buildRecordBatchSync,
  CreateTopicsApi,
  DeleteGroupsApi,
  DescribeGroupsApi,
  ERROR_CODES,
  ListOffsetsApi,
  MetadataApi,
  OffsetCommitApi,
  OffsetFetchApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { listOffset, RawClient, startInProcess, tempDir } from './helpers.js';

const UNKNOWN_ID = '5ca1ab1e-0000-4000-8000-00000000dead';

let broker: RunningBroker;
let raw: RawClient;
let topicId: string;

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-kafka44-'), 'num.partitions': '1' });
  raw = await RawClient.connect(broker.port);
  const created = await raw.send(CreateTopicsApi, 7, {
    topics: [{ name: 'by-id', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(created.topics[0].errorCode).toBe(0);
  topicId = created.topics[0].topicId;
  expect(topicId).not.toBe(ZERO_UUID);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

const records = (value: string) => buildRecordBatchSync({ records: [{ value }] });

describe('Kafka 4.4 API versions', () => {
  it('Produce v13 writes to the topic its id names and answers with the id; an unknown id gets UNKNOWN_TOPIC_ID', async () => {
    const res = await raw.send(ProduceApi, 13, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [
        { name: '', topicId, partitionData: [{ index: 1, records: records('v13') }] },
        { name: '', topicId: UNKNOWN_ID, partitionData: [{ index: 0, records: records('lost') }] },
      ],
    });
    expect(res.responses.map((t) => [t.topicId, t.partitionResponses[0].errorCode])).toEqual([
      [topicId, 0],
      [UNKNOWN_ID, ERROR_CODES.UNKNOWN_TOPIC_ID],
    ]);
    expect(res.responses[0].partitionResponses[0].baseOffset).toBe(0n);
    // The record went to partition 1 of `by-id`.
    expect((await listOffset(raw, 'by-id', 1, -1n)).offset).toBe(1n);
    // v12 still names topics.
    const v12 = await raw.send(ProduceApi, 12, {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5000,
      topicData: [{ name: 'by-id', topicId: ZERO_UUID, partitionData: [{ index: 1, records: records('v12') }] }],
    });
    expect(v12.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 1n });
  });

  it('OffsetCommit v10 and OffsetFetch v10 name topics by id', async () => {
    const commit = await raw.send(OffsetCommitApi, 10, {
      groupId: 'g-by-id',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [
        {
          name: '',
          topicId,
          partitions: [{ partitionIndex: 1, committedOffset: 7n, committedLeaderEpoch: -1, committedMetadata: 'm' }],
        },
        {
          name: '',
          topicId: UNKNOWN_ID,
          partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' }],
        },
      ],
    });
    expect(commit.topics.map((t) => [t.topicId, t.partitions[0].errorCode])).toEqual([
      [topicId, 0],
      [UNKNOWN_ID, ERROR_CODES.UNKNOWN_TOPIC_ID],
    ]);
    const fetched = await raw.send(OffsetFetchApi, 10, {
      groups: [
        {
          groupId: 'g-by-id',
          memberId: null,
          memberEpoch: -1,
          topics: [
            { name: '', topicId, partitionIndexes: [0, 1] },
            { name: '', topicId: UNKNOWN_ID, partitionIndexes: [0] },
          ],
        },
      ],
      requireStable: false,
    });
    const g = fetched.groups[0];
    expect(g.errorCode).toBe(0);
    expect(g.topics.map((t) => [t.topicId, t.partitions.map((p) => [p.committedOffset, p.errorCode])])).toEqual([
      [
        topicId,
        [
          [-1n, 0],
          [7n, 0],
        ],
      ],
      [UNKNOWN_ID, [[-1n, ERROR_CODES.UNKNOWN_TOPIC_ID]]],
    ]);
    // All of the group's offsets: the topic comes back with its id.
    const all = await raw.send(OffsetFetchApi, 10, {
      groups: [{ groupId: 'g-by-id', memberId: null, memberEpoch: -1, topics: null }],
      requireStable: false,
    });
    expect(all.groups[0].topics.map((t) => [t.topicId, t.partitions.map((p) => p.committedOffset)])).toEqual([
      [topicId, [7n]],
    ]);
  });

  it('DescribeGroups v6 answers a group that does not exist with GROUP_ID_NOT_FOUND (v5: a Dead group)', async () => {
    const v6 = await raw.send(DescribeGroupsApi, 6, { groups: ['g-nobody'], includeAuthorizedOperations: false });
    expect(v6.groups[0]).toMatchObject({ errorCode: ERROR_CODES.GROUP_ID_NOT_FOUND, groupState: 'Dead' });
    expect(v6.groups[0].errorMessage).toBeTruthy();
    const v5 = await raw.send(DescribeGroupsApi, 5, { groups: ['g-nobody'], includeAuthorizedOperations: false });
    expect(v5.groups[0]).toMatchObject({ errorCode: 0, groupState: 'Dead' });
  });

  it('DeleteGroups v3 says why a group was not deleted', async () => {
    const r = await raw.send(DeleteGroupsApi, 3, { groupsNames: ['g-nobody'] });
    expect(r.results[0]).toMatchObject({ groupId: 'g-nobody', errorCode: ERROR_CODES.GROUP_ID_NOT_FOUND });
    expect(r.results[0].errorMessage).toBeTruthy();
  });

  it('ApiVersions v5 asks a client that meant another cluster or node to rebootstrap', async () => {
    const md = await raw.send(MetadataApi, 13, { topics: [], allowAutoTopicCreation: false });
    expect(md.errorCode).toBe(0);
    const ask = (clusterId: string | null, nodeId: number) =>
      raw.send(ApiVersionsApi, 5, {
        clientSoftwareName: 'test',
        clientSoftwareVersion: '1',
        clusterId,
        nodeId,
      });
    const right = await ask(md.clusterId, md.brokers[0].nodeId);
    expect(right.errorCode).toBe(0);
    expect(right.apiKeys.length).toBeGreaterThan(0);
    expect((await ask(null, -1)).errorCode).toBe(0);
    // Both or neither, as Kafka: one alone is an invalid request.
    expect((await ask(md.clusterId, -1)).errorCode).toBe(ERROR_CODES.INVALID_REQUEST);
    expect((await ask(null, md.brokers[0].nodeId)).errorCode).toBe(ERROR_CODES.INVALID_REQUEST);
    expect((await ask('another-cluster', md.brokers[0].nodeId)).errorCode).toBe(ERROR_CODES.REBOOTSTRAP_REQUIRED);
    expect((await ask(md.clusterId, md.brokers[0].nodeId + 1)).errorCode).toBe(ERROR_CODES.REBOOTSTRAP_REQUIRED);
  });

  it('ListOffsets v11 answers the earliest pending upload offset (-6) with -1: nothing is tiered', async () => {
    const r = await raw.send(ListOffsetsApi, 11, {
      replicaId: -1,
      isolationLevel: 0,
      timeoutMs: 5000,
      topics: [{ name: 'by-id', partitions: [{ partitionIndex: 1, currentLeaderEpoch: -1, timestamp: -6n }] }],
    });
    expect(r.topics[0].partitions[0]).toMatchObject({ errorCode: 0, offset: -1n });
  });
});
