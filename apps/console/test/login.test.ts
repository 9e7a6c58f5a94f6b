// A console that logs in per browser session (`--login`) on a SASL listener with an authorizer:
// the login is checked against the cluster, the session cookie is HttpOnly/SameSite=Strict and
// random, each session's pages see what its user may see, and sessions end (connections closed)
// on logout, idle time and shutdown, bounded in number.
import { type RunningBroker, startBroker } from '@sluice/broker';
import { Admin } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, SESSION_COOKIE } from '../src/app.js';
import { ClusterView } from '../src/cluster.js';
import { Sessions } from '../src/sessions.js';

const JAAS =
  'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-pw" user_alice="alice-pw";';
let broker: RunningBroker;
let admin: Admin;

beforeAll(async () => {
  broker = await startBroker({
    props: {
      listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
      'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': JAAS,
      'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      'super.users': 'User:admin',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  admin = new Admin({
    brokers: [broker.bootstrap],
    sasl: { mechanism: 'PLAIN', username: 'admin', password: 'admin-pw' },
  });
  await admin.upsertScramCredential('bob', 'SCRAM-SHA-256', 'bob-pw', 4096);
  await admin.createTopics(
    ['alice-orders', 'bob-payments', 'shared-nobody'].map((name) => ({ name, numPartitions: 1 })),
  );
  // Each user may do everything on the topics and groups named after them (a prefix), nothing else.
  const allow = (user: string, resourceType: number) => ({
    resourceType,
    resourceName: `${user}-`,
    patternType: 4,
    principal: `User:${user}`,
    host: '*',
    operation: 2,
    permissionType: 3,
  });
  await admin.createAcls([allow('alice', 2), allow('alice', 3), allow('bob', 2)]);
}, 60_000);
afterAll(async () => {
  await admin?.close();
  await broker?.stop();
});

/** An app with its own sessions, a clock the test moves, and the clusters it opened (to see them closed). */
function consoleApp(limits: { maxSessions?: number } = {}) {
  let now = 1_000_000;
  const opened: Array<{ cluster: ClusterView; closed: boolean }> = [];
  const sessions = new Sessions(
    (sasl) => {
      const cluster = new ClusterView([broker.bootstrap], { sasl });
      const entry = { cluster, closed: false };
      const close = cluster.close.bind(cluster);
      cluster.close = async () => {
        entry.closed = true;
        await close();
      };
      opened.push(entry);
      return cluster;
    },
    { idleTimeoutMs: 60_000, now: () => now, ...limits },
  );
  const app = createApp({ sessions, metricsUrls: async () => [] });
  const origin = 'http://localhost:8080';
  const get = (path: string, cookie?: string) =>
    app.request(`${origin}${path}`, { headers: { host: 'localhost:8080', ...(cookie ? { cookie } : {}) } });
  const post = (path: string, body: Record<string, string>, cookie?: string, from = origin) =>
    app.request(`${origin}${path}`, {
      method: 'POST',
      headers: {
        host: 'localhost:8080',
        'content-type': 'application/x-www-form-urlencoded',
        origin: from,
        ...(cookie ? { cookie } : {}),
      },
      body: new URLSearchParams(body).toString(),
    });
  const login = async (username: string, password: string, mechanism = 'PLAIN') => {
    const res = await post('/login', { username, password, mechanism, next: '/topics' });
    const set = res.headers.get('set-cookie');
    return { res, set, cookie: set === null ? undefined : set.split(';')[0] };
  };
  return { app, sessions, opened, get, post, login, tick: (ms: number) => (now += ms) };
}

const topicNames = (page: string) => [...page.matchAll(/<a href="\/topics\/([^"?]+)">/g)].map((m) => m[1]).sort();

describe('the console with a login per session', () => {
  it('sends a browser without a session to the login page, keeping where it was going', async () => {
    const c = consoleApp();
    const res = await c.get('/topics?q=a');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login?next=%2Ftopics%3Fq%3Da');
    const form = await c.get('/login?next=%2Ftopics');
    expect(form.status).toBe(200);
    const text = await form.text();
    expect(text).toContain('name="password"');
    expect(text).toContain('<option>SCRAM-SHA-512</option>');
    expect((await c.get('/api/counters')).status).toBe(401);
    await c.sessions.close();
  });

  it('logs in with PLAIN and with SCRAM; the cookie is random, HttpOnly and SameSite=Strict; each user sees their topics', async () => {
    const c = consoleApp();
    const alice = await c.login('alice', 'alice-pw');
    expect(alice.res.status).toBe(303);
    expect(alice.res.headers.get('location')).toBe('/topics');
    expect(alice.set).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict$`));
    const bob = await c.login('bob', 'bob-pw', 'SCRAM-SHA-256');
    expect(bob.res.status).toBe(303);
    expect(bob.cookie).not.toBe(alice.cookie);

    const alicePage = await (await c.get('/topics', alice.cookie)).text();
    expect(topicNames(alicePage)).toEqual(['alice-orders']);
    expect(alicePage).toContain('data-testid="user">alice<');
    expect(topicNames(await (await c.get('/topics', bob.cookie)).text())).toEqual(['bob-payments']);
    expect(c.sessions.size).toBe(2);
    await c.sessions.close();
    expect(c.opened.every((o) => o.closed)).toBe(true);
  });

  it('a wrong password shows the Kafka error on the login page and makes no session', async () => {
    const c = consoleApp();
    const bad = await c.login('alice', 'wrong');
    expect(bad.res.status).toBe(401);
    expect(bad.set).toBeNull();
    const text = await bad.res.text();
    expect(text).toContain('SASL_AUTHENTICATION_FAILED');
    expect(text).toContain('value="alice"');
    expect(c.sessions.size).toBe(0);
    expect(c.opened.map((o) => o.closed)).toEqual([true]);
    // SCRAM for a PLAIN-only user fails the same way.
    expect((await c.login('alice', 'alice-pw', 'SCRAM-SHA-256')).res.status).toBe(401);
    await c.sessions.close();
  });

  it("authorization errors are pages that name them: another user's topic, a cluster-wide action", async () => {
    const c = consoleApp();
    const { cookie } = await c.login('alice', 'alice-pw');
    const other = await c.get('/topics/bob-payments', cookie);
    expect(other.status).toBe(403);
    expect(await other.text()).toContain('TOPIC_AUTHORIZATION_FAILED');
    const made = await c.post('/topics', { name: 'not-alices', partitions: '1', configs: '' }, cookie);
    expect(made.status).toBe(403);
    expect(await made.text()).toContain('TOPIC_AUTHORIZATION_FAILED');
    // Pages that list everything still load with what she may see.
    for (const path of ['/', '/groups', '/live', '/topics/alice-orders']) {
      expect((await c.get(path, cookie)).status, path).toBe(200);
    }
    // Cluster-wide lists she may not describe: the error named in the page frame, still logged in.
    for (const path of ['/acls', '/quotas']) {
      const res = await c.get(path, cookie);
      expect(res.status, path).toBe(403);
      const text = await res.text();
      expect(text).toContain('CLUSTER_AUTHORIZATION_FAILED');
      expect(text).toContain('data-testid="user">alice<');
    }
    await c.sessions.close();
  });

  it("resets a group's offsets with the session's credentials", async () => {
    const c = consoleApp();
    const { cookie } = await c.login('alice', 'alice-pw');
    const res = await c.post(
      '/groups/alice-readers/reset',
      { topic: 'alice-orders', to: 'latest', execute: '1' },
      cookie,
    );
    expect(res.status).toBe(303);
    // Committed as alice (a commit without her credentials is refused by the SASL listener).
    expect(await admin.fetchGroupOffsets('alice-readers')).toEqual([
      expect.objectContaining({ topic: 'alice-orders', partition: 0, offset: 0n }),
    ]);
    await c.sessions.close();
  });

  it('logs out: the cookie no longer works and the connections are closed', async () => {
    const c = consoleApp();
    const { cookie } = await c.login('alice', 'alice-pw');
    expect((await c.get('/topics', cookie)).status).toBe(200);
    const out = await c.post('/logout', {}, cookie);
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=; Max-Age=0`));
    expect((await c.get('/topics', cookie)).status).toBe(303);
    expect(c.sessions.size).toBe(0);
    expect(c.opened.map((o) => o.closed)).toEqual([true]);
    await c.sessions.close();
  });

  it('ends a session idle past the timeout, closing its connections; a used one lives on', async () => {
    const c = consoleApp();
    const idle = await c.login('alice', 'alice-pw');
    const busy = await c.login('bob', 'bob-pw', 'SCRAM-SHA-256');
    c.tick(40_000);
    expect((await c.get('/topics', busy.cookie)).status).toBe(200);
    c.tick(40_000);
    c.sessions.sweep();
    expect(c.sessions.size).toBe(1);
    expect(c.opened.map((o) => o.closed)).toEqual([true, false]);
    expect((await c.get('/topics', idle.cookie)).status).toBe(303);
    expect((await c.get('/topics', busy.cookie)).status).toBe(200);
    await c.sessions.close();
  });

  it('refuses a login past the session limit, naming it', async () => {
    const c = consoleApp({ maxSessions: 1 });
    await c.login('alice', 'alice-pw');
    const second = await c.login('bob', 'bob-pw', 'SCRAM-SHA-256');
    expect(second.res.status).toBe(503);
    expect(await second.res.text()).toContain('1 sessions are open');
    expect(c.opened).toHaveLength(1);
    await c.sessions.close();
  });

  it('refuses a login or an action posted from another site (CSRF), and never redirects off the console', async () => {
    const c = consoleApp();
    const forged = await c.post(
      '/login',
      { username: 'alice', password: 'alice-pw' },
      undefined,
      'http://evil.example',
    );
    expect(forged.status).toBe(403);
    const { cookie } = await c.login('alice', 'alice-pw');
    const del = await c.post('/topics/alice-orders/delete', { confirm: 'alice-orders' }, cookie, 'http://evil.example');
    expect(del.status).toBe(403);
    expect(await admin.listTopics()).toContain('alice-orders');
    for (const next of ['//evil.example/x', '/\\evil.example', '/\t/evil.example', 'https://evil.example']) {
      const away = await c.post('/login', { username: 'alice', password: 'alice-pw', next });
      expect(away.headers.get('location'), next).toBe('/');
    }
    const home = await c.post('/login', { username: 'alice', password: 'alice-pw', next: '/groups?x=1' });
    expect(home.headers.get('location')).toBe('/groups?x=1');
    await c.sessions.close();
  });
});
