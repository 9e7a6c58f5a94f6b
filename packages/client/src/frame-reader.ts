import { DEFAULT_MAX_FRAME_SIZE, FrameSizeReader } from '@sluice/protocol';

/** Bytes of the reusable buffer that reads land in between large frames. */
const STAGING_BYTES = 64 * 1024;

/**
 * Cuts a socket's bytes into Kafka frames (int32 size, then that many bytes), reading large
 * frames straight into their own buffer: plug `nextBuffer`/`received` into the socket's
 * `onread` option. Reads land in a reusable staging buffer until a frame's size is known; a
 * frame that fits in what was read is copied out of it (responses are mostly small), and the
 * rest of a larger frame is read directly into a buffer of the frame's size, so a multi-MiB
 * Fetch response is copied once, by the kernel, instead of once more to join 64 KiB chunks.
 *
 * The size is checked against `maxFrameSize` before anything is allocated; the frame buffer
 * is allocated uninitialised, so its pages are only touched (resident) as bytes arrive. After
 * an InvalidFrameSizeError the reader stays failed.
 */
export class FrameReader {
  private readonly staging = Buffer.allocUnsafe(STAGING_BYTES);
  private readonly sizes: FrameSizeReader;
  /** The frame being filled by direct reads, and how much of it has arrived. */
  private frame: Buffer | null = null;
  private have = 0;
  /** What nextBuffer() last handed out: `received()` must get that back. */
  private lent: Buffer | null = null;
  readonly maxFrameSize: number;

  constructor(
    private readonly onFrame: (frame: Buffer) => void,
    maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
  ) {
    this.maxFrameSize = maxFrameSize;
    this.sizes = new FrameSizeReader(maxFrameSize);
  }

  /** True between frames. */
  get idle(): boolean {
    return this.sizes.buffered === 0 && this.frame === null;
  }

  /** The buffer the next read fills: the rest of the frame in progress, else the staging buffer. */
  nextBuffer(): Buffer {
    this.lent = this.frame !== null ? this.frame.subarray(this.have) : this.staging;
    return this.lent;
  }

  /** `n` bytes were read into `buf` (what nextBuffer() returned); calls onFrame for every frame completed. */
  received(n: number, buf: Buffer): void {
    if (this.sizes.failure) throw this.sizes.failure;
    if (buf !== this.lent || n > buf.length) throw new Error('frame reader: a read into a buffer it did not lend');
    this.lent = null;
    const frame = this.frame;
    if (frame !== null) {
      this.have += n;
      if (this.have === frame.length) {
        this.frame = null;
        this.have = 0;
        this.onFrame(frame);
      }
      return;
    }
    // Staging: size prefixes and whole frames; a frame cut off at the end continues by direct reads.
    let pos = 0;
    while (pos < n) {
      const size = this.sizes.read(buf, pos, n);
      pos = this.sizes.offset;
      if (size < 0) break;
      // A copy: the staging buffer is reused by the next read.
      const out = Buffer.allocUnsafe(size);
      const take = Math.min(size, n - pos);
      buf.copy(out, 0, pos, pos + take);
      pos += take;
      if (take === size) this.onFrame(out);
      else {
        this.frame = out;
        this.have = take;
      }
    }
  }
}
