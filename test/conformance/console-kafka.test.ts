// The web console (@sluice/console) against Apache Kafka itself: it speaks only the Kafka
// protocol, so every page must work with the reference broker, and what Kafka lacks (a Sluice
// metrics endpoint) must degrade to what it has (end offsets for the live chart).
import { Admin, Consumer, Kafka, topic } from '@sluice/client';
import { type RunningConsole, startConsole } from '@sluice/console';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch } from '../../apps/console/browser/chromium.js';
import { type BrokerUnderTest, startKafka } from './brokers.js';

let kafka: BrokerUnderTest;
let admin: Admin;
let console_: RunningConsole;
let base: string;

beforeAll(async () => {
  kafka = await startKafka();
  admin = new Admin({ brokers: [kafka.bootstrap] });
  console_ = await startConsole({ bootstrap: [kafka.bootstrap], port: 0 });
  base = console_.url;
});
afterAll(async () => {
  await console_?.close();
  await admin?.close();
  await kafka?.stop();
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(base + path);
  return { status: res.status, body: await res.text() };
}

async function post(path: string, fields: Record<string, string>) {
  const res = await fetch(base + path, {
    method: 'POST',
    body: new URLSearchParams(fields),
    headers: { origin: base },
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

describe('the console against Apache Kafka 4.4', () => {
  it('shows the overview with Kafka’s cluster id, controller and metadata.version', async () => {
    const { status, body } = await get('/');
    expect(status).toBe(200);
    expect(body).toContain('<b data-testid="broker-count">1</b>');
    expect(body).toContain('metadata.version level');
    expect(body).toMatch(/data-testid="cluster-id">[A-Za-z0-9_-]{22}</);
  });

  it('creates a topic, shows its partitions, sizes and configs with Kafka’s defaults and sources', async () => {
    const created = await post('/topics', {
      name: 'console-on-kafka',
      partitions: '3',
      configs: 'retention.ms=7200000',
    });
    expect(created.status).toBe(303);
    expect((await admin.describeTopics(['console-on-kafka']))[0].partitions).toHaveLength(3);
    const page = await get('/topics/console-on-kafka');
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<td[^>]*>retention.ms<\/td><td>7200000<\/td><td>DYNAMIC_TOPIC_CONFIG<\/td>/);
    expect(page.body).toMatch(
      /<td[^>]*>segment.bytes<\/td><td>1073741824<\/td><td>(DEFAULT_CONFIG|STATIC_BROKER_CONFIG)<\/td>/,
    );
    expect(page.body).toMatch(/<td class="num">\d+(\.\d)? (B|KiB)<\/td><\/tr>/); // sizes from DescribeLogDirs
    const list = await get('/topics?q=console-on');
    expect(list.body).toMatch(
      /console-on-kafka<\/a><\/td><td class="num">3<\/td><td class="num">[^<]+ B<\/td><td class="num">2 h</,
    );
  });

  it('produces through the form and finds the record in the message browser', async () => {
    const res = await post('/topics/console-on-kafka/produce', {
      partition: '1',
      key: 'k1',
      value: '{"on":"kafka"}',
      headers: 'h=1',
    });
    expect(res.status).toBe(303);
    expect(decodeURIComponent(res.location ?? '')).toContain('Produced to partition 1 at offset 0');
    const page = await get('/topics/console-on-kafka/messages?from=beginning&encoding=json&partition=1');
    expect(page.body).toContain('1 record(s) shown');
    expect(page.body).toContain('&quot;on&quot;: &quot;kafka&quot;');
    expect(page.body).toContain('<b>h</b>: <pre>1</pre>');
  });

  it('shows a group’s lag and resets its offsets after a dry run', async () => {
    const producer = new Kafka({ brokers: [kafka.bootstrap] }).producer();
    for (let i = 0; i < 6; i++)
      await producer.send(topic('console-on-kafka'), { value: Buffer.from(`v${i}`), partition: 0 });
    await producer.close();
    const c = new Consumer({ brokers: [kafka.bootstrap] }, { groupId: 'console-kafka-group', autoCommit: false });
    await c.commitOffsets([{ topic: 'console-on-kafka', partition: 0, offset: 2n }]);
    await c.close();
    const page = await get('/groups/console-kafka-group');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<b data-testid="total-lag">4</b>');
    const preview = await post('/groups/console-kafka-group/reset', {
      topic: 'console-on-kafka',
      to: 'latest',
      partition: '0',
    });
    expect(preview.body).toContain('Dry run');
    expect((await admin.fetchGroupOffsets('console-kafka-group'))[0].offset).toBe(2n);
    const done = await post('/groups/console-kafka-group/reset', {
      topic: 'console-on-kafka',
      to: 'latest',
      partition: '0',
      execute: '1',
    });
    expect(done.status).toBe(303);
    expect((await admin.fetchGroupOffsets('console-kafka-group'))[0].offset).toBe(6n);
    expect((await get('/groups')).body).toContain('console-kafka-group');
  });

  it('the live view falls back to end offsets (Kafka has no Sluice metrics endpoint)', async () => {
    const res = await fetch(`${base}/api/counters`);
    expect(res.status).toBe(200);
    const c = (await res.json()) as { source: string; records: number; bytesIn: number | null };
    expect(c.source).toBe('offsets');
    expect(c.records).toBeGreaterThanOrEqual(7);
    expect(c.bytesIn).toBeNull();
  });

  it('in Chromium: creates a topic, produces and finds a record, resets a group through the forms', async () => {
    const browser = await launch();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(`${base}/topics`);
      await page.fill('#create-topic input[name=name]', 'browser-on-kafka');
      await page.fill('#create-topic input[name=partitions]', '2');
      await Promise.all([page.waitForURL(/\/topics\/browser-on-kafka/), page.click('#create-topic button')]);
      expect(await page.locator('#partitions tbody tr').count()).toBe(2);
      await page.goto(`${base}/topics/browser-on-kafka/messages`);
      await page.selectOption('#produce select[name=partition]', '0');
      await page.fill('#produce input[name=key]', 'from-chromium');
      await page.fill('#produce textarea[name=value]', 'hello kafka');
      await Promise.all([page.waitForURL(/ok=/), page.click('#produce button')]);
      await page.selectOption('#browse select[name=from]', 'beginning');
      await Promise.all([page.waitForURL(/run=1/), page.click('#browse button')]);
      expect(await page.textContent('#records tbody tr td:nth-child(5) pre')).toBe('hello kafka');

      const c = new Consumer({ brokers: [kafka.bootstrap] }, { groupId: 'browser-kafka-group', autoCommit: false });
      await c.commitOffsets([{ topic: 'browser-on-kafka', partition: 0, offset: 1n }]);
      await c.close();
      await page.goto(`${base}/groups/browser-kafka-group`);
      await page.fill('#reset-offsets input[name=topic]', 'browser-on-kafka');
      await page.selectOption('#reset-offsets select[name=to]', 'earliest');
      await page.click('#reset-offsets button');
      await page.waitForSelector('#reset-preview');
      await Promise.all([page.waitForURL(/\/groups\/browser-kafka-group\?ok=/), page.click('#reset-execute button')]);
      const offsets = await admin.fetchGroupOffsets('browser-kafka-group');
      expect(offsets.map((o) => [o.partition, o.offset]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
        [0, 0n],
        [1, 0n],
      ]);
    } finally {
      await browser.close();
    }
  });

  it('deletes the topic after the typed confirmation', async () => {
    expect((await post('/topics/console-on-kafka/delete', { confirm: 'console-on-kafka' })).status).toBe(303);
    expect(await admin.listTopics()).not.toContain('console-on-kafka');
  });
});
