import fs from 'node:fs';
import type { FileIo, OpenOptions, StorageFile } from './types.js';

/** Positional reads and writes on a file descriptor; reads return fresh Buffers. */
export class FdFile implements StorageFile {
  readonly path: string;
  protected fd: number;
  protected length: number;

  constructor(path: string, options: OpenOptions) {
    this.path = path;
    this.fd = fs.openSync(path, options.create && !fs.existsSync(path) ? 'w+' : 'r+');
    this.length = fs.fstatSync(this.fd).size;
  }

  write(src: Buffer, position: number): void {
    let done = 0;
    // A short write is possible in principle; each round makes progress, so the loop is bounded by src.length.
    while (done < src.length) {
      done += fs.writeSync(this.fd, src, done, src.length - done, position + done);
    }
    if (position + src.length > this.length) this.length = position + src.length;
  }

  read(position: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    const n = this.readInto(out, position);
    return n === length ? out : out.subarray(0, n);
  }

  readInto(dst: Buffer, position: number): number {
    let done = 0;
    while (done < dst.length) {
      const n = fs.readSync(this.fd, dst, done, dst.length - done, position + done);
      if (n === 0) break;
      done += n;
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

  /** Reads are copies, so nothing handed out depends on the file. */
  truncate(bytes: number): void {
    this.resize(bytes);
  }

  sync(): void {
    fs.fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  retire(): void {
    this.close();
  }
}

export const fdIo: FileIo = {
  kind: 'fd',
  open: (path, options) => new FdFile(path, options),
};
