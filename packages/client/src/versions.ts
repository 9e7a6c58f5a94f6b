import { API_DEFINITIONS, type ApiDefinition, ApiKey, type ApiVersionsResponseApiVersion } from '@sluice/protocol';
import { ERROR_CODES, KafkaError } from './errors.js';

/**
 * The highest version the client implements where the codec (Kafka 4.4 schemas) goes further: those
 * versions change what the request means (topic ids instead of names, transactions V2, new error
 * codes to handle), so the client keeps to the versions it was written and tested against.
 */
const CLIENT_MAX_VERSION: ReadonlyMap<number, number> = new Map([
  [ApiKey.Produce, 11], // 12: transactions V2 (KIP-890), 13: topic ids (KIP-516)
  [ApiKey.Fetch, 17], // 18: replica high watermark (KIP-1166)
  [ApiKey.ListOffsets, 10], // 11: earliest pending upload offset (KIP-1023)
  [ApiKey.Metadata, 12], // 13: top-level error code
  [ApiKey.OffsetCommit, 9], // 10: topic ids instead of names
  [ApiKey.OffsetFetch, 9], // 10: topic ids instead of names
  [ApiKey.DescribeGroups, 5], // 6: GROUP_ID_NOT_FOUND (KIP-1043)
  [ApiKey.DeleteGroups, 2], // 3: per-group error message
  [ApiKey.InitProducerId, 5], // 6: two-phase commit (KIP-939)
  [ApiKey.TxnOffsetCommit, 4], // 5: transactions V2, 6: topic ids
  [ApiKey.AddPartitionsToTxn, 3], // 4+: broker to broker (KIP-890)
  [ApiKey.EndTxn, 4], // 5: epoch bump per transaction (transactions V2)
  [ApiKey.DescribeCluster, 1], // 2: fenced brokers (KIP-1073)
  [ApiKey.ListTransactions, 1], // 2: id pattern (KIP-1152)
]);

/**
 * Versions this client can speak per API key: the generated codec's range, minus an unstable latest
 * version, capped as above unless `caps` names the API (a broker's own requests to another broker).
 */
export function clientRange(api: ApiDefinition, caps?: ReadonlyMap<number, number>): { min: number; max: number } {
  let max = api.latestVersionUnstable ? api.maxVersion - 1 : api.maxVersion;
  max = Math.min(max, caps?.get(api.apiKey) ?? CLIENT_MAX_VERSION.get(api.apiKey) ?? max);
  return { min: api.minVersion, max };
}

const BY_KEY = new Map<number, ApiDefinition>(API_DEFINITIONS.map((a) => [a.apiKey, a]));

/**
 * The version to use per API key: the highest both sides support, i.e. min(ours.max, theirs.max),
 * provided it is at least max(ours.min, theirs.min). APIs without a common version are left out.
 */
export function negotiateVersions(
  theirs: readonly ApiVersionsResponseApiVersion[],
  caps?: ReadonlyMap<number, number>,
): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of theirs) {
    const api = BY_KEY.get(t.apiKey);
    if (api === undefined) continue;
    const ours = clientRange(api, caps);
    const hi = Math.min(ours.max, t.maxVersion);
    const lo = Math.max(ours.min, t.minVersion);
    if (hi >= lo) out.set(t.apiKey, hi);
  }
  return out;
}

/** Throws UNSUPPORTED_VERSION when the broker and this client share no version of `api`. */
export function pickVersion(versions: ReadonlyMap<number, number>, api: ApiDefinition, cap?: number): number {
  const v = versions.get(api.apiKey);
  if (v === undefined) {
    throw new KafkaError(
      ERROR_CODES.UNSUPPORTED_VERSION,
      `the broker supports no version of ${api.name} this client speaks`,
    );
  }
  return cap === undefined ? v : Math.min(v, cap);
}
