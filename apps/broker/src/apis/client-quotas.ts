// DescribeClientQuotas and AlterClientQuotas: quotas per user, client id (or both) and ip, with
// their defaults, kept in the metadata store, with Kafka's entity and key validation.

import {
  AlterClientQuotasApi,
  type AlterClientQuotasRequest,
  type AlterClientQuotasResponse,
  DescribeClientQuotasApi,
  type DescribeClientQuotasRequest,
  type DescribeClientQuotasResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import { AclOperation } from '@sluice/security';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { authorizeCluster } from './authorize.js';

/** One quota entity: entity type → name (null: the default of that type), as Kafka's ClientQuotaEntity. */
export type QuotaEntity = Record<string, string | null>;

/** The quota keys each entity type takes, and whether the value must be a whole number. */
const CLIENT_KEYS: Record<string, boolean> = {
  producer_byte_rate: true,
  consumer_byte_rate: true,
  request_percentage: false,
  controller_mutation_rate: false,
};
const IP_KEYS: Record<string, boolean> = { connection_creation_rate: true };
const MAX_ENTRIES = 10_000;

/** The store key of an entity: its components sorted by type, so the same entity is one record. */
export function quotaKey(entity: QuotaEntity): string {
  return JSON.stringify(
    Object.keys(entity)
      .sort()
      .map((t) => [t, entity[t]]),
  );
}

export function parseQuotaKey(key: string): QuotaEntity | undefined {
  try {
    const v = JSON.parse(key) as unknown;
    if (!Array.isArray(v)) return undefined;
    const out: QuotaEntity = {};
    for (const c of v) {
      if (!Array.isArray(c) || typeof c[0] !== 'string' || (c[1] !== null && typeof c[1] !== 'string'))
        return undefined;
      out[c[0]] = c[1];
    }
    return out;
  } catch {
    return undefined;
  }
}

function parseValues(text: string): Record<string, number> {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const out: Record<string, number> = {};
    for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
    return out;
  } catch {
    return {};
  }
}

/** Every stored quota entity with its values. */
export function storedQuotas(broker: BrokerContext): { entity: QuotaEntity; values: Record<string, number> }[] {
  const out: { entity: QuotaEntity; values: Record<string, number> }[] = [];
  for (const [key, text] of broker.store.image.securityRecords('quotas')) {
    const entity = parseQuotaKey(key);
    if (entity) out.push({ entity, values: parseValues(text) });
  }
  return out;
}

/** Why an entity is not one Kafka takes, or null: user, client-id, user+client-id, or ip alone. */
function invalidEntity(entity: QuotaEntity, count: number): string | null {
  const types = Object.keys(entity).sort();
  if (types.length !== count) return 'Duplicate entity type';
  const shape = types.join(',');
  if (shape !== 'user' && shape !== 'client-id' && shape !== 'client-id,user' && shape !== 'ip') {
    return `Invalid quota entity combination: ${shape || 'empty'}`;
  }
  if (entity.ip !== undefined && entity.ip !== null && !/^[0-9a-fA-F.:]+$/.test(entity.ip)) {
    return `${entity.ip} is not a valid IP`;
  }
  return null;
}

export function describeClientQuotasHandler(
  broker: BrokerContext,
): ApiHandler<DescribeClientQuotasRequest, DescribeClientQuotasResponse> {
  return {
    api: DescribeClientQuotasApi,
    minVersion: 0,
    maxVersion: 1,
    handle(req, ctx) {
      const fail = (errorCode: number, errorMessage: string | null) => ({
        throttleTimeMs: 0,
        errorCode,
        errorMessage,
        entries: null,
      });
      if (!authorizeCluster(broker, ctx, AclOperation.DESCRIBE_CONFIGS))
        return fail(ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED, null);
      const filterTypes = new Set<string>();
      for (const c of req.components) {
        if (filterTypes.has(c.entityType))
          return fail(ERROR_CODES.INVALID_REQUEST, `Duplicate ${c.entityType} filter component`);
        filterTypes.add(c.entityType);
        if (c.matchType < 0 || c.matchType > 2)
          return fail(ERROR_CODES.INVALID_REQUEST, `Unknown match type ${c.matchType}`);
      }
      const entries: NonNullable<DescribeClientQuotasResponse['entries']> = [];
      for (const { entity, values } of storedQuotas(broker)) {
        const matches = req.components.every((c) => {
          if (!(c.entityType in entity)) return false;
          const name = entity[c.entityType];
          // 0: EXACT name, 1: the DEFAULT entity, 2: any SPECIFIED (non-default) name.
          if (c.matchType === 0) return name === c.match;
          if (c.matchType === 1) return name === null;
          return name !== null;
        });
        if (!matches) continue;
        if (req.strict && Object.keys(entity).some((t) => !filterTypes.has(t))) continue;
        entries.push({
          entity: Object.entries(entity).map(([entityType, entityName]) => ({ entityType, entityName })),
          values: Object.entries(values).map(([key, value]) => ({ key, value })),
        });
      }
      return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, entries };
    },
  };
}

export function alterClientQuotasHandler(
  broker: BrokerContext,
): ApiHandler<AlterClientQuotasRequest, AlterClientQuotasResponse> {
  return {
    api: AlterClientQuotasApi,
    minVersion: 0,
    maxVersion: 1,
    async handle(req, ctx) {
      const allowed = authorizeCluster(broker, ctx, AclOperation.ALTER_CONFIGS);
      const records = broker.store.image.securityRecords('quotas');
      const results: AlterClientQuotasResponse['entries'] = [];
      const changes: { kind: 'quotas'; key: string; value: string | null }[] = [];
      for (const [i, e] of req.entries.entries()) {
        const result = (errorCode: number, errorMessage: string | null) =>
          results.push({ errorCode, errorMessage, entity: e.entity.map((x) => ({ ...x })) });
        if (!allowed) {
          result(ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED, null);
          continue;
        }
        if (i >= MAX_ENTRIES) {
          result(ERROR_CODES.INVALID_REQUEST, `More than ${MAX_ENTRIES} entries in one request`);
          continue;
        }
        const entity: QuotaEntity = {};
        for (const c of e.entity) entity[c.entityType] = c.entityName;
        const why = invalidEntity(entity, e.entity.length);
        if (why !== null) {
          result(ERROR_CODES.INVALID_REQUEST, why);
          continue;
        }
        const keys = 'ip' in entity ? IP_KEYS : CLIENT_KEYS;
        const key = quotaKey(entity);
        const values = parseValues(records.get(key) ?? '{}');
        let error: string | null = null;
        for (const op of e.ops) {
          const integral = keys[op.key];
          if (integral === undefined) error ??= `Invalid configuration key ${op.key}`;
          else if (op.remove) delete values[op.key];
          else if (!Number.isFinite(op.value) || op.value <= 0 || (integral && !Number.isInteger(op.value))) {
            error ??= `Invalid value ${op.value} for configuration ${op.key}`;
          } else values[op.key] = op.value;
        }
        if (error !== null) {
          result(ERROR_CODES.INVALID_REQUEST, error);
          continue;
        }
        result(0, null);
        if (!req.validateOnly)
          changes.push({
            kind: 'quotas',
            key,
            value: Object.keys(values).length === 0 ? null : JSON.stringify(values),
          });
      }
      if (changes.length > 0) {
        try {
          await broker.store.setSecurityRecords(changes);
        } catch (err) {
          for (const r of results)
            if (r.errorCode === 0)
              Object.assign(r, { errorCode: ERROR_CODES.UNKNOWN_SERVER_ERROR, errorMessage: (err as Error).message });
        }
      }
      return { throttleTimeMs: 0, entries: results };
    },
  };
}
