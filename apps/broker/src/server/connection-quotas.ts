// Kafka's connection limits (max.connections, max.connections.per.ip and its overrides): a new
// connection over a limit is closed as soon as it is accepted. Kafka's acceptor waits for a slot
// under max.connections instead; Node cannot leave a connection in the listen backlog, so over
// either limit the new connection is refused the same way.

import { isIP } from 'node:net';

export interface ConnectionLimits {
  /** max.connections: across every listener. */
  maxConnections: number;
  /** max.connections.per.ip. */
  maxPerIp: number;
  /** max.connections.per.ip.overrides, by normalized IP. */
  perIpOverrides: ReadonlyMap<string, number>;
}

/** IPv4 clients of a dual-stack listener appear as ::ffff:a.b.c.d; Kafka counts them as a.b.c.d. */
export function normalizeIp(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * Parses `max.connections.per.ip.overrides`: `ip:count` pairs separated by commas (an IPv6 address
 * keeps its colons: the count is after the last one). Hostnames are refused: Kafka resolves them
 * once when the config is read, which a refused hostname makes explicit here.
 */
export function parseIpOverrides(value: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of value.split(',')) {
    const item = entry.trim();
    if (item === '') continue;
    const colon = item.lastIndexOf(':');
    const ip = colon > 0 ? item.slice(0, colon).trim() : '';
    const count = colon > 0 ? Number(item.slice(colon + 1).trim()) : Number.NaN;
    if (isIP(ip) === 0)
      throw new Error(`max.connections.per.ip.overrides: '${item}' does not start with an IP address`);
    if (!Number.isInteger(count) || count < 0) {
      throw new Error(`max.connections.per.ip.overrides: '${item}' needs a count >= 0 after the last ':'`);
    }
    out.set(normalizeIp(ip), count);
  }
  return out;
}

/** Open connections, in all and per IP, checked against limits read at each accept (they can change). */
export class ConnectionQuotas {
  private total = 0;
  /** One entry per IP with an open connection: bounded by the open connections. */
  private readonly perIp = new Map<string, number>();

  constructor(private readonly limits: () => ConnectionLimits) {}

  get open(): number {
    return this.total;
  }

  /** Counts a new connection from `address`, or says which limit refuses it (then nothing is counted). */
  tryOpen(address: string): { ok: true; ip: string } | { ok: false; ip: string; reason: string } {
    const ip = normalizeIp(address);
    const limits = this.limits();
    const fromIp = this.perIp.get(ip) ?? 0;
    const ipLimit = limits.perIpOverrides.get(ip) ?? limits.maxPerIp;
    if (fromIp >= ipLimit) {
      return { ok: false, ip, reason: `address already has the configured maximum of ${ipLimit} connections` };
    }
    if (this.total >= limits.maxConnections) {
      return {
        ok: false,
        ip,
        reason: `broker already has the configured maximum of ${limits.maxConnections} connections`,
      };
    }
    this.total++;
    this.perIp.set(ip, fromIp + 1);
    return { ok: true, ip };
  }

  /** A connection counted by tryOpen closed. */
  closed(ip: string): void {
    const n = this.perIp.get(ip);
    if (n === undefined) return;
    this.total--;
    if (n <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, n - 1);
  }
}
