import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An etcd lease kept alive for as long as etcd keeps it. The etcd3 client's own Lease gives up
 * after two TTLs without an answer, but etcd keeps leases over its own restart (a new leader
 * extends every lease by a TTL): a broker that gave up would lose its registration a TTL after
 * etcd came back unless it moved the key in time. This one only ends when etcd says the lease is
 * gone (a keep-alive answered with TTL 0) or when it is revoked or released.
 */
export class RegistrationLease {
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | null = null;
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
    let failures = 0;
    while (!this.stopped) {
      // One stream per connection; it ends on its first error or on a TTL without an answer, and
      // the next one opens after a short pause (at most a second: etcd should be used as soon as
      // it is back).
      const outcome = await this.oneStream(intervalMs, () => {
        failures = 0;
        onAlive();
      });
      if (outcome === 'expired') {
        this.stopped = true;
        onLost(new Error(`etcd lease ${this.id} expired`));
        return;
      }
      if (this.stopped) return;
      failures++;
      await sleep(Math.min(1000, 50 * 2 ** Math.min(failures, 5)));
    }
  }

  private async oneStream(intervalMs: number, answered: () => void): Promise<'expired' | 'broken' | 'stopped'> {
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
    this.stream = stream;
    return new Promise((resolve) => {
      let lastAnswer = Date.now();
      let done = false;
      const finish = (outcome: 'expired' | 'broken' | 'stopped') => {
        if (done) return;
        done = true;
        clearInterval(timer);
        stream.end();
        if (this.stream === stream) this.stream = null;
        resolve(outcome);
      };
      const ping = () => {
        if (this.stopped) return finish('stopped');
        if (Date.now() - lastAnswer > this.ttlSeconds * 1000) return finish('broken');
        try {
          stream.write({ ID: this.id });
        } catch {
          finish('broken');
        }
      };
      const timer = setInterval(ping, intervalMs);
      stream.on('data', (res: ILeaseKeepAliveResponse) => {
        if (done) return;
        if (Number(res.TTL) <= 0) return finish('expired');
        lastAnswer = Date.now();
        answered();
      });
      stream.on('error', () => finish('broken'));
      stream.on('end', () => finish('broken'));
      ping();
    });
  }

  /** Stops heartbeating and asks etcd to drop the lease (and every key on it). */
  async revoke(): Promise<void> {
    this.release();
    await this.client.leaseClient.leaseRevoke({ ID: this.id });
  }

  /** Stops heartbeating; the lease runs out on its own. */
  release(): void {
    this.stopped = true;
    const stream = this.stream;
    this.stream = null;
    stream?.end();
  }
}
