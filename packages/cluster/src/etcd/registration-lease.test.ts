import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RegistrationLease } from './registration-lease.js';

/** A keep-alive stream that answers as `answer` says (null: never). */
class FakeStream extends EventEmitter {
  writes = 0;
  ended = false;
  constructor(private readonly answer: (() => number) | null) {
    super();
  }
  write(): void {
    this.writes++;
    const answer = this.answer;
    if (answer) queueMicrotask(() => this.emit('data', { ID: '7', TTL: String(answer()) }));
  }
  end(): void {
    this.ended = true;
  }
}

/** An etcd client whose keep-alive streams come from `next`, in order. */
function fakeClient(next: () => FakeStream): { client: Etcd3; opened: FakeStream[] } {
  const opened: FakeStream[] = [];
  const client = {
    leaseClient: {
      leaseGrant: async () => ({ ID: '7' }),
      leaseKeepAlive: async () => {
        const s = next();
        opened.push(s);
        return s;
      },
    },
  } as unknown as Etcd3;
  return { client, opened };
}

describe('RegistrationLease', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('leaves a stream whose keep-alive goes unanswered and is heard through the next one well inside the lease', async () => {
    // The first stream reaches a member that holds keep-alives (no leader yet); later ones answer.
    let n = 0;
    const { client, opened } = fakeClient(() => new FakeStream(n++ === 0 ? null : () => 3));
    const lease = await RegistrationLease.grant(client, 3);
    const alive: number[] = [];
    const lost: Error[] = [];
    lease.keepAlive(
      () => alive.push(Date.now()),
      (e) => lost.push(e),
    );
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(1600);
    expect(opened.length).toBe(2);
    expect(alive.length).toBeGreaterThan(0);
    // Heard again within half the TTL, not after a whole TTL of waiting on the stuck stream.
    expect(alive[0] - t0).toBeLessThan(1500);
    // The stuck stream lingers (an answer it still brings would count) and is closed after a TTL.
    expect(opened[0].ended).toBe(false);
    await vi.advanceTimersByTimeAsync(3000);
    expect(opened[0].ended).toBe(true);
    expect(opened[1].ended).toBe(false);
    expect(opened[1].writes).toBeGreaterThan(2);
    expect(lost).toEqual([]);
    lease.release();
    expect(opened[1].ended).toBe(true);
  });

  it('ends, once, when etcd answers that the lease has expired', async () => {
    const { client, opened } = fakeClient(() => new FakeStream(() => 0));
    const lease = await RegistrationLease.grant(client, 3);
    const lost: Error[] = [];
    lease.keepAlive(
      () => {},
      (e) => lost.push(e),
    );
    await vi.advanceTimersByTimeAsync(5000);
    expect(lost.map((e) => e.message)).toEqual(['etcd lease 7 expired']);
    expect(opened).toHaveLength(1);
    expect(opened[0].ended).toBe(true);
  });

  it('keeps opening streams, a bounded number at once, while etcd answers nothing', async () => {
    const { client, opened } = fakeClient(() => new FakeStream(null));
    const lease = await RegistrationLease.grant(client, 3);
    lease.keepAlive(
      () => {},
      () => {},
    );
    await vi.advanceTimersByTimeAsync(30_000);
    // One new stream a little over every second (each stuck one lingers a TTL), never more than three open.
    expect(opened.length).toBeGreaterThan(10);
    expect(opened.filter((s) => !s.ended).length).toBeLessThanOrEqual(3);
    lease.release();
    expect(opened.every((s) => s.ended)).toBe(true);
  });
});
