// groupProtocol 'consumer': KIP-848 consumer groups (ConsumerGroupHeartbeat) against the embedded broker.
import { type RunningBroker, startBroker } from '@sluice/broker';
import {
  ConsumerGroupHeartbeatApi,
  type ConsumerGroupHeartbeatResponse,
  defaultConsumerGroupHeartbeatRequest,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Admin,
  Consumer,
  type ConsumerOptions,
  createContext,
  ERROR_CODES,
  Producer,
  serde,
  type Topic,
  type TopicPartition,
  topic,
} from '../src/index.js';
import { uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({
    props: {
      'log.level': 'warn',
      'group.initial.rebalance.delay.ms': '0',
      'group.consumer.heartbeat.interval.ms': '200',
      'group.consumer.session.timeout.ms': '15000',
    },
  });
});
afterAll(async () => {
  await broker?.stop();
});

type Numbers = Topic<string, number>;

/** Waits (bounded) until `cond` holds; the message names what did not happen. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function createTopic(name: string, partitions: number): Promise<Numbers> {
  const admin = new Admin({ brokers: [broker.bootstrap] });
  await admin.createTopics([{ name, numPartitions: partitions }]);
  await admin.close();
  return topic(name, { key: serde.string(), value: serde.int32() });
}

/** Sends `count` records numbered from `from`, spread over the partitions by key. */
async function produce(t: Numbers, from: number, count: number): Promise<void> {
  const p = new Producer({ brokers: [broker.bootstrap] });
  await Promise.all(Array.from({ length: count }, (_, i) => p.send(t, { key: `k${from + i}`, value: from + i })));
  await p.close();
}

interface Member {
  consumer: Consumer;
  /** `partition:offset` of every record handed to this member, in order. */
  got: string[];
  done: Promise<void>;
}

/** A consumer-protocol member reading `t` in the background into `all` (and its own list). */
function member(
  t: Numbers,
  groupId: string,
  all: string[],
  options: ConsumerOptions = {},
  onRecord?: (c: Consumer, partition: number, offset: bigint) => Promise<void>,
): Member {
  const consumer = new Consumer(
    { brokers: [broker.bootstrap] },
    { groupId, groupProtocol: 'consumer', autoOffsetReset: 'earliest', ...options },
  );
  const got: string[] = [];
  const done = (async () => {
    for await (const r of consumer.records(t)) {
      const k = `${r.partition}:${r.offset}`;
      got.push(k);
      all.push(k);
      await onRecord?.(consumer, r.partition, r.offset);
    }
  })();
  return { consumer, got, done };
}

const duplicates = (keys: string[]) => {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const k of keys) {
    if (seen.has(k)) twice.push(k);
    seen.add(k);
  }
  return twice;
};

async function committedTotal(groupId: string): Promise<number> {
  const admin = new Admin({ brokers: [broker.bootstrap] });
  try {
    return (await admin.fetchGroupOffsets(groupId)).reduce((s, o) => s + Number(o.offset), 0);
  } finally {
    await admin.close();
  }
}

/** A heartbeat sent by the test itself, as if from another process using `memberId`. */
async function rawHeartbeat(
  groupId: string,
  memberId: string,
  memberEpoch: number,
  topics: string[] | null,
): Promise<ConsumerGroupHeartbeatResponse> {
  const ctx = createContext({ brokers: [broker.bootstrap] }, false);
  try {
    const conn = await ctx.pool.any();
    const req = defaultConsumerGroupHeartbeatRequest();
    req.groupId = groupId;
    req.memberId = memberId;
    req.memberEpoch = memberEpoch;
    if (topics !== null) {
      req.rebalanceTimeoutMs = 30_000;
      req.subscribedTopicNames = topics;
      req.topicPartitions = [];
    }
    return await conn.request(ConsumerGroupHeartbeatApi, req);
  } finally {
    await ctx.pool.close();
  }
}

const owns = (m: Member, n: number) => m.consumer.assignment().length === n;

describe("groupProtocol 'consumer' (KIP-848)", () => {
  it('three members join and leave one by one: every record is consumed exactly once and the commits are kept', async () => {
    const t = await createTopic(uniqueTopic('kip848-members'), 6);
    const groupId = uniqueTopic('g848');
    const all: string[] = [];
    await produce(t, 0, 300);
    const a = member(t, groupId, all);
    await until(() => all.length >= 300, 'member a to read the first 300 records');
    expect(owns(a, 6)).toBe(true);

    // Two more join while records keep coming: a gives up four partitions, committing them first.
    const b = member(t, groupId, all);
    const c = member(t, groupId, all);
    await produce(t, 300, 300);
    await until(() => owns(a, 2) && owns(b, 2) && owns(c, 2), 'the six partitions spread two by two');
    await produce(t, 600, 300);
    await until(() => all.length >= 900, 'the next 600 records');
    expect(b.got.length).toBeGreaterThan(0);
    expect(c.got.length).toBeGreaterThan(0);

    // a leaves (epoch -1): its partitions go to b and c from what a committed on close.
    await a.consumer.close();
    await a.done;
    await until(() => owns(b, 3) && owns(c, 3), "a's partitions taken over by b and c");
    await produce(t, 900, 300);
    await until(() => all.length >= 1200, 'the last 300 records');
    const bEpoch = b.consumer.groupMetadata()?.generationId ?? 0;
    expect(bEpoch).toBeGreaterThan(0);

    await b.consumer.close();
    await c.consumer.close();
    await Promise.all([b.done, c.done]);
    expect(duplicates(all)).toEqual([]);
    expect(all.length).toBe(1200);
    expect(await committedTotal(groupId)).toBe(1200);
  });

  it('a fenced member drops its partitions, rejoins at epoch 0 with its member id and reads again; only records it had not committed come twice', async () => {
    const t = await createTopic(uniqueTopic('kip848-fence'), 4);
    const groupId = uniqueTopic('g848f');
    const all: string[] = [];
    await produce(t, 0, 200);
    // The victim commits each record itself, so what it had committed when fenced is known exactly.
    const acked = new Map<number, bigint>();
    let ackedAtFence = new Map<number, bigint>();
    const lost: TopicPartition[] = [];
    let fenced = false;
    const victim = member(
      t,
      groupId,
      all,
      {
        autoCommit: false,
        onRebalance: {
          lost: (tps) => {
            lost.push(...tps);
            ackedAtFence = new Map(acked);
            fenced = true;
          },
        },
      },
      async (c, partition, offset) => {
        try {
          await c.commitOffsets([{ topic: t.name, partition, offset: offset + 1n }]);
          if (!fenced) acked.set(partition, offset + 1n);
        } catch {
          // Refused (the member is being fenced): the record may come again.
        }
      },
    );
    const other = member(t, groupId, all);
    await until(() => owns(victim, 2) && owns(other, 2), 'two partitions each');
    await until(() => all.length >= 200, 'the first 200 records');
    const before = victim.consumer.groupMetadata();
    expect(before?.generationId).toBeGreaterThan(0);
    const memberId = before?.memberId ?? '';

    // Another process takes the victim's member id (leave, then join at epoch 0): the broker now
    // knows that member at a newer epoch, and the victim's next heartbeat is FENCED_MEMBER_EPOCH.
    expect((await rawHeartbeat(groupId, memberId, -1, null)).errorCode).toBe(0);
    const imposter = await rawHeartbeat(groupId, memberId, 0, [t.name]);
    expect(imposter.errorCode).toBe(0);
    await until(() => fenced, 'the victim to be fenced');
    expect(lost.length).toBeGreaterThan(0);

    await produce(t, 200, 200);
    await until(() => owns(victim, 2) && owns(other, 2), 'the victim back with two partitions');
    const after = victim.consumer.groupMetadata();
    expect(after?.memberId).toBe(memberId);
    expect(after?.generationId).toBeGreaterThan(0);
    const victimBefore = victim.got.length;
    await produce(t, 400, 200);
    await until(() => new Set(all).size >= 600, 'every record');
    await until(() => victim.got.length > victimBefore, 'the victim to read after rejoining');

    await victim.consumer.close();
    await other.consumer.close();
    await Promise.all([victim.done, other.done]);
    // A record comes twice only on a partition the victim lost, at or after what it had committed.
    const lostPartitions = new Set(lost.map((tp) => tp.partition));
    for (const k of duplicates(all)) {
      const [p, o] = k.split(':').map(Number);
      expect(lostPartitions.has(p), `duplicate ${k} on a partition the victim did not lose`).toBe(true);
      expect(BigInt(o) >= (ackedAtFence.get(p) ?? 0n), `duplicate ${k} below the victim's commit`).toBe(true);
    }
    expect(new Set(all).size).toBe(600);
    await until(async () => (await committedTotal(groupId)) === 600, 'the commits to cover every record', 10_000);
  });

  it('a static member leaves with epoch -2: nobody takes its partitions, and its instance comes back to them', async () => {
    const t = await createTopic(uniqueTopic('kip848-static'), 4);
    const groupId = uniqueTopic('g848s');
    const all: string[] = [];
    await produce(t, 0, 100);
    const s1 = member(t, groupId, all, { groupInstanceId: 'instance-1' });
    const other = member(t, groupId, all);
    await until(() => owns(s1, 2) && owns(other, 2) && all.length >= 100, 'two partitions each and 100 records');
    const partitions = (m: Member) =>
      m.consumer
        .assignment()
        .map((tp) => tp.partition)
        .sort();
    const mine = partitions(s1);
    await s1.consumer.close();
    await s1.done;
    // A dynamic member's leave (-1) hands its partitions to `other` within a heartbeat or two (200 ms each).
    let most = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      most = Math.max(most, other.consumer.assignment().length);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(most).toBe(2);
    await produce(t, 100, 100);
    const s2 = member(t, groupId, all, { groupInstanceId: 'instance-1' });
    await until(() => owns(s2, 2), 'the instance back with its partitions');
    expect(partitions(s2)).toEqual(mine);
    await until(() => all.length >= 200, 'every record');
    await s2.consumer.close();
    await other.consumer.close();
    await Promise.all([s2.done, other.done]);
    expect(duplicates(all)).toEqual([]);
    expect(await committedTotal(groupId)).toBe(200);
  });

  it('subscribes by regex with the broker assignor chosen by the member; an unknown assignor is an error', async () => {
    const prefix = uniqueTopic('kip848-re');
    const one = await createTopic(`${prefix}-one`, 2);
    const two = await createTopic(`${prefix}-two`, 2);
    const other = await createTopic(`${prefix}x-other`, 1);
    await Promise.all([produce(one, 0, 20), produce(two, 100, 20), produce(other, 200, 20)]);
    const consumer = new Consumer(
      { brokers: [broker.bootstrap] },
      {
        groupId: uniqueTopic('g848re'),
        groupProtocol: 'consumer',
        groupRemoteAssignor: 'range',
        autoOffsetReset: 'earliest',
      },
    );
    consumer.subscribePattern(`${prefix}-(one|two)`);
    const values: number[] = [];
    const topics = new Set<string>();
    for await (const r of consumer.records(one)) {
      values.push(r.value);
      topics.add(r.topic);
      if (values.length === 40) break;
    }
    await consumer.close();
    expect([...topics].sort()).toEqual([one.name, two.name].sort());
    expect(values.sort((x, y) => x - y)).toEqual([
      ...Array.from({ length: 20 }, (_, i) => i),
      ...Array.from({ length: 20 }, (_, i) => 100 + i),
    ]);

    const bad = new Consumer(
      { brokers: [broker.bootstrap] },
      { groupId: uniqueTopic('g848bad'), groupProtocol: 'consumer', groupRemoteAssignor: 'nope' },
    );
    await expect(bad.records(one).next()).rejects.toMatchObject({ code: ERROR_CODES.UNSUPPORTED_ASSIGNOR });
    await bad.close();
  });
});
