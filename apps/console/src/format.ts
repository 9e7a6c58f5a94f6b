// How a record's key, value or header is shown: as text, pretty-printed JSON, or hex. Output is
// plain text (the page template escapes it) and bounded: a 50 MB value shows its first bytes
// and how many there were.

export type Encoding = 'text' | 'json' | 'hex';
export const ENCODINGS: readonly Encoding[] = ['text', 'json', 'hex'];

/** Bytes shown as text or JSON at most; JSON over this is shown as text. */
export const MAX_TEXT_BYTES = 16 * 1024;
/** Bytes shown as hex at most (each takes ~4 characters on the page). */
export const MAX_HEX_BYTES = 2 * 1024;

export interface Shown {
  text: string;
  /** Set when the bytes were cut or could not be shown as asked (e.g. not JSON). */
  note: string | null;
}

export function hexDump(buf: Buffer): string {
  const lines: string[] = [];
  for (let i = 0; i < buf.length; i += 16) {
    const row = buf.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

export function show(buf: Buffer | null, encoding: Encoding): Shown {
  if (buf === null) return { text: 'null', note: 'null' };
  if (encoding === 'hex') {
    const cut = buf.length > MAX_HEX_BYTES;
    return {
      text: hexDump(cut ? buf.subarray(0, MAX_HEX_BYTES) : buf),
      note: cut ? `first ${MAX_HEX_BYTES} of ${buf.length} bytes` : null,
    };
  }
  if (encoding === 'json' && buf.length <= MAX_TEXT_BYTES) {
    try {
      return { text: JSON.stringify(JSON.parse(buf.toString('utf8')), null, 2), note: null };
    } catch {
      // Not JSON: shown as text below, with a note.
    }
  }
  const cut = buf.length > MAX_TEXT_BYTES;
  const text = (cut ? buf.subarray(0, MAX_TEXT_BYTES) : buf).toString('utf8');
  const notes: string[] = [];
  if (encoding === 'json') notes.push(cut ? 'too long to parse as JSON' : 'not JSON');
  if (cut) notes.push(`first ${MAX_TEXT_BYTES} of ${buf.length} bytes`);
  return { text, note: notes.length > 0 ? notes.join('; ') : null };
}
