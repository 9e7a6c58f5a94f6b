import { API_DEFINITIONS, type ApiDefinition, type ApiVersionsResponseApiVersion } from '@sluice/protocol';
import { ERROR_CODES, KafkaError } from './errors.js';

/** Versions this client can speak per API key: the generated codec's range, minus an unstable latest version. */
export function clientRange(api: ApiDefinition): { min: number; max: number } {
  const max = api.latestVersionUnstable ? api.maxVersion - 1 : api.maxVersion;
  return { min: api.minVersion, max };
}

const BY_KEY = new Map<number, ApiDefinition>(API_DEFINITIONS.map((a) => [a.apiKey, a]));

/**
 * The version to use per API key: the highest both sides support, i.e. min(ours.max, theirs.max),
 * provided it is at least max(ours.min, theirs.min). APIs without a common version are left out.
 */
export function negotiateVersions(theirs: readonly ApiVersionsResponseApiVersion[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of theirs) {
    const api = BY_KEY.get(t.apiKey);
    if (api === undefined) continue;
    const ours = clientRange(api);
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
