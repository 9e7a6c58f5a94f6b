import { type RunningBroker, startBroker } from '@sluice/broker';

/** An in-process Sluice broker with quiet logs and `partitions` partitions per auto-created topic. */
export async function sluice(partitions = 1): Promise<RunningBroker> {
  return startBroker({
    props: { 'log.level': 'warn', 'num.partitions': String(partitions), 'group.initial.rebalance.delay.ms': '0' },
  });
}

let seq = 0;
/** A topic name unique within the test run. */
export function uniqueTopic(prefix: string): string {
  seq++;
  return `${prefix}-${process.pid}-${seq}`;
}

type Request = (api: unknown, body: unknown, options?: unknown) => Promise<unknown>;
/** The client's connection pool as tests patch it: each connection's `request` can be wrapped. */
export interface PatchablePool {
  get: (...args: unknown[]) => Promise<{ request: Request }>;
}
