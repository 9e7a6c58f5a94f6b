import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { isDiskFailure, LogStorageError } from './errors.js';

export const LOCK_FILE = '.lock';

interface FlockBinding {
  flockSync(fd: number, flags: 'exnb' | 'un'): void;
}

// Node has no flock(2); fs-ext is a small maintained addon that has it. CommonJS, loaded lazily
// as the mmap addon is, so that bundles keep it outside.
let binding: FlockBinding | undefined;
function flock(): FlockBinding {
  if (binding === undefined) binding = createRequire(import.meta.url)('fs-ext') as FlockBinding;
  return binding;
}

/**
 * Takes the data directory's lock: an exclusive flock(2) on `.lock`, held through an open
 * descriptor for as long as the process runs or until released. The kernel drops it when the
 * owner exits however it exits, so a crashed owner never blocks a restart and a live one always
 * does, whatever pid it had (a pid in the file could be reused: in a container the broker is
 * always pid 1). The file keeps the owner's pid for the error message only. The file is never
 * removed: a process that opened it could otherwise lock an unlinked file while a third creates
 * a new one. Returns the release function.
 */
export function lockDataDir(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  try {
    flock().flockSync(fd, 'exnb');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    let owner = '';
    try {
      owner = fs.readFileSync(fd, 'utf8').trim();
    } catch {
      // The pid is only for the message.
    }
    fs.closeSync(fd);
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
      const who = /^\d+$/.test(owner) ? `process ${owner}` : 'another process';
      throw new LogStorageError(
        file,
        0,
        `data directory ${dir} is already in use by ${who} (it holds the lock on ${file})`,
      );
    }
    throw new LogStorageError(file, 0, `could not lock data directory ${dir}: ${(e as Error).message}`);
  }
  try {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${process.pid}\n`, 0);
  } catch (err) {
    // A full disk: the pid is only for others' error messages; the flock is the lock.
    if (!isDiskFailure(err)) {
      fs.closeSync(fd);
      throw err;
    }
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    // Closing the descriptor drops the lock.
    fs.closeSync(fd);
  };
}
