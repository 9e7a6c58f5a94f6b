import type { Assignor, MemberSubscription, TopicPartition } from '@sluice/client';

// The group assignor of a streams application (Kafka Streams' StreamsPartitionAssignor, reduced): tasks
// rather than partitions are assigned, each task's input partitions to one member; tasks stay with their
// previous owner where the balance allows; each task with stores gets standby replicas on other members;
// and every member learns which host (`application.server`) holds which task. The subscription and the
// assignment carry this in their userdata, as JSON.

/** One task: a sub-topology's partition, its input partitions and whether it has state. */
export interface TaskDef {
  id: string;
  partitions: TopicPartition[];
  stateful: boolean;
}

/** What a member says of itself when it joins. */
export interface StreamsSubscriptionInfo {
  /** Its `application.server` (host:port), or null. */
  endpoint: string | null;
  /** Tasks it ran before this rebalance (kept where the balance allows: their state is there). */
  active: string[];
  /** Tasks whose state it holds without running them (standbys, or tasks it gave up). */
  standby: string[];
}

/** What each member is told: its standby tasks, and which host holds which task. */
export interface StreamsAssignmentInfo {
  standby: string[];
  hosts: Record<string, { active: string[]; standby: string[] }>;
}

const MAX_USERDATA = 1 << 20;

function parse<T>(buf: Buffer | null | undefined, what: string): T | undefined {
  if (buf === null || buf === undefined || buf.length === 0) return undefined;
  if (buf.length > MAX_USERDATA) throw new Error(`${what}: ${buf.length} bytes, more than ${MAX_USERDATA}`);
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (err) {
    throw new Error(`${what}: not the JSON a streams instance writes (${(err as Error).message})`);
  }
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function decodeSubscriptionInfo(buf: Buffer | null | undefined): StreamsSubscriptionInfo {
  const o = parse<Partial<StreamsSubscriptionInfo>>(buf, 'streams subscription userdata') ?? {};
  return {
    endpoint: typeof o.endpoint === 'string' ? o.endpoint : null,
    active: strings(o.active),
    standby: strings(o.standby),
  };
}

export function decodeAssignmentInfo(buf: Buffer | null | undefined): StreamsAssignmentInfo {
  const o = parse<Partial<StreamsAssignmentInfo>>(buf, 'streams assignment userdata') ?? {};
  const hosts: StreamsAssignmentInfo['hosts'] = {};
  if (typeof o.hosts === 'object' && o.hosts !== null) {
    for (const [h, v] of Object.entries(o.hosts))
      hosts[h] = { active: strings(v?.active), standby: strings(v?.standby) };
  }
  return { standby: strings(o.standby), hosts };
}

export interface StreamsAssignorOptions {
  /** The tasks of the topology (known once the partition counts are). */
  tasks(): TaskDef[];
  /** This member's subscription info at each join. */
  subscription(): StreamsSubscriptionInfo;
  /** This member's standbys and the host map, each generation. */
  assigned(info: StreamsAssignmentInfo, partitions: readonly TopicPartition[]): void | Promise<void>;
  numStandbyReplicas: number;
}

const byId = (a: MemberSubscription, b: MemberSubscription) =>
  a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0;

/** Active and standby tasks per member: balanced, sticky to previous holders. */
export function assignTasks(
  members: ReadonlyArray<{ memberId: string; info: StreamsSubscriptionInfo }>,
  tasks: readonly TaskDef[],
  numStandbyReplicas: number,
): { active: Map<string, string[]>; standby: Map<string, string[]> } {
  const ids = members.map((m) => m.memberId);
  const active = new Map<string, string[]>(ids.map((id) => [id, []]));
  const standby = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return { active, standby };
  // An even share: every member gets `floor` tasks, `extra` of them one more.
  const floor = Math.floor(tasks.length / ids.length);
  let extra = tasks.length % ids.length;
  const had = (m: { info: StreamsSubscriptionInfo }, t: string) => m.info.active.includes(t);
  const warm = (m: { info: StreamsSubscriptionInfo }, t: string) => m.info.standby.includes(t) || had(m, t);
  const load = (id: string) => (active.get(id) as string[]).length;
  // Previous owners first, then members holding the state, then the least loaded; never above the quota.
  // Each preference is a pass over all tasks, so a later task's owner is not crowded out by an earlier task.
  const placed = new Set<string>();
  const fits = (id: string) => load(id) < floor || (load(id) === floor && extra > 0);
  const place = (t: TaskDef, id: string) => {
    if (load(id) >= floor) extra--;
    (active.get(id) as string[]).push(t.id);
    placed.add(t.id);
  };
  for (const t of tasks) {
    const m = members.find((x) => had(x, t.id) && fits(x.memberId));
    if (m !== undefined) place(t, m.memberId);
  }
  for (const t of tasks) {
    if (placed.has(t.id)) continue;
    const m = members
      .filter((x) => warm(x, t.id) && fits(x.memberId))
      .sort((x, y) => load(x.memberId) - load(y.memberId))[0];
    if (m !== undefined) place(t, m.memberId);
  }
  for (const t of tasks) {
    if (placed.has(t.id)) continue;
    place(t, [...members].sort((x, y) => load(x.memberId) - load(y.memberId))[0].memberId);
  }
  const owner = new Map<string, string>();
  for (const [id, list] of active) for (const t of list) owner.set(t, id);
  const sLoad = (id: string) => (standby.get(id) as string[]).length;
  for (const t of tasks) {
    if (!t.stateful) continue;
    const chosen = new Set<string>();
    for (let r = 0; r < Math.min(numStandbyReplicas, ids.length - 1); r++) {
      const candidates = members.filter((m) => m.memberId !== owner.get(t.id) && !chosen.has(m.memberId));
      const pick =
        candidates.filter((m) => warm(m, t.id)).sort((a, b) => sLoad(a.memberId) - sLoad(b.memberId))[0] ??
        candidates.sort((a, b) => sLoad(a.memberId) - sLoad(b.memberId))[0];
      if (pick === undefined) break;
      chosen.add(pick.memberId);
      (standby.get(pick.memberId) as string[]).push(t.id);
    }
  }
  return { active, standby };
}

/** The assignor a KafkaStreams instance joins its group with (protocol name `stream`, as Kafka Streams). */
export function streamsAssignor(o: StreamsAssignorOptions): Assignor {
  let plan: { active: Map<string, string[]>; standby: Map<string, string[]>; endpoint: Map<string, string | null> } = {
    active: new Map(),
    standby: new Map(),
    endpoint: new Map(),
  };
  return {
    name: 'stream',
    cooperative: false,
    subscriptionUserData: () => Buffer.from(JSON.stringify(o.subscription()), 'utf8'),
    assign(members) {
      const sorted = [...members].sort(byId);
      const infos = sorted.map((m) => ({ memberId: m.memberId, info: decodeSubscriptionInfo(m.userData) }));
      const tasks = o.tasks();
      const { active, standby } = assignTasks(infos, tasks, o.numStandbyReplicas);
      plan = { active, standby, endpoint: new Map(infos.map((m) => [m.memberId, m.info.endpoint])) };
      const byTask = new Map(tasks.map((t) => [t.id, t.partitions]));
      const out = new Map<string, TopicPartition[]>();
      for (const [id, list] of active)
        out.set(
          id,
          list.flatMap((t) => byTask.get(t) ?? []),
        );
      return out;
    },
    assignmentUserData(assigned) {
      const hosts: StreamsAssignmentInfo['hosts'] = {};
      for (const [id, endpoint] of plan.endpoint) {
        if (endpoint === null) continue;
        const h = (hosts[endpoint] ??= { active: [], standby: [] });
        h.active.push(...(plan.active.get(id) ?? []));
        h.standby.push(...(plan.standby.get(id) ?? []));
      }
      return new Map(
        [...assigned.keys()].map((id) => {
          const info: StreamsAssignmentInfo = { standby: plan.standby.get(id) ?? [], hosts };
          return [id, Buffer.from(JSON.stringify(info), 'utf8')];
        }),
      );
    },
    onAssignment: (tps, userData) => o.assigned(decodeAssignmentInfo(userData), tps),
  };
}
