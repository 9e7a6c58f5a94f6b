// KIP-848 mixed mode on the wire: a kafkajs consumer (classic protocol) and a ConsumerGroupHeartbeat
// member share one group. The group becomes a consumer group when the KIP-848 member joins, the
// classic member follows the consumer group's target assignment through JoinGroup/SyncGroup, and
// when the KIP-848 member leaves the group is classic again. Every record is consumed once.

import {
  ConsumerGroupDescribeApi,
  ConsumerGroupHeartbeatApi,
  type ConsumerGroupHeartbeatResponse,
  CreateTopicsApi,
  DescribeGroupsApi,
  ERROR_CODES as E,
  OffsetCommitApi,
  OffsetFetchApi,
} from '@sluice/protocol';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, readPartition, startInProcess, tempDir, until } from './helpers.js';

const { Kafka, logLevel } = kafkajs;
const TOPIC = 'mixed-orders';
const GROUP = 'mixed-group';
const PARTITIONS = 4;
const PER_BATCH = 40;

let broker: RunningBroker;
let raw: RawClient;
let topicId = '';

beforeAll(async () => {
  broker = await startInProcess({
    'log.dirs': tempDir('sluice-mixed-'),
    'offsets.topic.num.partitions': '3',
    'group.initial.rebalance.delay.ms': '0',
    'group.consumer.heartbeat.interval.ms': '300',
  });
  raw = await RawClient.connect(broker.port);
  const res = await raw.send(CreateTopicsApi, 7, {
    topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  topicId = res.topics[0].topicId;
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

/** A KIP-848 member driven by hand: heartbeats, reads its partitions from the committed offsets, commits. */
class NewProtocolMember {
  memberId = 'kip848-member';
  epoch = 0;
  partitions: number[] = [];
  readonly seen: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly client: RawClient) {}

  async heartbeat(leave = false): Promise<ConsumerGroupHeartbeatResponse> {
    const first = this.epoch === 0;
    const r = await this.client.send(ConsumerGroupHeartbeatApi, 1, {
      groupId: GROUP,
      memberId: this.memberId,
      memberEpoch: leave ? -1 : this.epoch,
      rebalanceTimeoutMs: first ? 10_000 : -1,
      subscribedTopicNames: first ? [TOPIC] : null,
      topicPartitions: first ? [] : [{ topicId, partitions: this.partitions }],
    });
    if (r.errorCode !== E.NONE) throw new Error(`ConsumerGroupHeartbeat: error ${r.errorCode} ${r.errorMessage}`);
    if (!leave) {
      this.epoch = r.memberEpoch;
      if (r.assignment !== null) this.partitions = r.assignment.topicPartitions.flatMap((t) => t.partitions);
    }
    return r;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.heartbeat()
        .catch(() => {})
        .finally(() => {
          this.busy = false;
        });
    }, 200);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await until('the heartbeat in flight ends', () => !this.busy, 5000);
    await this.heartbeat(true);
  }

  /** Reads every owned partition from its committed offset to the end and commits what it read. */
  async consume(): Promise<void> {
    for (const p of [...this.partitions]) {
      const fetched = await this.client.send(OffsetFetchApi, 9, {
        groups: [
          {
            groupId: GROUP,
            memberId: this.memberId,
            memberEpoch: this.epoch,
            topics: [{ name: TOPIC, topicId, partitionIndexes: [p] }],
          },
        ],
        requireStable: false,
      });
      const committed = fetched.groups[0].topics[0]?.partitions[0]?.committedOffset ?? -1n;
      const records = await readPartition(this.client, TOPIC, p, committed < 0n ? 0n : committed);
      if (records.length === 0) continue;
      for (const r of records) this.seen.push(r.value?.toString() ?? '');
      const res = await this.client.send(OffsetCommitApi, 9, {
        groupId: GROUP,
        generationIdOrMemberEpoch: this.epoch,
        memberId: this.memberId,
        groupInstanceId: null,
        topics: [
          {
            name: TOPIC,
            topicId,
            partitions: [
              {
                partitionIndex: p,
                committedOffset: records[records.length - 1].offset + 1n,
                committedLeaderEpoch: -1,
                committedMetadata: null,
              },
            ],
          },
        ],
      });
      expect(res.topics[0].partitions[0].errorCode).toBe(E.NONE);
    }
  }
}

describe('mixed classic and KIP-848 members in one group', () => {
  it('converts to a consumer group and back, and every record is consumed once', async () => {
    const kafka = new Kafka({ clientId: 'classic', brokers: [`127.0.0.1:${broker.port}`], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    let next = 0;
    const produce = async () => {
      const messages = [];
      for (let i = 0; i < PER_BATCH; i++, next++) messages.push({ value: `r-${next}`, partition: next % PARTITIONS });
      await producer.send({ topic: TOPIC, messages });
    };
    const classicSeen: string[] = [];
    const classic = kafka.consumer({
      groupId: GROUP,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 200,
      maxWaitTimeInMs: 100,
    });
    const member = new NewProtocolMember(raw);
    try {
      await classic.connect();
      await classic.subscribe({ topic: TOPIC, fromBeginning: true });
      await classic.run({
        autoCommitThreshold: 1,
        eachMessage: async ({ message }) => {
          classicSeen.push(message.value?.toString() ?? '');
        },
      });
      await produce();
      await until('the classic member consumed the first batch', () => classicSeen.length >= PER_BATCH, 30_000);
      const committedTotal = async () => {
        const r = await raw.send(OffsetFetchApi, 8, {
          groups: [{ groupId: GROUP, memberId: null, memberEpoch: -1, topics: null }],
          requireStable: false,
        });
        return r.groups[0].topics.flatMap((t) => t.partitions).reduce((n, p) => n + Number(p.committedOffset), 0);
      };
      await until('the classic member committed the first batch', async () => (await committedTotal()) === PER_BATCH);

      // The KIP-848 member joins: the group converts and the partitions are split between the two.
      await member.heartbeat();
      member.start();
      const describe = () =>
        raw.send(ConsumerGroupDescribeApi, 1, { groupIds: [GROUP], includeAuthorizedOperations: false });
      await until(
        'both members hold two partitions each, Stable',
        async () => {
          const g = (await describe()).groups[0];
          return (
            g.errorCode === E.NONE &&
            g.groupState === 'Stable' &&
            g.members.length === 2 &&
            g.members.every((m) => m.assignment.topicPartitions.flatMap((t) => t.partitions).length === 2)
          );
        },
        30_000,
      );
      expect(member.partitions).toHaveLength(2);

      await produce();
      const mine = new Set(member.partitions);
      const classicShare = Array.from({ length: PER_BATCH }, (_, i) => PER_BATCH + i).filter(
        (n) => !mine.has(n % PARTITIONS),
      ).length;
      await member.consume();
      await until(
        'the classic member consumed its half of the second batch',
        () => classicSeen.length >= PER_BATCH + classicShare,
        30_000,
      );
      await until('the classic member committed', async () => (await committedTotal()) === 2 * PER_BATCH);

      // The KIP-848 member leaves: the group is classic again and the classic member takes every partition.
      await member.stop();
      await until(
        'the group is a classic group again, Stable',
        async () => {
          const d = await raw.send(DescribeGroupsApi, 5, { groups: [GROUP], includeAuthorizedOperations: false });
          return (
            d.groups[0].errorCode === E.NONE && d.groups[0].groupState === 'Stable' && d.groups[0].members.length === 1
          );
        },
        30_000,
      );
      expect((await describe()).groups[0].errorCode).toBe(E.GROUP_ID_NOT_FOUND);
      await produce();
      await until(
        'the classic member consumed the third batch',
        () => classicSeen.length + member.seen.length >= 3 * PER_BATCH,
        30_000,
      );

      const all = [...classicSeen, ...member.seen];
      expect(new Set(all).size).toBe(all.length);
      expect(all.length).toBe(3 * PER_BATCH);
      expect(member.seen.length).toBe(PER_BATCH - classicShare);
    } finally {
      await classic.disconnect();
      await producer.disconnect();
    }
  }, 120_000);
});
