import fs from 'node:fs';
import { RETIRED_HOLD_MS, type ViewLease } from './retired-mappings.js';
import type { FileIo, OpenOptions, StorageFile } from './types.js';

/** Read-write, created when missing and asked to (O_CREAT without O_TRUNC: an existing file is kept as it is). */
function openFlags(options: OpenOptions): number {
  const { O_RDWR, O_CREAT } = fs.constants;
  return options.create ? O_RDWR | O_CREAT : O_RDWR;
}

/** Positional reads and writes on a file descriptor; reads return fresh Buffers. */
export class FdFile implements StorageFile {
  readonly path: string;
  protected fd: number;
  protected length: number;
  /** Leases whose responses send straight from this descriptor (sendfile): it stays open for them. */
  private pins: Set<ViewLease> | null = null;
  /** Set by close() while pinned: the descriptor closes when the last pin goes (or at the bound). */
  private closeWhenUnpinned: NodeJS.Timeout | null = null;

  constructor(path: string, options: OpenOptions) {
    this.path = path;
    this.fd = fs.openSync(path, openFlags(options));
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

  /** A read under a lease lands in a pooled buffer (see read-buffers.ts), taken back when the lease is released. */
  read(position: number, length: number, lease?: ViewLease): Buffer {
    const pooled = lease === undefined ? null : lease.borrow(length);
    const out = pooled ?? Buffer.allocUnsafe(length);
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

  /**
   * The descriptor, kept open until `lease` is released, for a reader that sends from it later
   * (a Fetch response's FileRegion): closing the file meanwhile (a deleted or replaced segment)
   * waits for the lease, so the number is never reused by another file while a response may still
   * send from it. A lease still held RETIRED_HOLD_MS after the close is revoked (its connection
   * closes), as a mapping's is. Null when the file is closed already.
   */
  pin(lease: ViewLease): number | null {
    if (this.fd < 0 || this.closeWhenUnpinned !== null) return null;
    if (!lease.holdFile(this)) return null;
    this.pins ??= new Set();
    this.pins.add(lease);
    return this.fd;
  }

  /** `lease` no longer sends from the descriptor (its release). */
  unpin(lease: ViewLease): void {
    if (this.pins === null || !this.pins.delete(lease)) return;
    if (this.pins.size === 0 && this.closeWhenUnpinned !== null) this.closeNow();
  }

  /** Leases pinning the descriptor (for tests). */
  get pinCount(): number {
    return this.pins?.size ?? 0;
  }

  close(): void {
    if (this.pins !== null && this.pins.size > 0) {
      if (this.closeWhenUnpinned === null) {
        this.closeWhenUnpinned = setTimeout(() => {
          // Revoking closes the holders' connections, which release their leases (and so unpin).
          for (const lease of [...(this.pins ?? [])]) lease.onRevoke?.();
          this.closeNow();
        }, RETIRED_HOLD_MS);
        // Never the reason a process stays up.
        this.closeWhenUnpinned.unref();
      }
      return;
    }
    this.closeNow();
  }

  private closeNow(): void {
    if (this.closeWhenUnpinned !== null) clearTimeout(this.closeWhenUnpinned);
    this.closeWhenUnpinned = null;
    this.pins = null;
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

/**
 * A file opened for each operation and closed after it, so it holds no descriptor in between.
 * For the indexes: they live in memory and touch their files only on flush, roll and close, so
 * a partition costs one descriptor (its active log), not three — as Kafka, whose indexes are
 * mapped and closed.
 */
export class OnDemandFdFile implements StorageFile {
  readonly path: string;
  private length: number;

  constructor(path: string, options: OpenOptions) {
    this.path = path;
    const fd = fs.openSync(path, openFlags(options));
    try {
      this.length = fs.fstatSync(fd).size;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The descriptor holdOpen keeps for the calls inside it. */
  private held: FdFile | null = null;

  /** Runs `use` with the file opened once for every call inside it (an index read at start-up: several reads). */
  holdOpen<T>(use: () => T): T {
    if (this.held !== null) return use();
    this.held = new FdFile(this.path, { create: false });
    try {
      return use();
    } finally {
      this.held.close();
      this.held = null;
    }
  }

  private with<T>(use: (file: FdFile) => T): T {
    if (this.held !== null) return use(this.held);
    const file = new FdFile(this.path, { create: false });
    try {
      return use(file);
    } finally {
      file.close();
    }
  }

  write(src: Buffer, position: number): void {
    this.with((f) => f.write(src, position));
    if (position + src.length > this.length) this.length = position + src.length;
  }

  read(position: number, length: number): Buffer {
    return this.with((f) => f.read(position, length));
  }

  readInto(dst: Buffer, position: number): number {
    return this.with((f) => f.readInto(dst, position));
  }

  size(): number {
    return this.length;
  }

  resize(bytes: number): void {
    fs.truncateSync(this.path, bytes);
    this.length = bytes;
  }

  truncate(bytes: number): void {
    this.resize(bytes);
  }

  /** fsync applies to the file, whichever descriptor asks. */
  sync(): void {
    this.with((f) => f.sync());
  }

  close(): void {}

  retire(): void {}
}

export const onDemandFdIo: FileIo = {
  kind: 'fd',
  open: (path, options) => new OnDemandFdFile(path, options),
};
