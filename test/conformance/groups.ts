import {
  DescribeGroupsApi,
  type DescribeGroupsResponse,
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  type JoinGroupResponse,
  Reader,
  SyncGroupApi,
  type SyncGroupResponse,
  Writer,
} from '@sluice/protocol';
import type { Side } from './scripts.js';
import type { WireClient } from './wire-client.js';

// Building blocks for the consumer-group scripts: the consumer protocol's subscription and assignment
// bytes, member-id naming (ids are generated, so they are compared by role), and the join/sync steps.

/** Session and rebalance timeouts of the scripted members: long enough that no member expires mid-case. */
export const SESSION_TIMEOUT_MS = 10_000;
export const REBALANCE_TIMEOUT_MS = 15_000;

/** ConsumerProtocolSubscription v0: the topics, no user data. Kafka parses it to learn a group's topics. */
export function subscription(topics: readonly string[]): Buffer {
  const w = new Writer();
  w.int16(0);
  w.int32(topics.length);
  for (const t of topics) w.string(t);
  w.nullableBytes(null);
  return w.toBuffer();
}

/** ConsumerProtocolAssignment v0. */
export function assignment(partitions: Readonly<Record<string, readonly number[]>>): Buffer {
  const w = new Writer();
  w.int16(0);
  const topics = Object.entries(partitions);
  w.int32(topics.length);
  for (const [t, ps] of topics) {
    w.string(t);
    w.int32(ps.length);
    for (const p of ps) w.int32(p);
  }
  w.nullableBytes(null);
  return w.toBuffer();
}

/**
 * The consumer protocol's subscription or assignment bytes, decoded for a readable comparison: topics (with
 * partitions, for an assignment) and user data; `''` when empty, the hex when they are not that protocol.
 */
export function readable(bytes: Buffer, kind: 'subscription' | 'assignment'): unknown {
  if (bytes.length === 0) return '';
  try {
    const r = new Reader(bytes);
    const version = r.int16();
    const topics: Record<string, number[] | true> = {};
    for (let n = r.arrayLength(2), i = 0; i < n; i++) {
      const name = r.string();
      if (kind === 'subscription') {
        topics[name] = true;
        continue;
      }
      const ps: number[] = [];
      for (let m = r.arrayLength(4), j = 0; j < m; j++) ps.push(r.int32());
      topics[name] = ps;
    }
    const userData = r.nullableBytes();
    // Later versions add fields (owned partitions, generation, rack): shown as the bytes left.
    return { version, topics, userData: userData?.toString('hex') ?? null, rest: r.raw(r.remaining).toString('hex') };
  } catch {
    return bytes.toString('hex');
  }
}

export type Protocols = readonly { name: string; metadata: Buffer }[];

export const consumerProtocols = (names: readonly string[], topics: readonly string[]): Protocols =>
  names.map((name) => ({ name, metadata: subscription(topics) }));

const UUID_AT_END = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Names generated member ids by the order the script learns them: `c1-<uuid>#1`. The shape (client id,
 * dash, UUID) stays visible, so a broker that builds ids differently shows up in the comparison.
 */
export class MemberIds {
  private readonly names = new Map<string, string>();

  add(id: string): string {
    let name = this.names.get(id);
    if (name === undefined && id !== '') {
      name = `${id.replace(UUID_AT_END, '<uuid>')}#${this.names.size + 1}`;
      this.names.set(id, name);
    }
    return name ?? id;
  }

  /** Replaces every known id in a script's result (strings anywhere in it). */
  anonymise(value: unknown): unknown {
    if (typeof value === 'string') return this.names.get(value) ?? value;
    if (Array.isArray(value)) return value.map((v) => this.anonymise(v));
    if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.anonymise(v)]));
    }
    return value;
  }
}

export interface JoinOptions {
  memberId?: string;
  protocolType?: string;
  protocols: Protocols;
  sessionTimeoutMs?: number;
  groupInstanceId?: string | null;
}

export function join(c: WireClient, v: number, groupId: string, o: JoinOptions): Promise<JoinGroupResponse> {
  return c.send(
    JoinGroupApi,
    v,
    {
      groupId,
      sessionTimeoutMs: o.sessionTimeoutMs ?? SESSION_TIMEOUT_MS,
      rebalanceTimeoutMs: REBALANCE_TIMEOUT_MS,
      memberId: o.memberId ?? '',
      groupInstanceId: o.groupInstanceId ?? null,
      protocolType: o.protocolType ?? 'consumer',
      protocols: o.protocols.map((p) => ({ ...p })),
      reason: null,
    },
    REBALANCE_TIMEOUT_MS + 10_000,
  );
}

/**
 * A new member's join: from v4 the broker first answers MEMBER_ID_REQUIRED with an id (`required`), and the
 * join proper (`joined`, which may block until the rebalance completes) is sent with it.
 */
export async function joinNew(c: WireClient, v: number, groupId: string, o: JoinOptions, ids: MemberIds) {
  if (v < 4) {
    const joined = join(c, v, groupId, o).then((r) => {
      ids.add(r.memberId);
      return r;
    });
    return { required: undefined, joined };
  }
  const required = await join(c, v, groupId, o);
  ids.add(required.memberId);
  const joined = required.errorCode === 79 ? join(c, v, groupId, { ...o, memberId: required.memberId }) : null;
  return { required, joined: joined ?? Promise.resolve(required) };
}

export function sync(
  c: WireClient,
  v: number,
  groupId: string,
  generationId: number,
  memberId: string,
  assignments: Readonly<Record<string, Buffer>> = {},
  protocolName: string | null = 'range',
): Promise<SyncGroupResponse> {
  return c.send(
    SyncGroupApi,
    v,
    {
      groupId,
      generationId,
      memberId,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocolName,
      assignments: Object.entries(assignments).map(([m, a]) => ({ memberId: m, assignment: a })),
    },
    REBALANCE_TIMEOUT_MS + 10_000,
  );
}

export function heartbeat(c: WireClient, v: number, groupId: string, generationId: number, memberId: string) {
  return c.send(HeartbeatApi, v, { groupId, generationId, memberId, groupInstanceId: null });
}

export function describe(c: WireClient, v: number, groups: string[]): Promise<DescribeGroupsResponse> {
  return c.send(DescribeGroupsApi, v, { groups, includeAuthorizedOperations: false });
}

/** Members listed in a fixed order (by client id, then by member id's name), as brokers keep them in maps. */
export function describedGroups(res: DescribeGroupsResponse, ids: MemberIds) {
  return res.groups.map((g) => ({
    ...g,
    members: g.members
      .map((m) => ({
        ...m,
        memberId: ids.add(m.memberId),
        memberMetadata: readable(m.memberMetadata, 'subscription'),
        memberAssignment: readable(m.memberAssignment, 'assignment'),
      }))
      .sort((a, b) => a.clientId.localeCompare(b.clientId) || a.memberId.localeCompare(b.memberId)),
  }));
}

/**
 * DescribeGroups once the group is in `state` (polled, bounded: 5 s), else the last answer. Kafka's group
 * coordinator answers reads from its last committed state, which can trail a response just sent.
 */
export async function describeSettled(s: Side, v: number, groupId: string, state: string, ids: MemberIds) {
  let r = await describe(s.client, v, [groupId]);
  for (let attempt = 0; attempt < 250 && r.groups[0]?.groupState !== state; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    r = await describe(s.client, v, [groupId]);
  }
  return describedGroups(r, ids);
}

/** Polls DescribeGroups until the group is in `state` (bounded: 20 s by the clock; a loaded CI machine is slow). */
export async function waitForState(s: Side, groupId: string, state: string): Promise<void> {
  let last = '';
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    const r = await describe(s.client, 0, [groupId]);
    last = r.groups[0]?.groupState ?? '';
    if (last === state) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${s.broker.kind}: group ${groupId} is ${last}, not ${state}, after 20 s`);
}

/**
 * Waits until the broker coordinates groups: Kafka creates the offsets topic on the first FindCoordinator
 * (answering COORDINATOR_NOT_AVAILABLE meanwhile) and loads it (COORDINATOR_LOAD_IN_PROGRESS). Bounded: 20 s.
 */
export async function waitForCoordinator(s: Side): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 200; attempt++) {
    const f = await s.client.send(FindCoordinatorApi, 1, { key: 'warm-up', keyType: 0, coordinatorKeys: [] });
    const d = f.errorCode === 0 ? await describe(s.client, 0, ['warm-up']) : undefined;
    last = `FindCoordinator ${f.errorCode}, DescribeGroups ${d?.groups[0]?.errorCode}`;
    if (d?.groups[0]?.errorCode === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${s.broker.kind}: no group coordinator after 20 s (${last})`);
}
