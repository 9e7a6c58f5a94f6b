// A start barrier for several generator processes (--producers N): each connects, says it is ready, and
// starts its load only when the harness has heard from all of them, so their windows coincide instead of
// following each process's own start-up (tsx compiles for about a second, longer on a loaded machine).
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** In a generator process: marks it ready in `dir`, then waits for the harness's go (bounded). */
export async function arrive(dir: string, id: string, timeoutMs = 120_000): Promise<void> {
  writeFileSync(join(dir, `ready-${id}`), '');
  const until = Date.now() + timeoutMs;
  while (!existsSync(join(dir, 'go'))) {
    if (Date.now() > until) throw new Error(`no go in ${dir} within ${timeoutMs} ms`);
    // The harness removes the directory when the load failed elsewhere: stop rather than wait it out.
    if (!existsSync(dir)) throw new Error(`start barrier ${dir} withdrawn`);
    await pause(2);
  }
}

/**
 * In the harness: once `n` processes are ready in `dir`, says go. Gives up when `done` settles first
 * (a process failed before arriving) or after `timeoutMs`.
 */
export async function release(dir: string, n: number, done: Promise<unknown>, timeoutMs = 120_000): Promise<boolean> {
  let settled = false;
  done.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const until = Date.now() + timeoutMs;
  while (!settled && Date.now() < until) {
    if (readdirSync(dir).filter((f) => f.startsWith('ready-')).length >= n) {
      writeFileSync(join(dir, 'go'), '');
      return true;
    }
    await pause(5);
  }
  return false;
}
