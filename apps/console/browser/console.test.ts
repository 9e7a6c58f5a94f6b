// The console in Chromium against an embedded broker: each page shows what the test put in the
// cluster; creating a topic, producing a record and finding it, and resetting a group's offsets
// are driven through the UI and checked through the Kafka protocol afterwards.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker } from '@sluice/broker';
import { Admin, Consumer, Kafka, topic } from '@sluice/client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsole } from '../src/index.js';
import { type Stack, startStack } from '../test/helpers.js';
import { launch } from './chromium.js';

let stack: Stack;
let admin: Admin;
let browser: Browser;
let page: Page;
const problems: string[] = [];
/** Set SLUICE_SCREENSHOTS=dir to save a PNG of each page (the README's pictures come from here). */
const shotsDir = process.env.SLUICE_SCREENSHOTS;

async function shot(name: string): Promise<void> {
  if (shotsDir === undefined) return;
  mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage: false });
}

beforeAll(async () => {
  stack = await startStack();
  admin = new Admin({ brokers: [stack.broker.bootstrap] });
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(15_000);
  // A dialog (alert) means script ran from record contents; a console error means a page broke (CSP, JS).
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
  await admin?.close();
  await stack?.stop();
});

const url = (path: string) => stack.console.url + path;

describe('the console in Chromium', () => {
  it('the overview shows the broker and the topics the test made', async () => {
    await admin.createTopics([{ name: 'seen-on-overview', numPartitions: 5 }]);
    await page.goto(url('/'));
    expect(await page.textContent('[data-testid=broker-count]')).toBe('1');
    expect(Number(await page.textContent('[data-testid=partition-count]'))).toBeGreaterThanOrEqual(5);
    expect(await page.textContent('[data-testid=cluster-id]')).toBe(stack.broker.clusterId);
    await shot('overview');
  });

  it('creates a topic through the form, then produces a record and finds it in the message browser', async () => {
    await page.goto(url('/topics'));
    await page.fill('#create-topic input[name=name]', 'made-in-browser');
    await page.fill('#create-topic input[name=partitions]', '3');
    await page.fill('#create-topic textarea[name=configs]', 'retention.ms=3600000');
    await Promise.all([page.waitForURL(/\/topics\/made-in-browser/), page.click('#create-topic button')]);
    expect(await page.textContent('.notice')).toContain('Created made-in-browser');
    expect(await page.locator('#partitions tbody tr').count()).toBe(3);
    const [info] = await admin.describeTopics(['made-in-browser']);
    expect(info.partitions).toHaveLength(3);
    expect((await admin.describeConfigs(2, 'made-in-browser', ['retention.ms']))[0].value).toBe('3600000');
    await shot('topic');

    await page.click('text=Browse messages');
    await page.selectOption('#produce select[name=partition]', '2');
    await page.fill('#produce input[name=key]', 'user-42');
    await page.fill('#produce textarea[name=value]', '{"name":"Ada","visits":3}');
    await page.fill('#produce textarea[name=headers]', 'origin=browser-test');
    await Promise.all([page.waitForURL(/ok=/), page.click('#produce button')]);
    expect(await page.textContent('.notice')).toContain('Produced to partition 2 at offset 0');

    // Through the protocol: the record is in partition 2 with its key and header.
    const consumer = new Consumer({ brokers: [stack.broker.bootstrap] });
    await consumer.assign([{ topic: 'made-in-browser', partition: 2, offset: 'earliest' }]);
    for await (const r of consumer.records(topic('made-in-browser'))) {
      expect(r.key?.toString()).toBe('user-42');
      expect(JSON.parse(r.value?.toString() ?? '')).toEqual({ name: 'Ada', visits: 3 });
      expect(r.headers.origin?.toString()).toBe('browser-test');
      break;
    }
    await consumer.close();

    await page.selectOption('#browse select[name=from]', 'beginning');
    await page.selectOption('#browse select[name=encoding]', 'json');
    await page.fill('#browse input[name=filter]', 'Ada');
    await Promise.all([page.waitForURL(/run=1/), page.click('#browse button')]);
    expect(await page.textContent('[data-testid=browse-summary]')).toContain('1 record(s) shown');
    const valueCell = await page.textContent('#records tbody tr td:nth-child(5) pre');
    expect(valueCell).toBe('{\n  "name": "Ada",\n  "visits": 3\n}');
    expect(await page.textContent('#records tbody tr td:nth-child(6)')).toContain('origin: browser-test');
    await shot('messages');
  });

  it('shows record contents as text, never as markup', async () => {
    await admin.createTopics([{ name: 'hostile', numPartitions: 1 }]);
    const producer = new Kafka({ brokers: [stack.broker.bootstrap] }).producer();
    await producer.send(topic('hostile'), {
      key: Buffer.from('<img src=x onerror="alert(1)">'),
      value: Buffer.from('<script>alert(2)</script><b>bold?</b>'),
    });
    await producer.close();
    await page.goto(url('/topics/hostile/messages?from=beginning'));
    expect(await page.textContent('#records tbody tr td:nth-child(5) pre')).toBe(
      '<script>alert(2)</script><b>bold?</b>',
    );
    expect(await page.locator('#records img, #records b:has-text("bold?")').count()).toBe(0);
    expect(problems.filter((p) => p.startsWith('dialog'))).toEqual([]);
  });

  it('shows a group’s lag, previews a reset, executes it, and the group’s offsets change', async () => {
    await admin.createTopics([{ name: 'orders-ui', numPartitions: 2 }]);
    const producer = new Kafka({ brokers: [stack.broker.bootstrap] }).producer();
    for (let i = 0; i < 8; i++) {
      await producer.send(topic('orders-ui'), { value: Buffer.from(`o${i}`), partition: i % 2 });
    }
    await producer.close();
    const c = new Consumer({ brokers: [stack.broker.bootstrap] }, { groupId: 'ui-group', autoCommit: false });
    await c.commitOffsets([
      { topic: 'orders-ui', partition: 0, offset: 4n },
      { topic: 'orders-ui', partition: 1, offset: 4n },
    ]);
    await c.close();

    await page.goto(url('/groups'));
    await Promise.all([page.waitForURL(/\/groups\/ui-group/), page.click('a:text-is("ui-group")')]);
    expect(await page.textContent('[data-testid=total-lag]')).toBe('0');
    await page.fill('#reset-offsets input[name=topic]', 'orders-ui');
    await page.selectOption('#reset-offsets select[name=to]', 'earliest');
    await page.click('#reset-offsets button');
    await page.waitForSelector('#reset-preview');
    expect(await page.textContent('main')).toContain('Dry run');
    expect(await page.locator('#reset-preview tbody tr').count()).toBe(2);
    // The preview changed nothing.
    expect((await admin.fetchGroupOffsets('ui-group')).map((o) => o.offset)).toEqual([4n, 4n]);
    await shot('reset-preview');
    await Promise.all([page.waitForURL(/\/groups\/ui-group\?ok=/), page.click('#reset-execute button')]);
    expect(await page.textContent('[data-testid=total-lag]')).toBe('8');
    expect((await admin.fetchGroupOffsets('ui-group')).map((o) => o.offset)).toEqual([0n, 0n]);
    await shot('group');
  });

  it('the live page draws charts from the broker’s metrics', async () => {
    await page.goto(url('/live'));
    if (shotsDir !== undefined) {
      // For the picture only: a few seconds of traffic so the chart has a line (bounded: 20 sends).
      await admin.createTopics([{ name: 'live-traffic', numPartitions: 1 }]);
      const producer = new Kafka({ brokers: [stack.broker.bootstrap] }).producer();
      for (let i = 0; i < 20; i++) {
        await producer.send(topic('live-traffic'), { value: Buffer.alloc(2000 + 500 * (i % 7), 120) });
        await new Promise((r) => setTimeout(r, 400));
      }
      await producer.close();
      await expect
        .poll(async () => Number(await page.getAttribute('body', 'data-samples')), { timeout: 15_000 })
        .toBeGreaterThanOrEqual(4);
    }
    // Two readings make the first rate point; the page marks how many it has.
    await page.waitForSelector('body[data-samples]', { timeout: 15_000 });
    expect(await page.locator('#chart-bytes canvas').count()).toBe(1);
    expect(await page.textContent('#live-source')).toContain('Prometheus');
    await shot('live');
  });

  it('deletes a topic after the typed confirmation', async () => {
    await admin.createTopics([{ name: 'to-delete', numPartitions: 1 }]);
    await page.goto(url('/topics/to-delete'));
    await page.fill('#delete-topic input[name=confirm]', 'to-delete');
    await Promise.all([page.waitForURL(/\/topics\?ok=/), page.click('#delete-topic button')]);
    expect(await admin.listTopics()).not.toContain('to-delete');
    await page.goto(url('/topics'));
    await shot('topics');
  });

  it('the ACL page says the cluster has no authorizer (SECURITY_DISABLED) instead of failing', async () => {
    await page.goto(url('/acls'));
    expect(await page.textContent('#acls-disabled')).toContain('SECURITY_DISABLED');
    expect(await page.locator('#create-acl').count()).toBe(0);
  });

  it('adds and deletes ACLs through the page on a cluster with an authorizer, checked with DescribeAcls', async () => {
    // PLAINTEXT connections are User:ANONYMOUS: made a super user, the console may do everything.
    const secured = await startBroker({
      props: {
        'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
        'super.users': 'User:ANONYMOUS',
      },
    });
    const securedConsole = await startConsole({ bootstrap: [secured.bootstrap], port: 0 });
    const securedAdmin = new Admin({ brokers: [secured.bootstrap] });
    const all = {
      resourceType: 1,
      resourceName: null,
      patternType: 1,
      principal: null,
      host: null,
      operation: 1,
      permissionType: 1,
    };
    try {
      await securedAdmin.createAcls([
        {
          resourceType: 3,
          resourceName: 'billing',
          patternType: 3,
          principal: 'User:bob',
          host: '*',
          operation: 3,
          permissionType: 3,
        },
      ]);
      await page.goto(`${securedConsole.url}/acls`);
      expect(await page.locator('#acls tbody tr').count()).toBe(1);
      expect(await page.textContent('#acls tbody tr')).toContain('User:bob');

      await page.selectOption('#create-acl select[name=resourceType]', 'TOPIC');
      await page.fill('#create-acl input[name=resourceName]', 'orders-');
      await page.selectOption('#create-acl select[name=patternType]', 'PREFIXED');
      await page.fill('#create-acl input[name=principal]', 'User:alice');
      await page.selectOption('#create-acl select[name=operation]', 'WRITE');
      await page.selectOption('#create-acl select[name=permissionType]', 'DENY');
      await Promise.all([page.waitForURL(/ok=/), page.click('#create-acl button')]);
      expect(await page.textContent('.notice')).toContain('Added the ACL for User:alice');
      expect(await page.locator('#acls tbody tr').count()).toBe(2);
      const made = await securedAdmin.describeAcls({ ...all, principal: 'User:alice' });
      expect(made).toEqual([
        {
          resourceType: 2,
          resourceName: 'orders-',
          patternType: 4,
          principal: 'User:alice',
          host: '*',
          operation: 4,
          permissionType: 2,
        },
      ]);
      await shot('acls');

      const bobRow = page.locator('#acls tbody tr', { hasText: 'User:bob' });
      await Promise.all([page.waitForURL(/ok=/), bobRow.locator('button').click()]);
      expect(await page.textContent('.notice')).toContain('Deleted 1 ACL(s)');
      const left = await securedAdmin.describeAcls(all);
      expect(left.map((a) => a.principal)).toEqual(['User:alice']);
    } finally {
      await securedAdmin.close();
      await securedConsole.close();
      await secured.stop();
    }
  });

  it('sets, edits and removes client quotas through the page, checked with DescribeClientQuotas', async () => {
    const carol = [{ entityType: 'user', entityName: 'carol' }];
    await admin.alterClientQuotas([{ entity: { user: 'carol' }, set: { consumer_byte_rate: 5000 } }]);
    await page.goto(url('/quotas'));
    expect(await page.textContent('#quotas tbody')).toContain('user=carol');

    // A user with a client id, then the same key again with another value (an edit).
    for (const value of ['1048576', '2097152']) {
      await page.fill('#set-quota input[name=user]', 'dave');
      await page.fill('#set-quota input[name=clientId]', 'reports');
      await page.selectOption('#set-quota select[name=key]', 'producer_byte_rate');
      await page.fill('#set-quota input[name=value]', value);
      await Promise.all([page.waitForURL(/ok=/), page.click('#set-quota button')]);
      expect(await page.textContent('.notice')).toContain(
        `Set producer_byte_rate of user=dave, client-id=reports to ${value}`,
      );
    }
    const dave = [
      { entityType: 'user', entityName: 'dave' },
      { entityType: 'client-id', entityName: 'reports' },
    ];
    const quotaOf = async (entity: typeof dave) =>
      (await admin.describeClientQuotas()).find(
        (e) =>
          Object.keys(e.entity).length === entity.length &&
          entity.every((x) => e.entity[x.entityType] === x.entityName),
      )?.values;
    expect(await quotaOf(dave)).toEqual({ producer_byte_rate: 2097152 });
    await shot('quotas');

    const carolRow = page.locator('#quotas tbody tr', { hasText: 'user=carol' });
    await Promise.all([page.waitForURL(/ok=/), carolRow.locator('button').click()]);
    expect(await page.textContent('.notice')).toContain('Removed consumer_byte_rate of user=carol');
    expect(await quotaOf(carol)).toBeUndefined();
  });

  it('deletes the topics matching a search as a job whose progress page counts up to the end', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `bulk-${String(i).padStart(2, '0')}`);
    await admin.createTopics(names.map((name) => ({ name, numPartitions: 1 })));
    await admin.createTopics([{ name: 'keep-me', numPartitions: 1 }]);
    await page.goto(url('/topics?q=bulk-'));
    await page.fill('#delete-matching input[name=confirm]', '40');
    await Promise.all([page.waitForURL(/\/jobs\//), page.click('#delete-matching button')]);
    // The progress counts in steps of the batch size; the page refreshes until it says done.
    const seen = new Set<string>();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const count = await page.textContent('#job-count').catch(() => null);
      if (count !== null) seen.add(count);
      if ((await page.textContent('#job-state').catch(() => null)) === 'done') break;
      if (Date.now() > deadline) throw new Error(`the job did not end: ${[...seen].join(', ')}`);
      await page.waitForTimeout(100);
    }
    console.log(`bulk delete progress seen: ${[...seen].join(' → ')}`);
    expect(await page.textContent('#job-count')).toBe('40 of 40');
    expect(await page.getAttribute('#job-progress', 'value')).toBe('40');
    await shot('job');
    const left = await admin.listTopics();
    expect(left.filter((n) => n.startsWith('bulk-'))).toEqual([]);
    expect(left).toContain('keep-me');
  });

  it('no page logged an error or opened a dialog', () => {
    expect(problems).toEqual([]);
  });
});
