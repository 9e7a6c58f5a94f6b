/**
 * Property tests of every generated codec: every API key x version x direction, the headers and the
 * other schemas. Messages are drawn from arbitraries built at test time from the schema table the
 * generator emits (src/generated/_schemas.ts), so a new version or API is covered without new code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MessageCodec } from '../api.js';
import { KafkaError } from '../errors.js';
import type { FieldMeta, SchemaMeta } from '../generated/_schemas.js';
import { SCHEMAS } from '../generated/_schemas.js';
import { apiByKey, SCHEMA_CODECS } from '../generated/index.js';
import { type RawTaggedField, Reader } from '../primitives/reader.js';
import { Writer } from '../primitives/writer.js';

/** Runs per (schema, version); ~1,100 combinations in all. */
const ROUND_TRIP_RUNS = Number(process.env.SLUICE_FC_RUNS ?? 25);
const HOSTILE_RUNS = 8;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

type Msg = Record<string, unknown> & { unknownTaggedFields?: RawTaggedField[] };

interface Range {
  lo: number;
  hi: number;
}

function range(text: string | undefined): Range | null {
  if (text === undefined || text === 'none') return null;
  if (text.endsWith('+')) return { lo: Number(text.slice(0, -1)), hi: Number.POSITIVE_INFINITY };
  const [a, b] = text.split('-');
  return { lo: Number(a), hi: Number(b ?? a) };
}

function inRange(text: string | undefined, v: number): boolean {
  const r = range(text);
  return r !== null && v >= r.lo && v <= r.hi;
}

const propName = (f: FieldMeta) => f.name.charAt(0).toLowerCase() + f.name.slice(1);
const elemType = (f: FieldMeta) => (f.type.startsWith('[]') ? f.type.slice(2) : f.type);
const isArray = (f: FieldMeta) => f.type.startsWith('[]');

/** Whether the field is on the wire in version `v` (tagged fields only in flexible versions). */
function present(f: FieldMeta, v: number, flex: boolean): boolean {
  return inRange(f.versions, v) && (f.tag === undefined || flex);
}

// ---- defaults, computed from the schema independently of the generator

function parseInt64(d: string): bigint {
  const neg = d.startsWith('-');
  const body = neg ? d.slice(1) : d;
  const v = BigInt(body);
  return neg ? -v : v;
}

function defaultOf(f: FieldMeta): unknown {
  if (f.default === 'null') return null;
  if (isArray(f)) return [];
  if (f.fields) return structDefault(f.fields);
  const d = f.default;
  switch (f.type) {
    case 'bool':
      return d === 'true';
    case 'int64':
      return d === undefined ? 0n : parseInt64(d);
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return d === undefined ? 0 : Number(parseInt64(d));
    case 'float64':
      return d === undefined ? 0 : Number(d);
    case 'string':
      return d ?? '';
    case 'uuid':
      return ZERO_UUID;
    case 'bytes':
      return Buffer.alloc(0);
    case 'records':
      return null;
    default:
      throw new Error(`no default for ${f.type}`);
  }
}

function structDefault(fields: readonly FieldMeta[]): Msg {
  const o: Msg = {};
  for (const f of fields) o[propName(f)] = defaultOf(f);
  return o;
}

// ---- arbitraries

function primitiveArb(type: string): fc.Arbitrary<unknown> {
  switch (type) {
    case 'bool':
      return fc.boolean();
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer();
    case 'uint32':
      return fc.integer({ min: 0, max: 0xffffffff });
    case 'int64':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 'float64':
      return fc.double();
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 6 });
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
        const h = Buffer.from(b).toString('hex');
        return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
      });
    case 'bytes':
    case 'records':
      return fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b));
    default:
      throw new Error(`unknown primitive ${type}`);
  }
}

function unknownTagsArb(fields: readonly FieldMeta[], v: number): fc.Arbitrary<RawTaggedField[] | undefined> {
  const known = new Set(fields.filter((f) => f.tag !== undefined && inRange(f.versions, v)).map((f) => Number(f.tag)));
  return fc
    .uniqueArray(
      fc.integer({ min: 0, max: 40 }).filter((t) => !known.has(t)),
      { maxLength: 2 },
    )
    .chain((tags) =>
      fc.tuple(...tags.sort((a, b) => a - b).map((tag) => primitiveArb('bytes').map((data) => ({ tag, data })))),
    )
    .map((list) => (list.length === 0 ? undefined : (list as RawTaggedField[])));
}

function fieldArb(f: FieldMeta, v: number, flex: boolean, depth: number): fc.Arbitrary<unknown> {
  const nullable = inRange(f.nullableVersions, v);
  const el = elemType(f);
  let arb: fc.Arbitrary<unknown>;
  if (isArray(f)) {
    const item = f.fields ? structArb(f.fields, v, flex, depth + 1) : primitiveArb(el);
    arb = fc.array(item, { maxLength: depth === 0 ? 3 : 2 });
  } else if (f.fields) {
    arb = structArb(f.fields, v, flex, depth + 1);
  } else {
    arb = primitiveArb(el);
  }
  return nullable ? fc.option(arb, { nil: null, freq: 4 }) : arb;
}

function structArb(fields: readonly FieldMeta[], v: number, flex: boolean, depth: number): fc.Arbitrary<Msg> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) {
    if (present(f, v, flex)) model[propName(f)] = fieldArb(f, v, flex, depth);
    // An ignorable field absent in this version may hold anything: encode drops it.
    else if (f.ignorable) model[propName(f)] = fieldArb(f, v, flex, depth);
    else model[propName(f)] = fc.constant(defaultOf(f));
  }
  if (flex) model.unknownTaggedFields = unknownTagsArb(fields, v);
  return fc.record(model) as fc.Arbitrary<Msg>;
}

/** What decoding must give back: absent fields at their defaults. */
function normalize(fields: readonly FieldMeta[], v: number, flex: boolean, m: Msg): Msg {
  const out: Msg = {};
  for (const f of fields) {
    const k = propName(f);
    const x = m[k];
    if (!present(f, v, flex)) out[k] = defaultOf(f);
    else if (f.fields && x !== null) {
      const sub = f.fields;
      out[k] = isArray(f) ? (x as Msg[]).map((e) => normalize(sub, v, flex, e)) : normalize(sub, v, flex, x as Msg);
    } else out[k] = x;
  }
  if (flex && m.unknownTaggedFields !== undefined) out.unknownTaggedFields = m.unknownTaggedFields;
  return out;
}

// ---- the schemas under test

interface Case {
  schema: SchemaMeta;
  codec: MessageCodec;
  versions: number[];
}

function codecOf(s: SchemaMeta): MessageCodec {
  if (s.type === 'request' || s.type === 'response') {
    const api = apiByKey(s.apiKey as number);
    if (!api) throw new Error(`no API ${s.apiKey}`);
    return s.type === 'request' ? api.request : api.response;
  }
  const c = SCHEMA_CODECS[s.name];
  if (!c) throw new Error(`no codec for ${s.name}`);
  return c;
}

const CASES: Case[] = SCHEMAS.map((schema) => {
  const r = range(schema.validVersions) as Range;
  const versions: number[] = [];
  for (let v = r.lo; v <= r.hi; v++) versions.push(v);
  return { schema, codec: codecOf(schema), versions };
});

/** A small starting capacity makes the writer grow mid-message, where bugs hide. */
function encode(codec: MessageCodec, v: number, m: unknown, capacity = 64): Buffer {
  const w = new Writer(capacity);
  codec.encode(w, v, m);
  return w.toBuffer();
}

function expectKafkaError(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof KafkaError)) throw new Error(`expected a KafkaError, got ${String(err)}`, { cause: err });
    return;
  }
}

it('covers all 91 APIs in both directions, the headers and the other schemas', () => {
  const apis = new Set(CASES.filter((c) => c.schema.apiKey !== undefined).map((c) => c.schema.apiKey));
  expect(apis.size).toBe(91);
  expect(CASES.filter((c) => c.schema.type === 'request')).toHaveLength(91);
  expect(CASES.filter((c) => c.schema.type === 'response')).toHaveLength(91);
  expect(CASES.map((c) => c.schema.name)).toEqual(
    expect.arrayContaining(['RequestHeader', 'ResponseHeader', 'ConsumerProtocolSubscription', 'VotersRecord']),
  );
});

describe.each(CASES.map((c) => [c.schema.name, c] as const))('%s', (_name, { schema, codec, versions }) => {
  const flexRange = range(schema.flexibleVersions);
  const isFlex = (v: number) => flexRange !== null && v >= flexRange.lo && v <= flexRange.hi;

  it('defaults() match the schema defaults', () => {
    expect(codec.defaults()).toEqual(structDefault(schema.fields));
  });

  it.each(versions)('v%i: encode -> decode -> encode round trips, unknown tags survive', (v) => {
    const flex = isFlex(v);
    fc.assert(
      fc.property(structArb(schema.fields, v, flex, 0), fc.integer({ min: 1, max: 96 }), (msg, capacity) => {
        const bytes = encode(codec, v, msg, capacity);
        const r = new Reader(bytes);
        const decoded = codec.decode(r, v) as Msg;
        expect(r.offset).toBe(bytes.length);
        expect(decoded).toEqual(normalize(schema.fields, v, flex, msg));
        expect(encode(codec, v, decoded).equals(bytes)).toBe(true);
      }),
      { numRuns: ROUND_TRIP_RUNS },
    );
  });

  it.each(versions)('v%i: hostile input ends in a KafkaError', (v) => {
    const flex = isFlex(v);
    // Random bytes.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (b) => {
        expectKafkaError(() => codec.decode(new Reader(Buffer.from(b)), v));
      }),
      { numRuns: HOSTILE_RUNS },
    );
    fc.assert(
      fc.property(structArb(schema.fields, v, flex, 0), fc.nat(), (msg, seed) => {
        const bytes = encode(codec, v, msg);
        // Every truncation of a valid encoding is refused.
        for (let n = 0; n < bytes.length; n++) {
          expect(() => codec.decode(new Reader(bytes.subarray(0, n)), v)).toThrow(KafkaError);
        }
        // Inflated lengths and counts: overwrite bytes with 0x7f/0xff/0x80 runs at some positions.
        if (bytes.length === 0) return;
        for (let k = 0; k < 4; k++) {
          const at = (seed + k * 7919) % bytes.length;
          for (const fill of [0x7f, 0xff, 0x80]) {
            const bad = Buffer.from(bytes);
            bad.fill(fill, at, Math.min(bad.length, at + 1 + (k % 4)));
            expectKafkaError(() => codec.decode(new Reader(bad), v));
          }
        }
      }),
      { numRuns: HOSTILE_RUNS },
    );
  });

  it('refuses versions outside validVersions with UNSUPPORTED_VERSION', () => {
    const lo = versions[0];
    const hi = versions[versions.length - 1];
    for (const v of [lo - 1, hi + 1, 1.5]) {
      expect(() => encode(codec, v, codec.defaults())).toThrow(expect.objectContaining({ code: 35 }));
      expect(() => codec.decode(new Reader(Buffer.alloc(64)), v)).toThrow(expect.objectContaining({ code: 35 }));
    }
  });

  it('refuses to drop a non-ignorable field absent in a version, and tagged fields in non-flexible versions', () => {
    for (const v of versions) {
      for (const f of schema.fields) {
        if (present(f, v, isFlex(v)) || f.ignorable) continue;
        const msg = codec.defaults() as Msg;
        msg[propName(f)] = nonDefault(f);
        expect(() => encode(codec, v, msg), `${f.name} v${v}`).toThrow(
          expect.objectContaining({ code: 35, message: expect.stringContaining(f.name) }),
        );
      }
      if (!isFlex(v)) {
        const msg = { ...(codec.defaults() as Msg), unknownTaggedFields: [{ tag: 1, data: Buffer.alloc(1) }] };
        expect(() => encode(codec, v, msg)).toThrow(expect.objectContaining({ code: 35 }));
      }
    }
  });
});

function nonDefault(f: FieldMeta): unknown {
  const d = defaultOf(f);
  if (isArray(f)) return d === null ? [] : [null];
  if (f.fields) return { ...structDefault(f.fields), unknownTaggedFields: [{ tag: 7, data: Buffer.alloc(0) }] };
  switch (typeof d) {
    case 'boolean':
      return !d;
    case 'bigint':
      return d + 1n;
    case 'number':
      return d === 0 ? 1 : 0;
    case 'string':
      return d === ZERO_UUID ? '00000000-0000-0000-0000-000000000001' : `${d}x`;
    default:
      return d === null ? Buffer.alloc(1) : Buffer.alloc(1);
  }
}

describe('hand-picked hostile inputs', () => {
  it('an array count of 2^31-1 with a few bytes left is refused before allocating', () => {
    const api = apiByKey(3);
    if (!api) throw new Error('no Metadata');
    const bad = Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 1, 0x61]);
    expect(() => api.request.decode(new Reader(bad), 1)).toThrow(KafkaError);
    // The compact form: a varint count of 2^32-2.
    const compact = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]);
    expect(() => api.request.decode(new Reader(compact), 12)).toThrow(KafkaError);
  });

  it('a tagged-field count larger than the input is refused', () => {
    const api = apiByKey(18);
    if (!api) throw new Error('no ApiVersions');
    const bad = Buffer.from([0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => api.request.decode(new Reader(bad), 3)).toThrow(KafkaError);
  });
});
