// Every value a page takes from a query string or a form, checked and bounded before use.

/** A request the console refuses before asking the cluster anything (HTTP 400). */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Kafka's topic name rule: 1–249 of [a-zA-Z0-9._-], not '.' or '..'. */
export function topicName(v: unknown): string {
  if (typeof v !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(v) || v === '.' || v === '..') {
    throw new InputError('a topic name is 1–249 characters of a–z, A–Z, 0–9, ".", "_" and "-"');
  }
  return v;
}

/** Group ids are any string to Kafka; the console takes 1–255 characters without control characters. */
export function groupId(v: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (typeof v !== 'string' || v.length < 1 || v.length > 255 || /[\u0000-\u001f\u007f]/.test(v)) {
    throw new InputError('a group id is 1–255 characters without control characters');
  }
  return v;
}

export function int(v: unknown, what: string, min: number, max: number): number {
  const s = typeof v === 'string' ? v.trim() : '';
  if (!/^-?\d{1,10}$/.test(s)) throw new InputError(`${what} must be a whole number`);
  const n = Number(s);
  if (n < min || n > max) throw new InputError(`${what} must be between ${min} and ${max}`);
  return n;
}

export function optionalInt(v: unknown, what: string, min: number, max: number): number | null {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return null;
  return int(v, what, min, max);
}

const INT64_MAX = 2n ** 63n - 1n;

export function offset(v: unknown, what = 'offset'): bigint {
  const s = typeof v === 'string' ? v.trim() : '';
  if (!/^\d{1,19}$/.test(s) || BigInt(s) > INT64_MAX) throw new InputError(`${what} must be a whole number ≥ 0`);
  return BigInt(s);
}

/** A date and time (ISO 8601, as a datetime-local field sends it, or milliseconds since the epoch) → ms. */
export function timestamp(v: unknown): number {
  const s = typeof v === 'string' ? v.trim() : '';
  if (/^\d{1,15}$/.test(s)) return Number(s);
  const ms = s.length <= 40 ? Date.parse(s) : Number.NaN;
  if (Number.isNaN(ms) || ms < 0)
    throw new InputError('a time is an ISO date and time or milliseconds since the epoch');
  return ms;
}

export function oneOf<T extends string>(v: unknown, allowed: readonly T[], fallback: T, what: string): T {
  if (v === undefined || v === '') return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new InputError(`${what} is one of ${allowed.join(', ')}`);
  }
  return v as T;
}

/** Optional text of at most `max` UTF-8 bytes (empty → null). */
export function text(v: unknown, what: string, maxBytes: number): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new InputError(`${what} must be text`);
  if (Buffer.byteLength(v) > maxBytes) throw new InputError(`${what} is over ${maxBytes} bytes`);
  return v;
}

export const MAX_CONFIG_LINES = 100;

/** `key=value` lines (blank lines skipped), e.g. topic configs or record headers. */
export function keyValueLines(v: unknown, what: string, maxBytes: number): Array<[string, string]> {
  const t = text(v, what, maxBytes);
  if (t === null) return [];
  const lines = t.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length > MAX_CONFIG_LINES) throw new InputError(`${what}: at most ${MAX_CONFIG_LINES} lines`);
  return lines.map((l) => {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new InputError(`${what}: "${l.slice(0, 80)}" is not key=value`);
    return [l.slice(0, eq).trim(), l.slice(eq + 1)];
  });
}

/** A config key: Kafka's are dotted lower-case words; 1–255 characters of that alphabet. */
export function configKey(v: unknown): string {
  if (typeof v !== 'string' || !/^[a-zA-Z0-9._-]{1,255}$/.test(v)) {
    throw new InputError('a config name is 1–255 characters of a–z, A–Z, 0–9, ".", "_" and "-"');
  }
  return v;
}
