import { describe, expect, it } from 'vitest';
import { parseProperties } from './properties.js';
import { ConfigException } from './types.js';

describe('parseProperties (java.util.Properties format)', () => {
  it('accepts =, : and whitespace separators and trims around them', () => {
    const p = parseProperties('a=1\nb : 2\nc   3\n  d\t=\t4  \ne=\nf\n');
    expect(p).toEqual({ a: '1', b: '2', c: '3', d: '4  ', e: '', f: '' });
  });

  it('skips # and ! comments and blank lines, but only at the start of a line', () => {
    const p = parseProperties('# comment\n  ! also comment\n\n   \nx=1 # not a comment\n');
    expect(p).toEqual({ x: '1 # not a comment' });
  });

  it('joins continuation lines and drops leading whitespace of the next line', () => {
    const p = parseProperties('listeners=PLAINTEXT://a:1,\\\n        OTHER://b:2\nnext=ok');
    expect(p).toEqual({ listeners: 'PLAINTEXT://a:1,OTHER://b:2', next: 'ok' });
  });

  it('an even number of trailing backslashes is an escaped backslash, not a continuation', () => {
    const p = parseProperties('path=C:\\\\dir\\\\\nother=1');
    expect(p).toEqual({ path: 'C:\\dir\\', other: '1' });
  });

  it('a comment line ending in a backslash does not continue', () => {
    const p = parseProperties('# comment \\\nkey=value');
    expect(p).toEqual({ key: 'value' });
  });

  it('a continued line that starts with # is value text, not a comment', () => {
    expect(parseProperties('k=a\\\n#b')).toEqual({ k: 'a#b' });
  });

  it('handles escapes in keys and values', () => {
    const p = parseProperties('my\\=key\\ name=tab\\there\\nnl \\u0041\\u00e9 \\q\nkey\\:x=1');
    expect(p).toEqual({ 'my=key name': 'tab\there\nnl Aé q', 'key:x': '1' });
  });

  it('rejects a malformed \\u escape', () => {
    expect(() => parseProperties('k=\\u12G4')).toThrow(ConfigException);
    expect(() => parseProperties('k=\\u12')).toThrow('Malformed \\uxxxx encoding.');
  });

  it('understands \\r\\n and \\r line endings; later keys win', () => {
    expect(parseProperties('a=1\r\nb=2\rc=3\r\na=4')).toEqual({ a: '4', b: '2', c: '3' });
  });

  it('a trailing lone backslash at end of file is dropped', () => {
    expect(parseProperties('a=xyz\\')).toEqual({ a: 'xyz' });
  });

  it('a key may itself contain escaped whitespace and the value keeps inner spaces', () => {
    expect(parseProperties('a\\ b = c d ')).toEqual({ 'a b': 'c d ' });
  });

  it('bounds the input size', () => {
    expect(() => parseProperties('x'.repeat(5 * 1024 * 1024))).toThrow(/too large/);
  });
});
