import { describe, expect, it } from 'vitest';
import type { ClusterView } from './cluster.js';
import { LoginRefused, Sessions } from './sessions.js';

/** A stand-in for a cluster connection: its check waits for `release`, `fail` makes it throw. */
function fakeCluster(o: { fail?: Error } = {}) {
  let release = () => {};
  const checked = new Promise<void>((resolve) => (release = resolve));
  const c = {
    closed: false,
    release,
    async snapshot() {
      await checked;
      if (o.fail) throw o.fail;
    },
    async close() {
      c.closed = true;
    },
  };
  return c;
}
const asCluster = (c: ReturnType<typeof fakeCluster>) => c as unknown as ClusterView;
const alice = { mechanism: 'PLAIN' as const, username: 'alice', password: 'pw' };

describe('Sessions', () => {
  it('bounds the logins being checked at once', async () => {
    const first = fakeCluster();
    const sessions = new Sessions(() => asCluster(first), { maxPendingLogins: 1 });
    const pending = sessions.login(alice);
    await expect(sessions.login(alice)).rejects.toThrow(LoginRefused);
    first.release();
    expect((await pending).username).toBe('alice');
    await sessions.close();
    expect(first.closed).toBe(true);
  });

  it('a failed check closes the connection and frees its slot; so does a connection that cannot be set up', async () => {
    const bad = fakeCluster({ fail: new Error('SASL_AUTHENTICATION_FAILED') });
    bad.release();
    let opens = 0;
    const sessions = new Sessions(
      () => {
        opens++;
        if (opens === 2) throw new Error('cannot open');
        return asCluster(opens === 1 ? bad : Object.assign(fakeCluster(), {}));
      },
      { maxPendingLogins: 1 },
    );
    await expect(sessions.login(alice)).rejects.toThrow('SASL_AUTHENTICATION_FAILED');
    expect(bad.closed).toBe(true);
    await expect(sessions.login(alice)).rejects.toThrow('cannot open');
    // Both slots were given back: a third login is checked (and waits on its own check).
    let refused: unknown = null;
    sessions.login(alice).catch((err) => (refused = err));
    await new Promise((resolve) => setImmediate(resolve));
    expect(refused).toBeNull();
    expect(sessions.size).toBe(0);
    await sessions.close();
  });
});
