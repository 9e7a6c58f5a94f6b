import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogLevel } from './logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('writes one JSON object per line with level label, time and bindings', () => {
    const { lines, stream } = capture();
    const log = createLogger('info', { destination: stream, bindings: { nodeId: 3 } });
    log.info({ topic: 't' }, 'created');
    log.debug('hidden');
    log.warn('careful');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', name: 'sluice', nodeId: 3, topic: 't', msg: 'created' });
    expect(Date.parse(lines[0]!.time as string)).not.toBeNaN();
    expect(lines[1]).toMatchObject({ level: 'warn', msg: 'careful' });
  });

  it('takes the level from the argument, then LOG_LEVEL, then info; rejects unknown levels', () => {
    expect(resolveLogLevel('debug', { LOG_LEVEL: 'warn' })).toBe('debug');
    expect(resolveLogLevel(undefined, { LOG_LEVEL: 'warn' })).toBe('warn');
    expect(resolveLogLevel(undefined, {})).toBe('info');
    expect(() => resolveLogLevel('loud', {})).toThrow(/Invalid log level/);
    const { lines, stream } = capture();
    createLogger('silent', { destination: stream }).error('nothing');
    expect(lines).toHaveLength(0);
  });
});
