import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LeasedSlabs } from './read-buffers.js';

/**
 * Node has no munmap: a mapping is unmapped when the garbage collector frees the last view of it.
 * An idle broker may not collect for minutes, and while a deleted segment stays mapped its disk
 * space is not freed (`(deleted)` in /proc/PID/maps). So mappings of deleted (or replaced) files
 * are "retired" here, and once no reader still uses a view of them a full GC is forced, which
 * unmaps them. Readers that keep views past the current tick (a Fetch response waiting in a
 * socket's write queue) hold a ViewLease and release it when done; a lease not released within
 * RETIRED_HOLD_MS of the retirement is revoked (its owner stops using the views, e.g. closes the
 * connection) and the GC runs regardless, as Kafka deletes a segment file.delete.delay.ms after
 * it is removed from the log. Views nobody leased never block: a GC only frees what is unreachable.
 */

/** How long a lease may keep a retired mapping (Kafka's file.delete.delay.ms default). */
export const RETIRED_HOLD_MS = 60_000;
/** Forced GCs run at most this often: a burst of deletions (retention, a topic) costs one. */
export const MIN_GC_INTERVAL_MS = 200;

/** Learns when a mapping's ArrayBuffer is collected (and so unmapped), without keeping it alive. */
const collection = new FinalizationRegistry<MappingUse>((use) => {
  use.collected = true;
});

/** One mapping of a file, and how many leases hold views of it. */
export class MappingUse {
  leases = 0;
  /** Forced GCs run while it was retired and unleased. */
  gcs = 0;
  /** When its file was deleted or replaced (ms), or null while the file is live. */
  retiredAt: number | null = null;
  /** Set once the collector has freed the mapping (its ArrayBuffer, which every view shares). */
  collected = false;
  readonly holders = new Set<ViewLease>();
  /** Runs when the last lease holding it is released (mmap gives the pages back then). */
  onUnleased: (() => void) | null = null;

  constructor(
    readonly path: string,
    map: Buffer,
  ) {
    collection.register(map.buffer, this);
  }
}

/**
 * Views handed to one reader that keeps them past the current tick. `onRevoke` runs when a
 * mapping it holds has been retired longer than the bound; the owner must then drop the views.
 */
export class ViewLease {
  private readonly uses = new Set<MappingUse>();
  /** Pooled memory (fd reads) handed out under this lease, given back on release. */
  private slabs: LeasedSlabs | null = null;
  /** Files whose descriptors responses send from (FileRegion), kept open until release. */
  private files: Set<{ unpin(lease: ViewLease): void }> | null = null;
  private released = false;
  onRevoke: (() => void) | null = null;

  /** Records that this lease holds views of `use` (idempotent). */
  hold(use: MappingUse): void {
    if (this.released || this.uses.has(use)) return;
    this.uses.add(use);
    use.leases++;
    use.holders.add(this);
  }

  /**
   * `length` bytes of pooled memory (see read-buffers.ts; a Buffer of its own when longer than a
   * slab), held by this lease and given back on release; null when the lease is already released.
   */
  borrow(length: number): Buffer | null {
    if (this.released) return null;
    if (this.slabs === null) this.slabs = new LeasedSlabs();
    return this.slabs.carve(length);
  }

  /** Records that this lease keeps `file`'s descriptor open (FdFile.pin); false once released. */
  holdFile(file: { unpin(lease: ViewLease): void }): boolean {
    if (this.released) return false;
    this.files ??= new Set();
    this.files.add(file);
    return true;
  }

  /** The reader is done with every view it took under this lease (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.slabs?.giveBack();
    this.slabs = null;
    if (this.files !== null) for (const file of this.files) file.unpin(this);
    this.files = null;
    for (const use of this.uses) {
      use.leases--;
      use.holders.delete(this);
      if (use.leases === 0) use.onUnleased?.();
      if (use.retiredAt !== null) retired.schedule();
    }
    this.uses.clear();
  }

  /** Mappings and slabs held (for tests). */
  get size(): number {
    return this.uses.size + (this.slabs?.count ?? 0) + (this.files?.size ?? 0);
  }
}

let forcedGc: (() => void) | null | undefined;

/** V8's gc(): the process's own when started with --expose-gc, else obtained once. */
function gcFunction(): (() => void) | null {
  if (forcedGc === undefined) {
    const own = (globalThis as { gc?: () => void }).gc;
    if (typeof own === 'function') forcedGc = own;
    else {
      try {
        // Exposes gc to contexts created from now on; the main context keeps its globals as they were.
        setFlagsFromString('--expose-gc');
        forcedGc = runInNewContext('gc') as () => void;
      } catch {
        forcedGc = null;
      }
    }
  }
  return forcedGc;
}

class RetiredMappings {
  private readonly uses = new Set<MappingUse>();
  private timer: NodeJS.Timeout | null = null;
  private lastGcMs = Number.NEGATIVE_INFINITY;
  /** Forced GCs so far, for tests and metrics. */
  gcCount = 0;
  now: () => number = () => Date.now();

  retire(use: MappingUse): void {
    if (use.retiredAt !== null) return;
    use.retiredAt = this.now();
    this.uses.add(use);
    this.schedule();
  }

  /** Retired mappings not yet unmapped (as far as the collector has told). */
  get pending(): number {
    this.prune();
    return this.uses.size;
  }

  private prune(): void {
    for (const use of this.uses) if (use.collected) this.uses.delete(use);
  }

  /**
   * When `use` next needs something done: a leased mapping at the bound (revoke); an unleased
   * one at once (a GC, at most every MIN_GC_INTERVAL_MS); one that survived a GC (views nobody
   * leased) once more at the bound, after which it is left to the collector.
   */
  private dueAt(use: MappingUse): number {
    const bound = (use.retiredAt ?? 0) + RETIRED_HOLD_MS;
    if (use.leases > 0) return bound;
    const soonest = this.lastGcMs + MIN_GC_INTERVAL_MS;
    return use.gcs === 0 ? soonest : Math.max(bound, soonest);
  }

  /** Arms the timer for the next thing to do. */
  schedule(): void {
    this.prune();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.uses.size === 0) return;
    let due = Number.POSITIVE_INFINITY;
    for (const use of this.uses) due = Math.min(due, this.dueAt(use));
    this.timer = setTimeout(() => this.run(), Math.max(0, due - this.now()));
    // Never the reason a process stays up.
    this.timer.unref();
  }

  private run(): void {
    this.timer = null;
    const now = this.now();
    for (const use of this.uses) {
      if (use.leases > 0 && this.dueAt(use) <= now) {
        // Bounded by the leases holding it; each is released once.
        for (const lease of [...use.holders]) {
          lease.onRevoke?.();
          lease.release();
        }
      }
    }
    const due = [...this.uses].filter((u) => u.leases === 0 && this.dueAt(u) <= now);
    if (due.length > 0) {
      const gc = gcFunction();
      if (gc !== null) {
        gc();
        this.gcCount++;
      }
      this.lastGcMs = now;
      for (const use of due) {
        use.gcs++;
        if (use.gcs >= 2 || gc === null) this.uses.delete(use);
      }
    }
    this.schedule();
  }
}

/** The process's retired mappings (mappings are per process, so is their bookkeeping). */
export const retired = new RetiredMappings();
