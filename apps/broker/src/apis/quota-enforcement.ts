// Produce and Fetch byte-rate quotas in front of their handlers (Kafka's KIP-219 behaviour): the
// response carries throttle_time_ms and the connection then reads nothing for that long.

import { FetchApi, type FetchResponse, ProduceApi, type ProduceRequest, type ProduceResponse } from '@sluice/protocol';
import type { ClientQuotaManager } from '../server/client-quota-manager.js';
import type { ApiHandler, RequestContext } from '../server/dispatcher.js';
import { ANONYMOUS } from '../server/listener-security.js';

const userOf = (ctx: RequestContext) => (ctx.connection.principal ?? ANONYMOUS).replace(/^User:/, '');

function produceBytes(req: ProduceRequest): number {
  let n = 0;
  for (const t of req.topicData) for (const p of t.partitionData) n += p.records?.length ?? 0;
  return n;
}

function fetchBytes(res: FetchResponse): number {
  let n = 0;
  for (const t of res.responses) for (const p of t.partitions) n += p.records?.length ?? 0;
  return n;
}

export function withQuotas(quotas: ClientQuotaManager, handlers: readonly ApiHandler[]): ApiHandler[] {
  return handlers.map((h) => {
    if (h.api.apiKey === ProduceApi.apiKey) {
      return {
        ...h,
        handle(req: ProduceRequest, ctx: RequestContext) {
          const result = h.handle(req, ctx) as ProduceResponse | null | Promise<ProduceResponse | null>;
          if (!quotas.active) return result;
          const throttleMs = quotas.record(
            'producer_byte_rate',
            userOf(ctx),
            ctx.header.clientId ?? '',
            produceBytes(req),
          );
          if (throttleMs <= 0) return result;
          ctx.connection.throttle?.(throttleMs);
          const apply = (res: ProduceResponse | null) =>
            res === null ? null : { ...res, throttleTimeMs: Math.max(res.throttleTimeMs, throttleMs) };
          return result instanceof Promise ? result.then(apply) : apply(result);
        },
      };
    }
    if (h.api.apiKey === FetchApi.apiKey) {
      return {
        ...h,
        handle(req: unknown, ctx: RequestContext) {
          const result = h.handle(req, ctx) as FetchResponse | null | Promise<FetchResponse | null>;
          if (!quotas.active) return result;
          const apply = (res: FetchResponse | null) => {
            if (res === null) return null;
            const throttleMs = quotas.record(
              'consumer_byte_rate',
              userOf(ctx),
              ctx.header.clientId ?? '',
              fetchBytes(res),
            );
            if (throttleMs <= 0) return res;
            ctx.connection.throttle?.(throttleMs);
            return { ...res, throttleTimeMs: Math.max(res.throttleTimeMs, throttleMs) };
          };
          return result instanceof Promise ? result.then(apply) : apply(result);
        },
      };
    }
    return h;
  });
}
