// Byte-rate quotas per user and client id as Kafka's ClientQuotaManager applies them: the quota
// of the most specific stored entity (KIP-55 order), a rate over `quota.window.num` windows of
// `quota.window.size.seconds`, and a throttle time that brings the rate back to the quota.

import type { MetadataStore } from '@sluice/cluster/core';

export type QuotaKind = 'producer_byte_rate' | 'consumer_byte_rate';

const WINDOWS = 11;
const WINDOW_MS = 1000;
/** Sensors (one per throttled entity) kept at most; the least recently used go first. */
const MAX_SENSORS = 10_000;

/** A rate over a ring of one-second windows, as Kafka's Rate with SampledStat. */
class RateSensor {
  private readonly starts = new Float64Array(WINDOWS).fill(Number.NEGATIVE_INFINITY);
  private readonly values = new Float64Array(WINDOWS);
  private current = 0;

  record(value: number, now: number): void {
    if (now - this.starts[this.current]! >= WINDOW_MS) {
      this.current = (this.current + 1) % WINDOWS;
      this.starts[this.current] = now;
      this.values[this.current] = 0;
    }
    this.values[this.current]! += value;
  }

  /** Units per second, and the time span it is measured over (at least WINDOWS-1 windows, as Kafka). */
  rate(now: number): { perSecond: number; spanMs: number } {
    let total = 0;
    let oldest = now;
    for (let i = 0; i < WINDOWS; i++) {
      if (now - this.starts[i]! >= WINDOWS * WINDOW_MS) continue;
      total += this.values[i]!;
      oldest = Math.min(oldest, this.starts[i]!);
    }
    const spanMs = Math.max(now - oldest, (WINDOWS - 1) * WINDOW_MS);
    return { perSecond: (total * 1000) / spanMs, spanMs };
  }
}

/** Entity keys as the quota configs store them (see apis/client-quotas.ts quotaKey). */
const key = (e: [string, string | null][]) => JSON.stringify(e);

export class ClientQuotaManager {
  private values = new Map<string, Record<string, number>>();
  private readonly sensors = new Map<string, RateSensor>();

  constructor(
    store: MetadataStore,
    private readonly now: () => number = Date.now,
  ) {
    const load = () => {
      const next = new Map<string, Record<string, number>>();
      for (const [k, text] of store.image.securityRecords('quotas')) {
        try {
          next.set(k, JSON.parse(text) as Record<string, number>);
        } catch {
          // A record that is not JSON sets no quota.
        }
      }
      this.values = next;
    };
    load();
    store.onChange((changes) => {
      if (changes.some((c) => c.type === 'security' && c.kind === 'quotas')) load();
    });
  }

  /** Whether any quota is configured (the hot path skips everything when none is). */
  get active(): boolean {
    return this.values.size > 0;
  }

  /** The quota that applies to (user, clientId) and the entity it was set on, in KIP-55 order. */
  quotaFor(kind: QuotaKind, user: string, clientId: string): { bound: number; entity: string } | null {
    const candidates: [string, string | null][][] = [
      [
        ['client-id', clientId],
        ['user', user],
      ],
      [
        ['client-id', null],
        ['user', user],
      ],
      [['user', user]],
      [
        ['client-id', clientId],
        ['user', null],
      ],
      [
        ['client-id', null],
        ['user', null],
      ],
      [['user', null]],
      [['client-id', clientId]],
      [['client-id', null]],
    ];
    for (const c of candidates) {
      const bound = this.values.get(key(c))?.[kind];
      if (bound !== undefined && bound > 0) {
        // The sensor is per matched entity, with the concrete names in it (a default user quota limits each user).
        const entity = `${kind}:${c.map(([t, n]) => `${t}=${n === null ? (t === 'user' ? user : clientId) : n}`).join(',')}`;
        return { bound, entity };
      }
    }
    return null;
  }

  /** Records `bytes` and returns how long to throttle (ms), 0 within the quota. */
  record(kind: QuotaKind, user: string, clientId: string, bytes: number): number {
    const quota = this.quotaFor(kind, user, clientId);
    if (quota === null) return 0;
    let sensor = this.sensors.get(quota.entity);
    if (sensor === undefined) {
      if (this.sensors.size >= MAX_SENSORS) this.sensors.delete(this.sensors.keys().next().value!);
      sensor = new RateSensor();
    } else this.sensors.delete(quota.entity);
    this.sensors.set(quota.entity, sensor);
    const now = this.now();
    sensor.record(bytes, now);
    const { perSecond, spanMs } = sensor.rate(now);
    if (perSecond <= quota.bound) return 0;
    // Kafka's QuotaUtils.throttleTime: how long until the rate over the span falls to the bound.
    return Math.min(Math.round(((perSecond - quota.bound) / quota.bound) * spanMs), WINDOWS * WINDOW_MS);
  }
}
