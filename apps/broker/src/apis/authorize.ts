// The authorizer's decision for one request, from the connection's principal and address. Every
// check passes when no authorizer is configured (authorizer.class.name empty).

import { CLUSTER_NAME, ResourceType } from '@sluice/security';
import type { BrokerContext } from '../server/context.js';
import type { RequestContext } from '../server/dispatcher.js';
import { ANONYMOUS } from '../server/listener-security.js';

export function authorize(
  broker: BrokerContext,
  ctx: RequestContext,
  operation: number,
  resourceType: number,
  name: string,
): boolean {
  const authorizer = broker.security?.authorizer;
  if (!authorizer) return true;
  const c = ctx.connection;
  return authorizer.authorize(
    { principal: c.principal ?? ANONYMOUS, host: c.remoteAddress ?? '' },
    operation,
    resourceType,
    name,
  );
}

export function authorizeCluster(broker: BrokerContext, ctx: RequestContext, operation: number): boolean {
  return authorize(broker, ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME);
}
