// Consumer groups end to end: kafkajs consumers sharing partitions, prompt rebalances on leave,
// session expiry of a silent member, exactly-once consumption with synchronous commits, committed
// offsets across a restart, static membership and the describe/list APIs on the wire.

import { Consumer as PlatformaticConsumer, stringDeserializers } from '@platformatic/kafka';
import {
  ConsumerProtocolSubscriptionCodec,
  ERROR_CODES,
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  type JoinGroupRequest,
  ListGroupsApi,
  OffsetCommitApi,
  OffsetFetchApi,
  SyncGroupApi,
  Writer,
  ZERO_UUID,
} from '@sluice/protocol';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, sleep, startInProcess, tempDir } from './helpers.js';

const { Kafka, logLevel, AssignerProtocol } = kafkajs;
type KafkaClient = InstanceType<typeof Kafka>;
type Consumer = ReturnType<KafkaClient['consumer']>;

const dataDir = tempDir('sluice-groups-');
const PROPS = {
  'log.dirs': dataDir,
  'offsets.topic.num.partitions': '5',
  'group.initial.rebalance.delay.ms': '300',
  'group.min.session.timeout.ms': '1000',
};

let broker: RunningBroker;
let kafka: KafkaClient;
const consumers: Consumer[] = [];

function client(): KafkaClient {
  return new Kafka({ clientId: 'groups-e2e', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
}

beforeAll(async () => {
  broker = await startInProcess(PROPS);
  kafka = client();
});

afterAll(async () => {
  await Promise.allSettled(consumers.map((c) => c.disconnect()));
  await broker?.stop();
});

async function createTopic(topic: string, numPartitions = 6) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
  await admin.disconnect();
}

async function startConsumer(
  groupId: string,
  topic: string,
  onMessage: (partition: number, value: string) => void = () => {},
  options: { sessionTimeout?: number } = {},
): Promise<Consumer> {
  const c = kafka.consumer({
    groupId,
    sessionTimeout: options.sessionTimeout ?? 6000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 100,
    retry: { retries: 10, initialRetryTime: 100 },
  });
  consumers.push(c);
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({
    eachMessage: async ({ partition, message }) => onMessage(partition, message.value?.toString() ?? ''),
  });
  return c;
}

interface GroupView {
  state: string;
  protocolType: string;
  protocol: string;
  members: { memberId: string; clientId: string; clientHost: string; partitions: number[] }[];
}

async function describe1(groupId: string, topic: string): Promise<GroupView> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    const g = groups[0];
    return {
      state: g.state,
      protocolType: g.protocolType,
      protocol: g.protocol,
      members: g.members.map((m) => {
        const a = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        return {
          memberId: m.memberId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          partitions: [...(a?.assignment[topic] ?? [])].sort((x, y) => x - y),
        };
      }),
    };
  } finally {
    await admin.disconnect();
  }
}

/** Polls until the group is Stable with `members` members whose assignments cover all partitions once. */
async function waitForStable(groupId: string, topic: string, members: number, partitions = 6, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last: GroupView | undefined;
  while (Date.now() < deadline) {
    last = await describe1(groupId, topic);
    const owned = last.members.flatMap((m) => m.partitions);
    if (last.state === 'Stable' && last.members.length === members && owned.length === partitions) return last;
    await sleep(100);
  }
  throw new Error(`group ${groupId} did not settle: ${JSON.stringify(last)}`);
}

function subscriptionOf(...topics: string[]): Buffer {
  const w = new Writer(64);
  w.int16(0);
  ConsumerProtocolSubscriptionCodec.encode(w, 0, {
    ...ConsumerProtocolSubscriptionCodec.defaults(),
    topics,
    userData: null,
  });
  return w.toBuffer();
}

function rawJoin(over: Partial<JoinGroupRequest>): JoinGroupRequest {
  return {
    groupId: 'raw',
    sessionTimeoutMs: 6000,
    rebalanceTimeoutMs: 10_000,
    memberId: '',
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [{ name: 'RoundRobinAssigner', metadata: subscriptionOf('t-kill') }],
    reason: null,
    ...over,
  };
}

describe('consumer groups with kafkajs', () => {
  it('shares 6 partitions among 3 members, each partition owned by exactly one; Describe/ListGroups report them', async () => {
    await createTopic('t-three');
    await Promise.all([1, 2, 3].map(() => startConsumer('g-three', 't-three')));
    const g = await waitForStable('g-three', 't-three', 3);
    const owned = g.members.flatMap((m) => m.partitions).sort((a, b) => a - b);
    expect(owned).toEqual([0, 1, 2, 3, 4, 5]);
    for (const m of g.members) {
      expect(m.partitions).toHaveLength(2);
      expect(m.clientId).toBe('groups-e2e');
      expect(m.clientHost).toBe('/127.0.0.1');
    }
    expect(g.protocolType).toBe('consumer');
    expect(g.protocol).toBe('RoundRobinAssigner');
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.listGroups();
    await admin.disconnect();
    expect(groups).toContainEqual({ groupId: 'g-three', protocolType: 'consumer' });
    // ListGroups v4+ filters by state on the wire.
    const raw = await RawClient.connect(broker.port);
    const stable = await raw.send(ListGroupsApi, 4, { statesFilter: ['Stable'], typesFilter: [] });
    const empty = await raw.send(ListGroupsApi, 5, { statesFilter: ['Empty'], typesFilter: ['classic'] });
    raw.close();
    expect(stable.groups.map((x) => [x.groupId, x.groupState])).toContainEqual(['g-three', 'Stable']);
    expect(empty.groups.map((x) => x.groupId)).not.toContain('g-three');
  });

  it('rebalances promptly when a member leaves gracefully', async () => {
    await createTopic('t-leave');
    const a = await startConsumer('g-leave', 't-leave', undefined, { sessionTimeout: 20_000 });
    await startConsumer('g-leave', 't-leave', undefined, { sessionTimeout: 20_000 });
    await waitForStable('g-leave', 't-leave', 2);
    const started = Date.now();
    await a.disconnect(); // sends LeaveGroup
    const g = await waitForStable('g-leave', 't-leave', 1);
    const elapsed = Date.now() - started;
    expect(g.members[0].partitions).toEqual([0, 1, 2, 3, 4, 5]);
    // Far sooner than the 20 s session timeout would have removed it.
    expect(elapsed).toBeLessThan(5000);
  });

  it('replaces a member that stops heartbeating after its session timeout', async () => {
    await createTopic('t-kill');
    await startConsumer('g-kill', 't-kill');
    await waitForStable('g-kill', 't-kill', 1);
    // A second member joins over the wire (v5: MEMBER_ID_REQUIRED first), syncs, then falls silent.
    const raw = await RawClient.connect(broker.port);
    const first = await raw.send(JoinGroupApi, 5, rawJoin({ groupId: 'g-kill' }));
    expect(first.errorCode).toBe(ERROR_CODES.MEMBER_ID_REQUIRED);
    const joined = await raw.send(JoinGroupApi, 5, rawJoin({ groupId: 'g-kill', memberId: first.memberId }));
    expect(joined.errorCode).toBe(ERROR_CODES.NONE);
    expect(joined.leader).not.toBe(joined.memberId);
    const synced = await raw.send(SyncGroupApi, 3, {
      groupId: 'g-kill',
      generationId: joined.generationId,
      memberId: joined.memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    expect(synced.errorCode).toBe(ERROR_CODES.NONE);
    const two = await waitForStable('g-kill', 't-kill', 2);
    expect(two.members.find((m) => m.memberId === joined.memberId)!.partitions.length).toBeGreaterThan(0);
    const silentSince = Date.now();
    const one = await waitForStable('g-kill', 't-kill', 1, 6, 15_000);
    const elapsed = Date.now() - silentSince;
    expect(one.members[0].memberId).not.toBe(joined.memberId);
    expect(elapsed).toBeGreaterThan(4500);
    // Its heartbeat now finds it gone.
    const hb = await raw.send(HeartbeatApi, 3, {
      groupId: 'g-kill',
      generationId: joined.generationId,
      memberId: joined.memberId,
      groupInstanceId: null,
    });
    expect(hb.errorCode).toBe(ERROR_CODES.UNKNOWN_MEMBER_ID);
    raw.close();
  });

  it('consumes 20,000 messages exactly once across the group with synchronous commits', async () => {
    const topic = 't-once';
    await createTopic(topic);
    const seen = new Map<string, number>();
    let total = 0;
    const group: Consumer[] = [];
    for (let i = 0; i < 3; i++) {
      const c = kafka.consumer({
        groupId: 'g-once',
        // Once-only holds for a group that does not rebalance meanwhile. The broker and the consumers share
        // this process, which a loaded machine can stall past a 6 s session; after a rebalance a record
        // whose commit was refused is read again (at-least-once, as with Kafka).
        sessionTimeout: 30_000,
        heartbeatInterval: 300,
        maxWaitTimeInMs: 100,
      });
      consumers.push(c);
      group.push(c);
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const v = m.value!.toString();
            seen.set(v, (seen.get(v) ?? 0) + 1);
            total++;
          }
          if (batch.messages.length > 0) {
            const next = (BigInt(batch.lastOffset()) + 1n).toString();
            await group[i].commitOffsets([{ topic, partition: batch.partition, offset: next }]);
          }
        },
      });
    }
    await waitForStable('g-once', topic, 3);
    const producer = kafka.producer();
    await producer.connect();
    const N = 20_000;
    for (let start = 0; start < N; start += 2000) {
      const messages = Array.from({ length: 2000 }, (_, j) => ({ key: `k${start + j}`, value: `m${start + j}` }));
      await producer.send({ topic, messages });
    }
    await producer.disconnect();
    const deadline = Date.now() + 30_000;
    while (total < N && Date.now() < deadline) await sleep(100);
    await sleep(500); // anything consumed twice would show up now
    expect(seen.size).toBe(N);
    expect(total).toBe(N);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // Committed offsets reach the end of every partition.
    const admin = kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId: 'g-once', topics: [topic] });
    await admin.disconnect();
    const endOf = new Map(ends.map((e) => [e.partition, e.high]));
    let sum = 0n;
    for (const p of committed[0].partitions) {
      expect(p.offset).toBe(endOf.get(p.partition));
      sum += BigInt(p.offset);
    }
    expect(sum).toBe(BigInt(N));
    await Promise.all(group.map((c) => c.disconnect()));
  });

  it('shares partitions between @platformatic/kafka consumers, each message once, committed per message', async () => {
    const topic = 't-plat';
    await createTopic(topic, 4);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: `p${i}` })) });
    await producer.disconnect();
    const seen = new Map<string, number>();
    const plats = [1, 2].map(
      (i) =>
        new PlatformaticConsumer({
          groupId: 'g-plat',
          clientId: `plat-${i}`,
          bootstrapBrokers: [broker.bootstrap],
          deserializers: stringDeserializers,
          sessionTimeout: 6000,
          heartbeatInterval: 300,
          maxWaitTime: 100,
        }),
    );
    try {
      for (const c of plats) {
        const stream = await c.consume({
          topics: [topic],
          autocommit: false,
          mode: 'committed',
          fallbackMode: 'earliest',
        });
        stream.on('data', (m) => {
          seen.set(m.value, (seen.get(m.value) ?? 0) + 1);
          void m.commit();
        });
      }
      const deadline = Date.now() + 20_000;
      while (seen.size < 200 && Date.now() < deadline) await sleep(100);
      expect(seen.size).toBe(200);
      const g = await waitForStable('g-plat', topic, 2, 4);
      expect(g.protocolType).toBe('consumer');
      expect(g.members.map((m) => m.partitions.length)).toEqual([2, 2]);
      // The commits are sent without waiting for their answers: wait for them (bounded) before checking.
      const admin = kafka.admin();
      await admin.connect();
      let sum = -1;
      for (const until = Date.now() + 20_000; sum !== 200 && Date.now() < until; await sleep(100)) {
        const committed = await admin.fetchOffsets({ groupId: 'g-plat', topics: [topic] });
        sum = committed[0].partitions.reduce((n, p) => n + Number(p.offset), 0);
      }
      await admin.disconnect();
      expect(sum).toBe(200);
    } finally {
      await Promise.allSettled(plats.map((c) => c.close(true)));
    }
  });

  it('keeps a static member’s assignment across its restart without a rebalance (KIP-345)', async () => {
    const raw = await RawClient.connect(broker.port);
    const join = (instance: string) =>
      raw.send(JoinGroupApi, 5, rawJoin({ groupId: 'g-static', groupInstanceId: instance, sessionTimeoutMs: 10_000 }));
    const j = await join('instance-1');
    expect(j.errorCode).toBe(ERROR_CODES.NONE);
    const sync = (memberId: string, assignments: { memberId: string; assignment: Buffer }[]) =>
      raw.send(SyncGroupApi, 3, {
        groupId: 'g-static',
        generationId: j.generationId,
        memberId,
        groupInstanceId: 'instance-1',
        protocolType: null,
        protocolName: null,
        assignments,
      });
    await sync(j.memberId, [{ memberId: j.memberId, assignment: Buffer.from('mine') }]);
    const again = await join('instance-1');
    expect(again.errorCode).toBe(ERROR_CODES.NONE);
    expect(again.memberId).not.toBe(j.memberId);
    expect(again.generationId).toBe(j.generationId);
    const s = await sync(again.memberId, []);
    expect(s.assignment.toString()).toBe('mine');
    const fenced = await raw.send(HeartbeatApi, 3, {
      groupId: 'g-static',
      generationId: j.generationId,
      memberId: j.memberId,
      groupInstanceId: 'instance-1',
    });
    expect(fenced.errorCode).toBe(ERROR_CODES.FENCED_INSTANCE_ID);
    raw.close();
  });

  it('answers FindCoordinator for groups (batched from v4) and for transactions', async () => {
    const raw = await RawClient.connect(broker.port);
    const v4 = await raw.send(FindCoordinatorApi, 4, {
      key: '',
      keyType: 0,
      coordinatorKeys: ['a', 'b'],
    });
    expect(v4.coordinators.map((c) => [c.key, c.errorCode, c.port])).toEqual([
      ['a', 0, broker.port],
      ['b', 0, broker.port],
    ]);
    const txn = await raw.send(FindCoordinatorApi, 3, { key: 'tx', keyType: 1, coordinatorKeys: [] });
    expect([txn.errorCode, txn.port]).toEqual([0, broker.port]);
    const unknownType = await raw.send(FindCoordinatorApi, 3, { key: 'x', keyType: 7, coordinatorKeys: [] });
    expect(unknownType.errorCode).toBe(ERROR_CODES.INVALID_REQUEST);
    const v0 = await raw.send(FindCoordinatorApi, 0, { key: 'g', keyType: 0, coordinatorKeys: [] });
    expect([v0.errorCode, v0.nodeId, v0.port]).toEqual([0, broker.context.nodeId, broker.port]);
    raw.close();
  });

  it('keeps committed offsets across a broker restart', async () => {
    const raw = await RawClient.connect(broker.port);
    const commit = await raw.send(OffsetCommitApi, 8, {
      groupId: 'g-simple',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [
        {
          name: 't-three',
          topicId: ZERO_UUID,
          partitions: [
            {
              partitionIndex: 4,
              committedOffset: 1234n,
              committedLeaderEpoch: 0,
              committedMetadata: 'md',
            },
          ],
        },
      ],
    });
    expect(commit.topics[0].partitions[0].errorCode).toBe(0);
    raw.close();
    const before = await (async () => {
      const admin = kafka.admin();
      await admin.connect();
      const r = await admin.fetchOffsets({ groupId: 'g-once', topics: ['t-once'] });
      await admin.disconnect();
      return r;
    })();
    await Promise.allSettled(consumers.map((c) => c.disconnect()));
    await broker.stop();
    broker = await startInProcess(PROPS);
    kafka = client();
    const admin = kafka.admin();
    await admin.connect();
    const after = await admin.fetchOffsets({ groupId: 'g-once', topics: ['t-once'] });
    const { groups } = await admin.listGroups();
    await admin.disconnect();
    expect(after).toEqual(before);
    expect(after[0].partitions.some((p) => p.offset !== '-1')).toBe(true);
    expect(groups.map((g) => g.groupId)).toEqual(expect.arrayContaining(['g-once', 'g-simple', 'g-three']));
    const raw2 = await RawClient.connect(broker.port);
    const fetched = await raw2.send(OffsetFetchApi, 8, {
      groupId: '',
      topics: [],
      groups: [
        {
          groupId: 'g-simple',
          memberId: null,
          memberEpoch: -1,
          topics: [{ name: 't-three', topicId: ZERO_UUID, partitionIndexes: [4, 5] }],
        },
      ],
      requireStable: true,
    });
    raw2.close();
    expect(fetched.groups[0].topics[0].partitions.map((p) => [p.committedOffset, p.metadata])).toEqual([
      [1234n, 'md'],
      [-1n, ''],
    ]);
    // A consumer of the restored group resumes after its committed offsets: it sees only new messages.
    const got: string[] = [];
    await startConsumer('g-once', 't-once', (_p, v) => got.push(v));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 't-once', messages: Array.from({ length: 10 }, (_, i) => ({ value: `new${i}` })) });
    await producer.disconnect();
    const deadline = Date.now() + 15_000;
    while (got.length < 10 && Date.now() < deadline) await sleep(100);
    await sleep(300);
    expect(got.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `new${i}`).sort());
  });
});
