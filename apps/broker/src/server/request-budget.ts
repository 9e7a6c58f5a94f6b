// The broker-wide bound on bytes of requests held in memory (Kafka's queued.max.request.bytes): bytes
// count from the moment they are read from a socket, whether they complete a frame or are part of
// one still arriving, until the request is answered. While the budget is spent, connections stop
// reading; they are woken, in order, as bytes return.

/**
 * Bytes of requests read and not yet answered, across every connection, partly received frames
 * included. As Kafka's memory pool (non-strict), a connection may read while any budget is left,
 * so the bound is overshot by at most one read per connection. One connection at a time may go on
 * reading past the bound to finish the frame it is receiving (the completer): without it, partial
 * frames could fill the budget with no request able to complete and give bytes back. Memory then
 * stays under budget + one request (socket.request.max.bytes) + one read per connection.
 */
export class RequestBudget {
  private available: number;
  /** Connections waiting for room, each at most once: bounded by the number of connections. */
  private readonly waiting = new Set<() => void>();
  private completer: object | null = null;
  /** Times a connection stopped reading because the budget was spent. */
  pausedReads = 0;

  /** `maxBytes` ≤ 0 means no bound (Kafka's -1). */
  constructor(readonly maxBytes: number) {
    this.available = maxBytes > 0 ? maxBytes : Number.POSITIVE_INFINITY;
  }

  /** Bytes currently held (0 when unbounded). */
  get inUse(): number {
    return this.maxBytes > 0 ? this.maxBytes - this.available : 0;
  }

  /** No bytes left: connections must stop reading (the completer excepted). */
  get exhausted(): boolean {
    return this.available <= 0;
  }

  /** Connections waiting for room. */
  get waiters(): number {
    return this.waiting.size;
  }

  /** Counts bytes already read (they are in memory whether or not there was room). */
  acquire(bytes: number): void {
    this.available -= bytes;
  }

  release(bytes: number): void {
    this.available += bytes;
    this.wakeWaiters();
  }

  /**
   * Lets `owner` read on past a spent budget to finish its partial frame: true when no other
   * connection holds that right.
   */
  claimCompletion(owner: object): boolean {
    if (this.completer !== null && this.completer !== owner) return false;
    this.completer = owner;
    return true;
  }

  /** `owner` finished its frame (or closed): another connection may claim completion. */
  releaseCompletion(owner: object): void {
    if (this.completer !== owner) return;
    this.completer = null;
    // Waiters re-check: one with a partial frame may now finish it.
    for (const wake of [...this.waiting]) {
      this.waiting.delete(wake);
      wake();
    }
  }

  private wakeWaiters(): void {
    // Each woken connection may read again; stop once the budget is spent.
    for (const wake of [...this.waiting]) {
      if (this.available <= 0) break;
      this.waiting.delete(wake);
      wake();
    }
  }

  /** Calls `wake` once when bytes come back; a second registration of the same function is one. */
  waitForRoom(wake: () => void): void {
    if (!this.waiting.has(wake)) this.pausedReads++;
    this.waiting.add(wake);
  }

  cancelWait(wake: () => void): void {
    this.waiting.delete(wake);
  }
}
