import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { FileIo, OpenOptions, StorageFile } from './types.js';

interface MmapBinding {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  PROT_READ: number;
  MAP_SHARED: number;
}

// The addon is CommonJS; load it lazily so the fd implementation works where it is not built.
let binding: MmapBinding | undefined;
function mmapBinding(): MmapBinding {
  if (binding === undefined) {
    const require = createRequire(import.meta.url);
    const mod = require('@riaskov/mmap-io') as MmapBinding & { default?: MmapBinding };
    binding = mod.default ?? mod;
  }
  return binding;
}

/** Mappings grow in powers of two up to this step, then by whole steps, so a growing file is remapped rarely. */
const MAP_STEP_BYTES = 64 << 20;
const MIN_MAP_BYTES = 1 << 20;

function mapSizeFor(end: number): number {
  if (end >= MAP_STEP_BYTES) return Math.ceil(end / MAP_STEP_BYTES) * MAP_STEP_BYTES;
  let size = MIN_MAP_BYTES;
  while (size < end) size *= 2;
  return size;
}

/**
 * A file whose reads are views of a shared, read-only mapping and whose writes are positional
 * (pwrite). Linux's page cache is unified, so a view shows written bytes at once. Writing through
 * the mapping instead takes a page fault for every fresh 4 KiB page: measured here at about half
 * the throughput (1.2 vs 2.3 GB/s on tmpfs, 16 KiB appends).
 *
 * The mapping is made on the first read and only ever replaced by a larger one (old views stay
 * valid: the kernel keeps a mapping until its Buffer is collected). It may extend past the end of
 * the file, but views are only handed out below the file's length. Mapping lazily and in
 * bounded steps matters: V8 counts a mapping as external memory, and a thousand partitions with
 * gigabyte-sized mappings kept the garbage collector busy most of the time.
 */
export class MmapFile implements StorageFile {
  readonly path: string;
  private fd: number;
  private length: number;
  private map: Buffer | null = null;

  constructor(path: string, options: OpenOptions) {
    this.path = path;
    this.fd = fs.openSync(path, options.create && !fs.existsSync(path) ? 'w+' : 'r+');
    this.length = fs.fstatSync(this.fd).size;
  }

  private mapThrough(end: number): Buffer {
    if (this.map === null || this.map.length < end) {
      const m = mmapBinding();
      this.map = m.map(mapSizeFor(end), m.PROT_READ, m.MAP_SHARED, this.fd, 0);
    }
    return this.map;
  }

  write(src: Buffer, position: number): void {
    let done = 0;
    // Each round makes progress, so the loop is bounded by src.length.
    while (done < src.length) {
      done += fs.writeSync(this.fd, src, done, src.length - done, position + done);
    }
    if (position + src.length > this.length) this.length = position + src.length;
  }

  read(position: number, length: number): Buffer {
    const end = Math.min(position + length, this.length);
    if (end <= position) return Buffer.alloc(0);
    return this.mapThrough(end).subarray(position, end);
  }

  readInto(dst: Buffer, position: number): number {
    const n = Math.min(dst.length, this.length - position);
    if (n <= 0) return 0;
    let done = 0;
    // Each round makes progress or stops at end of file.
    while (done < n) {
      const r = fs.readSync(this.fd, dst, done, n - done, position + done);
      if (r === 0) break;
      done += r;
    }
    return done;
  }

  size(): number {
    return this.length;
  }

  resize(bytes: number): void {
    fs.ftruncateSync(this.fd, bytes);
    this.length = bytes;
  }

  /** Writes go through the page cache (pwrite), so fdatasync alone makes them durable. */
  sync(): void {
    fs.fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.map = null;
  }
}

export const mmapIo: FileIo = {
  kind: 'mmap',
  open: (path, options) => new MmapFile(path, options),
};
