import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AlterPartitionReassignmentsApi,
  CreatePartitionsApi,
  CreateTopicsApi,
  DescribeClusterApi,
  DescribeTopicPartitionsApi,
  ElectLeadersApi,
  FetchApi,
  ListOffsetsApi,
  ListPartitionReassignmentsApi,
  MetadataApi,
  OffsetForLeaderEpochApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterUnderTest, startKafkaCluster, startSluiceCluster } from './brokers.js';
import { type Difference, diff, explain, normalise, ZERO_UUID } from './compare.js';
import {
  batch,
  fetchRequest,
  produce,
  type Side,
  topicIdOf,
  values,
  waitForLeaders,
  waitForPartitionsReady,
} from './scripts.js';
import { WireClient } from './wire-client.js';

// Multi-broker differential cases: the same request scripts against a 3-node KRaft Apache Kafka and a
// 3-broker Sluice cluster (etcd), both with node ids 1-3 on loopback, responses normalised and compared
// field by field as in differential.test.ts (allow-list.json explains accepted differences). Node ids are
// compared as they are (both clusters number their brokers 1-3); the controller id Kafka's brokers report
// is a random live broker (KRaft hides its controllers), so it is compared only as "one of the brokers".

let kafka: ClusterUnderTest;
let sluice: ClusterUnderTest;
const sides: Record<'kafka' | 'sluice', Side[]> = { kafka: [], sluice: [] };
const clients: WireClient[] = [];
/** Both normalised answers of every case, written to $TMPDIR/sluice-conformance-cluster-report.json. */
const report: { case: string; kafka: unknown; sluice: unknown; unexplained: Difference[] }[] = [];

beforeAll(async () => {
  [kafka, sluice] = await Promise.all([startKafkaCluster(3), startSluiceCluster(3)]);
  for (const cluster of [kafka, sluice]) {
    for (const b of cluster.brokers) {
      const client = await WireClient.connect(b.port, b.kind);
      clients.push(client);
      sides[cluster.kind].push({
        broker: b,
        client,
        connect: async (clientId?: string) => {
          const c = await WireClient.connect(b.port, b.kind, clientId);
          clients.push(c);
          return c;
        },
      });
    }
  }
  // Every broker of each cluster lists all three before the cases start.
  for (const kind of ['kafka', 'sluice'] as const) {
    for (const s of sides[kind]) {
      for (let i = 0; ; i++) {
        const md = await s.client.send(MetadataApi, 12, {
          topics: [],
          allowAutoTopicCreation: false,
          includeClusterAuthorizedOperations: false,
          includeTopicAuthorizedOperations: false,
        });
        if (md.brokers.length === 3) break;
        if (i >= 100) throw new Error(`${kind} broker ${s.broker.nodeId} lists ${md.brokers.length} brokers`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled([kafka?.stop(), sluice?.stop()]);
  const replacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
  writeFileSync(join(tmpdir(), 'sluice-conformance-cluster-report.json'), JSON.stringify(report, replacer, 2));
});

/** Controller ids: Kafka's brokers name a random live broker; compared as "a broker of the cluster". */
function controllerIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(controllerIds);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === 'controllerId' && typeof v === 'number' && v >= 1 && v <= 3 ? '<a broker>' : controllerIds(v);
    }
    return out;
  }
  return value;
}

type Script = (s: Side[]) => Promise<Record<string, unknown>>;

/** Runs `script` against both clusters (one after the other per side, concurrently across them) and compares. */
function differential(id: string, script: Script) {
  it(id, async () => {
    const [k, s] = await Promise.all([script(sides.kafka), script(sides.sluice)]);
    // No node id is folded into '<node>': both clusters number their brokers 1-3.
    const nk = controllerIds(normalise(k, { nodeId: -999, messages: new Map() }));
    const ns = controllerIds(normalise(s, { nodeId: -999, messages: new Map() }));
    const diffs: Difference[] = diff(nk, ns);
    const { unexplained } = explain(id, diffs);
    report.push({ case: id, kafka: nk, sluice: ns, unexplained });
    expect(
      unexplained,
      `${id}: differences not in allow-list.json\nkafka: ${JSON.stringify(nk)}\nsluice: ${JSON.stringify(ns)}`,
    ).toEqual([]);
  });
}

const metadataOf = (s: Side, topic: string) =>
  s.client.send(MetadataApi, 12, {
    topics: [{ topicId: ZERO_UUID, name: topic }],
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });

/** Partition 0's high watermark (ListOffsets latest), read again until it reaches `want` or 30 s pass. */
async function highWatermarkOnceAt(s: Side, topic: string, want: bigint): Promise<bigint> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await s.client.send(ListOffsetsApi, 7, {
      replicaId: -1,
      isolationLevel: 0,
      timeoutMs: 10_000,
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
    });
    const offset = r.topics[0].partitions[0].offset;
    if (offset >= want || Date.now() > deadline) return offset;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function createAssigned(s: Side, name: string, lists: number[][], configs: Record<string, string> = {}) {
  const res = await s.client.send(CreateTopicsApi, 7, {
    topics: [
      {
        name,
        numPartitions: -1,
        replicationFactor: -1,
        assignments: lists.map((brokerIds, partitionIndex) => ({ partitionIndex, brokerIds })),
        configs: Object.entries(configs).map(([k, value]) => ({ name: k, value })),
      },
    ],
    timeoutMs: 30_000,
    validateOnly: false,
  });
  const t = res.topics[0];
  return {
    errorCode: t.errorCode,
    errorMessage: t.errorMessage,
    numPartitions: t.numPartitions,
    replicationFactor: t.replicationFactor,
  };
}

describe('a 3-broker cluster, Kafka (KRaft) vs Sluice (etcd)', () => {
  differential('Cluster/Metadata-brokers', async (s) => {
    const out: Record<string, unknown> = {};
    for (const side of s) {
      const md = await side.client.send(MetadataApi, 12, {
        topics: [],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      });
      out[`from${side.broker.nodeId}`] = { brokers: md.brokers, controllerId: md.controllerId, topics: md.topics };
    }
    return out;
  });

  differential('Cluster/DescribeCluster', async (s) => {
    const out: Record<string, unknown> = {};
    for (const side of s) {
      out[`from${side.broker.nodeId}`] = await side.client.send(DescribeClusterApi, 2, {
        includeClusterAuthorizedOperations: false,
        endpointType: 1,
        includeFencedBrokers: true,
      });
    }
    return out;
  });

  differential('Cluster/CreateTopics-assignments', async (s) => {
    const created = await createAssigned(s[0], 'c-assigned', [[3], [1], [2], [3]]);
    await waitForLeaders(s[0], 'c-assigned');
    const views: Record<string, unknown> = {};
    for (const side of s) {
      await waitForLeaders(side, 'c-assigned');
      const md = await metadataOf(side, 'c-assigned');
      views[`from${side.broker.nodeId}`] = md.topics[0].partitions;
    }
    const errors: Record<string, unknown> = {};
    const cases: Record<string, number[][]> = {
      unknownBroker: [[1], [4]],
      duplicate: [[1, 1]],
      inconsistent: [[1], [2, 3]],
      empty: [[1], []],
    };
    for (const [name, lists] of Object.entries(cases))
      errors[name] = await createAssigned(s[1], `c-bad-${name}`, lists);
    const gap = await s[2].client.send(CreateTopicsApi, 7, {
      topics: [
        {
          name: 'c-bad-gap',
          numPartitions: -1,
          replicationFactor: -1,
          assignments: [
            { partitionIndex: 0, brokerIds: [1] },
            { partitionIndex: 2, brokerIds: [2] },
          ],
          configs: [],
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    errors.gap = gap.topics[0].errorCode;
    const both = await s[2].client.send(CreateTopicsApi, 7, {
      topics: [
        {
          name: 'c-bad-both',
          numPartitions: 2,
          replicationFactor: -1,
          assignments: [{ partitionIndex: 0, brokerIds: [1] }],
          configs: [],
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    errors.both = both.topics[0].errorCode;
    return { created, views, errors };
  });

  differential('Cluster/CreatePartitions-assignments', async (s) => {
    const grow = (count: number, lists: number[][] | null) =>
      s[1].client
        .send(CreatePartitionsApi, 3, {
          topics: [{ name: 'c-assigned', count, assignments: lists?.map((brokerIds) => ({ brokerIds })) ?? null }],
          timeoutMs: 30_000,
          validateOnly: false,
        })
        .then((r) => r.results[0]);
    const mismatch = await grow(7, [[1]]);
    const unknown = await grow(5, [[5]]);
    const wrongFactor = await grow(5, [[1, 2]]);
    const ok = await grow(6, [[2], [1]]);
    // Every broker has the new partitions (Kafka's brokers learn them asynchronously) before the next case.
    let partitions: unknown;
    for (const side of [...s].reverse()) {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
        const md = await metadataOf(side, 'c-assigned');
        partitions = md.topics[0].partitions;
        if (md.topics[0].partitions.length === 6 && md.topics[0].partitions.every((p) => p.leaderId >= 0)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { mismatch, unknown, wrongFactor, ok, partitions };
  });

  differential('Cluster/DescribeTopicPartitions', async (s) => {
    const out: Record<string, unknown> = {};
    const ask = (
      side: Side,
      topics: string[],
      limit: number,
      cursor: { topicName: string; partitionIndex: number } | null,
    ) =>
      side.client.send(DescribeTopicPartitionsApi, 0, {
        topics: topics.map((name) => ({ name })),
        responsePartitionLimit: limit,
        cursor,
      });
    for (const side of s) out[`from${side.broker.nodeId}`] = await ask(side, ['c-assigned', 'nosuch'], 2000, null);
    out.page1 = await ask(s[1], ['c-assigned'], 4, null);
    out.page2 = await ask(s[2], ['c-assigned'], 4, { topicName: 'c-assigned', partitionIndex: 4 });
    out.badCursor = await ask(s[0], ['c-assigned'], 4, { topicName: 'other', partitionIndex: 0 });
    return out;
  });

  differential('Cluster/ElectLeaders', async (s) => {
    const elect = (
      side: Side,
      v: number,
      electionType: number,
      topicPartitions: { topic: string; partitions: number[] }[] | null,
    ) => side.client.send(ElectLeadersApi, v, { electionType, topicPartitions, timeoutMs: 30_000 });
    const byTopic = (r: Awaited<ReturnType<typeof elect>>) =>
      [...r.replicaElectionResults].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    const preferred = await elect(s[0], 2, 0, [
      { topic: 'c-assigned', partitions: [0, 1, 9] },
      { topic: 'nosuch', partitions: [0] },
    ]);
    const unclean = await elect(s[1], 2, 1, [{ topic: 'c-assigned', partitions: [2] }]);
    const v0 = await elect(s[2], 0, 0, [{ topic: 'c-assigned', partitions: [3] }]);
    const all = await elect(s[1], 2, 0, null);
    const empty = await elect(s[0], 2, 0, []);
    return {
      preferred,
      unclean,
      v0,
      all: { ...all, replicaElectionResults: byTopic(all) },
      empty,
    };
  });

  differential('Cluster/PartitionReassignments-errors', async (s) => {
    const alter = (partitions: { partitionIndex: number; replicas: number[] | null }[], topic = 'c-assigned') =>
      s[0].client.send(AlterPartitionReassignmentsApi, 0, {
        timeoutMs: 30_000,
        allowReplicationFactorChange: true,
        topics: [{ name: topic, partitions }],
      });
    return {
      cancelNone: await alter([{ partitionIndex: 0, replicas: null }]),
      unknownBroker: await alter([{ partitionIndex: 1, replicas: [7] }]),
      duplicate: await alter([{ partitionIndex: 1, replicas: [1, 1] }]),
      unknownPartition: await alter([{ partitionIndex: 40, replicas: [1] }]),
      unknownTopic: await alter([{ partitionIndex: 0, replicas: [1] }], 'nosuch'),
      sameReplicas: await alter([{ partitionIndex: 1, replicas: [1] }]),
      list: await s[2].client.send(ListPartitionReassignmentsApi, 0, { timeoutMs: 30_000, topics: null }),
    };
  });

  // Replication: acks=all against min.insync.replicas, leader epochs in Fetch / ListOffsets /
  // OffsetForLeaderEpoch after a leader change (epoch 0 → 1), asked of the leader and of a follower.
  differential('Replication/acks-all-min-isr', async (s) => {
    // ISR of 3 under min.insync.replicas=4; a single replica under 2. Kafka accepts both at creation, and its
    // effective minimum is capped at the replica count, so acks=all is answered too.
    const created = {
      over: await createAssigned(s[0], 'r-minisr', [[1, 2, 3]], { 'min.insync.replicas': '4' }),
      single: await createAssigned(s[0], 'r-single', [[2]], { 'min.insync.replicas': '2' }),
    };
    await waitForLeaders(s[0], 'r-minisr');
    await waitForLeaders(s[1], 'r-single');
    await waitForPartitionsReady(s[0], 'r-minisr', 1);
    await waitForPartitionsReady(s[1], 'r-single', 1);
    const answer = async (side: Side, topic: string, acks: number) => {
      const r = await produce(side, 11, topic, batch(values(`${topic}-${acks}`, 2)), { acks });
      const p = r.responses[0].partitionResponses[0];
      return { errorCode: p.errorCode, errorMessage: p.errorMessage, baseOffset: p.baseOffset };
    };
    return {
      created,
      overAll: await answer(s[0], 'r-minisr', -1),
      overOne: await answer(s[0], 'r-minisr', 1),
      singleAll: await answer(s[1], 'r-single', -1),
      singleOne: await answer(s[1], 'r-single', 1),
      // Every accepted record is there. The high watermark passes the acks=1 batch once the followers
      // fetch it, which may come after the ack: read it until it reaches the four records (bounded).
      latest: await highWatermarkOnceAt(s[0], 'r-minisr', 4n),
    };
  });

  differential('Replication/leader-epochs', async (s) => {
    const topic = 'r-epochs';
    const created = await createAssigned(s[0], topic, [[2, 1, 3]]);
    await waitForLeaders(s[1], topic);
    await waitForPartitionsReady(s[1], topic, 1);
    const first = await produce(s[1], 11, topic, batch(values('e0', 3)), { acks: -1 });
    // Broker 1 becomes the preferred replica, then the leader: leader epoch 0 → 1.
    const reorder = await s[0].client.send(AlterPartitionReassignmentsApi, 0, {
      timeoutMs: 30_000,
      allowReplicationFactorChange: true,
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, replicas: [1, 2, 3] }] }],
    });
    let elected: unknown;
    let partition: { leaderId: number; leaderEpoch: number } = { leaderId: -1, leaderEpoch: -1 };
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const r = await s[2].client.send(ElectLeadersApi, 2, {
        electionType: 0,
        topicPartitions: [{ topic, partitions: [0] }],
        timeoutMs: 30_000,
      });
      // The first answer (Kafka's brokers learn the new leader a moment later: a second asks ELECTION_NOT_NEEDED).
      elected ??= r.replicaElectionResults[0]?.partitionResult[0]?.errorCode;
      const views = await Promise.all(s.map((side) => metadataOf(side, topic)));
      const ps = views.map((md) => md.topics[0].partitions[0]);
      if (ps.every((p) => p.leaderId === 1 && p.leaderEpoch === ps[0].leaderEpoch)) {
        partition = { leaderId: ps[0].leaderId, leaderEpoch: ps[0].leaderEpoch };
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitForPartitionsReady(s[0], topic, 1);
    const second = await produce(s[0], 11, topic, batch(values('e1', 2)), { acks: -1 });
    const topicId = await topicIdOf(s[0], topic);
    const fetchAt = async (side: Side, currentLeaderEpoch: number, lastFetchedEpoch = -1, fetchOffset = 0n) => {
      const req = fetchRequest(16, topic, topicId, [{ partition: 0, fetchOffset }]);
      req.topics[0].partitions[0].currentLeaderEpoch = currentLeaderEpoch;
      req.topics[0].partitions[0].lastFetchedEpoch = lastFetchedEpoch;
      const r = await side.client.send(FetchApi, 16, req);
      const p = r.responses[0].partitions[0];
      return {
        errorCode: p.errorCode,
        highWatermark: p.highWatermark,
        divergingEpoch: p.divergingEpoch,
        currentLeader: p.currentLeader,
        bytes: p.records?.length ?? 0,
      };
    };
    const listAt = async (side: Side, currentLeaderEpoch: number) => {
      const r = await side.client.send(ListOffsetsApi, 7, {
        replicaId: -1,
        isolationLevel: 0,
        timeoutMs: 10_000,
        topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch, timestamp: -1n }] }],
      });
      return r.topics[0].partitions[0];
    };
    const epochAt = async (
      side: Side,
      currentLeaderEpoch: number,
      leaderEpoch: number,
      replicaId = -1,
      name = topic,
    ) => {
      const r = await side.client.send(OffsetForLeaderEpochApi, 4, {
        replicaId,
        topics: [{ topic: name, partitions: [{ partition: 0, currentLeaderEpoch, leaderEpoch }] }],
      });
      return r.topics[0].partitions[0];
    };
    const leader = s[0];
    const follower = s[1];
    // A follower learns the high watermark from its next fetch: wait for it, on both clusters.
    for (
      const deadline = Date.now() + 30_000;
      Date.now() < deadline && (await fetchAt(follower, 1)).highWatermark !== 5n;
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      created,
      first: first.responses[0].partitionResponses[0].errorCode,
      reorder: reorder.responses,
      elected,
      partition,
      second: second.responses[0].partitionResponses[0].errorCode,
      fetch: {
        none: await fetchAt(leader, -1),
        fenced: await fetchAt(leader, 0),
        current: await fetchAt(leader, 1),
        unknown: await fetchAt(leader, 2),
        // A consumer that read epoch 0 up to offset 4 (past epoch 0's end, 3): told where epoch 0 ends.
        diverging: await fetchAt(leader, 1, 0, 4n),
        followerCurrent: await fetchAt(follower, 1),
        followerFenced: await fetchAt(follower, 0),
        followerUnknown: await fetchAt(follower, 2),
      },
      listOffsets: {
        none: await listAt(leader, -1),
        fenced: await listAt(leader, 0),
        current: await listAt(leader, 1),
        unknown: await listAt(leader, 2),
        followerCurrent: await listAt(follower, 1),
        followerFenced: await listAt(follower, 0),
      },
      offsetForLeaderEpoch: {
        epoch0: await epochAt(leader, -1, 0),
        epoch1: await epochAt(leader, 1, 1),
        epoch2: await epochAt(leader, -1, 2),
        fenced: await epochAt(leader, 0, 0),
        unknown: await epochAt(leader, 2, 0),
        fromFollower: await epochAt(follower, -1, 0),
        fromFollowerAsReplica: await epochAt(follower, -1, 0, 3),
        unknownTopic: await epochAt(leader, -1, 0, -1, 'nosuch'),
      },
    };
  });
});
