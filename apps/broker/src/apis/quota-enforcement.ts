// Client quotas in front of the handlers, as Kafka's KafkaApis applies them (KIP-219: the response
// carries throttle_time_ms and the connection then reads nothing for that long):
// - producer_byte_rate on Produce, consumer_byte_rate on Fetch;
// - request_percentage (KIP-124) on every API but the handshake ones: the time the event loop spent
//   in the handler (its synchronous part, Sluice's analogue of Kafka's request-thread time);
// - controller_mutation_rate (KIP-599) on CreateTopics, CreatePartitions and DeleteTopics: each topic's
//   partitions, strict (THROTTLING_QUOTA_EXCEEDED per topic) from the versions that know the error.
// A throttled Fetch is answered without data and its bytes are not counted, as Kafka does.

import {
  ApiVersionsApi,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteTopicsApi,
  FetchApi,
  type FetchRequest,
  type FetchResponse,
  ProduceApi,
  type ProduceRequest,
  SaslAuthenticateApi,
  SaslHandshakeApi,
} from '@sluice/protocol';
import type { ClientQuotaManager, MutationQuota } from '../server/client-quota-manager.js';
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

/** Not subject to request_percentage: what a client sends before it is authenticated. */
const REQUEST_QUOTA_EXEMPT = new Set<number>([
  ApiVersionsApi.apiKey,
  SaslHandshakeApi.apiKey,
  SaslAuthenticateApi.apiKey,
]);

/** The APIs that mutate partitions, and the first version that is strict (Kafka's strictSinceVersion). */
const MUTATION_STRICT_SINCE = new Map<number, number>([
  [CreateTopicsApi.apiKey, 6],
  [CreatePartitionsApi.apiKey, 3],
  [DeleteTopicsApi.apiKey, 5],
]);

const isFollowerFetch = (req: FetchRequest, version: number) =>
  (version >= 15 ? req.replicaState.replicaId : req.replicaId) >= 0;

/** The request context a mutation handler sees: with the quota its topics are charged to. */
export interface MutationQuotaContext extends RequestContext {
  readonly mutationQuota?: MutationQuota;
}

function withQuota(quotas: ClientQuotaManager, h: ApiHandler): ApiHandler {
  const apiKey = h.api.apiKey;
  const requestQuota = !REQUEST_QUOTA_EXEMPT.has(apiKey);
  const strictSince = MUTATION_STRICT_SINCE.get(apiKey);
  return {
    ...h,
    handle(req: unknown, ctx: RequestContext) {
      if (!quotas.active) return h.handle(req, ctx);
      // Replica fetches from followers are not client traffic (Kafka exempts them).
      if (apiKey === FetchApi.apiKey && isFollowerFetch(req as FetchRequest, ctx.apiVersion)) return h.handle(req, ctx);
      const user = userOf(ctx);
      const clientId = ctx.header.clientId ?? '';
      const mutation =
        strictSince === undefined ? null : quotas.mutationQuota(user, clientId, ctx.apiVersion >= strictSince);
      const handlerCtx: MutationQuotaContext = mutation === null ? ctx : { ...ctx, mutationQuota: mutation };
      const started = performance.now();
      const result = h.handle(req, handlerCtx);
      const elapsedMs = performance.now() - started;
      const bandwidth =
        apiKey === ProduceApi.apiKey
          ? quotas.record('producer_byte_rate', user, clientId, produceBytes(req as ProduceRequest))
          : 0;
      const finish = (res: { throttleTimeMs?: number } | null) => {
        let fetched = 0;
        let throttle = bandwidth;
        if (apiKey === FetchApi.apiKey && res !== null) {
          fetched = fetchBytes(res as FetchResponse);
          throttle = quotas.record('consumer_byte_rate', user, clientId, fetched);
        }
        if (requestQuota) throttle = Math.max(throttle, quotas.record('request_percentage', user, clientId, elapsedMs));
        if (mutation !== null) throttle = Math.max(throttle, mutation.throttleTimeMs());
        if (throttle <= 0) return res;
        ctx.connection.throttle?.(throttle);
        if (res === null) return null;
        const throttleTimeMs = Math.max(res.throttleTimeMs ?? 0, throttle);
        if (apiKey === FetchApi.apiKey) {
          // Kafka's getThrottledResponse: no partitions, and the bytes are taken back from the byte-rate sensor.
          quotas.unrecord('consumer_byte_rate', user, clientId, fetched);
          return { ...(res as FetchResponse), throttleTimeMs, responses: [] };
        }
        return 'throttleTimeMs' in res ? { ...res, throttleTimeMs } : res;
      };
      return result instanceof Promise
        ? result.then((r) => finish(r as { throttleTimeMs?: number } | null))
        : finish(result as { throttleTimeMs?: number } | null);
    },
  };
}

export function withQuotas(quotas: ClientQuotaManager, handlers: readonly ApiHandler[]): ApiHandler[] {
  return handlers.map((h) => withQuota(quotas, h));
}
