import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const roots: string[] = [];

/** A fresh directory for a test, on tmpfs when there is one (fsync is then cheap); see removeTestRoots. */
export function testRoot(prefix: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, `sluice-${prefix}-`));
  roots.push(dir);
  return dir;
}

export function removeTestRoots(): void {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
}
