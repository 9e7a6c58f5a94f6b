import { ConsumerProtocolSubscriptionCodec, KafkaError, Writer } from '@sluice/protocol';
import {
  type CoordinatorConfig,
  type CoordinatorRecord,
  GroupCoordinator,
  type JoinGroupParams,
} from './coordinator.js';
import type { JoinGroupResult, Protocol } from './group.js';
import { ManualScheduler } from './scheduler.js';

/** Consumer-protocol subscription metadata (v0) for the given topics. */
export function subscription(...topics: string[]): Buffer {
  const w = new Writer(64);
  w.int16(0);
  ConsumerProtocolSubscriptionCodec.encode(w, 0, {
    ...ConsumerProtocolSubscriptionCodec.defaults(),
    topics,
    userData: null,
  });
  return w.toBuffer();
}

export function protocols(...names: string[]): Protocol[] {
  return names.map((name) => ({ name, metadata: Buffer.from(`meta-${name}`) }));
}

/** Lets promise callbacks (async appends) run. */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface Harness {
  c: GroupCoordinator;
  clock: ManualScheduler;
  appended: { partition: number; records: CoordinatorRecord[] }[];
  /** When set, appends throw this. */
  failWith: { error: KafkaError | null };
  join(groupId: string, over?: Partial<JoinGroupParams>): Promise<JoinGroupResult>;
  /** Joins a dynamic member the v4+ way (MEMBER_ID_REQUIRED first); resolves with the pending JoinGroup. */
  joinNew(
    groupId: string,
    over?: Partial<JoinGroupParams>,
  ): Promise<{ memberId: string; result: Promise<JoinGroupResult> }>;
  /** Advances the clock and lets async work settle. */
  tick(ms: number): Promise<void>;
  records(): CoordinatorRecord[];
}

export function harness(config: Partial<CoordinatorConfig> = {}): Harness {
  const clock = new ManualScheduler();
  const appended: Harness['appended'] = [];
  const failWith: Harness['failWith'] = { error: null };
  let next = 0;
  const c = new GroupCoordinator({
    config: {
      numPartitions: 3,
      groupInitialRebalanceDelayMs: 0,
      groupMinSessionTimeoutMs: 1000,
      ...config,
    },
    scheduler: clock,
    append: (partition, records) => {
      if (failWith.error) throw failWith.error;
      appended.push({ partition, records });
    },
    newMemberId: (clientId) => `${clientId}-${++next}`,
  });
  const join = (groupId: string, over: Partial<JoinGroupParams> = {}) =>
    c.joinGroup({
      groupId,
      memberId: '',
      groupInstanceId: null,
      clientId: 'client',
      clientHost: '/127.0.0.1',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 30_000,
      protocolType: 'consumer',
      protocols: protocols('range'),
      requireKnownMemberId: true,
      supportSkippingAssignment: false,
      ...over,
    });
  const joinNew = async (groupId: string, over: Partial<JoinGroupParams> = {}) => {
    const first = await join(groupId, over);
    if (first.errorCode !== 79) throw new Error(`expected MEMBER_ID_REQUIRED, got ${first.errorCode}`);
    return { memberId: first.memberId, result: join(groupId, { ...over, memberId: first.memberId }) };
  };
  const tick = async (ms: number) => {
    await flush();
    clock.advance(ms);
    await flush();
  };
  const records = () => appended.flatMap((a) => a.records);
  return { c, clock, appended, failWith, join, joinNew, tick, records };
}

export { KafkaError };
