// Runs the child against the built @sluice/client (dist: `npm run build` first, as `npm test` does).
// SIGKILL a streams process mid-processing, restart it: every count is right. At-least-once: none
// missing (some may be counted twice); exactly-once: each key's counts are 1, 2, …, n with none
// missing and none twice. The changelog holds the final counts, and a clean restart restores nothing.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const KEYS = 12;
const BATCHES = 12;
const PER_BATCH = 500;

let broker: RunningBroker;
const children: ChildProcess[] = [];
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await broker?.stop();
});

interface Child {
  proc: ChildProcess;
  processed: () => number;
  restored: () => number;
  tasks: () => number;
  exited: Promise<number | null>;
}

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx/esm', CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let last: Array<{ processed: number; restored: number }> = [];
  let buf = '';
  proc.stdout?.on('data', (d) => {
    buf += String(d);
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('METRICS ')) last = JSON.parse(l.slice(8));
  });
  proc.stderr?.on('data', (d) => process.stderr.write(d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    proc,
    processed: () => last.reduce((a, m) => a + m.processed, 0),
    restored: () => last.reduce((a, m) => a + m.restored, 0),
    tasks: () => last.length,
    exited,
  };
}

async function crashAndRestart(guarantee: 'at_least_once' | 'exactly_once_v2'): Promise<void> {
  const brokers = [broker.bootstrap];
  const input = unique('events');
  const output = unique('counts');
  const appId = unique(`crash-${guarantee}`);
  await createTopics(brokers, [input, output], 3);
  const inT = topic(input, { key: serde.string(), value: serde.string() });
  const outT = topic(output, { key: serde.string(), value: serde.json<number>() });
  const dir = stateDir();
  const args = [broker.bootstrap, appId, input, output, guarantee, dir, 'instance-1'];
  const expected = new Map<string, number>();
  let sent = 0;
  const sendBatch = async () => {
    const records = Array.from({ length: PER_BATCH }, (_, i) => {
      const key = `k${(sent + i) % KEYS}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
      return { key, value: String(sent + i) };
    });
    sent += PER_BATCH;
    await produce(brokers, inT, records);
  };

  // A backlog, then the process: killed once it has worked through part of it. More input keeps
  // coming while it works (bounded), so a child that gets through the backlog between two of its
  // metrics reports is still killed with work left.
  for (let b = 0; b < BATCHES; b++) await sendBatch();
  const backlog = sent;
  let child = startChild(args);
  let killed = false;
  const feeding = (async () => {
    for (let b = 0; b < BATCHES * 3 && !killed; b++) await sendBatch();
  })();
  await waitFor('a quarter processed', () => child.processed() >= backlog / 4, 30_000);
  child.proc.kill('SIGKILL');
  killed = true;
  const killedAt = child.processed();
  await child.exited;
  await feeding;
  expect(killedAt).toBeLessThan(sent);
  expect(killedAt).toBeGreaterThan(0);

  child = startChild(args);
  const readCommitted = guarantee === 'exactly_once_v2';
  const last = new Map<string, number>();
  let out: Awaited<ReturnType<typeof readTopic<string, number>>> = [];
  await waitFor(
    'every count reached',
    async () => {
      out = await readTopic(brokers, outT, sent, { readCommitted, settleMs: 200, timeoutMs: 5000 });
      last.clear();
      for (const r of out) last.set(r.key, r.value);
      return [...expected].every(([k, n]) => (last.get(k) ?? 0) >= n);
    },
    60_000,
  );
  const updates = new Map<string, number[]>();
  for (const r of out) updates.set(r.key, [...(updates.get(r.key) ?? []), r.value]);
  for (const [k, n] of expected) {
    const seq = updates.get(k) ?? [];
    if (guarantee === 'exactly_once_v2') {
      // None missing, none twice.
      expect(seq, k).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    } else {
      // None missing: every count from 1 to n was reached (a replay after the crash may count some twice).
      for (let i = 1; i <= n; i++) expect(seq.includes(i), `${k} reached ${i}`).toBe(true);
    }
  }

  // The changelog's latest value per key is the final count (what a restore rebuilds).
  const changelog = topic(`${appId}-counts-changelog`, { key: serde.string(), value: serde.json<number>() });
  const logged = await readTopic(brokers, changelog, KEYS, { readCommitted, settleMs: 300, timeoutMs: 10_000 });
  const fromLog = new Map<string, number>();
  for (const r of logged) fromLog.set(r.key, r.value);
  expect(fromLog).toEqual(last);

  // A clean stop writes checkpoints: the next start restores nothing and processes nothing again.
  child.proc.kill('SIGTERM');
  expect(await child.exited).toBe(0);
  child = startChild(args);
  await waitFor('tasks assigned again', () => child.tasks() === 3);
  await new Promise((r) => setTimeout(r, 1000));
  expect(child.restored()).toBe(0);
  expect(child.processed()).toBe(0);
  child.proc.kill('SIGTERM');
  await child.exited;
}

it('at-least-once: after SIGKILL and restart no count is missing', async () => {
  await crashAndRestart('at_least_once');
}, 90_000);

it('exactly-once: after SIGKILL and restart every count is reached once', async () => {
  await crashAndRestart('exactly_once_v2');
}, 90_000);
