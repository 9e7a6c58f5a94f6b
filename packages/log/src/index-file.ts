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
  /** Slots of the file that may hold non-zero bytes (entries written, or dropped since). */
  private writtenSlots = 0;

  constructor(io: FileIo, path: string, entrySize: number, maxBytes: number) {
    this.file = io.open(path, { create: true });
    this.entrySize = entrySize;
    this.maxEntries = Math.floor(maxBytes / entrySize);
    const slots = Math.min(Math.floor(this.file.size() / entrySize), this.maxEntries);
    const load = (): [number, Buffer] => {
      const found = this.entriesOnDisk(slots);
      const mem = Buffer.alloc(Math.max(64, found) * entrySize);
      if (found > 0) this.file.readInto(mem.subarray(0, found * entrySize), 0);
      return [found, mem];
    };
    // An empty file needs no reads; otherwise several, through one descriptor where files open per call.
    const [n, mem] =
      slots === 0 ? [0, Buffer.alloc(64 * entrySize)] : this.file.holdOpen ? this.file.holdOpen(load) : load();
    this.mem = mem;
    this.entries = n;
    this.persisted = n;
    this.writtenSlots = n;
  }

  /**
   * Entries in the first `slots` slots of the file. A file preallocated while active and left so
   * by an unclean stop ends in zeros, which are not entries: only the first entry can be all
   * zeros (both fields grow strictly), so the entries are the slots before the first zero slot,
   * found by binary search — reading the whole preallocated file (10 MiB by default) to find them
   * cost every partition 20 MiB and tens of milliseconds at a restart after a crash.
   */
  private entriesOnDisk(slots: number): number {
    if (slots === 0) return 0;
    const slot = Buffer.alloc(this.entrySize);
    const isZero = (i: number): boolean => {
      if (this.file.readInto(slot, i * this.entrySize) < this.entrySize) return true;
      for (let b = 0; b < slot.length; b++) if (slot[b] !== 0) return false;
      return true;
    };
    if (!isZero(slots - 1)) return slots;
    // Most indexes hold a few entries: one read of the first slots usually finds the first zero one.
    const head = Buffer.alloc(Math.min(slots, Math.floor(4096 / this.entrySize)) * this.entrySize);
    const got = Math.floor(this.file.readInto(head, 0) / this.entrySize);
    const zeroInHead = (i: number): boolean => {
      for (let b = i * this.entrySize; b < (i + 1) * this.entrySize; b++) if (head[b] !== 0) return false;
      return true;
    };
    // Slot 0 may be a real entry of zeros (offset 0 at position 0); from slot 1 on, zeros end the entries.
    let lo = 1;
    while (lo < got && !zeroInHead(lo)) lo++;
    if (lo >= got) {
      // The first zero slot lies in [lo, hi]; about 20 reads for a 10 MiB file.
      let hi = slots - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (isZero(mid)) hi = mid;
        else lo = mid + 1;
      }
    }
    // A lone slot of zeros is no entry (as a file of zeros has none).
    return lo === 1 && got > 0 && zeroInHead(0) ? 0 : lo;
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
      if (this.writtenSlots < this.entries) this.writtenSlots = this.entries;
    }
  }

  preallocate(): void {
    this.persist();
    const want = this.maxEntries * this.entrySize;
    if (this.file.size() !== want) {
      // Stale entries past ours must read as zeros.
      if (this.file.size() > this.entries * this.entrySize) this.file.resize(this.entries * this.entrySize);
      this.file.resize(want);
      this.writtenSlots = this.entries;
    }
  }

  trim(): void {
    this.persist();
    if (this.file.size() !== this.entries * this.entrySize) this.file.resize(this.entries * this.entrySize);
    this.writtenSlots = this.entries;
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
    if (this.file.size() === this.maxEntries * this.entrySize) {
      // A preallocated file (the active segment's after a crash) keeps its size, its written slots
      // zeroed: shrinking it and growing it back cost two ftruncates, milliseconds each on ext4.
      const zeros = Buffer.alloc(Math.min(this.writtenSlots * this.entrySize, 64 * 1024));
      // Bounded by the file size: each round zeroes one chunk.
      for (let at = 0; at < this.writtenSlots * this.entrySize; at += zeros.length) {
        this.file.write(zeros.subarray(0, Math.min(zeros.length, this.writtenSlots * this.entrySize - at)), at);
      }
    } else this.file.resize(0);
    this.writtenSlots = 0;
  }
}
