// Share-partition state across a leader failover: three `sluice broker` processes on etcd, a
// 1-partition topic with three replicas. A share session on the partition's leader acquires 20
// records and accepts the first 10 (the ShareAcknowledge answer means the share coordinator has them);
// the leader is SIGKILLed. The new leader reads the state from the share coordinator (over the
// inter-broker listener when another broker leads the `__share_group_state` partition): the 10
// accepted records never come again, the 10 that were only acquired do, with delivery count 2.

import { LocalEtcd } from '@sluice/cluster';
import {
  buildRecordBatchSync,
  CreateTopicsApi,
  ERROR_CODES,
  MetadataApi,
  ProduceApi,
  ShareAcknowledgeApi,
  ShareFetchApi,
  type ShareFetchResponse,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, RawClient, sleep, spawnBroker, tempDir } from './helpers.js';

const SESSION_MS = 3000;
const TOPIC = 'share-fo';
const RECORDS = 20;
const ACCEPTED = 10;

interface Node {
  id: number;
  process: BrokerProcess | null;
  client: RawClient | null;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(100);
  }
}

describe('share-partition state across a leader SIGKILL', { timeout: 150_000 }, () => {
  let etcd: LocalEtcd;
  const nodes: Node[] = [];

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 1 });
    const metadataUri = `etcd://${etcd.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
    for (const id of [1, 2, 3]) nodes.push({ id, process: null, client: null });
    await Promise.all(
      nodes.map(async (n) => {
        n.process = await spawnBroker({
          dataDir: tempDir(`sluice-share-fo-${n.id}-`),
          args: ['--node-id', String(n.id), '--metadata', metadataUri],
          overrides: {
            'broker.session.timeout.ms': String(SESSION_MS),
            'offsets.topic.num.partitions': '3',
            'share.coordinator.state.topic.num.partitions': '3',
          },
          timeoutMs: 60_000,
        });
        n.client = await RawClient.connect(n.process.port);
      }),
    );
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) {
      n.client?.close();
      await n.process?.kill('SIGKILL');
    }
    await etcd?.stop();
  });

  const leaderOf = async (c: RawClient, brokers = 3): Promise<{ leader: number; topicId: string } | undefined> => {
    const md = await c.send(MetadataApi, 12, {
      topics: [{ name: TOPIC, topicId: ZERO_UUID }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    const t = md.topics[0];
    const leader = t?.partitions[0]?.leaderId ?? -1;
    if (t === undefined || t.errorCode !== 0 || leader < 0) return undefined;
    // Every broker of the cluster is registered before the first leader counts (two are left after the kill).
    if (md.brokers.length < brokers) return undefined;
    return { leader, topicId: t.topicId };
  };

  const shareFetch = (
    c: RawClient,
    memberId: string,
    epoch: number,
    topicId: string,
    maxWaitMs: number,
  ): Promise<ShareFetchResponse> =>
    c.send(ShareFetchApi, 1, {
      ...ShareFetchApi.request.defaults(),
      groupId: 'fo-group',
      memberId,
      shareSessionEpoch: epoch,
      maxWaitMs,
      minBytes: 1,
      maxBytes: 1 << 20,
      maxRecords: 100,
      batchSize: 100,
      topics: [{ topicId, partitions: [{ partitionIndex: 0, partitionMaxBytes: 0, acknowledgementBatches: [] }] }],
      forgottenTopicsData: [],
    });

  const acquiredOf = (r: ShareFetchResponse) =>
    r.responses.flatMap((t) => t.partitions.flatMap((p) => p.acquiredRecords));

  it('accepted records are not delivered again by the new leader; acquired but unacknowledged ones are', async () => {
    const first = nodes[0]?.client as RawClient;
    // Three replicas need all three brokers in this broker's view: each registered before it listened,
    // but the others' registrations reach it through its etcd watch, later on a loaded machine.
    await until(
      'all three brokers known to broker 1',
      async () => {
        const md = await first.send(MetadataApi, 12, {
          topics: [],
          allowAutoTopicCreation: false,
          includeTopicAuthorizedOperations: false,
        });
        return md.brokers.length === 3 ? true : undefined;
      },
      30_000,
    );
    const created = await first.send(CreateTopicsApi, 7, {
      topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 3, assignments: [], configs: [] }],
      timeoutMs: 10_000,
      validateOnly: false,
    });
    expect(created.topics[0]?.errorCode).toBe(0);
    const { leader, topicId } = await until('a leader', () => leaderOf(first), 30_000);
    const leaderNode = nodes.find((n) => n.id === leader) as Node;
    const lc = leaderNode.client as RawClient;

    // The share session opens on the empty partition: the share-partition starts at offset 0.
    const memberA = 'member-a-0000000000000000000000000';
    const opened = await until(
      'the share session on the leader',
      async () => {
        const r = await shareFetch(lc, memberA, 0, topicId, 0);
        const code = r.responses[0]?.partitions[0]?.errorCode ?? 0;
        return r.errorCode === 0 && code === 0 ? r : undefined;
      },
      30_000,
    );
    expect(acquiredOf(opened)).toEqual([]);
    const produced = await lc.send(ProduceApi, 11, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 10_000,
      topicData: [
        {
          name: TOPIC,
          topicId: ZERO_UUID,
          partitionData: [
            {
              index: 0,
              records: buildRecordBatchSync({
                records: Array.from({ length: RECORDS }, (_, i) => ({ value: Buffer.from(`v${i}`) })),
              }),
            },
          ],
        },
      ],
    });
    expect(produced.responses[0]?.partitionResponses[0]?.errorCode).toBe(0);

    const fetched = await shareFetch(lc, memberA, 1, topicId, 5_000);
    expect(fetched.errorCode).toBe(0);
    expect(acquiredOf(fetched)).toEqual([{ firstOffset: 0n, lastOffset: BigInt(RECORDS - 1), deliveryCount: 1 }]);
    const acked = await lc.send(ShareAcknowledgeApi, 1, {
      ...ShareAcknowledgeApi.request.defaults(),
      groupId: 'fo-group',
      memberId: memberA,
      shareSessionEpoch: 2,
      topics: [
        {
          topicId,
          partitions: [
            {
              partitionIndex: 0,
              acknowledgementBatches: [{ firstOffset: 0n, lastOffset: BigInt(ACCEPTED - 1), acknowledgeTypes: [1] }],
            },
          ],
        },
      ],
    });
    expect(acked.errorCode).toBe(0);
    expect(acked.responses[0]?.partitions[0]?.errorCode).toBe(0);

    // The leader dies with offsets 10..19 still acquired by member A.
    leaderNode.client?.close();
    leaderNode.client = null;
    await leaderNode.process?.kill('SIGKILL');
    leaderNode.process = null;
    const survivor = nodes.find((n) => n.client !== null) as Node;
    const next = await until(
      'a new leader',
      async () => {
        const l = await leaderOf(survivor.client as RawClient, 2);
        return l !== undefined && l.leader !== leader ? l : undefined;
      },
      60_000,
    );
    const nc = nodes.find((n) => n.id === next.leader)?.client as RawClient;

    // Another member fetches from the new leader until it has the 10 records that were never accepted.
    const memberB = 'member-b-0000000000000000000000000';
    const seen: { firstOffset: bigint; lastOffset: bigint; deliveryCount: number }[] = [];
    let epoch = 0;
    await until(
      'the unacknowledged records again',
      async () => {
        const r = await shareFetch(nc, memberB, epoch, topicId, 1_000);
        const code = r.responses[0]?.partitions[0]?.errorCode ?? 0;
        if (r.errorCode !== 0 || code !== 0) {
          // Not the leader yet here, or its share coordinator still moving: a new session next time.
          epoch = 0;
          return undefined;
        }
        epoch = epoch === 0 ? 1 : epoch + 1;
        seen.push(...acquiredOf(r));
        const count = seen.reduce((n, a) => n + Number(a.lastOffset - a.firstOffset + 1n), 0);
        return count >= RECORDS - ACCEPTED ? true : undefined;
      },
      60_000,
    );
    const offsets = seen.flatMap((a) =>
      Array.from({ length: Number(a.lastOffset - a.firstOffset + 1n) }, (_, i) => a.firstOffset + BigInt(i)),
    );
    expect(offsets).toEqual(Array.from({ length: RECORDS - ACCEPTED }, (_, i) => BigInt(ACCEPTED + i)));
    expect(seen.every((a) => a.deliveryCount === 2)).toBe(true);
    // Nothing more: the accepted ones stay done.
    const after = await shareFetch(nc, memberB, epoch, topicId, 500);
    expect(after.errorCode).toBe(ERROR_CODES.NONE);
    expect(acquiredOf(after)).toEqual([]);
  });
});
