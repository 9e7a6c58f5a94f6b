import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorByCode, iterateBatches } from '@sluice/protocol';

// Normalising decoded responses and diffing them field by field. What legitimately differs between
// two brokers (ids, addresses, session ids, throttling, wording of error messages) is replaced by a
// placeholder; everything else must match or be listed in allow-list.json.

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export interface NormaliseContext {
  /** The node id of the broker that answered; equal ids become '<node>'. */
  nodeId: number;
  /** Error messages seen, by path, for the wording report. */
  messages: Map<string, string>;
}

/** Fields replaced by a placeholder whatever their value. */
const OPAQUE: Readonly<Record<string, string>> = {
  throttleTimeMs: '<throttle>',
  clusterId: '<cluster>',
  host: '<host>',
  port: '<port>',
};
/** Fields holding a node id (or a list of them). */
const NODE_FIELDS = new Set(['nodeId', 'leaderId', 'controllerId', 'brokerId', 'replicaNodes', 'isrNodes']);
/** Fields holding an error message whose wording is the broker's own. */
const MESSAGE_FIELDS = new Set(['errorMessage', 'batchIndexErrorMessage']);
/** Error codes, shown with their names so that diffs and the allow-list read well. */
const ERROR_FIELDS = new Set(['errorCode', 'topicConfigErrorCode']);
/** Timestamps a broker takes from its clock (not from the records the suite sends). */
const CLOCK_FIELDS = new Set(['logAppendTimeMs']);

function batchesSummary(records: Buffer): unknown {
  const out: unknown[] = [];
  const it = iterateBatches(records);
  for (const b of it) {
    out.push({
      baseOffset: `${b.baseOffset}n`,
      lastOffsetDelta: b.lastOffsetDelta,
      partitionLeaderEpoch: b.partitionLeaderEpoch,
      magic: b.magic,
      attributes: b.attributes,
      crcValid: b.computeCrc() === b.crc,
      baseTimestamp: `${b.baseTimestamp}n`,
      maxTimestamp: `${b.maxTimestamp}n`,
      // Producer ids are the broker's to allocate.
      producerId: b.producerId === -1n ? '-1n' : '<producerId>',
      producerEpoch: b.producerEpoch,
      baseSequence: b.baseSequence,
      recordCount: b.recordCount,
      sizeInBytes: b.sizeInBytes,
      records: [...b.records()].map((r) => ({
        offset: `${r.offset}n`,
        timestamp: `${r.timestamp}n`,
        key: r.key === null ? null : r.key.toString('latin1'),
        value: r.value === null ? null : r.value.toString('latin1'),
        headers: r.headers.length,
      })),
    });
  }
  // A fetch response may end inside a batch (Kafka cuts at the byte limit): say where, not how.
  if (it.truncated) out.push({ partialBatchBytes: records.length - it.position });
  return out;
}

export function normalise(value: unknown, ctx: NormaliseContext, path = '', key = ''): unknown {
  if (key in OPAQUE && value !== null && value !== undefined) return OPAQUE[key];
  if (NODE_FIELDS.has(key)) {
    const map = (n: unknown) => (n === ctx.nodeId ? '<node>' : n);
    return Array.isArray(value) ? value.map(map) : map(value);
  }
  if (MESSAGE_FIELDS.has(key) && typeof value === 'string') {
    ctx.messages.set(path, value);
    return value === '' ? '' : '<message>';
  }
  if (ERROR_FIELDS.has(key) && typeof value === 'number') return `${value} ${errorByCode(value)?.name ?? '?'}`;
  if (CLOCK_FIELDS.has(key) && typeof value === 'bigint') return value === -1n ? '-1n' : '<clock>';
  if ((key === 'topicId' || key === 'sessionId') && value !== ZERO_UUID && value !== 0) return `<${key}>`;
  if (typeof value === 'bigint') return `${value}n`;
  if (Buffer.isBuffer(value)) return key === 'records' ? batchesSummary(value) : value.toString('hex');
  // Config entries: keyed by name, so that order does not matter and a missing one shows by name.
  if (key === 'configs' && Array.isArray(value) && value.every((c) => typeof c?.name === 'string')) {
    const out: Record<string, unknown> = {};
    for (const c of value) out[c.name] = normalise(c, ctx, `${path}.${c.name}`);
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => normalise(v, ctx, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'unknownTaggedFields' && (v === undefined || (Array.isArray(v) && v.length === 0))) continue;
      out[k] = normalise(v, ctx, path === '' ? k : `${path}.${k}`, k);
    }
    return out;
  }
  return value;
}

export interface Difference {
  path: string;
  kafka: unknown;
  sluice: unknown;
}

/** Every leaf where the two normalised values differ (missing fields and array lengths included). */
export function diff(kafka: unknown, sluice: unknown, path = '', out: Difference[] = []): Difference[] {
  if (Array.isArray(kafka) && Array.isArray(sluice)) {
    if (kafka.length !== sluice.length)
      out.push({ path: `${path}.length`, kafka: kafka.length, sluice: sluice.length });
    for (let i = 0; i < Math.min(kafka.length, sluice.length); i++) diff(kafka[i], sluice[i], `${path}[${i}]`, out);
    return out;
  }
  const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(kafka) && isObj(sluice)) {
    const a = kafka as Record<string, unknown>;
    const b = sluice as Record<string, unknown>;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      diff(a[k], b[k], path === '' ? k : `${path}.${k}`, out);
    }
    return out;
  }
  if (JSON.stringify(kafka) !== JSON.stringify(sluice)) out.push({ path, kafka, sluice });
  return out;
}

// ------------------------------------------------------------------------------------ allow-list

export interface KnownDifference {
  case: string;
  path: string;
  kafka: unknown;
  sluice: unknown;
  status: 'bug, to fix';
  note: string;
}

export interface AcceptedDifference {
  /** A case id, or '*' for every case. */
  case: string;
  path: string;
  /** When given, the difference is accepted only with exactly these values. */
  kafka?: unknown;
  sluice?: unknown;
  reason: string;
}

export interface AllowList {
  knownDifferences: KnownDifference[];
  accepted: AcceptedDifference[];
  apiVersions: {
    /** API keys Kafka serves and Sluice does not yet, in groups sharing a reason. */
    notServedBySluice: { apiKeys: number[]; names: string; reason: string }[];
    /** Version ranges that differ: Sluice's range must be exactly this. */
    rangeDifferences: {
      apiKey: number;
      name: string;
      kafka: [number, number];
      sluice: [number, number];
      reason: string;
    }[];
  };
}

export const allowList: AllowList = JSON.parse(
  readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'allow-list.json'), 'utf8'),
);

/** Paths may use `*` for one array index or path segment, and `**` for any run of them. */
function pathMatches(pattern: string, path: string): boolean {
  if (!pattern.includes('*')) return pattern === path;
  // `**` matches any run of segments, `*` one segment; everything else literally.
  const source = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((lit) => lit.replace(/[.[\]]/g, (c) => `\\${c}`))
        .join('[^.\\]]+'),
    )
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return re.test(path);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Case ids may use `*` for any run of characters (e.g. `Produce/acks@*` for both versions). */
function caseMatches(pattern: string, id: string): boolean {
  if (!pattern.includes('*')) return pattern === id;
  return new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\/]/g, (c) => (c === '*' ? '.*' : `\\${c}`))}$`).test(id);
}

/** Whether a known difference names this difference of this case (case, path and both values). */
export function knownMatches(e: KnownDifference, caseId: string, d: Difference): boolean {
  return (
    caseMatches(e.case, caseId) && pathMatches(e.path, d.path) && same(e.kafka, d.kafka) && same(e.sluice, d.sluice)
  );
}

/** The known differences whose case ran (some id in `ran` matches) without the difference showing. */
export function staleKnownDifferences(
  known: readonly KnownDifference[],
  ran: readonly { case: string; known: readonly Difference[] }[],
): KnownDifference[] {
  return known.filter((e) => {
    const cases = ran.filter((r) => caseMatches(e.case, r.case));
    return cases.length > 0 && !cases.some((r) => r.known.some((d) => knownMatches(e, r.case, d)));
  });
}

/**
 * Splits differences into the ones the allow-list explains and the rest. A known difference only
 * matches with exactly the values it records, so a different wrong answer still fails.
 */
export function explain(
  caseId: string,
  diffs: readonly Difference[],
  list: Pick<AllowList, 'knownDifferences' | 'accepted'> = allowList,
) {
  const unexplained: Difference[] = [];
  const known: Difference[] = [];
  const accepted: Difference[] = [];
  for (const d of diffs) {
    const k = list.knownDifferences.find((e) => knownMatches(e, caseId, d));
    if (k) {
      known.push(d);
      continue;
    }
    const ok = list.accepted.some(
      (e) =>
        caseMatches(e.case, caseId) &&
        pathMatches(e.path, d.path) &&
        (!('kafka' in e) || same(e.kafka, d.kafka)) &&
        (!('sluice' in e) || same(e.sluice, d.sluice)),
    );
    if (ok) {
      accepted.push(d);
      continue;
    }
    unexplained.push(d);
  }
  return { unexplained, known, accepted };
}
