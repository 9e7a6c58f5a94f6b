import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Keep-alive streams open at once at most: the current one plus stuck ones left to linger. */
const MAX_STREAMS = 3;

interface StreamEvents {
  answered(): void;
  expired(): void;
}

/**
 * An etcd lease kept alive for as long as etcd keeps it. The etcd3 client's own Lease gives up
 * after two TTLs without an answer, but etcd keeps leases over its own restart (a new leader
 * extends every lease by a TTL): a broker that gave up would lose its registration a TTL after
 * etcd came back unless it moved the key in time. This one only ends when etcd says the lease is
 * gone (a keep-alive answered with TTL 0) or when it is revoked or released.
 */
export class RegistrationLease {
  /** The keep-alive streams open now: the current one and any stuck ones still lingering. */
  private readonly streams = new Set<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>>();
  private stopped = false;
  private running: Promise<void> | null = null;

  private constructor(
    private readonly client: Etcd3,
    readonly id: string,
    private readonly ttlSeconds: number,
  ) {}

  static async grant(client: Etcd3, ttlSeconds: number): Promise<RegistrationLease> {
    const res = await client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    return new RegistrationLease(client, res.ID, ttlSeconds);
  }

  /**
   * Starts heartbeating (every third of the TTL, as etcd's Go client does). `onAlive` runs on each
   * answer etcd gives; `onLost` once, when etcd says the lease has expired.
   */
  keepAlive(onAlive: () => void, onLost: (error: Error) => void): void {
    if (this.running || this.stopped) return;
    this.running = this.loop(onAlive, onLost);
  }

  private async loop(onAlive: () => void, onLost: (error: Error) => void): Promise<void> {
    const intervalMs = (this.ttlSeconds * 1000) / 3;
    // A healthy etcd answers a keep-alive within milliseconds. One left unanswered this long is
    // stuck, typically at a member that cannot reach a leader yet (etcd holds it there for seconds):
    // the next stream, which may reach another member, opens at once, well inside the lease.
    const answerWithinMs = Math.min(1000, intervalMs);
    let failures = 0;
    while (!this.stopped) {
      let answeredHere = false;
      // Lingering streams of earlier rounds keep these callbacks; `stopped` (expired or released)
      // silences them all.
      const outcome = await this.oneStream(intervalMs, answerWithinMs, {
        answered: () => {
          answeredHere = true;
          if (!this.stopped) onAlive();
        },
        expired: () => {
          if (this.stopped) return;
          this.stopped = true;
          this.closeStreams();
          onLost(new Error(`etcd lease ${this.id} expired`));
        },
      });
      if (this.stopped || outcome === 'stopped') return;
      failures = answeredHere ? 1 : failures + 1;
      // Short pauses: after etcd comes back, its new leader gives each lease one TTL (plus an
      // election timeout) to be heard again, so retries must come well inside that.
      await sleep(Math.min(250, 25 * 2 ** Math.min(failures, 4)));
    }
  }

  /**
   * Runs one keep-alive stream until it breaks ('broken') or a keep-alive on it goes unanswered
   * for `answerWithinMs` ('stuck'). A stuck stream is left open to linger for one TTL (at most
   * MAX_STREAMS at once), so an answer it still brings counts, while the next stream is tried.
   */
  private async oneStream(
    intervalMs: number,
    answerWithinMs: number,
    events: StreamEvents,
  ): Promise<'broken' | 'stuck' | 'stopped'> {
    while (this.streams.size >= MAX_STREAMS && !this.stopped) await sleep(50);
    if (this.stopped) return 'stopped';
    let stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
    try {
      stream = await this.client.leaseClient.leaseKeepAlive();
    } catch {
      return 'broken';
    }
    if (this.stopped) {
      stream.end();
      return 'stopped';
    }
    this.streams.add(stream);
    return new Promise((resolve) => {
      let lastSent = 0;
      /** When the oldest keep-alive still without an answer was sent (0: none outstanding). */
      let waitingSince = 0;
      let settled = false;
      let closed = false;
      const settle = (outcome: 'broken' | 'stuck' | 'stopped') => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        this.streams.delete(stream);
        stream.end();
      };
      const tick = () => {
        if (this.stopped) {
          close();
          return settle('stopped');
        }
        const now = Date.now();
        if (settled) {
          // Lingering after it got stuck: closed once a TTL has passed without an answer.
          if (now - waitingSince > this.ttlSeconds * 1000) close();
          return;
        }
        if (waitingSince > 0 && now - waitingSince > answerWithinMs) return settle('stuck');
        if (now - lastSent < intervalMs) return;
        try {
          stream.write({ ID: this.id });
        } catch {
          close();
          return settle('broken');
        }
        lastSent = now;
        if (waitingSince === 0) waitingSince = now;
      };
      const timer = setInterval(tick, Math.max(50, Math.min(250, answerWithinMs / 4)));
      stream.on('data', (res: ILeaseKeepAliveResponse) => {
        if (closed) return;
        if (Number(res.TTL) <= 0) return events.expired();
        events.answered();
        if (settled) return close(); // a lingering stream has done its job
        waitingSince = 0;
      });
      const broken = () => {
        close();
        settle('broken');
      };
      stream.on('error', broken);
      stream.on('end', broken);
      tick();
    });
  }

  private closeStreams(): void {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
  }

  /** Stops heartbeating and asks etcd to drop the lease (and every key on it). */
  async revoke(): Promise<void> {
    this.release();
    await this.client.leaseClient.leaseRevoke({ ID: this.id });
  }

  /** Stops heartbeating; the lease runs out on its own. */
  release(): void {
    this.stopped = true;
    this.closeStreams();
  }
}
