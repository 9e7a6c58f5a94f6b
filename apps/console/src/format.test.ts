import { describe, expect, it } from 'vitest';
import { hexDump, MAX_HEX_BYTES, MAX_TEXT_BYTES, show } from './format.js';

describe('show', () => {
  it('pretty-prints JSON and says when bytes are not JSON', () => {
    expect(show(Buffer.from('{"a":[1,2]}'), 'json')).toEqual({
      text: '{\n  "a": [\n    1,\n    2\n  ]\n}',
      note: null,
    });
    expect(show(Buffer.from('plain'), 'json')).toEqual({ text: 'plain', note: 'not JSON' });
    expect(show(null, 'text')).toEqual({ text: 'null', note: 'null' });
  });

  it('cuts long values and says how long they were', () => {
    const big = Buffer.alloc(MAX_TEXT_BYTES + 10, 'a');
    const t = show(big, 'text');
    expect(t.text).toHaveLength(MAX_TEXT_BYTES);
    expect(t.note).toBe(`first ${MAX_TEXT_BYTES} of ${MAX_TEXT_BYTES + 10} bytes`);
    expect(show(big, 'json').note).toContain('too long to parse as JSON');
    const h = show(Buffer.alloc(MAX_HEX_BYTES + 1), 'hex');
    expect(h.text.split('\n')).toHaveLength(MAX_HEX_BYTES / 16);
    expect(h.note).toBe(`first ${MAX_HEX_BYTES} of ${MAX_HEX_BYTES + 1} bytes`);
  });

  it('hex dumps offset, bytes and printable characters', () => {
    expect(hexDump(Buffer.from('AB\u0000'))).toBe(`00000000  41 42 00${' '.repeat(39)}  AB.`);
  });
});
