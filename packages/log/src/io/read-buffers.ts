/**
 * Memory for positional reads that a lease holds (a Fetch response's record batches read with
 * `log.io=fd`), taken back when the lease is released (the response has left for the socket) and
 * handed to later reads. A fresh Buffer per read is external memory to V8, which runs a full
 * (mark-compact) collection after every ~64 MiB of it: at a fetch rate of ~1 GiB/s that was a
 * dozen collections a second, and anonymous memory peaked with whatever awaited collection.
 *
 * The memory comes in slabs of SLAB_BYTES; a lease carves its reads one after another out of its
 * current slab and takes another when the next read does not fit, so a thousand small partition
 * reads share a few slabs. A read longer than a slab gets a Buffer of its own; when no slab is free
 * a new one is made (the pool never waits). Free slabs are kept up
 * to MAX_FREE_BYTES in all (more are left to the GC): slabs are made only when none is free, so the
 * pool holds at most what was in use at once, which was resident then anyway. After IDLE_TRIM_MS
 * without a read the free slabs are let go, so an idle broker gives the memory back.
 */
export const SLAB_BYTES = 1 << 20;
export const MAX_FREE_BYTES = 64 << 20;
export const IDLE_TRIM_MS = 10_000;

export class ReadBuffers {
  private readonly free: Buffer[] = [];
  /** Bytes of slabs taken and not given back: reads that responses still hold. */
  private inUse = 0;
  private lastTakeMs = 0;
  private trimTimer: NodeJS.Timeout | null = null;
  now: () => number = () => Date.now();

  /** A slab (its contents arbitrary). */
  take(): Buffer {
    this.lastTakeMs = this.now();
    this.inUse += SLAB_BYTES;
    // Its own ArrayBuffer (not a slice of Node's shared pool), so that it can be handed on whole.
    return this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  /** A read longer than a slab, in a Buffer of its own (not pooled), counted in use until `untake`. */
  takeOwn(length: number): Buffer {
    this.inUse += length;
    return Buffer.allocUnsafeSlow(length);
  }

  /** The holder of `bytes` taken with takeOwn no longer uses them (the GC frees them). */
  untake(bytes: number): void {
    this.inUse -= bytes;
  }

  /** Takes back a slab `take` gave; its holder must no longer use it. */
  give(slab: Buffer): void {
    this.inUse -= SLAB_BYTES;
    if ((this.free.length + 1) * SLAB_BYTES > MAX_FREE_BYTES) return;
    this.free.push(slab);
    if (this.trimTimer === null) this.armTrim(IDLE_TRIM_MS);
  }

  private armTrim(ms: number): void {
    this.trimTimer = setTimeout(() => {
      this.trimTimer = null;
      const idle = this.now() - this.lastTakeMs;
      if (idle >= IDLE_TRIM_MS) this.free.length = 0;
      else if (this.free.length > 0) this.armTrim(IDLE_TRIM_MS - idle);
    }, ms);
    // Never the reason a process stays up.
    this.trimTimer.unref();
  }

  /**
   * Bytes of slabs that leases hold: what Fetch responses not yet written keep read. A broker bounds
   * it (log.io.read.max.bytes): with fd reads, responses in flight are memory of its own, not page cache.
   */
  get inUseBytes(): number {
    return this.inUse;
  }

  /** Bytes held free (for tests). */
  get freeByteCount(): number {
    return this.free.length * SLAB_BYTES;
  }
}

/** The process's read buffers. */
export const readBuffers = new ReadBuffers();

/** Bytes the process's leases hold read into slabs (log.io=fd; 0 with mmap, whose views are page cache). */
export function readBytesInFlight(): number {
  return readBuffers.inUseBytes;
}

/** The slabs one lease reads into. */
export class LeasedSlabs {
  private readonly slabs: Buffer[] = [];
  /** Bytes used of the last slab. */
  private used = SLAB_BYTES;
  /** Bytes of reads longer than a slab, each in a Buffer of its own. */
  private ownBytes = 0;

  /** `length` bytes of a slab, or of a Buffer of its own when longer than one. */
  carve(length: number): Buffer {
    if (length > SLAB_BYTES) {
      this.ownBytes += length;
      return readBuffers.takeOwn(length);
    }
    if (this.used + length > SLAB_BYTES) {
      this.slabs.push(readBuffers.take());
      this.used = 0;
    }
    const slab = this.slabs[this.slabs.length - 1];
    const out = slab.subarray(this.used, this.used + length);
    this.used += length;
    return out;
  }

  /** Slabs held. */
  get count(): number {
    return this.slabs.length;
  }

  /** Gives every slab back; nothing carved from them may be used afterwards. */
  giveBack(): void {
    for (const s of this.slabs) readBuffers.give(s);
    readBuffers.untake(this.ownBytes);
    this.ownBytes = 0;
    this.slabs.length = 0;
    this.used = SLAB_BYTES;
  }
}
