// Every package README's example marked `readme-test` runs as its README says (`npx tsx <file>`), against
// the built packages (build first, as `npm test` does), from a directory inside this clone's node_modules
// so that `@sluice/*` resolve as they do for a project that installed them.

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readmeSteps } from './readme-steps.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORK = join(ROOT, 'node_modules', '.cache', `sluice-readme-${process.pid}`);

/** What each README's example prints, as the README says. */
const READMES: Record<string, (stdout: string) => void> = {
  'packages/protocol/README.md': (out) =>
    expect(out).toBe('Metadata v12: 28 bytes, topic orders\n0n k hello\n1n null world\n'),
  'packages/log/README.md': (out) => {
    expect(out).toMatch(/^offsets 0\.\.1, log end 3\n1n b\n2n c\n/);
    expect(out).toMatch(/after reopening: log end 3\n$/);
  },
  'packages/coordinator/README.md': (out) =>
    expect(out).toBe('commit error code 0\ncommitted 42n in 1 record(s)\nafter replay 42n\n'),
  'packages/security/README.md': (out) => expect(out).toBe('alice\n'),
  'apps/broker/README.md': (out) => expect(out).toBe('hello\n'),
  'packages/replication/README.md': (out) => expect(out).toBe('hw 0n\nhw 3n\nacked 0\n'),
  'packages/streams/README.md': (out) => expect(out).toBe('the 3, fox 2, brown 1, dog 1, lazy 1, quick 1\n'),
  'packages/sendfile/README.md': (out) => expect(out).toBe('sent 5 bytes\nreceived world\n'),
};

// Seven examples start npx and tsx at once: on a loaded 2-core CI machine one took over a minute.
const EXAMPLE_TIMEOUT_MS = 150_000;

function run(command: string, cwd: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('sh', ['-c', command], { cwd, env, timeout: EXAMPLE_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

afterAll(() => rmSync(WORK, { recursive: true, force: true }));

// Concurrently: each example spends most of its time starting npx and tsx.
describe.concurrent('package README examples', () => {
  for (const [readme, check] of Object.entries(READMES)) {
    const steps = readmeSteps(readFileSync(join(ROOT, readme), 'utf8'));

    it(`${readme} has one runnable example`, () => {
      expect(steps.map((s) => s.file !== undefined)).toEqual([true]);
    });

    for (const step of steps) {
      it(
        `${readme} line ${step.line}: ${step.command}`,
        async () => {
          const dir = join(WORK, readme.replace(/\W+/g, '-'));
          mkdirSync(dir, { recursive: true });
          // A project of the reader's: ES modules.
          writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
          writeFileSync(join(dir, step.file as string), step.code as string);
          const env = { ...process.env };
          delete env.NODE_OPTIONS;
          const r = await run(step.command, dir, env);
          expect(r.status, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
          check(r.stdout);
        },
        EXAMPLE_TIMEOUT_MS + 10_000,
      );
    }
  }
});
