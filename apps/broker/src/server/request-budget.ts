// The broker-wide bound on bytes of requests in flight (Kafka's queued.max.request.bytes): a
// connection takes on a request frame only while the budget has room, and gives its bytes back
// once the request is answered. Connections that must wait are woken, in order, as bytes return.

/**
 * Bytes of requests taken on and not yet answered, across every connection. As Kafka's memory
 * pool (non-strict), a request is admitted while any budget is left, so one request larger than
 * the whole budget still passes: memory stays under budget + one request (socket.request.max.bytes).
 */
export class RequestBudget {
  private available: number;
  /** Connections waiting for room, each at most once: bounded by the number of connections. */
  private readonly waiting = new Set<() => void>();

  /** `maxBytes` ≤ 0 means no bound (Kafka's -1). */
  constructor(readonly maxBytes: number) {
    this.available = maxBytes > 0 ? maxBytes : Number.POSITIVE_INFINITY;
  }

  /** Bytes currently taken on (0 when unbounded). */
  get inUse(): number {
    return this.maxBytes > 0 ? this.maxBytes - this.available : 0;
  }

  /** Takes `bytes` when the budget has room; false means wait (see `waitForRoom`). */
  tryAcquire(bytes: number): boolean {
    if (this.available <= 0) return false;
    this.available -= bytes;
    return true;
  }

  release(bytes: number): void {
    this.available += bytes;
    // Each woken connection may take bytes again; stop once the budget is spent.
    for (const wake of [...this.waiting]) {
      if (this.available <= 0) break;
      this.waiting.delete(wake);
      wake();
    }
  }

  /** Calls `wake` once when bytes come back; a second registration of the same function is one. */
  waitForRoom(wake: () => void): void {
    this.waiting.add(wake);
  }

  cancelWait(wake: () => void): void {
    this.waiting.delete(wake);
  }
}
