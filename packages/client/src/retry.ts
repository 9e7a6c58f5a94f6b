import { isRetriable } from './errors.js';

export interface RetryOptions {
  /** Attempts after the first. Default 5. */
  retries?: number;
  /** First backoff. Default 100 ms. */
  initialBackoffMs?: number;
  /** Largest backoff. Default 1000 ms. */
  maxBackoffMs?: number;
  /** Give up (rethrow the last error) once this absolute time (Date.now()) has passed. */
  deadline?: number;
  /** Called before each retry, e.g. to refresh metadata. */
  onRetry?: (err: unknown, attempt: number) => void | Promise<void>;
  /** Which errors to retry; default: KafkaError with retriable set. */
  retriable?: (err: unknown) => boolean;
}

/**
 * Exponential backoff with ±20 % jitter (as Kafka's clients do), so that clients failing together
 * do not retry in lockstep: initial · 2^attempt, capped at max.
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(base * (0.8 + 0.4 * random())));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn`, retrying retriable failures with backoff; bounded by `retries` and `deadline`. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const initial = options.initialBackoffMs ?? 100;
  const max = options.maxBackoffMs ?? 1000;
  const retriable = options.retriable ?? isRetriable;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !retriable(err)) throw err;
      const wait = backoffMs(attempt, initial, max);
      if (options.deadline !== undefined && Date.now() + wait > options.deadline) throw err;
      await options.onRetry?.(err, attempt);
      await sleep(wait);
    }
  }
}
