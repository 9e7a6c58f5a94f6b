// Group benchmarks, Sluice and Kafka side by side: how long a rebalance takes with the classic
// protocol (JoinGroup/SyncGroup) and with KIP-848 (ConsumerGroupHeartbeat) when one member joins or
// leaves a 20- or 50-member group, and how fast N KIP-932 share consumers drain a topic.
//
// The members are protocol-level clients in this process (one connection each), the same code
// against both brokers, so the numbers are the coordinators' and not a client library's. A group is
// settled when every partition is held by exactly one member and each member holds its fair share
// (⌊P/M⌋ or ⌈P/M⌉): with the classic eager protocol that is after the SyncGroup of every member; with
// KIP-848 after the revocations and the assignments that follow them.
import { randomUUID } from 'node:crypto';
import { Connection, Kafka, ShareConsumer, topic } from '@sluice/client';
import {
  ConsumerGroupHeartbeatApi,
  ConsumerProtocolAssignmentCodec,
  ConsumerProtocolSubscriptionCodec,
  ERROR_CODES,
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  LeaveGroupApi,
  Reader,
  ShareGroupDescribeApi,
  SyncGroupApi,
  Writer,
} from '@sluice/protocol';
import type { Broker } from './brokers.js';
import { sleep } from './proc.js';
import type { Row } from './report.js';

export interface GroupsContext {
  quick: boolean;
  trials: number;
  brokers(): Promise<Broker[]>;
  freshDir(b: Broker): string;
  row(id: string, init: Omit<Row, 'id' | 'sluice' | 'kafka' | 'details'>): Row;
  attempt<T>(what: string, fn: () => Promise<T>): Promise<T | undefined>;
  createTopics(port: number, topics: Array<{ name: string; numPartitions: number }>): Promise<void>;
  log(s: string): void;
}

type Protocol = 'classic' | 'consumer';
const TOPIC = 'rebalance';
const PARTITIONS = 100;
const HEARTBEAT_MS = 100;
/** A rebalance that takes longer than this is recorded as a failure. */
const SETTLE_DEADLINE_MS = 60_000;

/** Both brokers: quick heartbeats (KIP-848's interval is the broker's; Kafka's floor is 5 s by default). */
function groupConfig(b: Broker): Record<string, string> {
  const common = {
    'group.initial.rebalance.delay.ms': '0',
    'group.consumer.heartbeat.interval.ms': String(HEARTBEAT_MS),
    'group.share.heartbeat.interval.ms': String(HEARTBEAT_MS * 5),
  };
  return b.name === 'kafka'
    ? {
        ...common,
        'group.consumer.min.heartbeat.interval.ms': String(HEARTBEAT_MS),
        'group.share.min.heartbeat.interval.ms': String(HEARTBEAT_MS * 5),
      }
    : common;
}

interface Member {
  readonly partitions: ReadonlySet<number>;
  start(): void;
  leave(): Promise<void>;
  close(): void;
}

function subscriptionMetadata(): Buffer {
  const w = new Writer(32).int16(0);
  ConsumerProtocolSubscriptionCodec.encode(w, 0, {
    ...ConsumerProtocolSubscriptionCodec.defaults(),
    topics: [TOPIC],
    userData: null,
  });
  return w.toBuffer();
}

function encodeAssignment(partitions: number[]): Buffer {
  const w = new Writer(64).int16(0);
  ConsumerProtocolAssignmentCodec.encode(w, 0, {
    assignedPartitions: partitions.length > 0 ? [{ topic: TOPIC, partitions }] : [],
    userData: null,
  });
  return w.toBuffer();
}

function decodeAssignment(buf: Buffer): number[] {
  if (buf.length < 2) return [];
  const r = new Reader(buf);
  const v = r.int16();
  return ConsumerProtocolAssignmentCodec.decode(
    r,
    Math.min(v, ConsumerProtocolAssignmentCodec.maxVersion),
  ).assignedPartitions.flatMap((tp) => tp.partitions);
}

/** The classic range assignment the leader computes: members by id, contiguous ranges. */
function rangeAssign(memberIds: string[]): Map<string, number[]> {
  const sorted = [...memberIds].sort();
  const out = new Map<string, number[]>();
  const q = Math.floor(PARTITIONS / sorted.length);
  const r = PARTITIONS % sorted.length;
  let next = 0;
  sorted.forEach((id, i) => {
    const n = q + (i < r ? 1 : 0);
    out.set(
      id,
      Array.from({ length: n }, (_, k) => next + k),
    );
    next += n;
  });
  return out;
}

/** An eager classic consumer: JoinGroup (the leader assigns by range), SyncGroup, Heartbeat until told to rejoin. */
class ClassicMember implements Member {
  partitions = new Set<number>();
  private memberId = '';
  private generation = -1;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly conn: Connection,
    private readonly groupId: string,
  ) {}

  start(): void {
    this.loop = this.run().catch(() => {});
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!(await this.joinAndSync())) continue;
      while (!this.stopped) {
        await sleep(HEARTBEAT_MS);
        if (this.stopped) return;
        const h = await this.conn.request(HeartbeatApi, {
          ...HeartbeatApi.request.defaults(),
          groupId: this.groupId,
          generationId: this.generation,
          memberId: this.memberId,
        });
        if (h.errorCode !== ERROR_CODES.NONE) break;
      }
    }
  }

  private async joinAndSync(): Promise<boolean> {
    // Eager: everything is given up before rejoining.
    this.partitions = new Set();
    const j = await this.conn.request(JoinGroupApi, {
      ...JoinGroupApi.request.defaults(),
      groupId: this.groupId,
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: 30_000,
      memberId: this.memberId,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: subscriptionMetadata() }],
    });
    if (j.errorCode === ERROR_CODES.MEMBER_ID_REQUIRED) {
      this.memberId = j.memberId;
      return false;
    }
    if (j.errorCode !== ERROR_CODES.NONE) {
      if (j.errorCode === ERROR_CODES.UNKNOWN_MEMBER_ID) this.memberId = '';
      await sleep(HEARTBEAT_MS);
      return false;
    }
    this.generation = j.generationId;
    const assignments =
      j.leader === this.memberId
        ? [...rangeAssign(j.members.map((m) => m.memberId))].map(([memberId, ps]) => ({
            memberId,
            assignment: encodeAssignment(ps),
          }))
        : [];
    const s = await this.conn.request(SyncGroupApi, {
      ...SyncGroupApi.request.defaults(),
      groupId: this.groupId,
      generationId: this.generation,
      memberId: this.memberId,
      protocolType: 'consumer',
      protocolName: j.protocolName ?? 'range',
      assignments,
    });
    if (s.errorCode !== ERROR_CODES.NONE) return false;
    this.partitions = new Set(decodeAssignment(Buffer.from(s.assignment)));
    return true;
  }

  async leave(): Promise<void> {
    this.stopped = true;
    await this.conn
      .request(LeaveGroupApi, {
        ...LeaveGroupApi.request.defaults(),
        groupId: this.groupId,
        members: [{ memberId: this.memberId, groupInstanceId: null, reason: null }],
      })
      .catch(() => {});
    await this.loop;
  }

  close(): void {
    this.stopped = true;
    this.conn.close();
  }
}

/** A KIP-848 consumer: heartbeats at the broker's interval, and at once after an assignment change (its acknowledgement). */
class NewProtocolMember implements Member {
  partitions = new Set<number>();
  private readonly memberId = randomUUID();
  private epoch = 0;
  private topicId = '';
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly conn: Connection,
    private readonly groupId: string,
  ) {}

  start(): void {
    this.loop = this.run().catch(() => {});
  }

  private async beat(epoch: number) {
    const joining = epoch === 0;
    return this.conn.request(ConsumerGroupHeartbeatApi, {
      ...ConsumerGroupHeartbeatApi.request.defaults(),
      groupId: this.groupId,
      memberId: this.memberId,
      memberEpoch: epoch,
      rebalanceTimeoutMs: joining ? 30_000 : -1,
      subscribedTopicNames: joining ? [TOPIC] : null,
      topicPartitions:
        joining || this.topicId === '' ? [] : [{ topicId: this.topicId, partitions: [...this.partitions] }],
    });
  }

  private async run(): Promise<void> {
    let interval = HEARTBEAT_MS;
    while (!this.stopped) {
      const r = await this.beat(this.epoch);
      if (this.stopped) return;
      if (r.errorCode !== ERROR_CODES.NONE) {
        // Fenced or unknown: give everything up and join again.
        this.epoch = 0;
        this.partitions = new Set();
        await sleep(interval);
        continue;
      }
      this.epoch = r.memberEpoch;
      if (r.heartbeatIntervalMs > 0) interval = r.heartbeatIntervalMs;
      if (r.assignment !== null) {
        const tp = r.assignment.topicPartitions[0];
        if (tp !== undefined) this.topicId = tp.topicId;
        this.partitions = new Set(r.assignment.topicPartitions.flatMap((t) => t.partitions));
        continue;
      }
      await sleep(interval);
    }
  }

  async leave(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.beat(-1).catch(() => {});
  }

  close(): void {
    this.stopped = true;
    this.conn.close();
  }
}

/** Every partition held by exactly one member, each member with its fair share. */
function settled(members: readonly Member[]): boolean {
  const lo = Math.floor(PARTITIONS / members.length);
  const hi = Math.ceil(PARTITIONS / members.length);
  const seen = new Set<number>();
  for (const m of members) {
    if (m.partitions.size < lo || m.partitions.size > hi) return false;
    for (const p of m.partitions) {
      if (seen.has(p)) return false;
      seen.add(p);
    }
  }
  return seen.size === PARTITIONS;
}

async function untilSettled(members: readonly Member[], what: string): Promise<number> {
  const t0 = performance.now();
  while (!settled(members)) {
    if (performance.now() - t0 > SETTLE_DEADLINE_MS)
      throw new Error(`${what}: not settled within ${SETTLE_DEADLINE_MS} ms`);
    await sleep(5);
  }
  return performance.now() - t0;
}

/** Asks for the group's coordinator until the broker has one (Kafka creates `__consumer_offsets` on the first ask). */
async function coordinatorReady(port: number, groupId: string): Promise<void> {
  const conn = await Connection.open({ host: '127.0.0.1', port, clientId: 'bench-groups' });
  try {
    const deadline = performance.now() + 60_000;
    for (;;) {
      const r = await conn.request(FindCoordinatorApi, {
        ...FindCoordinatorApi.request.defaults(),
        keyType: 0,
        coordinatorKeys: [groupId],
      });
      if ((r.coordinators[0]?.errorCode ?? r.errorCode) === ERROR_CODES.NONE) return;
      if (performance.now() > deadline) throw new Error(`no coordinator for ${groupId} within 60 s`);
      await sleep(200);
    }
  } finally {
    conn.close();
  }
}

async function member(port: number, protocol: Protocol, groupId: string): Promise<Member> {
  const conn = await Connection.open({
    host: '127.0.0.1',
    port,
    clientId: `bench-${protocol}`,
    requestTimeoutMs: 60_000,
  });
  const m = protocol === 'classic' ? new ClassicMember(conn, groupId) : new NewProtocolMember(conn, groupId);
  m.start();
  return m;
}

/** One group of `size` members: the time for one more member to join, then for one to leave. */
async function rebalanceOnce(b: Broker, protocol: Protocol, size: number, trial: number) {
  const groupId = `rb-${protocol}-${size}-${trial}-${randomUUID().slice(0, 8)}`;
  const members: Member[] = [];
  try {
    await coordinatorReady(b.port, groupId);
    for (let i = 0; i < size; i++) members.push(await member(b.port, protocol, groupId));
    await untilSettled(members, `${b.name} ${protocol} ${size} members forming`);
    members.push(await member(b.port, protocol, groupId));
    // Timed from the joining member's first request (its connection is open before).
    const join = await untilSettled(members, `${b.name} ${protocol} member joining`);
    const leaving = members.shift() as Member;
    const t0 = performance.now();
    await leaving.leave();
    leaving.close();
    await untilSettled(members, `${b.name} ${protocol} member leaving`);
    const leave = performance.now() - t0;
    return { join, leave };
  } finally {
    await Promise.all(members.map((m) => m.leave().catch(() => {})));
    for (const m of members) m.close();
  }
}

const SHARE_CONSUMERS = 5;

/** N share consumers wait on an empty topic; R records are produced; the time until all are acknowledged. */
async function shareDrain(b: Broker, records: number, trial: number): Promise<number> {
  const name = `share-bench-${trial}`;
  const t = topic(name);
  const groupId = `share-bench-${trial}-${randomUUID().slice(0, 8)}`;
  const kafka = new Kafka({ brokers: [`127.0.0.1:${b.port}`], clientId: 'bench-share' });
  const consumers = Array.from(
    { length: SHARE_CONSUMERS },
    () => new ShareConsumer({ brokers: [`127.0.0.1:${b.port}`], clientId: 'bench-share' }, { groupId }),
  );
  let consumed = 0;
  let failed: unknown = null;
  await coordinatorReady(b.port, groupId);
  const loops = consumers.map(async (c) => {
    try {
      for await (const r of c.records(t)) {
        r.ack();
        consumed++;
      }
    } catch (err) {
      failed ??= err;
    }
  });
  const producer = kafka.producer({ acks: 1 });
  const admin = await Connection.open({ host: '127.0.0.1', port: b.port, clientId: 'bench-share-admin' });
  try {
    // The share group starts at the end of the log (share.auto.offset.reset=latest): every member joins first.
    const joinedBy = performance.now() + 30_000;
    for (;;) {
      const d = await admin.request(ShareGroupDescribeApi, {
        ...ShareGroupDescribeApi.request.defaults(),
        groupIds: [groupId],
      });
      const g = d.groups[0];
      const assigned = g?.members.filter((m) => m.assignment.topicPartitions.length > 0).length ?? 0;
      if (assigned === SHARE_CONSUMERS) break;
      if (failed !== null) throw failed;
      if (performance.now() > joinedBy) throw new Error(`share consumers: ${assigned} assigned within 30 s`);
      await sleep(50);
    }
    // Their ShareFetch long polls are out, so the share partition starts before the first record.
    await sleep(1000);
    const value = Buffer.alloc(100, 120);
    const t0 = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < records; i++) sends.push(producer.send(t, { value }));
    await Promise.all(sends);
    const deadline = t0 + 120_000;
    while (consumed < records) {
      if (failed !== null) throw failed;
      if (performance.now() > deadline) throw new Error(`share consume: ${consumed}/${records} within 120 s`);
      await sleep(5);
    }
    return (performance.now() - t0) / 1000;
  } finally {
    admin.close();
    await producer.close().catch(() => {});
    await Promise.all(consumers.map((c) => c.close().catch(() => {})));
    await Promise.allSettled(loops);
  }
}

export async function groupsPhase(ctx: GroupsContext): Promise<void> {
  const sizes = ctx.quick ? [20] : [20, 50];
  const shareRecords = ctx.quick ? 2_000 : 20_000;
  for (let trial = 1; trial <= ctx.trials; trial++) {
    for (const b of await ctx.brokers()) {
      const dir = ctx.freshDir(b);
      await ctx.attempt(`groups on ${b.name}`, async () => {
        try {
          await b.start(dir, groupConfig(b));
          await ctx.createTopics(b.port, [{ name: TOPIC, numPartitions: PARTITIONS }]);
          for (const size of sizes) {
            for (const protocol of ['classic', 'consumer'] as const) {
              const r = await ctx.attempt(`rebalance ${protocol} ${size} on ${b.name}`, () =>
                rebalanceOnce(b, protocol, size, trial),
              );
              if (r === undefined) continue;
              const how = protocol === 'classic' ? 'classic JoinGroup/SyncGroup' : 'KIP-848 ConsumerGroupHeartbeat';
              for (const [event, ms] of [
                ['join', r.join],
                ['leave', r.leave],
              ] as const) {
                ctx
                  .row(`group-rebalance-${protocol}-${size}-${event}`, {
                    kind: 'cost',
                    label: `rebalance, ${size}-member group, one member ${event === 'join' ? 'joins' : 'leaves'} (${how}; until every member holds its share of ${PARTITIONS} partitions)`,
                    unit: 'ms',
                    higherIsBetter: false,
                  })
                  [b.name].push(ms);
              }
              ctx.log(
                `rebalance ${b.name} ${protocol} ${size} t${trial}: join ${r.join.toFixed(0)} ms, leave ${r.leave.toFixed(0)} ms`,
              );
            }
          }
          await ctx.createTopics(b.port, [{ name: `share-bench-${trial}`, numPartitions: 1 }]);
          const s = await ctx.attempt(`share consume on ${b.name}`, () => shareDrain(b, shareRecords, trial));
          if (s !== undefined) {
            ctx
              .row('share-consume', {
                kind: 'cost',
                label: `share group consume, ${SHARE_CONSUMERS} share consumers (@sluice/client, ack per record) on a 1-partition topic, ${shareRecords} × 100 B records`,
                unit: 'rec/s',
                higherIsBetter: true,
              })
              [b.name].push(shareRecords / s);
            ctx.log(`share consume ${b.name} t${trial}: ${(shareRecords / s).toFixed(0)} rec/s`);
          }
        } finally {
          await b.stop();
        }
      });
    }
  }
}
