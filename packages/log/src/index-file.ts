import type { FileIo, StorageFile } from './io/types.js';

/**
 * A file of fixed-size entries, kept in memory and written behind: entries are appended to a
 * heap buffer and reach the file on persist() (flush, roll, close). After an unclean stop the
 * indexes past the recovery point are rebuilt from the log, so unpersisted entries are never
 * trusted. While active the file is preallocated to its maximum size, as Kafka does, and trimmed
 * to the entries on roll and close.
 */
export class IndexFile {
  readonly file: StorageFile;
  readonly entrySize: number;
  readonly maxEntries: number;
  entries = 0;
  mem: Buffer;
  private persisted = 0;

  constructor(io: FileIo, path: string, entrySize: number, maxBytes: number) {
    this.file = io.open(path, { create: true });
    this.entrySize = entrySize;
    this.maxEntries = Math.floor(maxBytes / entrySize);
    const onDisk = Math.min(Math.floor(this.file.size() / entrySize), this.maxEntries);
    this.mem = Buffer.alloc(Math.max(64, onDisk) * entrySize);
    let n = onDisk;
    if (n > 0) {
      this.file.readInto(this.mem.subarray(0, n * entrySize), 0);
      // A preallocated file left by an unclean stop ends in zeros: they are not entries.
      let last = n * entrySize - 1;
      while (last >= 0 && this.mem[last] === 0) last--;
      n = Math.ceil((last + 1) / entrySize);
    }
    this.entries = n;
    this.persisted = n;
  }

  get path(): string {
    return this.file.path;
  }

  get isFull(): boolean {
    return this.entries >= this.maxEntries;
  }

  /** Space for one more entry; returns its byte position in `mem`. */
  protected grow(): number {
    const at = this.entries * this.entrySize;
    if (at + this.entrySize > this.mem.length) {
      const bigger = Buffer.alloc(Math.min(this.mem.length * 2, this.maxEntries * this.entrySize));
      this.mem.copy(bigger, 0, 0, at);
      this.mem = bigger;
    }
    this.entries++;
    return at;
  }

  truncateEntries(n: number): void {
    if (n < this.entries) {
      this.entries = n;
      if (this.persisted > n) this.persisted = n;
      // Zero the dropped entries on disk too, so a preallocated file never shows stale ones.
      this.mem.fill(0, n * this.entrySize);
    }
  }

  persist(): void {
    if (this.persisted < this.entries) {
      const from = this.persisted * this.entrySize;
      this.file.write(this.mem.subarray(from, this.entries * this.entrySize), from);
      this.persisted = this.entries;
    }
  }

  preallocate(): void {
    this.persist();
    const want = this.maxEntries * this.entrySize;
    if (this.file.size() !== want) {
      // Stale entries past ours must read as zeros.
      if (this.file.size() > this.entries * this.entrySize) this.file.resize(this.entries * this.entrySize);
      this.file.resize(want);
    }
  }

  trim(): void {
    this.persist();
    if (this.file.size() !== this.entries * this.entrySize) this.file.resize(this.entries * this.entrySize);
  }

  sync(): void {
    this.persist();
    this.file.sync();
  }

  close(): void {
    this.file.close();
  }

  /** Rewrites the file from scratch (after a rebuild). */
  reset(): void {
    this.entries = 0;
    this.persisted = 0;
    this.mem.fill(0);
    this.file.resize(0);
  }
}
