import { describe, expect, it } from 'vitest';
import { ConnectionQuotas, normalizeIp, parseIpOverrides } from './connection-quotas.js';

describe('connection quotas', () => {
  it('parses per-IP overrides, IPv6 included, and refuses what is not ip:count', () => {
    expect([...parseIpOverrides('127.0.0.1:200, ::1:5,,10.0.0.1:0')]).toEqual([
      ['127.0.0.1', 200],
      ['::1', 5],
      ['10.0.0.1', 0],
    ]);
    expect(parseIpOverrides('').size).toBe(0);
    expect(() => parseIpOverrides('localhost:5')).toThrow(/IP address/);
    expect(() => parseIpOverrides('127.0.0.1')).toThrow();
    expect(() => parseIpOverrides('127.0.0.1:-1')).toThrow(/count/);
  });

  it('counts IPv4-mapped IPv6 addresses as their IPv4 address', () => {
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('::1')).toBe('::1');
  });

  it('refuses past the per-IP limit (or its override) and the broker-wide one, and counts closes', () => {
    const limits = { maxConnections: 4, maxPerIp: 2, perIpOverrides: new Map([['10.0.0.9', 3]]) };
    const q = new ConnectionQuotas(() => limits);
    expect(q.tryOpen('10.0.0.1').ok).toBe(true);
    expect(q.tryOpen('::ffff:10.0.0.1').ok).toBe(true);
    const third = q.tryOpen('10.0.0.1');
    expect(third.ok).toBe(false);
    expect(!third.ok && third.reason).toMatch(/address already has the configured maximum of 2/);
    expect(q.tryOpen('10.0.0.9').ok).toBe(true);
    expect(q.tryOpen('10.0.0.9').ok).toBe(true);
    const full = q.tryOpen('10.0.0.9');
    expect(!full.ok && full.reason).toMatch(/broker already has the configured maximum of 4/);
    q.closed('10.0.0.1');
    expect(q.open).toBe(3);
    expect(q.tryOpen('10.0.0.9').ok).toBe(true);
    expect(q.tryOpen('10.0.0.9').ok).toBe(false);
  });
});
