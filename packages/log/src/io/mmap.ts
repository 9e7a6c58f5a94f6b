import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { FileIo, OpenOptions, StorageFile } from './types.js';

interface MmapBinding {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  sync(buffer: Buffer, offset?: number, size?: number, blocking?: boolean, invalidate?: boolean): void;
  PROT_READ: number;
  PROT_WRITE: number;
  MAP_SHARED: number;
  PAGESIZE: number;
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

/**
 * A file mapped shared and read-write. Reads are views of the mapping; writes are positional. The mapping is only ever
 * replaced by a larger one (old views stay valid: the kernel keeps a mapping until its Buffer is
 * collected), and views are only handed out below the file's length, so trimming the file never
 * leaves a live view past the end of the file.
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
    if (this.length > 0) this.remap(this.length);
  }

  private remap(bytes: number): void {
    const m = mmapBinding();
    this.map = m.map(bytes, m.PROT_READ | m.PROT_WRITE, m.MAP_SHARED, this.fd, 0);
  }

  private ensure(end: number): void {
    if (end > this.length) this.resize(Math.max(end, Math.min(this.length * 2, this.length + (64 << 20))));
  }

  /**
   * Appends go through pwrite into the same page cache the mapping shows (Linux's page cache is
   * unified, so views see the bytes at once). Copying into the mapping instead takes a page fault
   * for every fresh 4 KiB page of the sparse file: measured here at about half the throughput
   * (1.2 vs 2.3 GB/s on tmpfs, 16 KiB appends).
   */
  write(src: Buffer, position: number): void {
    this.ensure(position + src.length);
    let done = 0;
    // Each round makes progress, so the loop is bounded by src.length.
    while (done < src.length) {
      done += fs.writeSync(this.fd, src, done, src.length - done, position + done);
    }
  }

  read(position: number, length: number): Buffer {
    const end = Math.min(position + length, this.length);
    if (this.map === null || end <= position) return Buffer.alloc(0);
    return this.map.subarray(position, end);
  }

  readInto(dst: Buffer, position: number): number {
    if (this.map === null || position >= this.length) return 0;
    return this.map.copy(dst, 0, position, Math.min(this.length, position + dst.length));
  }

  size(): number {
    return this.length;
  }

  resize(bytes: number): void {
    fs.ftruncateSync(this.fd, bytes);
    this.length = bytes;
    if (bytes > 0 && (this.map === null || this.map.length < bytes)) this.remap(bytes);
  }

  sync(): void {
    if (this.map !== null && this.length > 0)
      mmapBinding().sync(this.map, 0, Math.min(this.length, this.map.length), true);
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
