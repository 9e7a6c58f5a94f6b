// KIP-848 consumer groups on the wire: ConsumerGroupHeartbeat joins and reconciles members,
// ConsumerGroupDescribe/ListGroups/DescribeGroups answer as Kafka does, offsets are checked
// against member epochs, and the group survives a broker restart.

import { Admin } from '@sluice/client';
import {
  ConsumerGroupDescribeApi,
  ConsumerGroupHeartbeatApi,
  type ConsumerGroupHeartbeatRequest,
  type ConsumerGroupHeartbeatResponse,
  CreateTopicsApi,
  DeleteGroupsApi,
  DescribeGroupsApi,
  ERROR_CODES as E,
  JoinGroupApi,
  ListGroupsApi,
  OffsetCommitApi,
  OffsetDeleteApi,
  OffsetFetchApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, startInProcess, tempDir } from './helpers.js';

const PROPS = {
  'log.dirs': tempDir('sluice-kip848-'),
  'offsets.topic.num.partitions': '3',
  'group.consumer.heartbeat.interval.ms': '1234',
};

let broker: RunningBroker;
let raw: RawClient;
let topicId = '';

beforeAll(async () => {
  broker = await startInProcess(PROPS);
  raw = await RawClient.connect(broker.port);
  const res = await raw.send(CreateTopicsApi, 7, {
    topics: [{ name: 'orders', numPartitions: 4, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  topicId = res.topics[0].topicId;
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

function heartbeat(body: Partial<ConsumerGroupHeartbeatRequest>): Promise<ConsumerGroupHeartbeatResponse> {
  return raw.send(ConsumerGroupHeartbeatApi, 1, {
    groupId: 'g848',
    memberEpoch: 0,
    rebalanceTimeoutMs: 30_000,
    subscribedTopicNames: ['orders'],
    topicPartitions: [],
    ...body,
  });
}

const partitionsOf = (r: ConsumerGroupHeartbeatResponse) => r.assignment?.topicPartitions[0]?.partitions ?? [];

describe('KIP-848 consumer groups over the wire', () => {
  it('joins, revokes before assigning, describes, lists and checks offsets against member epochs', async () => {
    const a1 = await heartbeat({ memberId: 'member-a' });
    expect(a1).toMatchObject({ errorCode: 0, memberId: 'member-a', memberEpoch: 1, heartbeatIntervalMs: 1234 });
    expect(a1.assignment?.topicPartitions).toEqual([
      { topicId, partitions: [0, 1, 2, 3], unknownTaggedFields: undefined },
    ]);

    const b1 = await heartbeat({ memberId: 'member-b', serverAssignor: 'range' });
    expect(b1.memberEpoch).toBe(2);
    expect(partitionsOf(b1)).toEqual([]);
    // member-a still owns everything: it is asked to revoke half and stays at epoch 1.
    const a2 = await heartbeat({
      memberId: 'member-a',
      memberEpoch: 1,
      rebalanceTimeoutMs: -1,
      subscribedTopicNames: null,
      topicPartitions: [{ topicId, partitions: [0, 1, 2, 3] }],
    });
    expect(a2.memberEpoch).toBe(1);
    expect(partitionsOf(a2)).toHaveLength(2);

    const described = await raw.send(ConsumerGroupDescribeApi, 1, {
      groupIds: ['g848', 'nope'],
      includeAuthorizedOperations: false,
    });
    expect(described.groups[0]).toMatchObject({
      errorCode: 0,
      groupState: 'Reconciling',
      groupEpoch: 2,
      assignmentEpoch: 2,
      assignorName: 'range',
    });
    expect(described.groups[0].members.map((m) => [m.memberId, m.memberEpoch, m.memberType]).sort()).toEqual([
      ['member-a', 1, 1],
      ['member-b', 2, 1],
    ]);
    expect(
      described.groups[0].members.find((m) => m.memberId === 'member-a')?.assignment.topicPartitions[0].topicName,
    ).toBe('orders');
    expect(described.groups[1]).toMatchObject({
      errorCode: E.GROUP_ID_NOT_FOUND,
      errorMessage: 'Group nope not found.',
    });
    // @sluice/client's Admin (and so `sluice group describe`) falls back to ConsumerGroupDescribe.
    const admin = new Admin({ brokers: [`127.0.0.1:${broker.port}`] });
    try {
      const viaAdmin = await admin.describeGroup('g848');
      expect(viaAdmin).toMatchObject({ type: 'consumer', state: 'Reconciling', groupEpoch: 2, protocol: 'range' });
      expect(viaAdmin.members.find((m) => m.memberId === 'member-a')?.memberEpoch).toBe(1);
      expect(viaAdmin.members.find((m) => m.memberId === 'member-a')?.assignment[0]?.topic).toBe('orders');
    } finally {
      await admin.close();
    }

    // Offsets: the current epoch commits; a newer one is stale; an unknown member is refused.
    const commit = (memberId: string, epoch: number, version = 9) =>
      raw.send(OffsetCommitApi, version, {
        groupId: 'g848',
        generationIdOrMemberEpoch: epoch,
        memberId,
        groupInstanceId: null,
        topics: [
          {
            name: 'orders',
            topicId,
            partitions: [
              {
                partitionIndex: partitionsOf(a2)[0],
                committedOffset: 7n,
                committedLeaderEpoch: -1,
                committedMetadata: null,
              },
            ],
          },
        ],
      });
    expect((await commit('member-a', 1)).topics[0].partitions[0].errorCode).toBe(0);
    expect((await commit('member-a', 2)).topics[0].partitions[0].errorCode).toBe(E.STALE_MEMBER_EPOCH);
    expect((await commit('ghost', 1)).topics[0].partitions[0].errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect((await commit('member-a', 1, 8)).topics[0].partitions[0].errorCode).toBe(E.UNSUPPORTED_VERSION);
    const fetch = (memberEpoch: number) =>
      raw.send(OffsetFetchApi, 9, {
        groups: [
          {
            groupId: 'g848',
            memberId: 'member-a',
            memberEpoch,
            topics: [{ name: 'orders', topicId, partitionIndexes: [partitionsOf(a2)[0]] }],
          },
        ],
        requireStable: false,
      });
    expect((await fetch(1)).groups[0].topics[0].partitions[0].committedOffset).toBe(7n);
    expect((await fetch(5)).groups[0].errorCode).toBe(E.STALE_MEMBER_EPOCH);

    const list = await raw.send(ListGroupsApi, 5, { statesFilter: [], typesFilter: ['consumer'] });
    expect(list.groups).toContainEqual(
      expect.objectContaining({
        groupId: 'g848',
        groupType: 'consumer',
        protocolType: 'consumer',
        groupState: 'Reconciling',
      }),
    );
    const classicOnly = await raw.send(ListGroupsApi, 5, { statesFilter: [], typesFilter: ['classic'] });
    expect(classicOnly.groups.map((g) => g.groupId)).not.toContain('g848');

    const dg = await raw.send(DescribeGroupsApi, 6, { groups: ['g848'], includeAuthorizedOperations: false });
    expect(dg.groups[0]).toMatchObject({
      errorCode: E.GROUP_ID_NOT_FOUND,
      groupState: 'Dead',
      errorMessage: 'Group g848 is not a classic group.',
    });
    const join = await raw.send(JoinGroupApi, 9, {
      groupId: 'g848',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
    });
    // Mixed mode: a classic member may join a consumer group (asked for a member id first, as Kafka does) ...
    expect(join.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    // ... but only with the consumer's embedded protocol.
    const connect = await raw.send(JoinGroupApi, 9, {
      groupId: 'g848',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      protocolType: 'connect',
      protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
    });
    expect(connect.errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    const del = await raw.send(DeleteGroupsApi, 2, { groupsNames: ['g848'] });
    expect(del.results[0].errorCode).toBe(E.NON_EMPTY_GROUP);
    // The members subscribe to 'orders': its offsets cannot be deleted while they do.
    const od = await raw.send(OffsetDeleteApi, 0, {
      groupId: 'g848',
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 0 }] }],
    });
    expect(od.topics[0].partitions[0].errorCode).toBe(E.GROUP_SUBSCRIBED_TO_TOPIC);
  });

  it('keeps the group, its epochs and assignments across a restart', async () => {
    const before = await raw.send(ConsumerGroupDescribeApi, 1, {
      groupIds: ['g848'],
      includeAuthorizedOperations: false,
    });
    raw.close();
    await broker.stop();
    broker = await startInProcess(PROPS);
    raw = await RawClient.connect(broker.port);
    const after = await raw.send(ConsumerGroupDescribeApi, 1, {
      groupIds: ['g848'],
      includeAuthorizedOperations: false,
    });
    expect(after.groups[0].groupEpoch).toBe(2);
    expect(after).toEqual(before);
    // member-a carries on where it was: revoking brings it to epoch 2.
    const a = after.groups[0].members.find((m) => m.memberId === 'member-a');
    const r = await heartbeat({
      memberId: 'member-a',
      memberEpoch: 1,
      rebalanceTimeoutMs: -1,
      subscribedTopicNames: null,
      topicPartitions: [{ topicId, partitions: a?.assignment.topicPartitions[0].partitions ?? [] }],
    });
    expect(r.memberEpoch).toBe(2);
    // Both leave; the empty group can be deleted, with its offsets.
    expect((await heartbeat({ memberId: 'member-a', memberEpoch: -1 })).memberEpoch).toBe(-1);
    expect((await heartbeat({ memberId: 'member-b', memberEpoch: -1 })).errorCode).toBe(0);
    const del = await raw.send(DeleteGroupsApi, 2, { groupsNames: ['g848'] });
    expect(del.results[0].errorCode).toBe(0);
    const gone = await raw.send(ConsumerGroupDescribeApi, 1, {
      groupIds: ['g848'],
      includeAuthorizedOperations: false,
    });
    expect(gone.groups[0].errorCode).toBe(E.GROUP_ID_NOT_FOUND);
  });
});
