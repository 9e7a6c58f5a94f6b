// Response frames read straight into one buffer per connection (net's `onread`), for the raw-protocol
// fetch generator: the kernel copies each byte once into the buffer, and a frame is handed out as a view
// of it. No buffer per read, no second copy to join a frame's reads, so a generator process can read
// faster than a broker can serve. The view is valid only until the handler returns.

/** Whole frames (without their size prefix) from reads written into `target()`; sizes are checked before use. */
export class InPlaceFrames {
  private buf: Buffer;
  private filled = 0;

  constructor(
    private readonly onFrame: (frame: Buffer) => void,
    capacity = 1 << 20,
    private readonly maxFrameSize = 256 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(64 << 10, capacity));
  }

  /** Where the next read may write (never empty). */
  target(): Buffer {
    if (this.buf.length - this.filled < 64 << 10) this.grow(this.buf.length * 2);
    return this.buf.subarray(this.filled);
  }

  /** `n` bytes were written at target(): hands out every frame now complete, keeps the rest. */
  written(n: number): void {
    if (!(n >= 0 && this.filled + n <= this.buf.length)) throw new Error(`read of ${n} bytes past the buffer`);
    this.filled += n;
    let at = 0;
    while (this.filled - at >= 4) {
      const size = this.buf.readInt32BE(at);
      if (size < 0 || size > this.maxFrameSize)
        throw new Error(`response frame size ${size} at stream byte ${at} (limit ${this.maxFrameSize})`);
      if (this.filled - at - 4 < size) {
        // Incomplete: make room for all of it, so its remaining reads land behind what is here.
        if (at + 4 + size > this.buf.length) {
          this.buf.copyWithin(0, at, this.filled);
          this.filled -= at;
          at = 0;
          if (4 + size > this.buf.length) this.grow(4 + size);
        }
        break;
      }
      this.onFrame(this.buf.subarray(at + 4, at + 4 + size));
      at += 4 + size;
    }
    if (at > 0) {
      this.buf.copyWithin(0, at, this.filled);
      this.filled -= at;
    }
  }

  private grow(capacity: number): void {
    const next = Buffer.allocUnsafe(Math.max(capacity, 64 << 10));
    this.buf.copy(next, 0, 0, this.filled);
    this.buf = next;
  }
}
