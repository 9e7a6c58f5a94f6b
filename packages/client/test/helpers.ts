import { type RunningBroker, startBroker } from '@sluice/broker';
import { ProduceApi, type ProduceRequest } from '@sluice/protocol';

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
interface PatchablePool {
  get: (...args: unknown[]) => Promise<{ request: Request }>;
}

/**
 * Routes the producer's Produce requests for topic `name` through `intercept` (given the request and a
 * `send` that passes it on to the broker) on every connection of its pool; other requests go as they are.
 */
export function interceptProduces(
  producer: object,
  name: string,
  intercept: (req: ProduceRequest, send: () => Promise<unknown>) => Promise<unknown>,
): void {
  const pool = (producer as { ctx: { pool: PatchablePool } }).ctx.pool;
  const get = pool.get.bind(pool);
  const patched = new WeakSet<object>();
  pool.get = async (...args: unknown[]) => {
    const conn = await get(...args);
    if (patched.has(conn)) return conn;
    patched.add(conn);
    const request = conn.request.bind(conn);
    conn.request = (api, body, options) => {
      const req = body as ProduceRequest;
      if (api !== ProduceApi || !req.topicData.some((t) => t.name === name)) return request(api, body, options);
      return intercept(req, () => request(api, body, options));
    };
    return conn;
  };
}
