// Logging in per browser session in Chromium: a console started with `login` against a SASL
// listener with an authorizer. Two browser contexts (two cookie jars) log in as two users and each
// sees only the topics its ACLs allow; a wrong password shows Kafka's error; logging out ends it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningBroker, startBroker } from '@sluice/broker';
import { Admin } from '@sluice/client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConsole, startConsole } from '../src/index.js';
import { launch } from './chromium.js';

const JAAS =
  'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-pw" user_alice="alice-pw";';
let broker: RunningBroker;
let admin: Admin;
let running: RunningConsole;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
const shotsDir = process.env.SLUICE_SCREENSHOTS;

beforeAll(async () => {
  broker = await startBroker({
    props: {
      listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
      'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-512',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': JAAS,
      'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      'super.users': 'User:admin',
    },
  });
  admin = new Admin({
    brokers: [broker.bootstrap],
    sasl: { mechanism: 'PLAIN', username: 'admin', password: 'admin-pw' },
  });
  await admin.upsertScramCredential('bob', 'SCRAM-SHA-512', 'bob-pw', 4096);
  await admin.createTopics(
    ['alice-orders', 'alice-refunds', 'bob-payments', 'nobodys'].map((name) => ({ name, numPartitions: 1 })),
  );
  await admin.createAcls(
    ['alice', 'bob'].map((user) => ({
      resourceType: 2,
      resourceName: `${user}-`,
      patternType: 4,
      principal: `User:${user}`,
      host: '*',
      operation: 2,
      permissionType: 3,
    })),
  );
  running = await startConsole({ bootstrap: [broker.bootstrap], port: 0, login: true });
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await running?.close();
  await admin?.close();
  await broker?.stop();
});

/** A new browser context: its own cookies, as another person's browser. */
async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // The failed login's 401 and the refused topic's 403 are answers the tests ask for, not broken pages.
    if (m.type() === 'error' && !/status of 40[13]\b/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return page;
}

async function logIn(page: Page, username: string, password: string, mechanism: string): Promise<void> {
  await page.fill('#login input[name=username]', username);
  await page.fill('#login input[name=password]', password);
  await page.selectOption('#login select[name=mechanism]', mechanism);
  await Promise.all([page.waitForNavigation(), page.click('#login button')]);
}

const listed = async (page: Page) => (await page.locator('#topics tbody tr td:first-child a').allTextContents()).sort();

describe('the console with a login per browser session, in Chromium', () => {
  it('logs in, shows the topics page as that user, and logs out', async () => {
    const page = await newPage();
    await page.goto(`${running.url}/topics`);
    expect(new URL(page.url()).pathname).toBe('/login');
    if (shotsDir !== undefined) {
      mkdirSync(shotsDir, { recursive: true });
      await page.screenshot({ path: join(shotsDir, 'login.png') });
    }
    await logIn(page, 'alice', 'alice-pw', 'PLAIN');
    expect(new URL(page.url()).pathname).toBe('/topics');
    expect(await page.textContent('[data-testid=user]')).toBe('alice');
    expect(await listed(page)).toEqual(['alice-orders', 'alice-refunds']);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'sluice_console_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // Script in the page cannot read it.
    expect(await page.evaluate('document.cookie')).toBe('');

    await Promise.all([page.waitForURL(/\/login/), page.click('#logout button')]);
    expect(await page.textContent('.notice')).toContain('Logged out');
    await page.goto(`${running.url}/topics`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });

  it('a wrong password shows the Kafka error and stays on the login page', async () => {
    const page = await newPage();
    await page.goto(`${running.url}/`);
    await logIn(page, 'alice', 'not-her-password', 'PLAIN');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(await page.textContent('.error')).toContain('SASL_AUTHENTICATION_FAILED');
    expect(await page.inputValue('#login input[name=username]')).toBe('alice');
    expect((await page.context().cookies()).filter((c) => c.name === 'sluice_console_session')).toEqual([]);
  });

  it('two sessions with different users see different ACL-filtered topic lists side by side', async () => {
    const alice = await newPage();
    const bob = await newPage();
    await alice.goto(`${running.url}/topics`);
    await bob.goto(`${running.url}/topics`);
    await logIn(alice, 'alice', 'alice-pw', 'PLAIN');
    await logIn(bob, 'bob', 'bob-pw', 'SCRAM-SHA-512');
    await alice.reload();
    expect(await listed(alice)).toEqual(['alice-orders', 'alice-refunds']);
    expect(await listed(bob)).toEqual(['bob-payments']);
    expect(await bob.textContent('[data-testid=user]')).toBe('bob');
    if (shotsDir !== undefined) await bob.screenshot({ path: join(shotsDir, 'topics-as-user.png') });

    // Another user's topic: the authorization error as a message, still logged in.
    await bob.goto(`${running.url}/topics/alice-orders`);
    expect(await bob.textContent('.error')).toContain('TOPIC_AUTHORIZATION_FAILED');
    expect(await bob.textContent('[data-testid=user]')).toBe('bob');
    // Alice logging out leaves Bob's session alone.
    await Promise.all([alice.waitForURL(/\/login/), alice.click('#logout button')]);
    await bob.goto(`${running.url}/topics`);
    expect(await listed(bob)).toEqual(['bob-payments']);
    // Two browsers' worth of pages: 8 s when the machine is quiet, 33 s seen under a load average of 25.
  }, 120_000);

  it('no page opened a dialog or failed a script', () => {
    expect(problems).toEqual([]);
  });
});
