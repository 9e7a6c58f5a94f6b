// The console over HTTP against an embedded broker: each page shows what the test put in the
// cluster, and actions taken through the forms are checked through the Kafka protocol.
import { request as httpRequest } from 'node:http';
import { Admin, Consumer, Kafka, topic } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './helpers.js';

let stack: Stack;
let admin: Admin;
let base: string;

beforeAll(async () => {
  stack = await startStack();
  base = stack.console.url;
  admin = new Admin({ brokers: [stack.broker.bootstrap] });
});

afterAll(async () => {
  await admin?.close();
  await stack?.stop();
});

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(base + path, { headers });
  return { status: res.status, body: await res.text() };
}

/** Posts a form as a browser on the console's own page would (same Origin). */
async function post(
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = { origin: base },
): Promise<{ status: number; location: string | null; body: string }> {
  const res = await fetch(base + path, {
    method: 'POST',
    body: new URLSearchParams(fields),
    headers,
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

/**
 * A request on a connection of its own, with any headers (fetch may not set Host), for what
 * fetch cannot do: the server closes a connection whose body it refused (413) mid-upload.
 */
function rawStatus(method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, agent: false, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function produceTo(name: string, records: Array<{ key: string; value: string; partition: number }>) {
  const producer = new Kafka({ brokers: [stack.broker.bootstrap] }).producer();
  return Promise.all(
    records.map((r) =>
      producer.send(topic(name), { key: Buffer.from(r.key), value: Buffer.from(r.value), partition: r.partition }),
    ),
  ).finally(() => producer.close());
}

describe('console pages', () => {
  it('the overview shows the broker, the controller and the topic and partition counts', async () => {
    await admin.createTopics([{ name: 'overview-t', numPartitions: 3 }]);
    const { status, body } = await get('/');
    expect(status).toBe(200);
    expect(body).toContain('<b data-testid="broker-count">1</b>');
    expect(body).toMatch(/data-testid="topic-count">\d+</);
    expect(Number(/data-testid="partition-count">(\d+)</.exec(body)?.[1])).toBeGreaterThanOrEqual(3);
    expect(body).toContain(stack.broker.clusterId);
    expect(body).toContain('APIs announced by the bootstrap broker');
  });

  it('creates a topic through the form, with its configs, and lists it with its retention', async () => {
    const res = await post('/topics', {
      name: 'created-in-ui',
      partitions: '4',
      configs: 'retention.ms=86400000\ncleanup.policy=delete',
    });
    expect(res.status).toBe(303);
    expect(res.location).toMatch(/^\/topics\/created-in-ui\?ok=/);
    const [info] = await admin.describeTopics(['created-in-ui']);
    expect(info.partitions).toHaveLength(4);
    const list = await get('/topics?q=created');
    expect(list.body).toContain('<a href="/topics/created-in-ui">created-in-ui</a>');
    expect(list.body).toMatch(
      /created-in-ui<\/a><\/td><td class="num">4<\/td><td class="num">[^<]+<\/td><td class="num">1 d</,
    );
    expect(list.body).not.toContain('overview-t'); // the search narrowed the list
    const page = await get('/topics/created-in-ui');
    expect(page.body).toMatch(/<td[^>]*>retention.ms<\/td><td>86400000<\/td><td>DYNAMIC_TOPIC_CONFIG<\/td>/);
    // The value removing the override falls back to, from DescribeConfigs' synonyms.
    expect(page.body).toMatch(
      /<td[^>]*>cleanup.policy<\/td><td>delete<\/td><td>DYNAMIC_TOPIC_CONFIG<\/td><td>delete <span class="muted">\(STATIC_BROKER_CONFIG\)|<td[^>]*>cleanup.policy<\/td><td>delete<\/td><td>DYNAMIC_TOPIC_CONFIG<\/td><td>delete<\/td>/,
    );
    expect(page.body).toMatch(
      /<td[^>]*>segment.ms<\/td><td>604800000<\/td><td>DEFAULT_CONFIG<\/td><td>604800000<\/td>/,
    );
  });

  it('a topic page shows each partition with leader, replicas, ISR and start/end offsets', async () => {
    await admin.createTopics([{ name: 'parts', numPartitions: 2 }]);
    await produceTo('parts', [
      { key: 'a', value: '1', partition: 1 },
      { key: 'b', value: '2', partition: 1 },
      { key: 'c', value: '3', partition: 1 },
    ]);
    const { body } = await get('/topics/parts');
    expect(body).toMatch(
      />0<\/a><\/td><td class="num">1<\/td><td>1<\/td><td>1<\/td><td class="num">0<\/td><td class="num">0<\/td>/,
    );
    expect(body).toMatch(
      />1<\/a><\/td><td class="num">1<\/td><td>1<\/td><td>1<\/td><td class="num">0<\/td><td class="num">3<\/td>/,
    );
  });

  it('adds partitions and edits and resets a config', async () => {
    await admin.createTopics([{ name: 'grow', numPartitions: 1 }]);
    expect((await post('/topics/grow/partitions', { count: '3' })).status).toBe(303);
    expect((await admin.describeTopics(['grow']))[0].partitions).toHaveLength(3);
    expect((await post('/topics/grow/configs', { key: 'retention.ms', value: '1000', action: 'set' })).status).toBe(
      303,
    );
    const set = await admin.describeConfigs(2, 'grow', ['retention.ms']);
    expect(set[0].value).toBe('1000');
    expect((await post('/topics/grow/configs', { key: 'retention.ms', action: 'reset' })).status).toBe(303);
    const reset = await admin.describeConfigs(2, 'grow', ['retention.ms']);
    expect(reset[0].isDefault).toBe(true);
  });

  it('produces a test record with headers through the form and finds it in the message browser', async () => {
    await admin.createTopics([{ name: 'browse', numPartitions: 2 }]);
    const res = await post('/topics/browse/produce', {
      partition: '1',
      key: 'order-7',
      value: '{"id":7,"items":["x"]}',
      headers: 'source=console\ntrace=abc\ntrace=def',
    });
    expect(res.status).toBe(303);
    expect(decodeURIComponent(res.location ?? '')).toContain('Produced to partition 1 at offset 0');
    // Checked through the protocol: the record is there as sent.
    const consumer = new Consumer({ brokers: [stack.broker.bootstrap] });
    await consumer.assign([{ topic: 'browse', partition: 1, offset: 'earliest' }]);
    for await (const r of consumer.records(topic('browse'))) {
      expect(r.key?.toString()).toBe('order-7');
      expect(r.headers.source?.toString()).toBe('console');
      break;
    }
    await consumer.close();

    const page = await get('/topics/browse/messages?from=beginning&encoding=json');
    expect(page.body).toContain('1 record(s) shown');
    expect(page.body).toContain('{\n  &quot;id&quot;: 7,');
    expect(page.body).toContain('<b>source</b>: <pre>console</pre>');
    // A repeated header key is shown each time, in record order.
    expect(page.body).toMatch(/<b>trace<\/b>: <pre>abc<\/pre>.*<b>trace<\/b>: <pre>def<\/pre>/s);
    const hex = await get('/topics/browse/messages?from=beginning&encoding=hex&partition=1');
    expect(hex.body).toContain('6f 72 64 65 72 2d 37'); // "order-7"
  });

  it('browses from an offset, from a time, the newest N, with a filter, and pages through one partition', async () => {
    await admin.createTopics([{ name: 'many', numPartitions: 1 }]);
    const records = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `value-${i}`, partition: 0 }));
    await produceTo('many', records);
    const fromOffset = await get('/topics/many/messages?partition=0&from=offset&offset=25&limit=10');
    expect(fromOffset.body).toContain('5 record(s) shown');
    expect(fromOffset.body).toContain('value-25');
    expect(fromOffset.body).not.toContain('value-24<');
    const newest = await get('/topics/many/messages?from=newest&limit=3');
    expect(newest.body).toContain('3 record(s) shown');
    expect(newest.body).toMatch(/value-27[\s\S]*value-28[\s\S]*value-29/);
    const filtered = await get('/topics/many/messages?from=beginning&filter=value-1&field=value&limit=50');
    // value-1 and value-10..value-19
    expect(filtered.body).toContain('11 record(s) shown');
    const first = await get('/topics/many/messages?partition=0&from=beginning&limit=10');
    expect(first.body).toContain('10 record(s) shown');
    expect(first.body).toContain('from=offset&amp;offset=10');
    const future = await get(`/topics/many/messages?from=timestamp&timestamp=${Date.now() + 3_600_000}`);
    expect(future.body).toContain('0 record(s) shown');
    const past = await get('/topics/many/messages?from=timestamp&timestamp=2020-01-01T00:00:00Z&limit=500');
    expect(past.body).toContain('30 record(s) shown');
  });

  it('escapes record contents and names: no markup from a record reaches the page', async () => {
    await admin.createTopics([{ name: 'xss', numPartitions: 1 }]);
    await produceTo('xss', [
      { key: '<img src=x onerror=alert(1)>', value: '<script>alert("v")</script>', partition: 0 },
    ]);
    const page = await get('/topics/xss/messages?from=beginning');
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).not.toContain('<img src=x');
    expect(page.body).toContain('&lt;script&gt;alert(&quot;v&quot;)&lt;/script&gt;');
    const evilGroup = '"><script>alert(1)</script>';
    const g = await get(`/groups/${encodeURIComponent(evilGroup)}`);
    expect(g.body).not.toContain('<script>alert(1)');
  });

  it('shows a group with lag per partition and in total; resets its offsets after a dry run; deletes it', async () => {
    await admin.createTopics([{ name: 'lagging', numPartitions: 2 }]);
    await produceTo(
      'lagging',
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 2 })),
    );
    const c = new Consumer({ brokers: [stack.broker.bootstrap] }, { groupId: 'billing', autoCommit: false });
    await c.commitOffsets([
      { topic: 'lagging', partition: 0, offset: 1n },
      { topic: 'lagging', partition: 1, offset: 4n },
    ]);
    await c.close();

    const list = await get('/groups');
    expect(list.body).toContain('<a href="/groups/billing">billing</a>');
    const page = await get('/groups/billing');
    expect(page.body).toContain('<b data-testid="total-lag">5</b>');
    expect(page.body).toMatch(
      />lagging<\/a><\/td><td class="num">0<\/td><td class="num">1<\/td><td class="num">5<\/td><td class="num">4</,
    );
    expect(page.body).toMatch(
      />lagging<\/a><\/td><td class="num">1<\/td><td class="num">4<\/td><td class="num">5<\/td><td class="num">1</,
    );

    const preview = await post('/groups/billing/reset', { topic: 'lagging', to: 'latest', partition: '' });
    expect(preview.status).toBe(200);
    expect(preview.body).toContain('Dry run');
    expect(preview.body).toMatch(/<td class="num">0<\/td><td class="num">1<\/td><td class="num">5<\/td>/);
    const unchanged = await admin.fetchGroupOffsets('billing');
    expect(unchanged.find((o) => o.partition === 0)?.offset).toBe(1n);

    const done = await post('/groups/billing/reset', { topic: 'lagging', to: 'latest', partition: '', execute: '1' });
    expect(done.status).toBe(303);
    const after = await admin.fetchGroupOffsets('billing');
    expect(after.map((o) => o.offset).sort()).toEqual([5n, 5n]);
    expect((await get('/groups/billing')).body).toContain('<b data-testid="total-lag">0</b>');

    const toOffset = await post('/groups/billing/reset', {
      topic: 'lagging',
      to: 'offset',
      value: '2',
      partition: '1',
      execute: '1',
    });
    expect(toOffset.status).toBe(303);
    const one = await admin.fetchGroupOffsets('billing');
    expect(one.find((o) => o.partition === 1)?.offset).toBe(2n);
    expect(one.find((o) => o.partition === 0)?.offset).toBe(5n);

    expect((await post('/groups/billing/delete', { confirm: 'wrong' })).status).toBe(400);
    expect((await post('/groups/billing/delete', { confirm: 'billing' })).status).toBe(303);
    expect((await admin.listGroups()).map((g) => g.groupId)).not.toContain('billing');
  });

  it('shows an active group’s members and their assignment, and refuses to reset it', async () => {
    await admin.createTopics([{ name: 'active', numPartitions: 2 }]);
    const member = new Consumer(
      { brokers: [stack.broker.bootstrap], clientId: 'ui-member' },
      { groupId: 'busy', autoOffsetReset: 'earliest' },
    );
    const reading = (async () => {
      for await (const _ of member.records(topic('active'))) {
        // Membership is what the page shows; the records do not matter.
      }
    })();
    try {
      for (let i = 0; i < 100; i++) {
        const g = await admin.describeGroup('busy');
        if (g.state === 'Stable' && g.members.length === 1) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const page = await get('/groups/busy');
      expect(page.body).toContain('<b data-testid="group-state">Stable</b>');
      expect(page.body).toContain('<b data-testid="member-count">1</b>');
      expect(page.body).toMatch(/<td>ui-member<\/td><td>[^<]+<\/td><td>—<\/td><td>active-0, active-1<\/td>/);
      const before = await admin.fetchGroupOffsets('busy');
      const refused = await post('/groups/busy/reset', { topic: 'active', to: 'latest', execute: '1' });
      expect(refused.status).toBe(200);
      expect(refused.body).toContain('The group has 1 active member(s)');
      expect(refused.body).not.toContain('id="reset-execute"');
      expect(await admin.fetchGroupOffsets('busy')).toEqual(before);
    } finally {
      await member.close();
      await reading.catch(() => {});
    }
  });

  it('deletes a topic only with the typed confirmation', async () => {
    await admin.createTopics([{ name: 'doomed', numPartitions: 1 }]);
    const refused = await post('/topics/doomed/delete', { confirm: 'doome' });
    expect(refused.status).toBe(400);
    expect(await admin.listTopics()).toContain('doomed');
    expect((await post('/topics/doomed/delete', { confirm: 'doomed' })).status).toBe(303);
    expect(await admin.listTopics()).not.toContain('doomed');
  });

  it('shows the Kafka error name and message when the cluster refuses', async () => {
    await admin.createTopics([{ name: 'twice', numPartitions: 1 }]);
    const again = await post('/topics', { name: 'twice' });
    expect(again.status).toBe(422);
    expect(again.body).toContain('TOPIC_ALREADY_EXISTS');
    const shrink = await post('/topics/twice/partitions', { count: '1' });
    expect(shrink.status).toBe(422);
    expect(shrink.body).toContain('INVALID_PARTITIONS');
    const missing = await get('/topics/no-such-topic');
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('the live counters come from the broker’s Prometheus endpoint and grow with traffic', async () => {
    const before = (await (await fetch(`${base}/api/counters`)).json()) as { source: string; bytesIn: number };
    expect(before.source).toBe('prometheus');
    await admin.createTopics([{ name: 'live', numPartitions: 1 }]);
    await produceTo('live', [{ key: 'k', value: 'x'.repeat(1000), partition: 0 }]);
    const after = (await (await fetch(`${base}/api/counters`)).json()) as { bytesIn: number; requests: number };
    expect(after.bytesIn).toBeGreaterThan(before.bytesIn + 1000);
    expect(after.requests).toBeGreaterThan(0);
    const live = await get('/live');
    expect(live.body).toContain('<script src="/static/uPlot.iife.min.js"></script>');
    const lib = await get('/static/uPlot.iife.min.js');
    expect(lib.status).toBe(200);
    expect(lib.body).toContain('uPlot');
  });
});

describe('input checks', () => {
  it('refuses bad names, out-of-range numbers and oversized bodies before asking the cluster', async () => {
    expect((await get('/topics/bad%20name')).status).toBe(400);
    expect((await get('/topics/many/messages?limit=100000&from=beginning')).status).toBe(400);
    expect((await get('/topics/many/messages?from=offset&offset=-5')).status).toBe(400);
    expect((await get('/topics/many/messages?from=sideways')).status).toBe(400);
    expect((await post('/topics', { name: 'x'.repeat(250) })).status).toBe(400);
    expect((await post('/topics', { name: 'ok-name', partitions: '99999999' })).status).toBe(400);
    expect((await admin.listTopics()).includes('ok-name')).toBe(false);
    const form = { origin: base, 'content-type': 'application/x-www-form-urlencoded' };
    expect(await rawStatus('POST', '/topics/many/produce', form, `value=${'v'.repeat(1_100_000)}`)).toBe(413);
    const tooLong = await post('/topics/many/produce', { value: 'v'.repeat(600_000) });
    expect(tooLong.status).toBe(400);
  });

  it('refuses cross-site form posts and other Host names (DNS rebinding)', async () => {
    await admin.createTopics([{ name: 'guarded', numPartitions: 1 }]);
    const cross = await post('/topics/guarded/delete', { confirm: 'guarded' }, { origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(await admin.listTopics()).toContain('guarded');
    expect(await rawStatus('GET', '/', { host: 'evil.example:8080' })).toBe(403);
    expect(await rawStatus('GET', '/', { host: `localhost:${stack.console.port}` })).toBe(200);
  });
});
