import { describe, expect, it } from 'vitest';
import { groupId, InputError, int, keyValueLines, offset, timestamp, topicName } from './validate.js';

describe('input validation', () => {
  it('takes Kafka topic names and refuses the rest', () => {
    expect(topicName('orders.v1_a-b')).toBe('orders.v1_a-b');
    for (const bad of ['', '.', '..', 'a b', 'a/b', '<x>', 'x'.repeat(250), undefined]) {
      expect(() => topicName(bad)).toThrow(InputError);
    }
  });

  it('bounds numbers, offsets, times and group ids', () => {
    expect(int('42', 'n', 1, 100)).toBe(42);
    expect(() => int('101', 'n', 1, 100)).toThrow('between 1 and 100');
    expect(() => int('1e3', 'n', 1, 10_000)).toThrow(InputError);
    expect(offset('9223372036854775807')).toBe(9223372036854775807n);
    expect(() => offset('9223372036854775808')).toThrow(InputError);
    expect(() => offset('-1')).toThrow(InputError);
    expect(timestamp('2026-01-01T00:00:00Z')).toBe(Date.UTC(2026, 0, 1));
    expect(timestamp('1700000000000')).toBe(1_700_000_000_000);
    expect(() => timestamp('yesterday')).toThrow(InputError);
    expect(groupId('a/b "c"')).toBe('a/b "c"');
    expect(() => groupId('a\nb')).toThrow(InputError);
    expect(() => groupId('g'.repeat(256))).toThrow(InputError);
  });

  it('parses key=value lines, bounded in bytes and lines', () => {
    expect(keyValueLines('a=1\n\nb = x=y\r\n', 'h', 100)).toEqual([
      ['a', '1'],
      ['b', ' x=y'],
    ]);
    expect(() => keyValueLines('novalue', 'h', 100)).toThrow('is not key=value');
    expect(() => keyValueLines('a=1'.repeat(50), 'h', 100)).toThrow('over 100 bytes');
    expect(() => keyValueLines(Array(101).fill('a=1').join('\n'), 'h', 10_000)).toThrow('at most 100 lines');
  });
});
