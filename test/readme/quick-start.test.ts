// The root README's quick start as a new user runs it: a fresh `git clone` of this repository's HEAD
// (committed work only), `npm install && npm start` exactly as written, then every example marked
// `readme-test` in README order, checking their output and exit codes. Two things differ from a
// user's terminal, both so that the test can run beside other brokers: the broker listens on a free
// port (SLUICE_LISTENERS) and the examples are pointed at it (the address in the code,
// `--bootstrap-server` appended to `npx sluice` commands); npm is told to prefer its cache.
// `npm install && npm test` (the second quick-start line) is not run: it is the whole suite.
// Takes a minute or two (install and a cold build), so it runs with `npm run test:readme`.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReadmeStep, readmeSteps } from './readme-steps.js';

// The repository cloned: this one, or SLUICE_README_REPO (to show the test failing on an older commit).
const ROOT = process.env.SLUICE_README_REPO ?? fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const QUICK_START = 'npm install && npm start';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** The user's environment: this one without what `npm run` and vitest add. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_(?!config_)|VITEST|NODE_OPTIONS$|TEST$)/.test(k)) continue;
    env[k] = v;
  }
  return {
    ...env,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    TURBO_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
    ...extra,
  };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      process.kill(-(child.pid as number), 'SIGKILL');
      reject(new Error(`\`${command}\` did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A README command pointed at the test's broker. */
function pointed(step: ReadmeStep, bootstrap: string): { command: string; code?: string } {
  const code = step.code?.replaceAll('127.0.0.1:9092', bootstrap);
  if (!step.command.includes('npx sluice')) return { command: step.command, ...(code ? { code } : {}) };
  const last = step.command.split('|').at(-1) as string;
  if (!last.includes('npx sluice')) throw new Error(`README line ${step.line}: npx sluice must end its pipeline`);
  return { command: `${step.command} --bootstrap-server ${bootstrap}` };
}

const steps = readmeSteps(README);
let clone: string;
let bootstrap: string;
let broker: ChildProcess | undefined;
let brokerOut = '';
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  expect(README).toContain(`${QUICK_START}      #`);
  clone = mkdtempSync(join(tmpdir(), 'sluice-readme-'));
  const cloned = spawnSync('git', ['clone', '--quiet', ROOT, clone], { encoding: 'utf8' });
  expect(cloned.status, cloned.stderr).toBe(0);
  const port = await freePort();
  bootstrap = `127.0.0.1:${port}`;
  env = userEnv({});
  broker = spawn('sh', ['-c', QUICK_START], {
    cwd: clone,
    env: userEnv({ SLUICE_LISTENERS: `PLAINTEXT://${bootstrap}` }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const b = broker;
  b.stderr?.on('data', (d: Buffer) => (brokerOut += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no 'listening' line in 8 minutes:\n${brokerOut.slice(-4000)}`)),
      480_000,
    );
    b.stdout?.on('data', (d: Buffer) => {
      brokerOut += d.toString();
      if (/"msg":"listening"/.test(brokerOut)) {
        clearTimeout(timer);
        resolve();
      }
    });
    b.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`\`${QUICK_START}\` exited with ${code}:\n${brokerOut.slice(-4000)}`));
    });
  });
}, 500_000);

afterAll(async () => {
  if (broker?.exitCode === null && broker.pid !== undefined) {
    const exited = once(broker, 'exit');
    process.kill(-broker.pid, 'SIGTERM');
    await exited;
  }
  if (clone) rmSync(clone, { recursive: true, force: true });
}, 60_000);

/** What each README step must print, in README order; a step the README gains or loses fails here first. */
const expected: Array<{ command: RegExp; check(r: Ran): void }> = [
  { command: /^node greetings\.mjs$/, check: () => {} },
  {
    command: /^npx tsx orders\.ts$/,
    check: (r) => expect(r.stdout).toBe('o-1 3\n'),
  },
  {
    command: /^npx sluice topic create events /,
    check: (r) => expect(r.stdout).toBe('Created topic events.\n'),
  },
  {
    command: /\| npx sluice produce events /,
    check: (r) => expect(r.stderr).toMatch(/sent 2 records to events/),
  },
  {
    command: /^npx sluice consume events /,
    check: (r) =>
      expect(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => l.replace(/^\d+:\d+ /, ''))
          .sort(),
      ).toEqual(['k1=hello', 'k2=world']),
  },
  {
    command: /^npx sluice group describe billing$/,
    // The typed example read o-1 (offset 0) of orders' only partition and committed 1 on close.
    check: (r) => expect(r.stdout).toMatch(/^orders\s+0\s+1\s+1\s+0\s+-$/m),
  },
  {
    command: /^npx sluice group reset-offsets billing --topic orders --to-earliest --execute$/,
    check: (r) => {
      expect(r.stdout).toMatch(/^orders\s+0\s+0$/m);
      expect(r.stdout).toMatch(/Committed new offsets for group billing/);
    },
  },
  { command: /^npx tsx embedded\.ts$/, check: () => {} },
];

describe('the README quick start in a fresh clone', () => {
  it('has the examples this test knows, in this order', () => {
    expect(steps.map((s) => s.command)).toHaveLength(expected.length);
    for (const [i, s] of steps.entries()) expect(s.command).toMatch(expected[i].command);
  });

  steps.forEach((step, i) => {
    it(`README line ${step.line}: ${step.command}`, async () => {
      const { command, code } = pointed(step, bootstrap);
      if (step.file !== undefined) writeFileSync(join(clone, step.file), code as string);
      const r = await sh(command, clone, env, 120_000);
      expect(r.code, `exit code of \`${command}\`\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      expected[i]?.check(r);
    });
  });
});
