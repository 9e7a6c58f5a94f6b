// Config value types, sources and parsing as Kafka's ConfigDef does them, so values, error
// messages and DescribeConfigs answers match what Kafka clients expect.

/** Kafka's ConfigType ids as DescribeConfigs v3+ reports them. */
export const ConfigType = {
  UNKNOWN: 0,
  BOOLEAN: 1,
  STRING: 2,
  INT: 3,
  SHORT: 4,
  LONG: 5,
  DOUBLE: 6,
  LIST: 7,
  CLASS: 8,
  PASSWORD: 9,
} as const;
export type ConfigTypeName = Exclude<keyof typeof ConfigType, 'UNKNOWN'>;

/** Kafka's ConfigSource ids (DescribeConfigs v1+). */
export const ConfigSource = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;
export type ConfigSourceId = (typeof ConfigSource)[keyof typeof ConfigSource];

/** ConfigResource types used by DescribeConfigs/AlterConfigs/IncrementalAlterConfigs. */
export const ConfigResourceType = { UNKNOWN: 0, TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;

/** IncrementalAlterConfigs operations. */
export const AlterConfigOp = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

/** Who may change a broker config at run time (Kafka's "Dynamic Update Mode"). */
export type DynamicMode = 'read-only' | 'per-broker' | 'cluster-wide';

/** The TypeScript type of a parsed value: LONG is bigint so Long.MAX_VALUE survives. */
export type ValueOf<T extends ConfigTypeName> = T extends 'LONG'
  ? bigint
  : T extends 'INT' | 'SHORT' | 'DOUBLE'
    ? number
    : T extends 'BOOLEAN'
      ? boolean
      : T extends 'LIST'
        ? string[]
        : string;

export type ConfigValue = bigint | number | boolean | string | string[];

/** A value constraint: numeric range or an enumeration (case-sensitive like Kafka's ValidString). */
export interface Validator {
  min?: number | bigint;
  max?: number | bigint;
  /** For STRING: the value must be one of these; for LIST: every element must be. */
  oneOf?: readonly string[];
  /** LIST: no element may be empty and no duplicates (log.dirs). */
  nonEmptyDistinct?: boolean;
}

export interface ConfigDef {
  name: string;
  type: ConfigTypeName;
  /** Default as Kafka writes it in its docs (string form), or null when there is none. */
  default: string | null;
  doc: string;
  validator?: Validator;
}

/** A config error with Kafka's wording; the caller maps it to INVALID_CONFIG / INVALID_REQUEST. */
export class ConfigException extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigException';
  }
}

export const INT_MIN = -2147483648;
export const INT_MAX = 2147483647;
export const LONG_MIN = -(2n ** 63n);
export const LONG_MAX = 2n ** 63n - 1n;
const SHORT_MIN = -32768;
const SHORT_MAX = 32767;

// Java's Integer.parseInt / Long.parseLong accept an optional sign and decimal digits only.
const INTEGER_RE = /^[+-]?\d+$/;
// Java's Double.parseDouble (decimal forms, NaN, Infinity, optional d/f suffix).
const DOUBLE_RE = /^[+-]?(NaN|Infinity|((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)[fFdD]?)$/;

function invalid(def: ConfigDef, raw: string, why: string): ConfigException {
  return new ConfigException(`Invalid value ${raw} for configuration ${def.name}: ${why}`);
}

/** Parses a string value the way ConfigDef.parseType does (values are trimmed first), then validates. */
export function parseConfigValue(def: ConfigDef, raw: string): ConfigValue {
  const s = raw.trim();
  let value: ConfigValue;
  switch (def.type) {
    case 'BOOLEAN': {
      const l = s.toLowerCase();
      if (l !== 'true' && l !== 'false') throw invalid(def, s, 'Expected value to be either true or false');
      value = l === 'true';
      break;
    }
    case 'INT':
    case 'SHORT': {
      const [lo, hi] = def.type === 'INT' ? [INT_MIN, INT_MAX] : [SHORT_MIN, SHORT_MAX];
      if (!INTEGER_RE.test(s)) throw invalid(def, s, `Not a number of type ${def.type}`);
      const n = Number(s);
      if (n < lo || n > hi) throw invalid(def, s, `Not a number of type ${def.type}`);
      value = n;
      break;
    }
    case 'LONG': {
      if (!INTEGER_RE.test(s)) throw invalid(def, s, 'Not a number of type LONG');
      const n = BigInt(s);
      if (n < LONG_MIN || n > LONG_MAX) throw invalid(def, s, 'Not a number of type LONG');
      value = n;
      break;
    }
    case 'DOUBLE': {
      if (!DOUBLE_RE.test(s)) throw invalid(def, s, 'Not a number of type DOUBLE');
      value = Number(s.replace(/[fFdD]$/, ''));
      break;
    }
    case 'LIST':
      value = s === '' ? [] : s.split(/\s*,\s*/);
      break;
    default:
      value = s;
  }
  validateValue(def, value, s);
  return value;
}

function validateValue(def: ConfigDef, value: ConfigValue, raw: string): void {
  const v = def.validator;
  if (!v) return;
  if (typeof value === 'number' || typeof value === 'bigint') {
    // Mixed number/bigint comparisons are exact in JavaScript.
    if (v.min !== undefined && value < v.min) throw invalid(def, raw, `Value must be at least ${v.min}`);
    if (v.max !== undefined && value > v.max) throw invalid(def, raw, `Value must be no more than ${v.max}`);
  }
  if (v.oneOf && typeof value === 'boolean' && !v.oneOf.includes(String(value))) {
    throw invalid(def, raw, `Value must be one of: ${v.oneOf.join(', ')}`);
  }
  if (v.oneOf && typeof value === 'string' && !v.oneOf.includes(value)) {
    throw invalid(def, raw, `String must be one of: ${v.oneOf.join(', ')}`);
  }
  if (Array.isArray(value)) {
    if (v.oneOf) {
      for (const e of value) {
        if (!v.oneOf.includes(e)) throw invalid(def, raw, `String must be one of: ${v.oneOf.join(', ')}`);
      }
    }
    if (v.nonEmptyDistinct) {
      if (value.length === 0) throw invalid(def, raw, 'Empty list is not allowed');
      if (value.some((e) => e === '')) throw invalid(def, raw, 'Empty elements are not allowed');
      if (new Set(value).size !== value.length) throw invalid(def, raw, 'Duplicate elements are not allowed');
    }
  }
}

/** Java's Double.toString for the values configs use (0.5 → "0.5", 1 → "1.0", 1e7 → "1.0E7"). */
export function javaDoubleToString(d: number): string {
  if (Number.isNaN(d)) return 'NaN';
  if (!Number.isFinite(d)) return d > 0 ? 'Infinity' : '-Infinity';
  const abs = Math.abs(d);
  if (abs !== 0 && (abs >= 1e7 || abs < 1e-3)) {
    const [m, e] = d.toExponential().split('e');
    const mantissa = m!.includes('.') ? m : `${m}.0`;
    return `${mantissa}E${Number(e)}`;
  }
  return Number.isInteger(d) ? `${d}.0` : String(d);
}

/** ConfigDef.convertToString: the string form DescribeConfigs reports. */
export function configValueToString(type: ConfigTypeName, value: ConfigValue | null): string | null {
  if (value === null) return null;
  if (Array.isArray(value)) return value.join(',');
  if (type === 'DOUBLE' && typeof value === 'number') return javaDoubleToString(value);
  return String(value);
}

/**
 * A LONG config as a JavaScript number for timers and sizes. Values beyond 2^53 (Kafka uses
 * Long.MAX_VALUE for "never") become Infinity, explicitly rather than by silent rounding.
 */
export function longToNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.POSITIVE_INFINITY;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.NEGATIVE_INFINITY;
  return Number(v);
}
