// Group coordination across a 3-broker cluster (in one process, etcd on loopback): a broker that
// does not lead a group's __consumer_offsets partition answers every group API NOT_COORDINATOR as
// Kafka does and lists only its own groups; when leadership of that partition moves away the broker
// drops the groups, and when it comes back it loads them from the partition — a kafkajs consumer
// finds its coordinator again and goes on from its committed offsets.

import type { LocalEtcd } from '@sluice/cluster';
import {
  DeleteGroupsApi,
  DescribeGroupsApi,
  ERROR_CODES,
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  LeaveGroupApi,
  ListGroupsApi,
  OffsetCommitApi,
  OffsetDeleteApi,
  OffsetFetchApi,
  SyncGroupApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { clusterBrokerProps, listOffset, RawClient, sleep, startEtcdCluster, until } from './helpers.js';

const logger = createLogger('silent');
const TOPIC = 'handover';
// One replica of each offsets partition: these cases move or stop its only copy.
const CLUSTER_PROPS = {
  'offsets.topic.num.partitions': '6',
  'offsets.topic.replication.factor': '1',
  'group.initial.rebalance.delay.ms': '0',
};

/**
 * The group's committed offsets came back with its coordinator: the `committed` records read before the
 * coordinator went away are not read again after it, and every record up to `total` is read.
 * Records sent after the move may be read twice: kafkajs restarts its consumer while the coordinator is
 * away, the member it leaves behind expires later, and that rebalance refuses a commit in flight, so the
 * new owner reads from the last commit (at-least-once, as against Kafka).
 */
function expectCommittedNotReadAgain(seen: string[], at: number, prefix: string, committed: number, total: number) {
  const name = (i: number) => `${prefix}${i}`;
  const before = seen.slice(0, at).filter((v) => v.startsWith(prefix));
  expect([...new Set(before)].sort()).toEqual(Array.from({ length: committed }, (_, i) => name(i)).sort());
  const early = new Set(before);
  expect(seen.slice(at).filter((v) => early.has(v))).toEqual([]);
  expect([...new Set(seen.filter((v) => v.startsWith(prefix)))].sort()).toEqual(
    Array.from({ length: total }, (_, i) => name(i)).sort(),
  );
}

describe('group coordinator handover in a 3-broker cluster', { timeout: 90_000 }, () => {
  let etcd: LocalEtcd;
  const brokers: RunningBroker[] = [];
  const clients: RawClient[] = [];

  beforeAll(async () => {
    const started = await startEtcdCluster('sluice-handover', CLUSTER_PROPS);
    etcd = started.etcd;
    brokers.push(...started.brokers);
    clients.push(...started.clients);
    const admin = new Kafka({ clientId: 't', brokers: [brokers[0].bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    await until('the topic on every broker', () => brokers.every((b) => b.context.topics.get(TOPIC) !== undefined));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const b of brokers) await b.stop();
    await etcd?.stop();
  });

  /** The node id coordinating `group`, as every broker answers FindCoordinator. */
  const coordinatorOf = async (group: string): Promise<number> => {
    let ids: number[] = [];
    // The first lookup creates __consumer_offsets (COORDINATOR_NOT_AVAILABLE meanwhile).
    await until(`a coordinator for ${group}`, async () => {
      const answers = await Promise.all(
        clients.map((c) => c.send(FindCoordinatorApi, 4, { key: '', keyType: 0, coordinatorKeys: [group] })),
      );
      ids = answers.map((a) => a.coordinators[0].nodeId);
      return ids.every((id) => id > 0);
    });
    expect(new Set(ids).size).toBe(1);
    return ids[0];
  };
  const commit = (c: RawClient, group: string, offset: bigint) =>
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
          partitions: [
            { partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null },
          ],
        },
      ],
    });
  const listGroups = async (c: RawClient) =>
    (await c.send(ListGroupsApi, 5, { statesFilter: [], typesFilter: [] })).groups.map((g) => g.groupId);

  it('a broker that is not the coordinator answers every group API NOT_COORDINATOR and lists only its own groups', async () => {
    const group = 'read-side';
    const id = await coordinatorOf(group);
    expect((await commit(clients[id - 1], group, 5n)).topics[0].partitions[0].errorCode).toBe(0);
    const other = clients[id % 3];
    const NC = ERROR_CODES.NOT_COORDINATOR;

    const hb = await other.send(HeartbeatApi, 4, {
      groupId: group,
      generationId: 1,
      memberId: 'm',
      groupInstanceId: null,
    });
    expect(hb.errorCode).toBe(NC);
    const join = await other.send(JoinGroupApi, 9, {
      groupId: group,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: 'member-1',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
      reason: null,
    });
    expect(join).toMatchObject({ errorCode: NC, memberId: 'member-1', generationId: -1, members: [] });
    const sync = await other.send(SyncGroupApi, 5, {
      groupId: group,
      generationId: 1,
      memberId: 'member-1',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [],
    });
    expect(sync.errorCode).toBe(NC);
    const leave = await other.send(LeaveGroupApi, 5, {
      groupId: group,
      members: [{ memberId: 'member-1', groupInstanceId: null, reason: null }],
    });
    expect(leave).toMatchObject({ errorCode: NC, members: [] });
    const described = await other.send(DescribeGroupsApi, 5, { groups: [group], includeAuthorizedOperations: false });
    expect(described.groups[0]).toMatchObject({ groupId: group, errorCode: NC, groupState: '', members: [] });
    // The committed offset is the coordinator's to tell, in every OffsetFetch version.
    const fetch8 = await other.send(OffsetFetchApi, 8, {
      groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics: null }],
      requireStable: false,
    });
    expect(fetch8.groups[0]).toMatchObject({ groupId: group, errorCode: NC, topics: [] });
    const fetch7 = await other.send(OffsetFetchApi, 7, {
      groupId: group,
      topics: [{ name: TOPIC, partitionIndexes: [0] }],
      requireStable: false,
    });
    expect(fetch7.errorCode).toBe(NC);
    const fetch1 = await other.send(OffsetFetchApi, 1, {
      groupId: group,
      topics: [{ name: TOPIC, partitionIndexes: [0] }],
    });
    expect(fetch1.topics[0].partitions[0]).toMatchObject({ partitionIndex: 0, errorCode: NC, committedOffset: -1n });
    expect((await commit(other, group, 6n)).topics[0].partitions[0].errorCode).toBe(NC);
    const offsetDelete = await other.send(OffsetDeleteApi, 0, {
      groupId: group,
      topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0 }] }],
    });
    expect(offsetDelete.errorCode).toBe(NC);
    const deleted = await other.send(DeleteGroupsApi, 2, { groupsNames: [group] });
    expect(deleted.results[0]).toMatchObject({ groupId: group, errorCode: NC });

    // ListGroups: each broker its own; the group shows on its coordinator only.
    for (const [i, c] of clients.entries()) expect((await listGroups(c)).includes(group)).toBe(i === id - 1);
    // The coordinator still has it, offset untouched by the refused requests.
    const fetched = await clients[id - 1].send(OffsetFetchApi, 8, {
      groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics: null }],
      requireStable: false,
    });
    expect(fetched.groups[0].topics[0].partitions[0]).toMatchObject({ errorCode: 0, committedOffset: 5n });
  });

  it('leadership of the offsets partition moves away: groups are dropped; back: loaded, and a kafkajs consumer goes on from its committed offsets', async () => {
    const group = 'movers';
    const kafka = new Kafka({
      clientId: 'handover',
      brokers: brokers.map((b) => b.bootstrap),
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, retries: 30, maxRetryTime: 1000 },
    });
    const producer = kafka.producer();
    await producer.connect();
    const send = (from: number, n: number) =>
      producer.send({
        topic: TOPIC,
        messages: Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })),
      });
    await send(0, 30);
    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId: group, heartbeatInterval: 200, sessionTimeout: 6000 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({
        autoCommitInterval: 100,
        eachMessage: async ({ message }) => {
          seen.push(message.value!.toString());
        },
      });
      await until('30 records consumed', () => seen.length >= 30, 30_000);
      const id = await coordinatorOf(group);
      const coordinator = brokers[id - 1];
      await until('the consumer group stable on its coordinator with offsets committed', async () => {
        // A loaded machine can stall kafkajs past a heartbeat and start a rebalance: wait for it to settle.
        if (coordinator.context.groups.coordinator.group(group)?.state !== 'Stable') return false;
        const r = await clients[id - 1].send(OffsetFetchApi, 8, {
          groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics: null }],
          requireStable: false,
        });
        const committed = r.groups[0].topics.flatMap((t) => t.partitions).reduce((n, p) => n + p.committedOffset, 0n);
        return committed === 30n;
      });
      expect(coordinator.context.groups.coordinator.group(group)?.state).toBe('Stable');
      const atMove = seen.length;

      // The controller moves the coordinator's leaderships away (controlled shutdown, RF=1: no leader).
      const offsets = coordinator.context.topics.get('__consumer_offsets')!;
      const p = coordinator.context.groups.coordinator.partitionFor(group);
      const epoch = coordinator.context.store.image.brokers.get(id)!.brokerEpoch;
      await coordinator.context.store.setControlledShutdown(id, epoch, true);
      await until('the offsets partition without a leader on every broker', () =>
        brokers.every((b) => b.context.store.image.partition(offsets.topicId, p)?.leader === -1),
      );
      // Dropped on the old coordinator: nothing of the group left, its requests answered NOT_COORDINATOR.
      expect(coordinator.context.groups.coordinator.group(group)).toBeUndefined();
      const hb = await clients[id - 1].send(HeartbeatApi, 4, {
        groupId: group,
        generationId: 1,
        memberId: 'x',
        groupInstanceId: null,
      });
      expect(hb.errorCode).toBe(ERROR_CODES.NOT_COORDINATOR);
      expect(await listGroups(clients[id - 1])).not.toContain(group);
      await sleep(1000);

      // Leadership comes back: the broker loads the group's offsets from the partition.
      await coordinator.context.store.setControlledShutdown(id, epoch, false);
      await until('the coordinator leading the offsets partition again', () =>
        brokers.every((b) => b.context.store.image.partition(offsets.topicId, p)?.leader === id),
      );
      expect(coordinator.context.groups.coordinator.group(group)).toBeDefined();
      await until('every topic partition led again', () => {
        const img = coordinator.context.store.image;
        const t = img.topics.get(TOPIC)!;
        return img.partitionsOf(t.topicId).every((x) => x.leader > 0);
      });
      // The consumer finds its coordinator again and reads only what came after its commits.
      await send(30, 30);
      await until('the 30 new records consumed', () => new Set(seen.slice(atMove)).size >= 30, 45_000);
      await sleep(500);
      expectCommittedNotReadAgain(seen, atMove, 'v', 30, 60);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  });

  it('the coordinator broker restarts: while it is away FindCoordinator answers COORDINATOR_NOT_AVAILABLE; back on its data, a kafkajs consumer goes on from its committed offsets', async () => {
    const group = 'restarted';
    const kafka = new Kafka({
      clientId: 'restart',
      brokers: brokers.map((b) => b.bootstrap),
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, retries: 30, maxRetryTime: 1000 },
    });
    const producer = kafka.producer();
    await producer.connect();
    const send = (from: number, n: number) =>
      producer.send({
        topic: TOPIC,
        messages: Array.from({ length: n }, (_, i) => ({ key: `r${from + i}`, value: `r${from + i}` })),
      });
    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId: group, heartbeatInterval: 200, sessionTimeout: 6000 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({
        autoCommitInterval: 100,
        autoCommitThreshold: 1,
        eachMessage: async ({ message }) => {
          if (message.value!.toString().startsWith('r')) seen.push(message.value!.toString());
        },
      });
      const id = await coordinatorOf(group);
      await until(
        'the consumer in the group',
        () => brokers[id - 1].context.groups.coordinator.group(group)?.state === 'Stable',
      );
      await send(0, 20);
      await until('20 records consumed', () => seen.length >= 20, 30_000);
      // Everything in the topic consumed and committed before the coordinator goes.
      const img = brokers[0].context.store.image;
      const topicId = img.topics.get(TOPIC)!.topicId;
      let end = 0n;
      for (const p of img.partitionsOf(topicId)) {
        end += (await listOffset(clients[p.leader - 1], TOPIC, p.partition, -1n)).offset;
      }
      await until('all offsets committed', async () => {
        const r = await clients[id - 1].send(OffsetFetchApi, 8, {
          groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics: null }],
          requireStable: false,
        });
        return r.groups[0].topics.flatMap((t) => t.partitions).reduce((n, p) => n + p.committedOffset, 0n) === end;
      });
      // The coordinator stops (cleanly: its leaderships move away first) and comes back on its data.
      const atStop = seen.length;
      const old = brokers[id - 1];
      const dir = old.dataDir;
      const offsetsId = old.context.store.image.topics.get('__consumer_offsets')!.topicId;
      const offsetsPartition = old.context.groups.coordinator.partitionFor(group);
      clients[id - 1].close();
      await old.stop();
      const others = clients.filter((_, i) => i !== id - 1);
      // The other brokers learn of the move through their own etcd watches, each at its own pace.
      await until('the offsets partition without a leader on the other brokers', () =>
        brokers
          .filter((_, i) => i !== id - 1)
          .every((b) => b.context.store.image.partition(offsetsId, offsetsPartition)?.leader === -1),
      );
      const lookup = await others[0].send(FindCoordinatorApi, 4, { key: '', keyType: 0, coordinatorKeys: [group] });
      expect(lookup.coordinators[0].errorCode).toBe(ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
      brokers[id - 1] = await startBroker({
        logger,
        props: clusterBrokerProps(etcd, id, dir, CLUSTER_PROPS),
      });
      clients[id - 1] = await RawClient.connect(brokers[id - 1].port);
      expect(await coordinatorOf(group)).toBe(id);
      await until('every topic partition led again', () => {
        const img = brokers[0].context.store.image;
        const t = img.topics.get(TOPIC)!;
        return img.partitionsOf(t.topicId).every((x) => x.leader > 0);
      });
      await send(20, 20);
      await until('the 20 new records consumed', () => new Set(seen.slice(atStop)).size >= 20, 45_000);
      await sleep(500);
      expectCommittedNotReadAgain(seen, atStop, 'r', 20, 40);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  });
});
