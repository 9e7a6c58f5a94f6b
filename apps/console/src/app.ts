// The console's routes: read the request, validate it, ask the cluster, render a page. Forms post
// back and redirect (with a short message) so that reloading never repeats an action.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ERROR_CODES, KafkaError, Producer, topic as rawTopic } from '@sluice/client';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { type BrowseQuery, browse, type StartFrom } from './browse.js';
import type { ClusterView } from './cluster.js';
import { ENCODINGS } from './format.js';
import { Jobs, jobPage } from './jobs.js';
import { errorBox, FORMS_SCRIPT, type Html, page, STYLE, seg, viewer } from './layout.js';
import { readCounters } from './metrics.js';
import { aclFromForm, aclsPage } from './pages/acls.js';
import { groupLag, groupPage, groupsPage, type ResetPlan, resetPreviewPage } from './pages/groups.js';
import { LIVE_SCRIPT, livePage } from './pages/live.js';
import { loginPage } from './pages/login.js';
import { type MessagesForm, messagesPage } from './pages/messages.js';
import { overviewPage } from './pages/overview.js';
import { entityText, quotaFromForm, quotasPage } from './pages/quotas.js';
import { deletable, MAX_LISTED_TOPICS, topicPage, topicsPage } from './pages/topics.js';
import { LoginRefused, MECHANISMS, type Mechanism, type Session, type Sessions } from './sessions.js';
import * as v from './validate.js';

/** A request body larger than this is refused with 413 (a produced test record is the largest). */
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_VALUE_BYTES = 512 * 1024;
export const MAX_PARTITIONS = 10_000;
/** Topics per DeleteTopics request of a bulk delete (each batch is one step of its progress). */
export const DELETE_BATCH = 5;

/** The session cookie (HttpOnly, SameSite=Strict) of a console that logs in per user. */
export const SESSION_COOKIE = 'sluice_console_session';

export type AppOptions = (
  | { /** One cluster connection for every request (no login). */ cluster: ClusterView; sessions?: undefined }
  | {
      cluster?: undefined;
      /** Each browser logs in with SASL credentials and uses its session's connections. */
      sessions: Sessions;
      /** The mechanism the login form proposes. Default PLAIN. */
      defaultMechanism?: Mechanism;
    }
) & {
  /** Prometheus endpoints of the brokers; empty → the live chart samples end offsets. */
  metricsUrls: (cluster: ClusterView) => Promise<string[]>;
  /** Host header values accepted besides loopback names (a console bound to a LAN address). */
  allowedHosts?: readonly string[];
};

type Env = { Variables: { cluster: ClusterView; session: Session | null } };

const require = createRequire(import.meta.url);
const uplotDir = require.resolve('uplot/dist/uPlot.iife.min.js').replace(/uPlot\.iife\.min\.js$/, '');
const STATIC: Record<string, { type: string; body: () => string }> = {
  'style.css': { type: 'text/css', body: () => STYLE },
  'live.js': { type: 'text/javascript', body: () => LIVE_SCRIPT },
  'forms.js': { type: 'text/javascript', body: () => FORMS_SCRIPT },
  'uPlot.iife.min.js': { type: 'text/javascript', body: () => readFileSync(`${uplotDir}uPlot.iife.min.js`, 'utf8') },
  'uPlot.min.css': { type: 'text/css', body: () => readFileSync(`${uplotDir}uPlot.min.css`, 'utf8') },
};

/** The flash message passed through a redirect (`?ok=`), bounded. */
function flash(c: Context<Env>): string | null {
  const m = c.req.query('ok');
  return m ? m.slice(0, 300) : null;
}

function redirect(c: Context<Env>, path: string, message: string): Response {
  return c.redirect(`${path}?ok=${encodeURIComponent(message)}`, 303);
}

async function form(c: Context<Env>): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(body)) {
    if (typeof val !== 'string') throw new v.InputError(`${k}: files are not accepted`);
    out[k] = val;
  }
  return out;
}

function loopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '127.0.0.1' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/**
 * A path of this console to go to after logging in, never another site: not `//host`, no
 * backslash, no control character (browsers drop tabs and newlines, so `/\t/host` is `//host`).
 */
function localPath(next: string | undefined): string {
  // Printable ASCII but the backslash (a path the console made is percent-encoded), not starting `//`.
  return next !== undefined && next.length <= 2048 && /^\/(?!\/)[!-[\]-~]*$/.test(next) ? next : '/';
}

/** Pages and actions served without a session: the login page, logging out, the static files. */
const PUBLIC_PATH = /^\/(?:static\/|login$|logout$)/;

export function createApp(options: AppOptions): Hono<Env> {
  const { sessions } = options;
  const app = new Hono<Env>();
  const allowed = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));

  // DNS rebinding: a page on another name that resolves to this machine must not reach the console.
  app.use(async (c, next) => {
    const host = (c.req.header('host') ?? '').toLowerCase();
    if (!loopbackHost(host) && !allowed.has(host) && !allowed.has(host.replace(/:\d+$/, ''))) {
      return c.text(`Host ${host.slice(0, 100)} is not allowed (start the console with --allow-host)`, 403);
    }
    await next();
  });
  app.use(csrf());
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.text(`request body over ${MAX_BODY_BYTES} bytes`, 413),
    }),
  );
  app.use(async (c, next) => {
    await next();
    c.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'");
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
  });

  // The cluster connection of this request: the console's one, or the logged-in session's.
  app.use(async (c, next) => {
    if (sessions === undefined) {
      c.set('cluster', options.cluster);
      c.set('session', null);
      return next();
    }
    const session = sessions.get(getCookie(c, SESSION_COOKIE));
    c.set('session', session ?? null);
    if (session === undefined) {
      if (PUBLIC_PATH.test(c.req.path)) return next();
      if (c.req.path.startsWith('/api/')) return c.json({ error: 'not logged in (the session ended)' }, 401);
      if (c.req.method === 'GET') {
        const url = new URL(c.req.url);
        return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
      }
      return c.html(
        page('Not logged in', errorBox('Not logged in:', 'the session ended: log in again and repeat the action.'), {
          bare: true,
        }),
        401,
      );
    }
    c.set('cluster', session.cluster);
    await viewer.run({ username: session.username, mechanism: session.mechanism }, next);
    // Pages show what this user may see: not kept by caches.
    c.header('Cache-Control', 'no-store');
  });

  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    if (err instanceof v.InputError || err instanceof RangeError) {
      return c.html(page('Invalid request', errorBox('Invalid input:', err.message)), 400);
    }
    if (err instanceof KafkaError) {
      const status =
        err.code === ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION
          ? 404
          : err.errorName.endsWith('_AUTHORIZATION_FAILED')
            ? 403
            : err.retriable
              ? 503
              : 422;
      return c.html(page('Kafka error', errorBox(`${err.errorName}:`, err.message)), status);
    }
    return c.html(page('Error', errorBox(`${(err as Error).name ?? 'Error'}:`, String((err as Error).message))), 500);
  });

  const render = async (c: Context, h: Html | Promise<Html>) => c.html(await h);
  const jobs = new Jobs();

  app.get('/static/:file', (c) => {
    const f = STATIC[c.req.param('file')];
    if (f === undefined) return c.notFound();
    c.header('Cache-Control', 'max-age=300');
    return c.body(f.body(), 200, { 'Content-Type': `${f.type}; charset=utf-8` });
  });

  if (sessions !== undefined) {
    const defaultMechanism = options.defaultMechanism ?? 'PLAIN';
    app.get('/login', (c) => {
      const next = localPath(c.req.query('next'));
      if (c.var.session !== null) return c.redirect(next, 303);
      return c.html(loginPage({ next, mechanism: defaultMechanism, flash: flash(c) }));
    });

    app.post('/login', async (c) => {
      const f = await form(c);
      const next = localPath(f.next);
      const username = v.text(f.username, 'username', 256) ?? '';
      const password = v.text(f.password, 'password', 1024) ?? '';
      const mechanism = v.oneOf(f.mechanism, MECHANISMS, defaultMechanism, 'mechanism');
      if (username === '' || password === '') throw new v.InputError('username and password are required');
      let session: Session;
      try {
        session = await sessions.login({ mechanism, username, password });
      } catch (err) {
        const e = err as Error;
        const error =
          err instanceof KafkaError
            ? { kind: `${err.errorName}:`, message: err.message }
            : { kind: `${e.name ?? 'Error'}:`, message: String(e.message) };
        const status = err instanceof LoginRefused ? 503 : err instanceof KafkaError && !err.retriable ? 401 : 502;
        return c.html(loginPage({ next, username, mechanism, error }), status);
      }
      // A new random id at each login: an id set before logging in (fixation) is never used.
      const old = getCookie(c, SESSION_COOKIE);
      if (old !== undefined) await sessions.logout(old);
      setCookie(c, SESSION_COOKIE, session.id, {
        path: '/',
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:',
      });
      return c.redirect(next, 303);
    });

    app.post('/logout', async (c) => {
      if (c.var.session !== null) await sessions.logout(c.var.session.id);
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      return redirect(c, '/login', 'Logged out.');
    });
  }

  app.get('/', (c) => render(c, overviewPage(c.var.cluster)));

  app.get('/topics', (c) => render(c, topicsPage(c.var.cluster, v.text(c.req.query('q'), 'search', 249), flash(c))));

  app.post('/topics', async (c) => {
    const f = await form(c);
    const name = v.topicName(f.name);
    const configs = Object.fromEntries(v.keyValueLines(f.configs, 'configs', 16 * 1024));
    for (const k of Object.keys(configs)) v.configKey(k);
    await c.var.cluster.admin.createTopics([
      {
        name,
        numPartitions: v.optionalInt(f.partitions, 'partitions', 1, MAX_PARTITIONS) ?? -1,
        replicationFactor: v.optionalInt(f.replicationFactor, 'replication factor', 1, 32) ?? -1,
        configs,
      },
    ]);
    return redirect(c, `/topics/${seg(name)}`, `Created ${name}.`);
  });

  // Deleting many topics is a job: DeleteTopics in batches, with a progress page.
  app.post('/topics/delete-matching', async (c) => {
    const f = await form(c);
    const search = v.text(f.q, 'search', 249);
    if (search === null || search === '') throw new v.InputError('search for the topics to delete first');
    const needle = search.toLowerCase();
    const { cluster } = c.var;
    const names = deletable((await cluster.snapshot()).topics.filter((t) => t.name.toLowerCase().includes(needle)));
    if (names.length > MAX_LISTED_TOPICS)
      throw new v.InputError(`over ${MAX_LISTED_TOPICS} topics match: narrow the search`);
    if ((f.confirm ?? '').trim() !== String(names.length)) {
      throw new v.InputError(`type the number of matching topics (${names.length}) to confirm the deletion`);
    }
    const steps = [];
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      const batch = names.slice(i, i + DELETE_BATCH);
      steps.push({
        weight: batch.length,
        label: batch.length === 1 ? batch[0] : `${batch[0]} … ${batch[batch.length - 1]}`,
        run: () => cluster.admin.deleteTopics(batch),
      });
    }
    const job = jobs.start(
      `Deleting ${names.length} topic(s) matching “${search}”`,
      '/topics',
      steps,
      c.var.session?.id ?? null,
    );
    return c.redirect(`/jobs/${job.id}`, 303);
  });

  app.get('/jobs/:id', (c) => {
    const job = jobs.get(c.req.param('id'));
    // A job is shown to the session that started it only.
    if (job === undefined || job.owner !== (c.var.session?.id ?? null))
      return c.html(
        page('No such operation', errorBox('Not found:', 'no such operation (it may have been forgotten)')),
        404,
      );
    return render(c, jobPage(job));
  });

  app.get('/topics/:name', (c) => render(c, topicPage(c.var.cluster, v.topicName(c.req.param('name')), flash(c))));

  app.post('/topics/:name/delete', async (c) => {
    const name = v.topicName(c.req.param('name'));
    const f = await form(c);
    if (f.confirm !== name) throw new v.InputError(`type the topic's name (${name}) to confirm the deletion`);
    await c.var.cluster.admin.deleteTopics([name]);
    return redirect(c, '/topics', `Deleted ${name}.`);
  });

  app.post('/topics/:name/partitions', async (c) => {
    const name = v.topicName(c.req.param('name'));
    const count = v.int((await form(c)).count, 'partition count', 1, MAX_PARTITIONS);
    await c.var.cluster.admin.createPartitions([{ topic: name, count }]);
    return redirect(c, `/topics/${seg(name)}`, `${name} now has ${count} partitions.`);
  });

  app.post('/topics/:name/configs', async (c) => {
    const name = v.topicName(c.req.param('name'));
    const f = await form(c);
    const key = v.configKey(f.key);
    const action = v.oneOf(f.action, ['set', 'reset'] as const, 'set', 'action');
    const value = action === 'reset' ? null : (v.text(f.value, 'value', 4096) ?? '');
    await c.var.cluster.setTopicConfig(name, key, value);
    return redirect(c, `/topics/${seg(name)}`, value === null ? `${key} reset to its default.` : `${key} set.`);
  });

  app.get('/topics/:name/messages', async (c) => {
    const name = v.topicName(c.req.param('name'));
    const t = await c.var.cluster.topic(name);
    const qs = c.req.query();
    const fromKind = v.oneOf(qs.from, ['beginning', 'offset', 'timestamp', 'newest'] as const, 'newest', 'from');
    const formState: MessagesForm = {
      from: fromKind,
      offset: v.text(qs.offset, 'offset', 19) ?? '',
      timestamp: v.text(qs.timestamp, 'time', 40) ?? '',
      encoding: v.oneOf(qs.encoding, ENCODINGS, 'text', 'encoding'),
    };
    const q: BrowseQuery = {
      topic: name,
      partition: v.optionalInt(qs.partition, 'partition', 0, MAX_PARTITIONS),
      from: { kind: 'newest' },
      limit: v.optionalInt(qs.limit, 'limit', 1, 500) ?? 50,
      filter: v.text(qs.filter, 'filter', 1024),
      filterField: v.oneOf(qs.field, ['any', 'key', 'value'] as const, 'any', 'filter field'),
    };
    let from: StartFrom = { kind: fromKind } as StartFrom;
    if (fromKind === 'offset') from = { kind: 'offset', offset: v.offset(qs.offset) };
    if (fromKind === 'timestamp') from = { kind: 'timestamp', ms: v.timestamp(qs.timestamp) };
    q.from = from;
    // The first visit shows the form only; a read happens when it is submitted (or a link asks for one).
    const run = qs.run !== undefined || qs.from !== undefined;
    const result = run ? await browse(c.var.cluster, q) : null;
    return c.html(await messagesPage(t, q, formState, result, flash(c)));
  });

  app.post('/topics/:name/produce', async (c) => {
    const name = v.topicName(c.req.param('name'));
    const f = await form(c);
    const partition = v.optionalInt(f.partition, 'partition', 0, MAX_PARTITIONS);
    const key = v.text(f.key, 'key', 4096);
    const value = v.text(f.value, 'value', MAX_VALUE_BYTES);
    const headers = v.keyValueLines(f.headers, 'headers', 16 * 1024).map(([k, val]) => ({ key: k, value: val }));
    const producer = new Producer(c.var.cluster.clientOptions('sluice-console-producer'), {
      deliveryTimeoutMs: 15_000,
    });
    try {
      const md = await producer.send(rawTopic(name), {
        key: key === null ? null : Buffer.from(key),
        value: value === null ? null : Buffer.from(value),
        headers,
        ...(partition === null ? {} : { partition }),
      });
      return redirect(
        c,
        `/topics/${seg(name)}/messages`,
        `Produced to partition ${md.partition} at offset ${md.offset}.`,
      );
    } finally {
      await producer.close();
    }
  });

  app.get('/groups', (c) => render(c, groupsPage(c.var.cluster, flash(c))));

  app.get('/groups/:id', (c) => render(c, groupPage(c.var.cluster, v.groupId(c.req.param('id')), flash(c))));

  app.post('/groups/:id/delete', async (c) => {
    const id = v.groupId(c.req.param('id'));
    const f = await form(c);
    if (f.confirm !== id) throw new v.InputError(`type the group id (${id}) to confirm the deletion`);
    await c.var.cluster.admin.deleteGroups([id]);
    return redirect(c, '/groups', `Deleted group ${id}.`);
  });

  app.post('/groups/:id/reset', async (c) => {
    const groupId = v.groupId(c.req.param('id'));
    const f = await form(c);
    const plan = await planReset(c.var.cluster, groupId, f);
    const { desc } = await groupLag(c.var.cluster, groupId);
    if (f.execute !== '1' || desc.members.length > 0) {
      return c.html(await resetPreviewPage(plan, desc.members.length));
    }
    await c.var.cluster.commitGroupOffsets(
      groupId,
      plan.rows.map((r) => ({ topic: plan.topic, partition: r.partition, offset: r.next })),
    );
    return redirect(c, `/groups/${seg(groupId)}`, `Reset ${plan.rows.length} partition(s) of ${plan.topic}.`);
  });

  app.get('/live', (c) => render(c, livePage()));

  app.get('/acls', (c) => render(c, aclsPage(c.var.cluster, flash(c))));

  app.post('/acls', async (c) => {
    const acl = aclFromForm(await form(c));
    await c.var.cluster.admin.createAcls([acl]);
    return redirect(c, '/acls', `Added the ACL for ${acl.principal} on ${acl.resourceName}.`);
  });

  app.get('/quotas', (c) => render(c, quotasPage(c.var.cluster, flash(c))));

  app.post('/quotas', async (c) => {
    const q = quotaFromForm(await form(c));
    const entity = Object.fromEntries(q.entity.map((e) => [e.entityType, e.entityName]));
    await c.var.cluster.admin.alterClientQuotas([
      q.value === null ? { entity, remove: [q.key] } : { entity, set: { [q.key]: q.value } },
    ]);
    const who = entityText(q.entity);
    return redirect(
      c,
      '/quotas',
      q.value === null ? `Removed ${q.key} of ${who}.` : `Set ${q.key} of ${who} to ${q.value}.`,
    );
  });

  app.post('/acls/delete', async (c) => {
    // The binding itself is the filter: exactly it matches (no ANY codes come from the form).
    const deleted = await c.var.cluster.admin.deleteAcls([aclFromForm(await form(c))]);
    return redirect(c, '/acls', `Deleted ${deleted.length} ACL(s).`);
  });

  app.get('/api/counters', async (c) => {
    try {
      return c.json(await readCounters(c.var.cluster, await options.metricsUrls(c.var.cluster)));
    } catch (err) {
      const e = err as Error;
      return c.json({ error: e instanceof KafkaError ? `${e.errorName}: ${e.message}` : e.message }, 502);
    }
  });

  return app;
}

async function planReset(cluster: ClusterView, groupId: string, f: Record<string, string>): Promise<ResetPlan> {
  const topic = v.topicName(f.topic);
  const to = v.oneOf(f.to, ['earliest', 'latest', 'offset', 'timestamp'] as const, 'earliest', 'to');
  const t = await cluster.topic(topic);
  const only = v.optionalInt(f.partition, 'partition', 0, MAX_PARTITIONS);
  const partitions = t.partitions.map((p) => p.partition).filter((p) => only === null || p === only);
  if (partitions.length === 0) throw new v.InputError(`${topic} has no partition ${only}`);
  const bounds = await cluster.offsets(topic, partitions);
  const committed = new Map(
    (await cluster.admin.fetchGroupOffsets(groupId))
      .filter((o) => o.topic === topic)
      .map((o) => [o.partition, o.offset]),
  );
  let next: bigint[];
  if (to === 'earliest') next = bounds.map((b) => b.start);
  else if (to === 'latest') next = bounds.map((b) => b.end);
  else if (to === 'offset') {
    const o = v.offset(f.value);
    // Kafka's tool clamps an offset outside the log to its nearest end.
    next = bounds.map((b) => (o < b.start ? b.start : o > b.end ? b.end : o));
  } else {
    const found = await cluster.admin.listOffsets(
      partitions.map((partition) => ({ topic, partition })),
      v.timestamp(f.value),
    );
    next = found.map((x, i) => (x.offset < 0n ? bounds[i].end : x.offset));
  }
  return {
    groupId,
    topic,
    partition: only,
    to,
    value: f.value ?? '',
    rows: partitions.map((partition, i) => ({ partition, current: committed.get(partition) ?? null, next: next[i] })),
  };
}
