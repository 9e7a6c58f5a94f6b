import fs from 'node:fs';
import path from 'node:path';
import { LogStorageError } from './errors.js';

/** Upper bound on lines in a checkpoint file, so a corrupt count cannot run away. */
const MAX_CHECKPOINT_ENTRIES = 1_000_000;

/**
 * Replaces `file` with `data` so that a crash leaves either the old or the new content: written to
 * a temp file, fsynced, renamed over the old one, and the directory synced so the rename lasts.
 */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (err) {
    // A partial temp file (a full disk) would only take more of the space that is missing.
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

/**
 * The first half of writeFileAtomic on the libuv threadpool: `data` written to a temp file beside
 * `file` (its own name, so a synchronous writeFileAtomic meanwhile does not share it) and fsynced.
 * Returns the temp file's path; the caller renames it over `file` and syncs the directory.
 */
export async function writeTempInBackground(file: string, data: string): Promise<string> {
  const tmp = `${file}.bg.tmp`;
  const handle = await fs.promises.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  return tmp;
}

export async function syncDirInBackground(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Kafka's checkpoint text format: a version line (0), a count line, then one entry per line with
 * space-separated fields, replaced atomically.
 */
export function writeCheckpointFile(file: string, lines: readonly string[]): void {
  writeFileAtomic(file, checkpointText(lines));
}

function checkpointText(lines: readonly string[]): string {
  return `0\n${lines.length}\n${lines.map((l) => `${l}\n`).join('')}`;
}

/** Entry lines of a checkpoint file, each split into fields; [] when the file is missing. */
export function readCheckpointFile(file: string, fieldsPerLine: number): string[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const lines = text.split('\n');
  let pos = 0;
  const fail = (line: number, what: string): never => {
    throw new LogStorageError(file, pos, `line ${line + 1}: ${what}`);
  };
  if (lines[0]?.trim() !== '0') fail(0, `unsupported version "${lines[0]}"`);
  pos += lines[0].length + 1;
  const count = Number(lines[1]);
  if (!Number.isInteger(count) || count < 0 || count > MAX_CHECKPOINT_ENTRIES) fail(1, `bad entry count "${lines[1]}"`);
  pos += (lines[1]?.length ?? 0) + 1;
  const out: string[][] = [];
  for (let i = 0; i < count; i++) {
    const line = lines[2 + i];
    if (line === undefined) fail(2 + i, `expected ${count} entries, found ${i}`);
    const fields = line.trim().split(/\s+/);
    if (fields.length !== fieldsPerLine) fail(2 + i, `expected ${fieldsPerLine} fields, got "${line}"`);
    out.push(fields);
    pos += line.length + 1;
  }
  return out;
}

/** `topic partition offset` checkpoints (recovery point, log start offset). */
export function readOffsetCheckpoint(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [topic, partition, offset] of readCheckpointFile(file, 3)) {
    if (!/^\d+$/.test(partition) || !/^-?\d+$/.test(offset)) {
      throw new LogStorageError(file, 0, `bad entry "${topic} ${partition} ${offset}"`);
    }
    out.set(`${topic}-${partition}`, BigInt(offset));
  }
  return out;
}

export function writeOffsetCheckpoint(
  file: string,
  entries: Iterable<[topic: string, partition: number, offset: bigint]>,
): void {
  writeFileAtomic(file, offsetCheckpointText(entries));
}

/** The text of a `topic partition offset` checkpoint file. */
export function offsetCheckpointText(entries: Iterable<[topic: string, partition: number, offset: bigint]>): string {
  const lines: string[] = [];
  for (const [t, p, o] of entries) lines.push(`${t} ${p} ${o}`);
  return checkpointText(lines);
}

export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
