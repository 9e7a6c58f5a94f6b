import fs from 'node:fs';
import path from 'node:path';
import { isDiskFailure, LogStorageError } from './errors.js';

export const LOCK_FILE = '.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data directory's lock: `.lock` holding the owner's pid, created exclusively. A lock
 * left by a process that no longer runs is taken over. Returns the release function.
 */
export function lockDataDir(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  // Two rounds: the second after removing a stale lock.
  for (let round = 0; round < 2; round++) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, `${process.pid}\n`);
      } catch (err) {
        // A full disk: the lock is the file itself, so the broker can still start (read-only).
        if (!isDiskFailure(err)) throw err;
      } finally {
        fs.closeSync(fd);
      }
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new LogStorageError(file, 0, `data directory ${dir} is already in use by process ${pid}`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new LogStorageError(file, 0, `could not lock data directory ${dir}`);
}
