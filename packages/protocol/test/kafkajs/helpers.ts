// Shared helpers for the kafkajs wire-compatibility tests: loading kafkajs's internal protocol
// modules (plain CommonJS, not part of its public API), and shaping our messages per version.
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type FieldMeta, SCHEMAS } from '../../src/generated/_schemas.js';
import { apiByKey } from '../../src/generated/index.js';

export const require = createRequire(import.meta.url);
export const KAFKAJS_DIR = dirname(require.resolve('kafkajs/package.json'));
const REQUESTS_DIR = join(KAFKAJS_DIR, 'src/protocol/requests');

/** kafkajs's Encoder: only what the tests read. */
export interface KjsEncoder {
  readonly buffer: Buffer;
}
export interface KjsRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  encode(): Promise<KjsEncoder>;
}
export type KjsRequestFactory = (args: unknown) => KjsRequest;
export interface KjsResponse {
  decode(raw: Buffer): Promise<unknown>;
  parse(data: unknown): Promise<unknown>;
}

/** Every API folder kafkajs has, with the versions it implements (from the folder names). */
export function kafkajsApis(): { folder: string; versions: number[] }[] {
  const out: { folder: string; versions: number[] }[] = [];
  for (const entry of readdirSync(REQUESTS_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const versions = readdirSync(join(REQUESTS_DIR, entry.name))
      .filter((v) => /^v\d+$/.test(v))
      .map((v) => Number(v.slice(1)))
      .sort((a, b) => a - b);
    out.push({ folder: entry.name, versions });
  }
  return out.sort((a, b) => a.folder.localeCompare(b.folder));
}

/**
 * Whether the codec has this version. It follows Kafka 4.4's schemas, without the versions Kafka 4
 * removed (KIP-896): no broker of Kafka 4 or Sluice accepts those, and kafkajs, which takes min(its
 * newest, the broker's newest), never picks them from a broker that lists newer ones.
 */
export function codecHas(apiKey: number, version: number): boolean {
  const api = apiByKey(apiKey);
  return api !== undefined && version >= api.minVersion && version <= api.maxVersion;
}

export function kafkajsRequest(folder: string, version: number): KjsRequestFactory {
  return require(join(REQUESTS_DIR, folder, `v${version}`, 'request.js')) as KjsRequestFactory;
}

export function kafkajsResponse(folder: string, version: number): KjsResponse {
  return require(join(REQUESTS_DIR, folder, `v${version}`, 'response.js')) as KjsResponse;
}

/** kafkajs's internal module by path below src/ (e.g. 'protocol/recordBatch/v0'). */
export function kafkajsModule<T>(path: string): T {
  return require(join(KAFKAJS_DIR, 'src', path)) as T;
}

// --- Schema-driven shaping -------------------------------------------------------------------

function inRange(range: string | undefined, version: number): boolean {
  if (range === undefined || range === 'none') return false;
  if (range.endsWith('+')) return version >= Number(range.slice(0, -1));
  const dash = range.indexOf('-');
  if (dash < 0) return version === Number(range);
  return version >= Number(range.slice(0, dash)) && version <= Number(range.slice(dash + 1));
}

const camel = (name: string): string => name[0].toLowerCase() + name.slice(1);

function defaultOf(f: FieldMeta, version: number): unknown {
  const d = f.default;
  const nullable = inRange(f.nullableVersions, version);
  if (d === 'null') return null;
  if (f.type.startsWith('[]')) return [];
  switch (f.type) {
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint16':
    case 'uint32':
    case 'float64':
      return d === undefined ? 0 : Number(d);
    case 'int64':
      return d === undefined ? 0n : BigInt(d);
    case 'bool':
      return d === 'true';
    case 'string':
      return d ?? '';
    case 'bytes':
      return Buffer.alloc(0);
    case 'records':
      return null;
    case 'uuid':
      return '00000000-0000-0000-0000-000000000000';
    default:
      if (f.fields) return shapeStruct(f.fields, {}, version, `${f.name}`, true);
      return nullable ? null : undefined;
  }
}

/**
 * Builds the complete message of `version` from `msg`: a field present in that version must be
 * given (a mapping that forgets one is a test bug, so it throws); a field absent in it takes its
 * schema default whatever `msg` says. Keys that are no field of the schema throw too.
 */
function shapeStruct(
  fields: readonly FieldMeta[],
  msg: Record<string, unknown>,
  version: number,
  path: string,
  allDefaults = false,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = new Set(fields.map((f) => camel(f.name)));
  for (const key of Object.keys(msg)) {
    if (!known.has(key) && key !== 'unknownTaggedFields') throw new Error(`${path}: no field ${key}`);
  }
  for (const f of fields) {
    const key = camel(f.name);
    if (allDefaults || !inRange(f.versions, version)) {
      out[key] = defaultOf(f, version);
      continue;
    }
    const value = msg[key];
    if (value === undefined) throw new Error(`${path}.${key} missing for v${version}`);
    if (f.fields && value !== null) {
      out[key] = Array.isArray(value)
        ? value.map((v, i) =>
            shapeStruct(f.fields ?? [], v as Record<string, unknown>, version, `${path}.${key}[${i}]`),
          )
        : shapeStruct(f.fields, value as Record<string, unknown>, version, `${path}.${key}`);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The full message `<schemaName>` (e.g. 'ProduceRequest') of `version` built from `msg`. */
export function shape<T>(schemaName: string, msg: Record<string, unknown>, version: number): T {
  const schema = SCHEMAS.find((s) => s.name === schemaName);
  if (!schema) throw new Error(`no schema ${schemaName}`);
  return shapeStruct(schema.fields, msg, version, schemaName) as T;
}
