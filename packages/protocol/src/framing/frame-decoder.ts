import { ERROR_CODES } from '../error-codes.js';
import { KafkaError } from '../errors.js';

/** Kafka's default `socket.request.max.bytes` (100 MiB). */
export const DEFAULT_MAX_FRAME_SIZE = 104_857_600;
/** The largest size an int32 size prefix can announce. */
const INT32_MAX = 0x7fffffff;
const SIZE_BYTES = 4;
/** Pieces below this size are copied into a staging buffer instead of kept as views. */
const SMALL_PIECE_BYTES = 4096;
const STAGING_BYTES = 64 * 1024;

/**
 * A size prefix that is negative or above the configured maximum. The peer is either broken or
 * hostile and the stream cannot be resynchronised: close the connection (Kafka's broker does the
 * same on InvalidReceiveException).
 */
export class InvalidFrameSizeError extends KafkaError {
  readonly size: number;
  readonly limit: number;

  constructor(size: number, limit: number) {
    super(
      ERROR_CODES.INVALID_REQUEST,
      size < 0 ? `Invalid receive (size = ${size})` : `Invalid receive (size = ${size} larger than ${limit})`,
    );
    this.name = 'InvalidFrameSizeError';
    this.size = size;
    this.limit = limit;
  }
}

/**
 * Reads frames' int32 size prefixes from a byte stream, where a prefix may be split across reads,
 * and checks each against the maximum before anything is allocated for its frame. After an
 * InvalidFrameSizeError it stays failed (`failure`).
 */
export class FrameSizeReader {
  /** The size prefix being read when it is split across reads. */
  private readonly bytes = Buffer.alloc(SIZE_BYTES);
  private have = 0;
  private consumedTo = 0;
  private failed: InvalidFrameSizeError | null = null;

  constructor(readonly maxFrameSize: number) {}

  /** Bytes of a split prefix held so far (0 between prefixes). */
  get buffered(): number {
    return this.have;
  }

  /** In the buffer the last read() was given: the offset just past what it consumed. */
  get offset(): number {
    return this.consumedTo;
  }

  /** The error read() threw, if it did: the stream cannot be resynchronised after it. */
  get failure(): InvalidFrameSizeError | null {
    return this.failed;
  }

  /**
   * Reads a size prefix from `buf[pos, end)`, with `end - pos >= 1`: the frame's size once all
   * four bytes are in, or -1 when `end` came first (the bytes are kept for the next read).
   * Either way `offset` is then just past the bytes consumed. Throws InvalidFrameSizeError for
   * a size that is negative or above the maximum. (The split prefix and the error are handled
   * out of line, so the common case stays small enough to inline into the callers' loops.)
   */
  read(buf: Buffer, pos: number, end: number): number {
    let size: number;
    if (this.have === 0 && end - pos >= SIZE_BYTES) {
      size = buf.readInt32BE(pos);
      this.consumedTo = pos + SIZE_BYTES;
    } else {
      if (!this.gather(buf, pos, end)) return -1;
      size = this.bytes.readInt32BE(0);
    }
    if (size < 0 || size > this.maxFrameSize) this.fail(size);
    return size;
  }

  /** Gathers the bytes of a prefix split across reads; true once all four are in. */
  private gather(buf: Buffer, pos: number, end: number): boolean {
    const take = Math.min(SIZE_BYTES - this.have, end - pos);
    buf.copy(this.bytes, this.have, pos, pos + take);
    this.have += take;
    this.consumedTo = pos + take;
    if (this.have < SIZE_BYTES) return false;
    this.have = 0;
    return true;
  }

  private fail(size: number): never {
    this.failed = new InvalidFrameSizeError(size, this.maxFrameSize);
    throw this.failed;
  }

  /** Drops a partial prefix and a recorded failure. */
  reset(): void {
    this.have = 0;
    this.failed = null;
  }
}

export interface FrameDecoderOptions {
  /** Largest frame accepted, in bytes, not counting the 4-byte size. Default 100 MiB. */
  maxFrameSize?: number;
}

/**
 * Cuts a TCP byte stream into Kafka frames: an int32 big-endian size, then that many bytes.
 *
 * Chunks may split frames anywhere (even inside the size) or carry many frames. A frame lying
 * inside one chunk is handed out as a view into that chunk (zero-copy, so callers must not reuse
 * chunk buffers); a frame spanning chunks is assembled into one buffer when its last byte
 * arrives (large pieces are kept as views until then, small ones copied into a staging buffer).
 * The size is checked before anything is held, and what is held follows the bytes received, so
 * a peer announcing a large frame costs only what it sends, up to one frame of at most
 * `maxFrameSize` bytes. After an InvalidFrameSizeError the decoder stays failed.
 */
export class FrameDecoder {
  readonly maxFrameSize: number;
  private readonly sizes: FrameSizeReader;
  /**
   * The pieces of a frame spanning chunks, and its announced size (-1 between frames). Pieces are
   * kept until the frame is complete rather than copied into a buffer of the announced size, so
   * memory follows the bytes that actually arrived: a peer announcing 100 MiB and sending one byte
   * costs one byte, not 100 MiB.
   */
  private pieces: Buffer[] = [];
  private partialSize = -1;
  private partialHave = 0;
  /** Small pieces are copied together here, so a peer dripping bytes cannot make a view per byte. */
  private staging: Buffer | null = null;
  private stagingUsed = 0;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    if (!Number.isInteger(max) || max < 0 || max > INT32_MAX) {
      throw new RangeError(`maxFrameSize must be an integer in [0, ${INT32_MAX}], got ${max}`);
    }
    this.maxFrameSize = max;
    this.sizes = new FrameSizeReader(max);
  }

  /** Bytes held for a frame not yet complete (size prefix included). */
  get buffered(): number {
    return this.sizes.buffered + this.partialHave;
  }

  /** True between frames: a stream ending now ended cleanly. */
  get idle(): boolean {
    return this.sizes.buffered === 0 && this.partialSize < 0;
  }

  /**
   * Feeds one chunk; calls `onFrame` for every frame it completes, in order. The loop consumes
   * at least one byte (or a whole 4-byte size) per iteration, so it is bounded by the chunk.
   * The decoder's state is updated before each `onFrame` call.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    if (this.sizes.failure) throw this.sizes.failure;
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (this.partialSize >= 0) {
        const take = Math.min(this.partialSize - this.partialHave, len - pos);
        this.addPiece(chunk.subarray(pos, pos + take));
        this.partialHave += take;
        pos += take;
        if (this.partialHave === this.partialSize) {
          this.flushStaging();
          const frame = Buffer.concat(this.pieces, this.partialSize);
          this.pieces = [];
          this.partialSize = -1;
          this.partialHave = 0;
          onFrame(frame);
        }
        continue;
      }

      const size = this.sizes.read(chunk, pos, len);
      pos = this.sizes.offset;
      if (size < 0) break; // the size prefix itself is split: the rest comes with the next chunk
      if (len - pos >= size) {
        const frame = chunk.subarray(pos, pos + size);
        pos += size;
        onFrame(frame);
      } else {
        // Spans chunks: its pieces are kept as they arrive and joined when the last one does.
        this.partialSize = size;
        this.partialHave = 0;
      }
    }
  }

  /** Keeps a piece of a frame: large ones as views of their chunk, small ones copied into staging. */
  private addPiece(view: Buffer): void {
    if (view.length >= SMALL_PIECE_BYTES) {
      this.flushStaging();
      this.pieces.push(view);
      return;
    }
    if (this.staging === null || this.stagingUsed + view.length > this.staging.length) {
      this.flushStaging();
      const remaining = this.partialSize - this.partialHave;
      this.staging = Buffer.allocUnsafe(Math.min(STAGING_BYTES, Math.max(remaining, view.length)));
    }
    view.copy(this.staging, this.stagingUsed);
    this.stagingUsed += view.length;
  }

  private flushStaging(): void {
    if (this.staging !== null && this.stagingUsed > 0) this.pieces.push(this.staging.subarray(0, this.stagingUsed));
    this.staging = null;
    this.stagingUsed = 0;
  }

  /** Feeds one chunk and returns the frames it completed. */
  decode(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    this.push(chunk, (f) => frames.push(f));
    return frames;
  }

  /** Drops any partial frame and a recorded failure (for reuse on a new connection). */
  reset(): void {
    this.sizes.reset();
    this.pieces = [];
    this.partialSize = -1;
    this.partialHave = 0;
    this.staging = null;
    this.stagingUsed = 0;
  }
}
