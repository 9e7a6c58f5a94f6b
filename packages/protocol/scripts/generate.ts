/**
 * Generates the Kafka message codecs in src/generated/ from Kafka's JSON message definitions,
 * vendored in schemas/message/*.json (Apache Kafka 4.4.0; see schemas/SOURCE.txt), or from
 * $SLUICE_PROTOCOL_SCHEMAS.
 *
 *   npx tsx packages/protocol/scripts/generate.ts
 *
 * `generateAll()` returns the whole output tree in memory ({relative path: content}), so a test
 * can check that the committed files are up to date.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where the generated tree lives. */
export const OUTPUT_DIR = resolve(HERE, '../src/generated');

/** The schema folder: $SLUICE_PROTOCOL_SCHEMAS, else the schemas vendored in the package. */
export function schemaDir(): string {
  return process.env.SLUICE_PROTOCOL_SCHEMAS ?? resolve(HERE, '../schemas/message');
}

// ---------------------------------------------------------------------------------------------
// Schema model

/** An inclusive version range; `hi` is Infinity for "N+". */
export interface Range {
  lo: number;
  hi: number;
}

export interface FieldSpec {
  name: string;
  type: string;
  versions: Range | null;
  versionsText: string;
  nullableVersions: Range | null;
  nullableText?: string;
  taggedVersions: Range | null;
  taggedText?: string;
  tag?: number;
  /** Field-level override of the message's flexible versions (RequestHeader.ClientId: "none"). */
  flexibleVersions?: Range | null;
  flexibleText?: string;
  default?: string;
  ignorable: boolean;
  fields?: FieldSpec[];
}

export interface MessageSpec {
  file: string;
  name: string;
  type: string;
  apiKey?: number;
  validVersions: Range;
  validText: string;
  flexibleVersions: Range | null;
  flexibleText: string;
  latestVersionUnstable: boolean;
  listeners: string[];
  fields: FieldSpec[];
  commonStructs: Map<string, FieldSpec[]>;
}

/** Strips `//` comments (outside strings) from Kafka's JSON-with-comments. */
export function stripComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') {
        out += text[++i] ?? '';
      } else if (c === '"') {
        inString = false;
      }
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

export function parseRange(text: string | undefined, what: string): Range | null {
  if (text === undefined || text === 'none') return null;
  let m = /^(\d+)\+$/.exec(text);
  if (m) return { lo: Number(m[1]), hi: Number.POSITIVE_INFINITY };
  m = /^(\d+)-(\d+)$/.exec(text);
  if (m) return { lo: Number(m[1]), hi: Number(m[2]) };
  m = /^(\d+)$/.exec(text);
  if (m) return { lo: Number(m[1]), hi: Number(m[1]) };
  throw new Error(`${what}: bad version range ${JSON.stringify(text)}`);
}

interface RawField {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number | string;
  flexibleVersions?: string;
  default?: string | number | boolean;
  ignorable?: boolean;
  fields?: RawField[];
}

function toField(raw: RawField, where: string): FieldSpec {
  const what = `${where}.${raw.name}`;
  if (raw.versions === undefined) throw new Error(`${what}: no versions`);
  const f: FieldSpec = {
    name: raw.name,
    type: raw.type,
    versions: parseRange(raw.versions, what),
    versionsText: raw.versions,
    nullableVersions: parseRange(raw.nullableVersions, what),
    taggedVersions: parseRange(raw.taggedVersions, what),
    ignorable: raw.ignorable === true,
  };
  if (raw.nullableVersions !== undefined) f.nullableText = raw.nullableVersions;
  if (raw.taggedVersions !== undefined) {
    f.taggedText = raw.taggedVersions;
    if (raw.tag === undefined) throw new Error(`${what}: taggedVersions without a tag`);
    // Kafka allows a field to be tagged in only some of its versions; no schema does it, so the
    // generator refuses it rather than guess.
    if (raw.taggedVersions !== raw.versions) throw new Error(`${what}: taggedVersions differ from versions`);
    const tag = Number(raw.tag);
    if (!Number.isInteger(tag) || tag < 0) throw new Error(`${what}: bad tag ${raw.tag}`);
    f.tag = tag;
  }
  if (raw.flexibleVersions !== undefined) {
    f.flexibleText = raw.flexibleVersions;
    f.flexibleVersions = parseRange(raw.flexibleVersions, what);
  }
  if (raw.default !== undefined) f.default = String(raw.default);
  if (raw.fields) f.fields = raw.fields.map((x) => toField(x, what));
  return f;
}

export function loadSchemas(dir = schemaDir()): MessageSpec[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const specs: MessageSpec[] = [];
  for (const file of files) {
    const raw = JSON.parse(stripComments(readFileSync(join(dir, file), 'utf8')));
    // Kafka keeps the schemas of retired APIs (LeaderAndIsr, StopReplica, UpdateMetadata,
    // ControlledShutdown since 4.0) with validVersions "none": they have no codec.
    if (raw.validVersions === 'none') continue;
    const validVersions = parseRange(raw.validVersions, file);
    if (!validVersions || !Number.isFinite(validVersions.hi)) throw new Error(`${file}: bad validVersions`);
    const commonStructs = new Map<string, FieldSpec[]>();
    for (const c of raw.commonStructs ?? []) {
      commonStructs.set(
        c.name,
        (c.fields as RawField[]).map((x) => toField(x, `${file}:${c.name}`)),
      );
    }
    specs.push({
      file,
      name: raw.name,
      type: raw.type,
      apiKey: raw.apiKey,
      validVersions,
      validText: raw.validVersions,
      flexibleVersions: parseRange(raw.flexibleVersions, file),
      flexibleText: raw.flexibleVersions,
      latestVersionUnstable: raw.latestVersionUnstable === true,
      listeners: raw.listeners ?? [],
      fields: (raw.fields as RawField[]).map((x) => toField(x, file)),
      commonStructs,
    });
  }
  return specs;
}

// ---------------------------------------------------------------------------------------------
// Naming

export function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

export function kebab(name: string): string {
  return name
    .replace('KRaft', 'Kraft')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

const PRIMITIVES = new Set([
  'bool',
  'int8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'float64',
  'string',
  'uuid',
  'bytes',
  'records',
]);

function q(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

// ---------------------------------------------------------------------------------------------
// Conditions on `version`: true, false, or a JS expression.

type Cond = boolean | string;

function rangeCond(r: Range | null | undefined, valid: Range): Cond {
  if (!r) return false;
  const lo = Math.max(r.lo, valid.lo);
  const hi = Math.min(r.hi, valid.hi);
  if (lo > hi) return false;
  const above = lo > valid.lo;
  const below = hi < valid.hi;
  if (above && below) return lo === hi ? `version === ${lo}` : `version >= ${lo} && version <= ${hi}`;
  if (above) return `version >= ${lo}`;
  if (below) return `version <= ${hi}`;
  return true;
}

function not(c: Cond): Cond {
  if (c === true) return false;
  if (c === false) return true;
  return `!(${c})`;
}

function and(a: Cond, b: Cond): Cond {
  if (a === false || b === false) return false;
  if (a === true) return b;
  if (b === true) return a;
  return `${a} && ${b}`;
}

function ternary(c: Cond, a: string, b: string): string {
  if (c === true) return a;
  if (c === false) return b;
  return `${c} ? ${a} : ${b}`;
}

function ifElse(c: Cond, then: string[], otherwise: string[]): string[] {
  if (c === true) return then;
  if (c === false) return otherwise;
  if (then.length === 0) {
    if (otherwise.length === 0) return [];
    return [`if (${not(c)}) {`, ...indent(otherwise), '}'];
  }
  if (otherwise.length === 0) return [`if (${c}) {`, ...indent(then), '}'];
  const single = otherwise.length === 1 ? /^if \((.*)\) (throw .*;)$/.exec(otherwise[0]) : null;
  if (single) return [`if (${c}) {`, ...indent(then), `} else if (${single[1]}) {`, `  ${single[2]}`, '}'];
  return [`if (${c}) {`, ...indent(then), '} else {', ...indent(otherwise), '}'];
}

/** A function head, with its parameters one per line when it would pass 120 columns (as Biome does). */
function signature(name: string, params: string[], ret: string): string[] {
  const one = `function ${name}(${params.join(', ')}): ${ret} {`;
  if (one.length <= 120) return [one];
  return [`function ${name}(`, ...params.map((p) => `  ${p},`), `): ${ret} {`];
}

function indent(lines: string[], n = 1): string[] {
  const pad = '  '.repeat(n);
  return lines.map((l) => (l === '' ? l : pad + l));
}

function inRange(r: Range | null | undefined, v: number): boolean {
  return !!r && v >= r.lo && v <= r.hi;
}

// ---------------------------------------------------------------------------------------------
// One message's code

interface StructInfo {
  tsName: string;
  fields: FieldSpec[];
  /** The versions in which the struct can appear (the hull of its uses): conditions are relative to it. */
  range: Range;
}

interface Ctx {
  /** Expression or constant telling whether the message version is flexible. */
  flex: Cond;
  reader: string;
  /** The versions the code runs for; conditions are simplified against it. */
  range: Range;
}

class MessageGen {
  readonly spec: MessageSpec;
  readonly valid: Range;
  readonly structs = new Map<string, StructInfo>();
  /** Structs whose isDefault function is needed. */
  readonly needIsDefault = new Set<string>();
  readonly minTables: string[] = [];
  private minTableNames = new Map<string, string>();
  private usesReader = false;
  private usesDecodeError = false;

  constructor(spec: MessageSpec) {
    this.spec = spec;
    this.valid = spec.validVersions;
    this.structs.set(spec.name, { tsName: spec.name, fields: spec.fields, range: this.valid });
    this.collect(spec.fields, this.valid);
  }

  /** Registers nested and common structs reachable from `fields`, with the versions they appear in. */
  private collect(fields: FieldSpec[], parent: Range): void {
    for (const f of fields) {
      const el = f.type.startsWith('[]') ? f.type.slice(2) : f.type;
      if (PRIMITIVES.has(el)) continue;
      let lo = Math.max(parent.lo, f.versions?.lo ?? Number.POSITIVE_INFINITY);
      const hi = Math.min(parent.hi, f.versions?.hi ?? -1);
      // A tagged field only exists in flexible versions.
      if (f.tag !== undefined) lo = Math.max(lo, this.spec.flexibleVersions?.lo ?? Number.POSITIVE_INFINITY);
      if (lo > hi) continue;
      const existing = this.structs.get(el);
      if (existing) {
        if (f.fields && existing.fields !== f.fields) throw new Error(`${this.spec.file}: struct ${el} defined twice`);
        if (lo >= existing.range.lo && hi <= existing.range.hi) continue;
        existing.range = { lo: Math.min(lo, existing.range.lo), hi: Math.max(hi, existing.range.hi) };
        this.collect(existing.fields, existing.range);
        continue;
      }
      const fs = f.fields ?? this.spec.commonStructs.get(el);
      if (!fs) throw new Error(`${this.spec.file}: unknown type ${f.type} of ${f.name}`);
      const info: StructInfo = { tsName: this.spec.name + el, fields: fs, range: { lo, hi } };
      this.structs.set(el, info);
      this.collect(fs, info.range);
    }
  }

  structOf(f: FieldSpec): StructInfo | undefined {
    const el = f.type.startsWith('[]') ? f.type.slice(2) : f.type;
    return PRIMITIVES.has(el) ? undefined : this.structs.get(el);
  }

  isFlexible(v: number): boolean {
    return inRange(this.spec.flexibleVersions, v);
  }

  fieldFlex(f: FieldSpec, ctx: Ctx): Cond {
    if (f.flexibleVersions !== undefined) {
      const c = rangeCond(f.flexibleVersions, ctx.range);
      return ctx.flex === true ? c : ctx.flex === false ? false : c === true ? ctx.flex : and(ctx.flex, c);
    }
    return ctx.flex;
  }

  // ---- types and defaults

  private everNullable(f: FieldSpec): boolean {
    return f.nullableVersions !== null || f.type === 'records';
  }

  tsType(f: FieldSpec): string {
    const nullable = this.everNullable(f) ? ' | null' : '';
    if (f.type.startsWith('[]')) return `${this.elemType(f.type.slice(2))}[]${nullable}`;
    const s = this.structOf(f);
    if (s) return s.tsName + nullable;
    return this.elemType(f.type) + (f.type === 'records' ? ' | null' : nullable);
  }

  elemType(t: string): string {
    switch (t) {
      case 'bool':
        return 'boolean';
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
      case 'float64':
        return 'number';
      case 'int64':
        return 'bigint';
      case 'string':
      case 'uuid':
        return 'string';
      case 'bytes':
      case 'records':
        return 'Buffer';
      default: {
        const s = this.structs.get(t);
        if (!s) throw new Error(`${this.spec.file}: unknown type ${t}`);
        return s.tsName;
      }
    }
  }

  /** The default as a JS expression. `shared` allows a shared constant (empty bytes) in decode. */
  defaultExpr(f: FieldSpec): string {
    const what = `${this.spec.file}.${f.name}`;
    const d = f.default;
    if (d === 'null') {
      if (!f.nullableVersions && f.type !== 'records') throw new Error(`${what}: null default on a non-nullable field`);
      return 'null';
    }
    if (f.type.startsWith('[]')) {
      if (d !== undefined && d !== '') throw new Error(`${what}: array default ${d}`);
      return '[]';
    }
    const s = this.structOf(f);
    if (s) return `default${s.tsName}()`;
    switch (f.type) {
      case 'bool':
        if (d === undefined) return 'false';
        if (d !== 'true' && d !== 'false') throw new Error(`${what}: bad bool default ${d}`);
        return d;
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32': {
        const v = d === undefined ? 0 : parseIntDefault(d, what);
        const [lo, hi] = INT_RANGES[f.type];
        if (v < lo || v > hi) throw new Error(`${what}: default ${d} out of range for ${f.type}`);
        return String(v);
      }
      case 'int64': {
        const v = d === undefined ? 0n : BigInt(parseIntDefault(d, what, true));
        if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new Error(`${what}: default out of range`);
        return `${v}n`;
      }
      case 'float64': {
        const v = d === undefined ? 0 : Number(d);
        if (Number.isNaN(v) && d !== 'NaN') throw new Error(`${what}: bad float default ${d}`);
        return String(v);
      }
      case 'string':
        return q(d ?? '');
      case 'uuid':
        if (d !== undefined) throw new Error(`${what}: uuid default unsupported`);
        return 'ZERO_UUID';
      case 'bytes':
        if (d !== undefined) throw new Error(`${what}: bytes default unsupported`);
        return 'EMPTY_BYTES';
      case 'records':
        return 'null';
      default:
        throw new Error(`${what}: unknown type ${f.type}`);
    }
  }

  /** An expression that is true when `v` equals the field's default. */
  isDefaultExpr(f: FieldSpec, v: string): string {
    const d = this.defaultExpr(f);
    if (d === 'null') return `${v} === null`;
    if (f.type.startsWith('[]'))
      return this.everNullable(f) ? `${v} !== null && ${v}.length === 0` : `${v}.length === 0`;
    const s = this.structOf(f);
    if (s) {
      this.needIsDefault.add(s.tsName);
      return this.everNullable(f) ? `${v} !== null && isDefault${s.tsName}(${v})` : `isDefault${s.tsName}(${v})`;
    }
    if (f.type === 'bytes') return this.everNullable(f) ? `${v} !== null && ${v}.length === 0` : `${v}.length === 0`;
    return `${v} === ${d}`;
  }

  // ---- minimum encoded sizes (for array count checks)

  private minCache = new Map<string, number>();

  /** The fewest bytes one value of `type` takes in `version` (field-level flexibility via `flex`). */
  minSize(type: string, version: number, flex: boolean, nullable: boolean): number {
    if (type.startsWith('[]')) return flex ? 1 : 4;
    switch (type) {
      case 'bool':
      case 'int8':
        return 1;
      case 'int16':
      case 'uint16':
        return 2;
      case 'int32':
      case 'uint32':
        return 4;
      case 'int64':
      case 'float64':
        return 8;
      case 'uuid':
        return 16;
      case 'string':
        return flex ? 1 : 2;
      case 'bytes':
      case 'records':
        return flex ? 1 : 4;
    }
    if (nullable) return 1;
    return this.structMinSize(type, version);
  }

  structMinSize(type: string, version: number): number {
    const key = `${type}@${version}`;
    const hit = this.minCache.get(key);
    if (hit !== undefined) return hit;
    const s = this.structs.get(type);
    if (!s) throw new Error(`unknown struct ${type}`);
    const flex = this.isFlexible(version);
    let n = flex ? 1 : 0; // the tagged-field count
    for (const f of s.fields) {
      if (!inRange(f.versions, version) || f.tag !== undefined) continue;
      const ff = f.flexibleVersions !== undefined ? inRange(f.flexibleVersions, version) : flex;
      n += this.minSize(f.type, version, ff, inRange(f.nullableVersions, version));
    }
    this.minCache.set(key, n);
    return n;
  }

  /** The minimum element size of an array field, as an expression of `version`. */
  minElementExpr(f: FieldSpec, ctx: Ctx): string {
    const el = f.type.slice(2);
    const fl = this.fieldFlex(f, ctx);
    const s = this.structOf(f);
    if (!s) {
      return ternary(fl, String(this.minSize(el, 0, true, false)), String(this.minSize(el, 0, false, false)));
    }
    const sizes: number[] = [];
    for (let v = 0; v <= this.valid.hi; v++) {
      // Zero-size elements would let a hostile count through; no schema has one (checked here).
      const n = v < this.valid.lo ? 0 : this.structMinSize(el, v);
      if (v >= this.valid.lo && inRange(f.versions, v) && n < 1) {
        throw new Error(`${this.spec.file}: ${s.tsName} takes 0 bytes in v${v}`);
      }
      sizes.push(n);
    }
    const present = sizes.filter((_, v) => v >= ctx.range.lo && v <= ctx.range.hi && inRange(f.versions, v));
    if (present.every((x) => x === present[0])) return String(present[0]);
    const table = `MIN_${s.tsName}`;
    if (!this.minTableNames.has(table)) {
      this.minTableNames.set(table, table);
      this.minTables.push(`/** Fewest bytes a ${s.tsName} takes, by version. */`);
      this.minTables.push(`const ${table} = [${sizes.join(', ')}];`);
    }
    return `${table}[version]`;
  }

  // ---- encode

  writeValue(f: FieldSpec, v: string, ctx: Ctx, depth: number): string[] {
    const fl = this.fieldFlex(f, ctx);
    const nullCond = f.type === 'records' && !f.nullableVersions ? false : rangeCond(f.nullableVersions, ctx.range);
    const out: string[] = [];
    const typeNullable = this.everNullable(f);
    if (typeNullable && nullCond !== true) {
      out.push(
        `if (${v} === null${nullCond === false ? '' : ` && ${not(nullCond)}`}) throw nonNullable(${q(f.name)}, version);`,
      );
    }
    if (f.type.startsWith('[]')) {
      const el = f.type.slice(2);
      const a = `a${depth}`;
      const i = `i${depth}`;
      const s = this.structOf(f);
      const elemWrite = s
        ? [`write${s.tsName}(w, version, ${a}[${i}]);`]
        : this.writePrimitive(el, `${a}[${i}]`, fl, false);
      const body = [
        ...ifElse(fl, [`w.uvarint(${a}.length + 1);`], [`w.int32(${a}.length);`]),
        `for (let ${i} = 0; ${i} < ${a}.length; ${i}++) {`,
        ...indent(elemWrite),
        '}',
      ];
      out.push(`const ${a} = ${v};`);
      if (typeNullable) {
        out.push(`if (${a} === null) {`, ...indent(ifElse(fl, ['w.uvarint(0);'], ['w.int32(-1);'])), '} else {');
        out.push(...indent(body), '}');
      } else {
        out.push(...body);
      }
      return [`{`, ...indent(out), '}'];
    }
    const s = this.structOf(f);
    if (s) {
      if (typeNullable) {
        const present = [
          ...(nullCond === false ? [] : ifElse(nullCond, ['w.int8(1);'], [])),
          `write${s.tsName}(w, version, ${v});`,
        ];
        out.push(`if (${v} === null) {`, '  w.int8(-1);', '} else {', ...indent(present), '}');
      } else {
        out.push(`write${s.tsName}(w, version, ${v});`);
      }
      return out;
    }
    out.push(...this.writePrimitive(f.type, v, fl, typeNullable));
    return out;
  }

  writePrimitive(type: string, v: string, fl: Cond, nullable: boolean): string[] {
    switch (type) {
      case 'bool':
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
      case 'int64':
      case 'float64':
      case 'uuid':
        return [`w.${type}(${v});`];
      case 'string':
        return nullable
          ? ifElse(fl, [`w.compactNullableString(${v});`], [`w.nullableString(${v});`])
          : ifElse(fl, [`w.compactString(${v});`], [`w.string(${v});`]);
      case 'bytes':
      case 'records':
        return nullable
          ? ifElse(fl, [`w.compactNullableBytes(${v});`], [`w.nullableBytes(${v});`])
          : ifElse(fl, [`w.compactBytes(${v});`], [`w.bytes(${v});`]);
      default:
        throw new Error(`not a primitive: ${type}`);
    }
  }

  writeStruct(s: StructInfo): string[] {
    const flexCond = rangeCond(this.spec.flexibleVersions, s.range);
    const ctx: Ctx = { flex: flexCond === true || flexCond === false ? flexCond : 'flex', reader: 'r', range: s.range };
    const body: string[] = [];
    if (typeof flexCond === 'string') body.push(`const flex = ${flexCond};`);
    const tagged: FieldSpec[] = [];
    for (const f of s.fields) {
      const prop = `m.${lowerFirst(f.name)}`;
      if (f.tag !== undefined) {
        tagged.push(f);
        const present = and(rangeCond(f.taggedVersions, s.range), ctx.flex);
        if (!f.ignorable && present !== true) {
          body.push(
            ...ifElse(
              and(not(present), `!(${this.isDefaultExpr(f, prop)})`),
              [`throw unsupportedField(${q(f.name)}, version);`],
              [],
            ),
          );
        }
        continue;
      }
      const present = rangeCond(f.versions, s.range);
      const missing =
        f.ignorable || present === true
          ? []
          : [`if (!(${this.isDefaultExpr(f, prop)})) throw unsupportedField(${q(f.name)}, version);`];
      body.push(...ifElse(present, this.writeValue(f, prop, ctx, 0), missing));
    }
    // The tagged-field section, in tag order, merged with the unknown tags kept from decoding.
    const tagLines: string[] = [];
    if (tagged.length === 0) {
      tagLines.push('writeUnknownTaggedFields(w, m.unknownTaggedFields);');
    } else {
      tagged.sort((a, b) => (a.tag as number) - (b.tag as number));
      tagLines.push(
        'const unknown = m.unknownTaggedFields;',
        'let count = unknown === undefined ? 0 : unknown.length;',
      );
      for (const f of tagged) {
        const prop = `m.${lowerFirst(f.name)}`;
        const present = rangeCond(f.taggedVersions, s.range);
        tagLines.push(
          `const t${f.tag} = ${present === true ? '' : `${present} && `}!(${this.isDefaultExpr(f, prop)});`,
        );
        tagLines.push(`if (t${f.tag}) count++;`);
      }
      tagLines.push('w.uvarint(count);', 'let u = 0;');
      for (const f of tagged) {
        const prop = `m.${lowerFirst(f.name)}`;
        tagLines.push(`if (t${f.tag}) {`);
        tagLines.push(
          ...indent([
            `u = writeUnknownTaggedFieldsBefore(w, unknown, u, ${f.tag});`,
            `w.uvarint(${f.tag});`,
            'const start = w.offset;',
            ...this.writeValue(f, prop, { flex: true, reader: 'r', range: s.range }, 0),
            'endTaggedField(w, start);',
          ]),
        );
        tagLines.push('}');
      }
      tagLines.push('writeUnknownTaggedFieldsBefore(w, unknown, u, Number.POSITIVE_INFINITY);');
    }
    body.push(
      ...ifElse(ctx.flex, tagLines, [
        'if (m.unknownTaggedFields !== undefined && m.unknownTaggedFields.length > 0) throw taggedFieldsUnsupported(version);',
      ]),
    );
    const lines = [
      ...signature(`write${s.tsName}`, ['w: Writer', 'version: number', `m: ${s.tsName}`], 'void'),
      ...indent(body),
      '}',
    ];
    return lines;
  }

  // ---- decode

  readInto(f: FieldSpec, target: string, ctx: Ctx, depth: number): string[] {
    const r = ctx.reader;
    const fl = this.fieldFlex(f, ctx);
    const nullCond: Cond =
      f.type === 'records' && !f.nullableVersions ? false : rangeCond(f.nullableVersions, ctx.range);
    if (f.type.startsWith('[]')) {
      const el = f.type.slice(2);
      const n = `n${depth}`;
      const a = `a${depth}`;
      const i = `i${depth}`;
      const min = this.minElementExpr(f, ctx);
      const s = this.structOf(f);
      const elem = s ? `read${s.tsName}(${r}, version)` : this.readPrimitive(el, fl, false, r);
      const fill = [
        `const ${a}: ${this.elemType(el)}[] = [];`,
        `for (let ${i} = 0; ${i} < ${n}; ${i}++) ${a}.push(${elem});`,
        `${target} = ${a};`,
      ];
      const lines: string[] = [];
      let minRef = min;
      if (min.includes('[') && fl !== true && fl !== false) {
        minRef = `min${depth}`;
        lines.push(`const ${minRef} = ${min};`);
      }
      lines.push(`const ${n} = ${ternary(fl, `${r}.compactArrayLength(${minRef})`, `${r}.arrayLength(${minRef})`)};`);
      const onNull =
        nullCond === true
          ? [`${target} = null;`]
          : nullCond === false
            ? [`throw nullRead(${q(f.name)}, ${r});`]
            : [`if (${not(nullCond)}) throw nullRead(${q(f.name)}, ${r});`, `${target} = null;`];
      lines.push(`if (${n} < 0) {`, ...indent(onNull), '} else {', ...indent(fill), '}');
      return ['{', ...indent(lines), '}'];
    }
    const s = this.structOf(f);
    if (s) {
      if (nullCond === false) return [`${target} = read${s.tsName}(${r}, version);`];
      const nullRead = `${r}.int8() < 0 ? null : read${s.tsName}(${r}, version)`;
      if (nullCond === true) return [`${target} = ${nullRead};`];
      return [`${target} = ${nullCond} ? ${nullRead} : read${s.tsName}(${r}, version);`];
    }
    if (f.type === 'records') {
      const lines = [`${target} = ${this.readPrimitive('records', fl, true, r)};`];
      if (nullCond !== true) {
        lines.push(
          `if (${target} === null${nullCond === false ? '' : ` && ${not(nullCond)}`}) throw nullRead(${q(f.name)}, ${r});`,
        );
      }
      return lines;
    }
    if (f.type === 'string' || f.type === 'bytes') {
      if (!this.everNullable(f)) return [`${target} = ${this.readPrimitive(f.type, fl, false, r)};`];
      return [
        `${target} = ${ternary(nullCond, `(${this.readPrimitive(f.type, fl, true, r)})`, `(${this.readPrimitive(f.type, fl, false, r)})`)};`,
      ];
    }
    return [`${target} = ${this.readPrimitive(f.type, fl, false, r)};`];
  }

  readPrimitive(type: string, fl: Cond, nullable: boolean, r: string): string {
    switch (type) {
      case 'bool':
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
      case 'int64':
      case 'float64':
      case 'uuid':
        return `${r}.${type}()`;
      case 'string':
        return nullable
          ? ternary(fl, `${r}.compactNullableString()`, `${r}.nullableString()`)
          : ternary(fl, `${r}.compactString()`, `${r}.string()`);
      case 'bytes':
      case 'records':
        return nullable
          ? ternary(fl, `${r}.compactNullableBytes()`, `${r}.nullableBytes()`)
          : ternary(fl, `${r}.compactBytes()`, `${r}.bytes()`);
      default:
        throw new Error(`not a primitive: ${type}`);
    }
  }

  readStruct(s: StructInfo): string[] {
    const flexCond = rangeCond(this.spec.flexibleVersions, s.range);
    const ctx: Ctx = { flex: flexCond === true || flexCond === false ? flexCond : 'flex', reader: 'r', range: s.range };
    const body: string[] = [];
    if (typeof flexCond === 'string') body.push(`const flex = ${flexCond};`);
    const tagged: FieldSpec[] = [];
    for (const f of s.fields) {
      const local = `f${f.name}`;
      if (f.tag !== undefined) {
        tagged.push(f);
        body.push(`let ${local}: ${this.tsType(f)} = ${this.defaultExpr(f)};`);
        continue;
      }
      const present = rangeCond(f.versions, s.range);
      const read = present === false ? [] : this.readInto(f, local, ctx, 0);
      if (present === true && read.length === 1 && read[0].startsWith(`${local} = `)) {
        body.push(`const ${read[0].replace(`${local} = `, `${local}: ${this.tsType(f)} = `)}`);
        continue;
      }
      body.push(`let ${local}: ${this.tsType(f)}${present === true ? ';' : ` = ${this.defaultExpr(f)};`}`);
      body.push(...ifElse(present, read, []));
    }
    body.push('let unknown: RawTaggedField[] | undefined;');
    const tagLines: string[] = [];
    if (tagged.length === 0) {
      tagLines.push('unknown = r.taggedFields();');
    } else {
      this.usesReader = true;
      this.usesDecodeError = true;
      tagged.sort((a, b) => (a.tag as number) - (b.tag as number));
      const cases: string[] = [];
      for (const f of tagged) {
        const present = rangeCond(f.taggedVersions, s.range);
        const read = [
          'const t = new Reader(r.buffer, r.offset, end);',
          ...this.readInto(f, `f${f.name}`, { flex: true, reader: 't', range: s.range }, 0),
          `if (t.offset !== end) throw new DecodeError(${q(`tagged field ${f.name}: bytes left over`)}, t.offset);`,
        ];
        cases.push(`case ${f.tag}:`);
        if (present === true) {
          cases.push(...indent(['{', ...indent(read), '}', 'break;']));
        } else {
          cases.push(
            ...indent([
              `if (${present}) {`,
              ...indent(read),
              '  break;',
              '}',
              'unknown = keepUnknownTag(unknown, tag, r, end);',
              'break;',
            ]),
          );
        }
      }
      cases.push('default:', '  unknown = keepUnknownTag(unknown, tag, r, end);');
      tagLines.push(
        'const count = r.uvarint();',
        "r.need(count * 2, 'tagged fields');",
        'let last = -1;',
        'for (let i = 0; i < count; i++) {',
        ...indent([
          'const tag = r.uvarint();',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: generated code holding a template literal
          'if (tag <= last) throw new DecodeError(`tagged fields: tag ${tag} after ${last}`, r.offset);',
          'last = tag;',
          'const size = r.uvarint();',
          "r.need(size, 'tagged field');",
          'const end = r.offset + size;',
          'switch (tag) {',
          ...indent(cases),
          '}',
          'r.offset = end;',
        ]),
        '}',
      );
    }
    body.push(...ifElse(ctx.flex, tagLines, []));
    body.push('return {');
    for (const f of s.fields) body.push(`  ${lowerFirst(f.name)}: f${f.name},`);
    body.push('  unknownTaggedFields: unknown,', '};');
    return [...signature(`read${s.tsName}`, ['r: Reader', 'version: number'], s.tsName), ...indent(body), '}'];
  }

  // ---- the module

  interfaceOf(s: StructInfo): string[] {
    const lines = [`export interface ${s.tsName} {`];
    for (const f of s.fields) {
      const notes: string[] = [`${f.type}, versions ${f.versionsText}`];
      if (f.nullableText) notes.push(`nullable ${f.nullableText}`);
      if (f.tag !== undefined) notes.push(`tag ${f.tag}`);
      if (f.default !== undefined) notes.push(`default ${f.default}`);
      if (f.ignorable) notes.push('ignorable');
      if (f.flexibleText) notes.push(`flexible ${f.flexibleText}`);
      lines.push(`  /** ${notes.join('; ')} */`);
      lines.push(`  ${lowerFirst(f.name)}: ${this.tsType(f)};`);
    }
    lines.push('  /** Tagged fields this code does not know, kept from decoding and written back. */');
    lines.push('  unknownTaggedFields?: RawTaggedField[];');
    lines.push('}');
    return lines;
  }

  defaultOf(s: StructInfo): string[] {
    return [
      `/** A new ${s.tsName} with every field at its schema default. */`,
      `export function default${s.tsName}(): ${s.tsName} {`,
      '  return {',
      ...s.fields.map((f) => `    ${lowerFirst(f.name)}: ${this.defaultExpr(f)},`),
      '  };',
      '}',
    ];
  }

  isDefaultOf(s: StructInfo): string[] {
    const checks = s.fields.map((f) => this.isDefaultExpr(f, `m.${lowerFirst(f.name)}`));
    checks.push('(m.unknownTaggedFields === undefined || m.unknownTaggedFields.length === 0)');
    return [
      ...signature(`isDefault${s.tsName}`, [`m: ${s.tsName}`], 'boolean'),
      '  return (',
      ...checks.map((c, i) => `    ${i === 0 ? '' : '&& '}${c.includes(' && ') ? `(${c})` : c}`),
      '  );',
      '}',
    ];
  }

  /** Types, struct functions and the codec object of this message; `codecName` names the export. */
  body(): { types: string[]; code: string[] } {
    const types: string[] = [];
    const code: string[] = [];
    const all = [...this.structs.values()];
    for (const s of all) types.push(...this.interfaceOf(s), '');
    for (const s of all) {
      code.push(...this.writeStruct(s), '');
      code.push(...this.readStruct(s), '');
      code.push(...this.defaultOf(s), '');
    }
    // isDefault functions may pull in others (nested structs), so loop until stable.
    const done = new Set<string>();
    for (;;) {
      const next = [...this.needIsDefault].filter((n) => !done.has(n));
      if (next.length === 0) break;
      for (const n of next) {
        done.add(n);
        const s = all.find((x) => x.tsName === n);
        if (s) code.push(...this.isDefaultOf(s), '');
      }
    }
    return { types, code: [...this.minTables, ...(this.minTables.length ? [''] : []), ...code] };
  }

  codecObject(name = this.spec.name): string[] {
    const { lo, hi } = this.valid;
    return [
      '{',
      `  encode(w: Writer, version: number, msg: ${name}): void {`,
      `    checkVersion(${q(name)}, version, ${lo}, ${hi});`,
      `    write${name}(w, version, msg);`,
      '  },',
      `  decode(r: Reader, version: number): ${name} {`,
      `    checkVersion(${q(name)}, version, ${lo}, ${hi});`,
      `    return read${name}(r, version);`,
      '  },',
      `  defaults(): ${name} {`,
      `    return default${name}();`,
      '  },',
      '}',
    ];
  }

  get needsReaderValue(): boolean {
    return this.usesReader;
  }

  get needsDecodeError(): boolean {
    return this.usesDecodeError;
  }
}

const INT_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

/** Kafka's defaults follow Java's Integer.decode: decimal, 0x hex, or leading-0 octal. */
function parseIntDefault(d: string, what: string, big = false): number | bigint {
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(d.trim());
  if (!m) throw new Error(`${what}: bad integer default ${d}`);
  const body = m[2];
  let v: bigint;
  if (/^0[xX]/.test(body)) v = BigInt(body);
  else if (body.length > 1 && body.startsWith('0')) v = BigInt(`0o${body.slice(1)}`);
  else v = BigInt(body);
  if (m[1] === '-') v = -v;
  return big ? v : Number(v);
}

// ---------------------------------------------------------------------------------------------
// Files

const HEADER = (file: string) => `// Generated by scripts/generate.ts from ${file}. Do not edit.`;
const HEADER_ALL = '// Generated by scripts/generate.ts from the Kafka message schemas. Do not edit.';

function imports(gens: MessageGen[], extra: string[] = []): string[] {
  const readerValue = gens.some((g) => g.needsReaderValue);
  const decodeError = gens.some((g) => g.needsDecodeError);
  const runtime = [
    'EMPTY_BYTES',
    'ZERO_UUID',
    'checkVersion',
    'endTaggedField',
    'keepUnknownTag',
    'nonNullable',
    'nullRead',
    'taggedFieldsUnsupported',
    'unsupportedField',
    'unsupportedVersion',
    'writeUnknownTaggedFields',
    'writeUnknownTaggedFieldsBefore',
  ];
  return [
    ...extra,
    ...(decodeError ? ["import { DecodeError } from '../errors.js';"] : []),
    readerValue
      ? "import { type RawTaggedField, Reader } from '../primitives/reader.js';"
      : "import type { RawTaggedField, Reader } from '../primitives/reader.js';",
    "import type { Writer } from '../primitives/writer.js';",
    `import {\n${runtime.map((n) => `  ${n},`).join('\n')}\n} from './_runtime.js';`,
  ];
}

/** Drops runtime imports the module body does not use (keeps tsc's noUnused quiet and the code tidy). */
function pruneImports(text: string): string {
  return text.replace(/import \{\n([\s\S]*?)\n\} from '\.\/_runtime\.js';/, (_all, list: string) => {
    const rest = text.slice(text.indexOf("from './_runtime.js';"));
    const used = list
      .split('\n')
      .map((l) => l.trim().replace(/,$/, ''))
      .filter((n) => new RegExp(`\\b${n}\\b`).test(rest));
    if (used.length === 0) return '';
    return `import {\n${used.map((n) => `  ${n},`).join('\n')}\n} from './_runtime.js';`;
  });
}

function apiModule(req: MessageSpec, res: MessageSpec): string {
  const apiName = req.name.replace(/Request$/, '');
  if (res.name !== `${apiName}Response`) throw new Error(`${req.file}: response ${res.name} does not match`);
  if (req.validText !== res.validText) throw new Error(`${apiName}: request and response validVersions differ`);
  if (req.flexibleText !== res.flexibleText)
    throw new Error(`${apiName}: request and response flexibleVersions differ`);
  const rq = new MessageGen(req);
  const rs = new MessageGen(res);
  const a = rq.body();
  const b = rs.body();
  const flexMin = req.flexibleVersions ? req.flexibleVersions.lo : null;
  const lines = [
    `// Generated by scripts/generate.ts from ${req.file} and ${res.file}. Do not edit.`,
    "import type { ApiDefinition } from '../api.js';",
    ...imports([rq, rs]).slice(0),
    '',
    ...a.types,
    ...b.types,
    ...a.code,
    ...b.code,
    `export const ${apiName}Api: ApiDefinition<${req.name}, ${res.name}> = {`,
    `  apiKey: ${req.apiKey},`,
    `  name: ${q(apiName)},`,
    `  minVersion: ${req.validVersions.lo},`,
    `  maxVersion: ${req.validVersions.hi},`,
    `  flexibleMinVersion: ${flexMin},`,
    `  latestVersionUnstable: ${req.latestVersionUnstable},`,
    `  listeners: [${req.listeners.map(q).join(', ')}],`,
    `  request: ${rq.codecObject().join('\n  ')},`,
    `  response: ${rs.codecObject().join('\n  ')},`,
    '};',
    '',
  ];
  return pruneImports(lines.join('\n'));
}

function schemaCodecLines(g: MessageGen): string[] {
  const s = g.spec;
  const flexMin = s.flexibleVersions ? s.flexibleVersions.lo : null;
  const obj = g.codecObject();
  return [
    `export const ${s.name}Codec: SchemaCodec<${s.name}> = {`,
    `  name: ${q(s.name)},`,
    `  minVersion: ${s.validVersions.lo},`,
    `  maxVersion: ${s.validVersions.hi},`,
    `  flexibleMinVersion: ${flexMin},`,
    ...indent(obj.slice(1, -1)),
    '};',
    '',
  ];
}

function dataModule(spec: MessageSpec): string {
  const g = new MessageGen(spec);
  const { types, code } = g.body();
  const lines = [
    HEADER(spec.file),
    "import type { SchemaCodec } from '../api.js';",
    ...imports([g]),
    '',
    ...types,
    ...code,
    ...schemaCodecLines(g),
  ];
  return pruneImports(lines.join('\n'));
}

function headersModule(reqH: MessageSpec, resH: MessageSpec, apis: MessageSpec[]): string {
  const a = new MessageGen(reqH);
  const b = new MessageGen(resH);
  const ba = a.body();
  const bb = b.body();
  const maxKey = Math.max(...apis.map((x) => x.apiKey as number));
  const flex: number[] = new Array(maxKey + 1).fill(-1);
  for (const x of apis) flex[x.apiKey as number] = x.flexibleVersions ? x.flexibleVersions.lo : 32767;
  const lines = [
    `// Generated by scripts/generate.ts from ${reqH.file} and ${resH.file}. Do not edit.`,
    "import type { SchemaCodec } from '../api.js';",
    ...imports([a, b]),
    '',
    ...ba.types,
    ...bb.types,
    ...ba.code,
    ...bb.code,
    ...schemaCodecLines(a),
    ...schemaCodecLines(b),
    '/** First flexible version of each API key (32767: never flexible, -1: no such API). */',
    `const FLEXIBLE_MIN_VERSION: readonly number[] = [${flex.join(', ')}];`,
    '',
    '/** The request header version a request of this API and version is framed with. */',
    'export function requestHeaderVersion(apiKey: number, apiVersion: number): number {',
    '  const flexMin = FLEXIBLE_MIN_VERSION[apiKey];',
    '  return flexMin !== undefined && flexMin >= 0 && apiVersion >= flexMin ? 2 : 1;',
    '}',
    '',
    '/** The response header version a response of this API and version is framed with. */',
    'export function responseHeaderVersion(apiKey: number, apiVersion: number): number {',
    '  // ApiVersions responses always use v0, so that a client can read the error of an unsupported version.',
    '  if (apiKey === 18) return 0;',
    '  const flexMin = FLEXIBLE_MIN_VERSION[apiKey];',
    '  return flexMin !== undefined && flexMin >= 0 && apiVersion >= flexMin ? 1 : 0;',
    '}',
    '',
  ];
  return pruneImports(lines.join('\n'));
}

const RUNTIME = `${HEADER_ALL}
// Small helpers shared by the generated codecs.
import { DecodeError, KafkaError } from '../errors.js';
import type { RawTaggedField, Reader } from '../primitives/reader.js';
import { uvarintSize, type Writer } from '../primitives/writer.js';

/** Kafka's UNSUPPORTED_VERSION error code. */
const UNSUPPORTED_VERSION = 35;

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** The default of bytes fields; zero-length, so sharing it is safe. */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

export function unsupportedVersion(message: string, version: number): KafkaError {
  return new KafkaError(UNSUPPORTED_VERSION, \`\${message} has no version \${version}\`);
}

/** Throws UNSUPPORTED_VERSION unless \`version\` is an integer in [lo, hi]. */
export function checkVersion(message: string, version: number, lo: number, hi: number): void {
  if (!(version >= lo && version <= hi) || (version | 0) !== version) throw unsupportedVersion(message, version);
}

export function unsupportedField(field: string, version: number): KafkaError {
  return new KafkaError(UNSUPPORTED_VERSION, \`Attempted to write a non-default \${field} at version \${version}\`);
}

export function nonNullable(field: string, version: number): KafkaError {
  return new KafkaError(UNSUPPORTED_VERSION, \`\${field} is null, but it is not nullable in version \${version}\`);
}

export function taggedFieldsUnsupported(version: number): KafkaError {
  return new KafkaError(UNSUPPORTED_VERSION, \`Tagged fields were set, but version \${version} does not support them\`);
}

export function nullRead(field: string, r: Reader): DecodeError {
  return new DecodeError(\`non-nullable field \${field} was serialized as null\`, r.offset);
}

/** Keeps the raw bytes of an unknown tag (zero-copy) so that it can be written back. */
export function keepUnknownTag(
  unknown: RawTaggedField[] | undefined,
  tag: number,
  r: Reader,
  end: number,
): RawTaggedField[] {
  const list = unknown ?? [];
  list.push({ tag, data: r.buffer.subarray(r.offset, end) });
  return list;
}

/** A tagged-field section holding only unknown tags. */
export function writeUnknownTaggedFields(w: Writer, unknown: readonly RawTaggedField[] | undefined): void {
  if (unknown === undefined) {
    w.uvarint(0);
    return;
  }
  w.uvarint(unknown.length);
  writeUnknownTaggedFieldsBefore(w, unknown, 0, Number.POSITIVE_INFINITY);
}

/** Writes the unknown tags from index \`u\` whose tag is below \`tag\`; returns the next index. */
export function writeUnknownTaggedFieldsBefore(
  w: Writer,
  unknown: readonly RawTaggedField[] | undefined,
  u: number,
  tag: number,
): number {
  if (unknown === undefined) return u;
  while (u < unknown.length && unknown[u].tag < tag) {
    const f = unknown[u++];
    w.uvarint(f.tag);
    w.uvarint(f.data.length);
    w.raw(f.data);
  }
  return u;
}

/**
 * Ends a tagged field whose value was written from \`start\`: inserts its size before it. The value
 * is moved rather than written twice, so a tagged field costs no scratch buffer.
 */
export function endTaggedField(w: Writer, start: number): void {
  const size = w.offset - start;
  const n = uvarintSize(size);
  // Room for the size's varint (at most 5 bytes) past the end now: w.uvarint() below must not grow
  // the buffer, since growing copies only up to w.offset and that is rewound to \`start\`.
  w.ensure(5);
  w.buffer.copyWithin(start + n, start, w.offset);
  w.offset = start;
  w.uvarint(size);
  w.offset = start + n + size;
}
`;

function metadataModule(specs: MessageSpec[]): string {
  const fieldLine = (f: FieldSpec, depth: number, resolve: (t: string) => FieldSpec[] | undefined): string[] => {
    const o: Record<string, unknown> = { name: f.name, type: f.type, versions: f.versionsText };
    if (f.nullableText) o.nullableVersions = f.nullableText;
    if (f.tag !== undefined) {
      o.tag = f.tag;
      o.taggedVersions = f.taggedText;
    }
    if (f.flexibleText) o.flexibleVersions = f.flexibleText;
    if (f.default !== undefined) o.default = f.default;
    if (f.ignorable) o.ignorable = true;
    const el = f.type.startsWith('[]') ? f.type.slice(2) : f.type;
    const sub = PRIMITIVES.has(el) ? undefined : (f.fields ?? resolve(el));
    const pad = '  '.repeat(depth);
    const head = Object.entries(o)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? q(v) : String(v)}`)
      .join(', ');
    if (!sub) return [`${pad}{ ${head} },`];
    return [`${pad}{ ${head}, fields: [`, ...sub.flatMap((x) => fieldLine(x, depth + 1, resolve)), `${pad}] },`];
  };
  const lines = [
    HEADER_ALL,
    '// The schemas in data form (names, types, versions, defaults), with common structs inlined:',
    '// for tests and tools that need to walk a message generically. Not used by the codecs.',
    '',
    'export interface FieldMeta {',
    '  name: string;',
    '  /** Kafka type: int32, string, []Foo, Foo, ... */',
    '  type: string;',
    '  /** Version ranges as in the JSON: "0+", "3-5", "none". */',
    '  versions: string;',
    '  nullableVersions?: string;',
    '  tag?: number;',
    '  taggedVersions?: string;',
    '  flexibleVersions?: string;',
    '  default?: string;',
    '  ignorable?: boolean;',
    '  fields?: FieldMeta[];',
    '}',
    '',
    'export interface SchemaMeta {',
    '  name: string;',
    "  type: 'request' | 'response' | 'header' | 'data' | 'metadata';",
    '  apiKey?: number;',
    '  validVersions: string;',
    '  flexibleVersions: string;',
    '  fields: FieldMeta[];',
    '}',
    '',
    'export const SCHEMAS: readonly SchemaMeta[] = [',
  ];
  for (const s of specs) {
    const resolve = (t: string) => s.commonStructs.get(t);
    lines.push('  {');
    lines.push(`    name: ${q(s.name)},`);
    lines.push(`    type: ${q(s.type)},`);
    if (s.apiKey !== undefined) lines.push(`    apiKey: ${s.apiKey},`);
    lines.push(`    validVersions: ${q(s.validText)},`);
    lines.push(`    flexibleVersions: ${q(s.flexibleText)},`);
    lines.push('    fields: [');
    for (const f of s.fields) lines.push(...fieldLine(f, 3, resolve));
    lines.push('    ],');
    lines.push('  },');
  }
  lines.push('];', '');
  return lines.join('\n');
}

/** Generates the whole tree: {path relative to src/generated: file content}. */
export function generateAll(dir = schemaDir()): Record<string, string> {
  const specs = loadSchemas(dir);
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: Record<string, string> = {};
  out['_runtime.ts'] = RUNTIME;

  const requests = specs
    .filter((s) => s.type === 'request')
    .sort((a, b) => (a.apiKey as number) - (b.apiKey as number));
  const apiModules: { module: string; api: string }[] = [];
  for (const req of requests) {
    const apiName = req.name.replace(/Request$/, '');
    const res = byName.get(`${apiName}Response`);
    if (!res) throw new Error(`${req.file}: no response schema`);
    const module = kebab(apiName);
    out[`${module}.ts`] = apiModule(req, res);
    apiModules.push({ module, api: apiName });
  }
  const reqH = byName.get('RequestHeader');
  const resH = byName.get('ResponseHeader');
  if (!reqH || !resH) throw new Error('RequestHeader/ResponseHeader schemas missing');
  out['headers.ts'] = headersModule(reqH, resH, requests);

  const others = specs.filter((s) => s.type !== 'request' && s.type !== 'response' && s.type !== 'header');
  for (const s of others) out[`${kebab(s.name)}.ts`] = dataModule(s);

  const schemaNames = ['RequestHeader', 'ResponseHeader', ...others.map((s) => s.name)];
  out['_schemas.ts'] = metadataModule(specs);
  out['index.ts'] = [
    HEADER_ALL,
    "import type { ApiDefinition, SchemaCodec } from '../api.js';",
    ...apiModules.map((m) => `import { ${m.api}Api } from './${m.module}.js';`),
    "import { RequestHeaderCodec, ResponseHeaderCodec } from './headers.js';",
    ...others.map((s) => `import { ${s.name}Codec } from './${kebab(s.name)}.js';`),
    '',
    ...apiModules.map((m) => `export * from './${m.module}.js';`),
    "export * from './headers.js';",
    ...others.map((s) => `export * from './${kebab(s.name)}.js';`),
    '',
    '/** Every API, in API key order. */',
    'export const API_DEFINITIONS: readonly ApiDefinition[] = [',
    ...apiModules.map((m) => `  ${m.api}Api,`),
    '];',
    '',
    '/** API keys by name. */',
    'export const ApiKey = {',
    ...requests.map((r) => `  ${r.name.replace(/Request$/, '')}: ${r.apiKey},`),
    '} as const;',
    '',
    'const BY_KEY: (ApiDefinition | undefined)[] = [];',
    'for (const api of API_DEFINITIONS) BY_KEY[api.apiKey] = api;',
    '',
    'export function apiByKey(apiKey: number): ApiDefinition | undefined {',
    '  return BY_KEY[apiKey];',
    '}',
    '',
    '/** The headers and the other (non-API) schemas, by schema name. */',
    'export const SCHEMA_CODECS: Readonly<Record<string, SchemaCodec>> = {',
    ...schemaNames.map((n) => `  ${n}: ${n}Codec,`),
    '};',
    '',
  ].join('\n');
  return out;
}

function main(): void {
  const files = generateAll();
  mkdirSync(OUTPUT_DIR, { recursive: true });
  let written = 0;
  for (const [path, content] of Object.entries(files)) {
    const full = join(OUTPUT_DIR, path);
    if (existsSync(full) && readFileSync(full, 'utf8') === content) continue;
    writeFileSync(full, content);
    written++;
  }
  // Remove modules of schemas that no longer exist.
  for (const f of readdirSync(OUTPUT_DIR)) {
    if (f.endsWith('.ts') && !(f in files)) unlinkSync(join(OUTPUT_DIR, f));
  }
  console.log(`generate: ${Object.keys(files).length} files in ${OUTPUT_DIR} (${written} changed)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
