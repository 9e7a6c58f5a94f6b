// A parser for the java.util.Properties text format that Kafka's server.properties uses:
// `key=value`, `key: value` or `key value`; `#`/`!` comment lines; backslash escapes
// (\t \n \r \f \uXXXX, anything else stands for itself); a line ending in an odd number of
// backslashes continues on the next line, whose leading whitespace is skipped.

import { ConfigException } from './types.js';

/** Upper bounds so a hostile or mistaken file cannot make us allocate without limit. */
export const MAX_PROPERTIES_CHARS = 4 * 1024 * 1024;
export const MAX_PROPERTIES_ENTRIES = 10_000;

const WS = new Set([' ', '\t', '\f']);

/** Parses properties text; later keys replace earlier ones, as in Java. */
export function parseProperties(text: string): Record<string, string> {
  if (text.length > MAX_PROPERTIES_CHARS) {
    throw new ConfigException(`Properties text too large (${text.length} > ${MAX_PROPERTIES_CHARS} characters)`);
  }
  const out: Record<string, string> = Object.create(null);
  let count = 0;
  for (const logical of logicalLines(text)) {
    const [key, value] = splitKeyValue(logical);
    if (!Object.hasOwn(out, key)) {
      count++;
      if (count > MAX_PROPERTIES_ENTRIES)
        throw new ConfigException(`Too many properties (> ${MAX_PROPERTIES_ENTRIES})`);
    }
    out[key] = value;
  }
  return { ...out };
}

/** Yields logical lines (continuations joined, comments and blank lines dropped), still escaped. */
function* logicalLines(text: string): Generator<string> {
  const natural = text.split(/\r\n|\r|\n/);
  let i = 0;
  while (i < natural.length) {
    let line = stripLeading(natural[i++]!);
    if (line === '') continue;
    // A comment is a whole natural line: a trailing backslash does not continue it.
    if (line[0] === '#' || line[0] === '!') continue;
    let acc = '';
    while (endsWithOddBackslashes(line) && i < natural.length) {
      acc += line.slice(0, -1);
      line = stripLeading(natural[i++]!);
    }
    // A final line ending in a lone backslash: Java drops that backslash.
    acc += endsWithOddBackslashes(line) ? line.slice(0, -1) : line;
    yield acc;
  }
}

function stripLeading(s: string): string {
  let j = 0;
  while (j < s.length && WS.has(s[j]!)) j++;
  return s.slice(j);
}

function endsWithOddBackslashes(s: string): boolean {
  let n = 0;
  for (let j = s.length - 1; j >= 0 && s[j] === '\\'; j--) n++;
  return n % 2 === 1;
}

/** The key ends at the first unescaped '=', ':' or whitespace; one separator and the whitespace around it go. */
function splitKeyValue(line: string): [string, string] {
  let j = 0;
  let keyEnd = line.length;
  let valueStart = line.length;
  while (j < line.length) {
    const c = line[j]!;
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (c === '=' || c === ':') {
      keyEnd = j;
      valueStart = j + 1;
      break;
    }
    if (WS.has(c)) {
      keyEnd = j;
      let k = j;
      while (k < line.length && WS.has(line[k]!)) k++;
      if (k < line.length && (line[k] === '=' || line[k] === ':')) k++;
      valueStart = k;
      break;
    }
    j++;
  }
  let v = valueStart;
  while (v < line.length && WS.has(line[v]!)) v++;
  return [unescapeJava(line.slice(0, keyEnd)), unescapeJava(line.slice(v))];
}

function unescapeJava(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let j = 0; j < s.length; j++) {
    const c = s[j]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    j++;
    if (j >= s.length) break;
    const e = s[j]!;
    switch (e) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        const hex = s.slice(j + 1, j + 5);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ConfigException('Malformed \\uxxxx encoding.');
        out += String.fromCharCode(Number.parseInt(hex, 16));
        j += 4;
        break;
      }
      default:
        out += e;
    }
  }
  return out;
}
