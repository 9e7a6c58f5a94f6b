// Client quotas per user and client id as Kafka's quota managers apply them: the quota of the most
// specific stored entity (KIP-55 order); byte rates and request time (KIP-124) as a rate over
// eleven one-second windows with a throttle time that brings the rate back to the quota; partition
// mutations (KIP-599) as a token bucket that may run into debt, as ControllerMutationQuotaManager.

import type { MetadataStore } from '@sluice/cluster/core';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';

export type QuotaKind = 'producer_byte_rate' | 'consumer_byte_rate' | 'request_percentage' | 'controller_mutation_rate';

/** Kafka's ClientRequestQuotaManager caps a request-time throttle at one quota window. */
const MAX_REQUEST_THROTTLE_MS = 1000;

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

  /** Takes back a value recorded just now (a throttled Fetch sends no data, so its bytes do not count). */
  unrecord(value: number): void {
    this.values[this.current]! -= value;
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

/**
 * Kafka's TokenBucket: refilled at the quota rate up to a burst of quota × the 11 s of windows, spent
 * by each mutation, and allowed to go negative (the debt is what the throttle time pays back).
 */
class TokenBucket {
  private tokens = Number.NaN;
  private last = 0;

  private refill(rate: number, now: number): void {
    const burst = rate * WINDOWS;
    this.tokens = Number.isNaN(this.tokens)
      ? burst
      : Math.min(burst, this.tokens + (rate * Math.max(0, now - this.last)) / 1000);
    this.last = now;
  }

  /** The tokens left (negative: in debt). */
  level(rate: number, now: number): number {
    this.refill(rate, now);
    return this.tokens;
  }

  spend(value: number, rate: number, now: number): void {
    this.refill(rate, now);
    this.tokens -= value;
  }
}

/** Kafka's ThrottlingQuotaExceededException: a mutation refused under a strict quota (KIP-599). */
export class ThrottlingQuotaExceededError extends KafkaError {
  constructor(readonly throttleTimeMs: number) {
    super(ERROR_CODES.THROTTLING_QUOTA_EXCEEDED);
  }
}

/**
 * The partition-mutation quota of one CreateTopics/CreatePartitions/DeleteTopics request, as Kafka's
 * Strict- and PermissiveControllerMutationQuota: `record` is called per topic with its partitions.
 * Strict (the request versions that know THROTTLING_QUOTA_EXCEEDED) refuses a topic while the bucket
 * is in debt; permissive takes every topic and only reports the throttle time.
 */
export interface MutationQuota {
  record(partitions: number): void;
  /** The throttle to answer with: the last one computed, less the time since (Kafka's throttleTime). */
  throttleTimeMs(): number;
}

/** Entity keys as the quota configs store them (see apis/client-quotas.ts quotaKey). */
const key = (e: [string, string | null][]) => JSON.stringify(e);

export class ClientQuotaManager {
  private values = new Map<string, Record<string, number>>();
  private readonly sensors = new Map<string, RateSensor>();
  private readonly buckets = new Map<string, TokenBucket>();
  /** quotaFor's answers (every request asks once a quota is set), dropped when the quotas change. */
  private readonly resolved = new Map<string, { bound: number; entity: string } | null>();

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
      this.resolved.clear();
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
    const cacheKey = `${kind}\0${user}\0${clientId}`;
    const cached = this.resolved.get(cacheKey);
    if (cached !== undefined) return cached;
    const found = this.lookUp(kind, user, clientId);
    if (this.resolved.size >= MAX_SENSORS) this.resolved.clear();
    this.resolved.set(cacheKey, found);
    return found;
  }

  private lookUp(kind: QuotaKind, user: string, clientId: string): { bound: number; entity: string } | null {
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

  /** The sensor (or bucket) of an entity, most recently used last, at most MAX_SENSORS of each. */
  private sensorOf<T>(map: Map<string, T>, entity: string, make: () => T): T {
    let sensor = map.get(entity);
    if (sensor === undefined) {
      if (map.size >= MAX_SENSORS) map.delete(map.keys().next().value!);
      sensor = make();
    } else map.delete(entity);
    map.set(entity, sensor);
    return sensor;
  }

  /**
   * Records `value` (bytes; for request_percentage, milliseconds of handling) and returns how long
   * to throttle (ms), 0 within the quota. `unrecord` takes the value back (a throttled Fetch).
   */
  record(kind: Exclude<QuotaKind, 'controller_mutation_rate'>, user: string, clientId: string, value: number): number {
    const quota = this.quotaFor(kind, user, clientId);
    if (quota === null) return 0;
    const sensor = this.sensorOf(this.sensors, quota.entity, () => new RateSensor());
    const now = this.now();
    // Request time counts as Kafka's percentage: 100 is one thread busy for the whole second.
    sensor.record(kind === 'request_percentage' ? value / 10 : value, now);
    const { perSecond, spanMs } = sensor.rate(now);
    if (perSecond <= quota.bound) return 0;
    // Kafka's QuotaUtils.throttleTime: how long until the rate over the span falls to the bound.
    const throttle = Math.round(((perSecond - quota.bound) / quota.bound) * spanMs);
    return Math.min(throttle, kind === 'request_percentage' ? MAX_REQUEST_THROTTLE_MS : WINDOWS * WINDOW_MS);
  }

  unrecord(kind: 'consumer_byte_rate', user: string, clientId: string, value: number): void {
    const quota = this.quotaFor(kind, user, clientId);
    if (quota !== null) this.sensors.get(quota.entity)?.unrecord(value);
  }

  /** The partition-mutation quota of one request (strict: refuse while in debt), or null when none applies. */
  mutationQuota(user: string, clientId: string, strict: boolean): MutationQuota | null {
    const quota = this.quotaFor('controller_mutation_rate', user, clientId);
    if (quota === null) return null;
    const bucket = this.sensorOf(this.buckets, quota.entity, () => new TokenBucket());
    const rate = quota.bound;
    let lastThrottle = 0;
    let lastAt = 0;
    const throttleOf = (level: number, now: number) => {
      lastThrottle = Math.round((-level / rate) * 1000);
      lastAt = now;
    };
    return {
      record: (partitions) => {
        const now = this.now();
        if (strict) {
          const level = bucket.level(rate, now);
          if (level < 0) {
            throttleOf(level, now);
            throw new ThrottlingQuotaExceededError(lastThrottle);
          }
          bucket.spend(partitions, rate, now);
        } else {
          bucket.spend(partitions, rate, now);
          const level = bucket.level(rate, now);
          if (level < 0) throttleOf(level, now);
        }
      },
      throttleTimeMs: () => Math.max(0, lastThrottle - (this.now() - lastAt)),
    };
  }
}
