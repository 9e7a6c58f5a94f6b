import { describe, expect, it } from 'vitest';
import { LogLimiter } from './log-limiter.js';

describe('LogLimiter', () => {
  it('writes the first lines of each source per interval and reports the rest once, as a count', () => {
    let now = 0;
    const l = new LogLimiter({ linesPerInterval: 3, intervalMs: 1000, now: () => now });
    const written = Array.from({ length: 10 }, () => l.admit('a').write);
    expect(written).toEqual([true, true, true, false, false, false, false, false, false, false]);
    // Another source has its own lines.
    expect(l.admit('b').write).toBe(true);
    now = 1000;
    const next = l.admit('a');
    expect(next.write).toBe(true);
    expect(next.ended).toEqual([{ source: 'a', suppressed: 7 }]);
    expect(l.admit('a').ended).toEqual([]);
  });

  it('reports a quiet source on sweep, and a forgotten one when more sources than tracked arrive', () => {
    let now = 0;
    const l = new LogLimiter({ linesPerInterval: 1, intervalMs: 1000, maxSources: 2, now: () => now });
    l.admit('a');
    l.admit('a');
    l.admit('b');
    expect(l.sweep()).toEqual([]);
    expect(l.admit('c').ended).toEqual([{ source: 'a', suppressed: 1 }]);
    l.admit('c');
    now = 1000;
    expect(l.sweep()).toEqual([{ source: 'c', suppressed: 1 }]);
  });
});
