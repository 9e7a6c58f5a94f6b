import type { ViewLease } from './retired-mappings.js';

/**
 * One file of a segment (log or index) behind the I/O strategy the config chose. Positions and
 * sizes are byte numbers below 2^53. Callers track how much of the file holds valid data.
 */
export interface StorageFile {
  readonly path: string;
  /** Copies `src` into the file at `position`, growing the file when needed. */
  write(src: Buffer, position: number): void;
  /**
   * `length` bytes at `position`: a zero-copy view (mmap) or a fresh Buffer (fd). A reader that
   * keeps the view past the current tick passes a lease and releases it when done with the view.
   */
  read(position: number, length: number, lease?: ViewLease): Buffer;
  /** Fills `dst` from `position`; returns the bytes read (short at end of file). */
  readInto(dst: Buffer, position: number): number;
  /** Current length of the file on disk. */
  size(): number;
  /** Sets the file length (preallocation up, trimming down); no view may reach past `bytes`. */
  resize(bytes: number): void;
  /**
   * Cuts the file to `bytes` while views handed out earlier keep showing what they showed: mmap
   * moves the kept bytes to a new file when a view reaches past the cut; fd shrinks in place.
   */
  truncate(bytes: number): void;
  /** Makes everything written so far durable. */
  sync(): void;
  close(): void;
  /** Closes a file that has been (or is about to be) deleted or replaced, freeing its mappings promptly. */
  retire(): void;
  /** Runs `use` with one descriptor for all its calls, where the file otherwise opens per call. */
  holdOpen?<T>(use: () => T): T;
}

export interface OpenOptions {
  /** Create the file if missing (never truncates an existing file). */
  create: boolean;
}

export type IoKind = 'mmap' | 'fd';

export interface FileIo {
  readonly kind: IoKind;
  open(path: string, options: OpenOptions): StorageFile;
}
