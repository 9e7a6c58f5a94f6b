import { Kafka, topic } from '@sluice/client';
import type { LocalEtcd } from '@sluice/cluster';
import {
  AlterShareGroupOffsetsApi,
  DeleteGroupsApi,
  DeleteShareGroupOffsetsApi,
  DescribeShareGroupOffsetsApi,
  FindCoordinatorApi,
  ReadShareGroupStateSummaryApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { type RawClient, startEtcdCluster, until } from './helpers.js';

// Share groups in a three-broker cluster: the group coordinator is the leader of the group's
// `__consumer_offsets` partition (FindCoordinator, as for consumer groups), ShareFetch goes to each
// partition's leader, which holds that share-partition.

let etcd: LocalEtcd;
let brokers: RunningBroker[];
let clients: RawClient[];

beforeAll(async () => {
  ({ etcd, brokers, clients } = await startEtcdCluster('sluice-share-cluster', {
    'offsets.topic.num.partitions': '3',
    'share.coordinator.state.topic.num.partitions': '3',
  }));
}, 60_000);

afterAll(async () => {
  for (const c of clients ?? []) c.close();
  for (const b of brokers ?? []) await b.stop();
  await etcd?.stop();
});

describe('share groups in a cluster', () => {
  it('two share consumers read a 3-partition topic led by three brokers: every record once', async () => {
    const kafka = new Kafka({ brokers: [brokers[0]?.bootstrap as string] });
    const admin = kafka.admin();
    await admin.createTopics([{ name: 'cq', numPartitions: 3 }]);
    await admin.close();
    const t = topic('cq');
    const leaders = new Set<number>();
    const topicId = brokers[0]?.context.topics.get('cq')?.topicId as string;
    await until('partitions led', () => {
      for (let p = 0; p < 3; p++) {
        const l = brokers[0]?.context.store.image.partition(topicId, p)?.leader ?? -1;
        if (l >= 0) leaders.add(l);
      }
      return leaders.size >= 2;
    });
    const seen = new Map<string, number>();
    const consumers = [0, 1].map(() => kafka.shareConsumer({ groupId: 'cg', maxWaitMs: 200 }));
    const loops = consumers.map(async (c) => {
      for await (const r of c.records(t)) {
        const v = (r.value as Buffer).toString();
        seen.set(v, (seen.get(v) ?? 0) + 1);
        r.ack();
      }
    });
    // share.auto.offset.reset=latest: each partition starts where its leader's log ends when first fetched.
    await until(
      'share-partitions initialized on their leaders',
      () =>
        [0, 1, 2].every((p) =>
          brokers.some((b) => b.context.groups.shareGroups?.coordinator.existingSharePartition('cg', topicId, p)),
        ),
      30_000,
    );
    const producer = kafka.producer();
    const n = 300;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        producer.send(t, { key: Buffer.from(String(i)), value: Buffer.from(String(i)) }),
      ),
    );
    await producer.close();
    await until('every record consumed', () => seen.size >= n, 30_000);
    await Promise.all(consumers.map((c) => c.close()));
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 2_000))]);
    expect(seen.size).toBe(n);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    // The share-partitions live on the partitions' leaders, which are more than one broker.
    const holders = new Set(
      [0, 1, 2].flatMap((p) =>
        brokers
          .filter((b) => b.context.groups.shareGroups?.coordinator.existingSharePartition('cg', topicId, p))
          .map((b) => b.context.nodeId),
      ),
    );
    expect(holders.size).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('a partition leader keeps its share-partition state with the share coordinator on another broker', async () => {
    const kafka = new Kafka({ brokers: [brokers[0]?.bootstrap as string] });
    const admin = kafka.admin();
    await admin.createTopics([{ name: 'cs', numPartitions: 1 }]);
    await admin.close();
    let topicId = '';
    let leader = -1;
    await until('cs-0 led', () => {
      topicId = brokers[0]?.context.topics.get('cs')?.topicId ?? '';
      leader = topicId === '' ? -1 : (brokers[0]?.context.store.image.partition(topicId, 0)?.leader ?? -1);
      return leader >= 0;
    });
    // FindCoordinator with key type SHARE (it creates __share_group_state): a group whose share-partition
    // cs-0 has its share coordinator on another broker than cs-0's leader.
    const raw = clients[0] as RawClient;
    const idText = Buffer.from(topicId.replaceAll('-', ''), 'hex').toString('base64url');
    let groupId = '';
    let coordinator = -1;
    // Bounded: 200 tries in all, answers of a coordinator not yet available included.
    for (let i = 0, tries = 0; i < 50 && groupId === '' && tries < 200; tries++) {
      const key = `sg-${i}:${idText}:0`;
      const r = await raw.send(FindCoordinatorApi, 6, { keyType: 2, key: '', coordinatorKeys: [key] });
      const c = r.coordinators[0];
      if (c?.errorCode !== 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (c.nodeId !== leader) {
        groupId = `sg-${i}`;
        coordinator = c.nodeId;
      }
      i++;
    }
    expect(coordinator).toBeGreaterThan(0);
    const n = 50;
    const c = kafka.shareConsumer({ groupId, maxWaitMs: 200 });
    let got = 0;
    const loop = (async () => {
      for await (const r of c.records(topic('cs'))) {
        r.ack();
        if (++got >= n) break;
      }
    })();
    // share.auto.offset.reset=latest: the records go in once the leader holds the share-partition.
    await until(
      'cs-0 initialized on its leader',
      () =>
        brokers[leader - 1]?.context.groups.shareGroups?.coordinator.existingSharePartition(groupId, topicId, 0) !==
        undefined,
      30_000,
    );
    const producer = kafka.producer();
    await Promise.all(
      Array.from({ length: n }, (_, i) => producer.send(topic('cs'), { key: null, value: Buffer.from(String(i)) })),
    );
    await producer.close();
    await until('50 records', () => got >= n, 30_000);
    await loop;
    await c.close();
    // The share coordinator (not the partition leader) has the state: every record accepted.
    const coordinatorClient = clients[coordinator - 1] as RawClient;
    let startOffset = -1n;
    await until(
      'the state at the share coordinator',
      async () => {
        const r = await coordinatorClient.send(ReadShareGroupStateSummaryApi, 1, {
          groupId,
          topics: [{ topicId, partitions: [{ partition: 0, leaderEpoch: 0 }] }],
        });
        const p = r.results[0]?.partitions[0];
        startOffset = p?.errorCode === 0 ? p.startOffset : -1n;
        return startOffset === BigInt(n);
      },
      15_000,
    );
    expect(startOffset).toBe(BigInt(n));
  }, 90_000);

  it('a group config set through one broker applies on every broker', async () => {
    const admin = new Kafka({ brokers: [brokers[0]?.bootstrap as string] }).admin();
    await admin.incrementalAlterConfigs(32, 'cfg-group', [{ name: 'share.record.lock.duration.ms', value: '5000' }]);
    await admin.close();
    await until('every broker has the group config', () =>
      brokers.every(
        (b) => b.context.groups.shareGroups?.coordinator.partitionConfig('cfg-group').lockDurationMs === 5000,
      ),
    );
  });

  it('share offsets admin goes through the share coordinator of each share-partition, whichever broker leads it', async () => {
    const kafka = new Kafka({ brokers: [brokers[0]?.bootstrap as string] });
    const admin = kafka.admin();
    await admin.createTopics([{ name: 'co', numPartitions: 3 }]);
    await admin.incrementalAlterConfigs(32, 'og', [{ name: 'share.auto.offset.reset', value: 'earliest' }]);
    await admin.close();
    await until('every broker has the group config', () =>
      brokers.every((b) => b.context.groups.shareGroups?.autoOffsetReset('og') === 'earliest'),
    );
    let topicId = '';
    const leaders: number[] = [];
    await until('co led by more than one broker', () => {
      topicId = brokers[0]?.context.topics.get('co')?.topicId ?? '';
      leaders.length = 0;
      for (let p = 0; p < 3; p++) leaders.push(brokers[0]?.context.store.image.partition(topicId, p)?.leader ?? -1);
      return leaders.every((l) => l > 0) && new Set(leaders).size >= 2;
    });
    const n = 60;
    const producer = kafka.producer();
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        producer.send(topic('co'), { key: Buffer.from(`k${i}`), value: Buffer.from(String(i)) }),
      ),
    );
    await producer.close();
    const hw = (p: number) =>
      brokers[(leaders[p] as number) - 1]?.context.topics.get('co')?.partitions[p]?.log.highWatermark;
    await until('records stored', () => [0, 1, 2].reduce((sum, p) => sum + Number(hw(p) ?? 0), 0) === n);
    /** Reads every record of 'co' once in group 'og' and accepts it; the values read. */
    const consumeAll = async (): Promise<Map<string, number>> => {
      const seen = new Map<string, number>();
      const c = kafka.shareConsumer({ groupId: 'og', maxWaitMs: 200 });
      const loop = (async () => {
        for await (const r of c.records(topic('co'))) {
          const v = (r.value as Buffer).toString();
          seen.set(v, (seen.get(v) ?? 0) + 1);
          r.ack();
          if (seen.size >= n) break;
        }
      })();
      await until('every record read', () => seen.size >= n, 30_000);
      await loop;
      await c.close();
      return seen;
    };
    expect([...(await consumeAll()).values()].every((k) => k === 1)).toBe(true);
    // The group coordinator leads at most one or two of the three partitions.
    const found = await (clients[0] as RawClient).send(FindCoordinatorApi, 6, {
      keyType: 0,
      key: '',
      coordinatorKeys: ['og'],
    });
    const coordinator = found.coordinators[0]?.nodeId ?? -1;
    expect(coordinator).toBeGreaterThan(0);
    const raw = clients[coordinator - 1] as RawClient;
    const describe = async () => {
      const r = await raw.send(DescribeShareGroupOffsetsApi, 1, {
        groups: [{ groupId: 'og', topics: [{ topicName: 'co', partitions: [0, 1, 2] }] }],
      });
      expect(r.groups[0]?.errorCode).toBe(0);
      return (r.groups[0]?.topics[0]?.partitions ?? []).map((p) => ({
        e: p.errorCode,
        start: p.startOffset,
        lag: p.lag,
      }));
    };
    // Every record accepted: each start offset is its partition's high watermark, with no lag.
    let described: { e: number; start: bigint; lag: bigint }[] = [];
    await until('start offsets at the high watermarks', async () => {
      described = await describe();
      return described.every((d, p) => d.start === hw(p));
    });
    expect(described.map((d) => [d.e, d.lag])).toEqual([
      [0, 0n],
      [0, 0n],
      [0, 0n],
    ]);
    // Back to 0 on every partition: the leaders (some of them other brokers) hand everything out again.
    const altered = await raw.send(AlterShareGroupOffsetsApi, 0, {
      groupId: 'og',
      topics: [{ topicName: 'co', partitions: [0, 1, 2].map((p) => ({ partitionIndex: p, startOffset: 0n })) }],
    });
    expect(altered.errorCode).toBe(0);
    expect(altered.responses[0]?.partitions.map((p) => p.errorCode)).toEqual([0, 0, 0]);
    expect((await describe()).map((d) => d.start)).toEqual([0n, 0n, 0n]);
    expect([...(await consumeAll()).values()].every((k) => k === 1)).toBe(true);
    // Deleted: no state left at the share coordinators.
    const deleted = await raw.send(DeleteShareGroupOffsetsApi, 0, { groupId: 'og', topics: [{ topicName: 'co' }] });
    expect([deleted.errorCode, deleted.responses[0]?.errorCode]).toEqual([0, 0]);
    expect((await describe()).map((d) => d.start)).toEqual([-1n, -1n, -1n]);
    // DeleteGroups of the share group deletes its share-partitions' state at their share coordinators too.
    const again = await raw.send(AlterShareGroupOffsetsApi, 0, {
      groupId: 'og',
      topics: [{ topicName: 'co', partitions: [0, 1, 2].map((p) => ({ partitionIndex: p, startOffset: 0n })) }],
    });
    expect(again.responses[0]?.partitions.map((p) => p.errorCode)).toEqual([0, 0, 0]);
    const gone = await raw.send(DeleteGroupsApi, 2, { groupsNames: ['og'] });
    expect(gone.results[0]?.errorCode).toBe(0);
    const persister = brokers[0]?.context.groups.shareGroups?.state.persister;
    const left = await Promise.all(
      [0, 1, 2].map(
        async (partition) => (await persister?.summary({ groupId: 'og', topicId, partition }, -1))?.errorCode,
      ),
    );
    expect(left).toEqual([3, 3, 3]); // UNKNOWN_TOPIC_OR_PARTITION: no state
  }, 120_000);
});
