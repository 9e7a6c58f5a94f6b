// How long the console takes to answer its heaviest pages: a topic with 1,000 partitions, a group
// with 200 members, the topic list and a message-browser page over every partition. The broker runs
// in its own process (as in production); the console and the group's members run here.
// Run: npm run build && npm run bench -w @sluice/console   (prints medians of 7 loads each, in ms)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, Consumer, Kafka, topic } from '@sluice/client';
import { startConsole } from '../src/index.js';

const PARTITIONS = 1000;
const MEMBERS = 200;
const LOADS = 7;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The first load (connections and caches cold), then LOADS more. */
async function timeLoads(url: string, expectText: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i <= LOADS; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    const body = await res.text();
    out.push(performance.now() - t0);
    if (res.status !== 200 || !body.includes(expectText))
      throw new Error(`${url}: ${res.status} without "${expectText}"`);
  }
  return out;
}

const dataDir = mkdtempSync(join(tmpdir(), 'sluice-console-bench-'));
const port = await freePort();
const cli = fileURLToPath(new URL('../../broker/dist/cli.js', import.meta.url));
const broker = spawn(
  process.execPath,
  [cli, 'broker', '--port', String(port), '--data-dir', dataDir, '-o', 'group.initial.rebalance.delay.ms=0'],
  { stdio: 'ignore' },
);
const bootstrap = `127.0.0.1:${port}`;
const consumers: Consumer[] = [];
let running: Awaited<ReturnType<typeof startConsole>> | undefined;
const admin = new Admin({ brokers: [bootstrap] });
try {
  await until(
    'the broker',
    async () => {
      await admin.listTopics();
      return true;
    },
    30_000,
  );
  await admin.createTopics([{ name: 'big', numPartitions: PARTITIONS }]);
  const producer = new Kafka({ brokers: [bootstrap] }).producer();
  await Promise.all(
    Array.from({ length: PARTITIONS }, (_, p) =>
      producer.send(topic('big'), { value: Buffer.from(`record in partition ${p}`), partition: p }),
    ),
  );
  await producer.close();
  for (let i = 0; i < MEMBERS; i++) {
    const c = new Consumer({ brokers: [bootstrap], clientId: `member-${i}` }, { groupId: 'wide', autoCommit: false });
    consumers.push(c);
    void (async () => {
      for await (const _ of c.records(topic('big'))) {
        // Reading keeps the member in the group; the records do not matter here.
      }
    })().catch(() => {});
  }
  await until(
    `${MEMBERS} members in a stable group`,
    async () => {
      const g = await admin.describeGroup('wide');
      return g.state === 'Stable' && g.members.length === MEMBERS;
    },
    120_000,
  );
  running = await startConsole({ bootstrap: [bootstrap], port: 0 });
  const pages: Array<[string, string, string]> = [
    [`topic page, ${PARTITIONS} partitions`, '/topics/big', `Partitions (${PARTITIONS})`],
    [`group page, ${MEMBERS} members`, '/groups/wide', `data-testid="member-count">${MEMBERS}<`],
    ['topic list', '/topics', '/topics/big'],
    [`newest 50 over ${PARTITIONS} partitions`, '/topics/big/messages?from=newest&limit=50', '50 record(s) shown'],
  ];
  console.log(`| page | first load ms | median ms (next ${LOADS}) | min | max |\n|---|---|---|---|---|`);
  for (const [label, path, expectText] of pages) {
    const [first, ...t] = await timeLoads(running.url + path, expectText);
    const ms = (x: number) => x.toFixed(0);
    console.log(`| ${label} | ${ms(first)} | ${ms(median(t))} | ${ms(Math.min(...t))} | ${ms(Math.max(...t))} |`);
  }
} finally {
  await running?.close();
  await Promise.allSettled(consumers.map((c) => c.close()));
  await admin.close();
  broker.kill('SIGTERM');
  await new Promise((r) => broker.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
