// What the ACL guards (authorization.ts, authorization-guards.ts) share: the guard's type, applying a
// change to a sync or async handler result, and the operations each authorized-operations field reports.

import { AclOperation as Op, ResourceType as RT } from '@sluice/security';
import type { BrokerContext } from '../server/context.js';
import type { RequestContext } from '../server/dispatcher.js';
import { authorize } from './authorize.js';

export type Result<Res> = Res | null | Promise<Res | null>;
// biome-ignore lint/suspicious/noExplicitAny: guards of every API share one table; each is typed where it is written.
export type Guard<Req = any, Res = any> = (
  broker: BrokerContext,
  req: Req,
  ctx: RequestContext,
  next: (req: Req) => Result<Res>,
) => Result<Res>;

/** authorizedOperations when not asked for (Kafka's Integer.MIN_VALUE). */
export const OPERATIONS_OMITTED = -2147483648;

/**
 * A described group refused whole (ConsumerGroupDescribe and ShareGroupDescribe answer the same
 * fields): its id and error, nothing of its state or members.
 */
export const refusedDescribedGroup = (groupId: string, errorCode: number) => ({
  errorCode,
  errorMessage: null,
  groupId,
  groupState: '',
  groupEpoch: 0,
  assignmentEpoch: 0,
  assignorName: '',
  members: [],
  authorizedOperations: OPERATIONS_OMITTED,
});

/** Whether `op` on the topic `name` is allowed. */
export const topicOk = (broker: BrokerContext, ctx: RequestContext, op: number, name: string): boolean =>
  authorize(broker, ctx, op, RT.TOPIC, name);

/** Applies `merge` to a handler result, sync or async. */
export function mapResult<Res>(r: Result<Res>, merge: (res: Res) => Res): Result<Res> {
  if (r instanceof Promise) return r.then((res) => (res === null ? null : merge(res)));
  return r === null ? null : merge(r);
}

/** The operations whose bits the authorized-operations fields report, per resource type. */
export const TOPIC_OPERATIONS = [
  Op.READ,
  Op.WRITE,
  Op.CREATE,
  Op.DELETE,
  Op.ALTER,
  Op.DESCRIBE,
  Op.DESCRIBE_CONFIGS,
  Op.ALTER_CONFIGS,
];
export const GROUP_OPERATIONS = [Op.READ, Op.DELETE, Op.DESCRIBE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS];
export const CLUSTER_OPERATIONS = [
  Op.CREATE,
  Op.ALTER,
  Op.DESCRIBE,
  Op.CLUSTER_ACTION,
  Op.DESCRIBE_CONFIGS,
  Op.ALTER_CONFIGS,
  Op.IDEMPOTENT_WRITE,
];
export function operationBits(ops: readonly number[], allowed: (op: number) => boolean): number {
  let bits = 0;
  for (const op of ops) if (allowed(op)) bits |= 1 << op;
  return bits;
}
