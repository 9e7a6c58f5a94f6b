/**
 * Buffers for positional reads that a lease holds (a Fetch response's record batches read with
 * `log.io=fd`), taken back when the lease is released (the response has left for the socket) and
 * handed to the next read. A fresh Buffer per read is external memory to V8, which runs a full
 * (mark-compact) collection after every ~64 MiB of it: at a fetch rate of ~1 GiB/s that was a
 * dozen collections a second, and anonymous memory peaked with whatever awaited collection.
 *
 * Sizes are powers of two from MIN_POOLED_BYTES to MAX_POOLED_BYTES; a read outside that range
 * gets a Buffer of its own, as does one made when the free buffers of its size are used up (the
 * pool never waits). Free buffers are kept up to MAX_FREE_BYTES in all; more are left to the GC.
 */
export const MIN_POOLED_BYTES = 16 << 10;
export const MAX_POOLED_BYTES = 4 << 20;
export const MAX_FREE_BYTES = 16 << 20;

function sizeClass(length: number): number {
  let size = MIN_POOLED_BYTES;
  // Bounded: at most log2(MAX_POOLED_BYTES / MIN_POOLED_BYTES) doublings.
  while (size < length) size *= 2;
  return size;
}

export class ReadBuffers {
  /** Free buffers by size. */
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;

  /** A buffer of at least `length` bytes (its contents arbitrary), or null when `length` is not pooled. */
  take(length: number): Buffer | null {
    if (length < MIN_POOLED_BYTES || length > MAX_POOLED_BYTES) return null;
    const size = sizeClass(length);
    const list = this.free.get(size);
    const b = list?.pop();
    if (b !== undefined) {
      this.freeBytes -= size;
      return b;
    }
    // Its own ArrayBuffer (not a slice of Node's shared pool), so that it can be handed on whole.
    return Buffer.allocUnsafeSlow(size);
  }

  /** Takes back a buffer `take` gave; its holder must no longer use it. */
  give(b: Buffer): void {
    if (this.freeBytes + b.length > MAX_FREE_BYTES) return;
    let list = this.free.get(b.length);
    if (list === undefined) {
      list = [];
      this.free.set(b.length, list);
    }
    list.push(b);
    this.freeBytes += b.length;
  }

  /** Bytes held free (for tests). */
  get freeByteCount(): number {
    return this.freeBytes;
  }
}

/** The process's read buffers. */
export const readBuffers = new ReadBuffers();
