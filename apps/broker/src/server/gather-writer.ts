import { ERROR_CODES, KafkaError, Writer } from '@sluice/protocol';

/** Byte fields at least this long are referenced, not copied: below it a copy costs less than another iovec. */
const REFERENCE_MIN_BYTES = 2048;
const MAX_FRAME_BYTES = 0x7fffffff;

/**
 * Encodes one response frame as a list of Buffers for a single gathered write: the fields go into
 * the writer's buffer, while long byte fields (a Fetch response's record batches, as the log
 * handed them out) are referenced where they fall instead of copied.
 *
 * Only for messages whose long byte fields lie in no length-prefixed region but the frame itself,
 * whose size is computed here; FetchResponse is one (its tagged fields hold no bytes fields). The
 * referenced Buffers must not change until the write completes: the log's views never do.
 */
export class GatherWriter extends Writer {
  private refs: { at: number; bytes: Uint8Array }[] = [];
  private referencedBytes = 0;

  override reset(): this {
    super.reset();
    this.refs = [];
    this.referencedBytes = 0;
    return this;
  }

  override raw(v: Uint8Array): this {
    if (v.length < REFERENCE_MIN_BYTES) return super.raw(v);
    this.refs.push({ at: this.offset, bytes: v });
    this.referencedBytes += v.length;
    return this;
  }

  /** Starts a frame: reserves its size prefix. */
  beginFrame(): this {
    this.reset();
    this.int32(0);
    return this;
  }

  /**
   * Ends the frame begun by beginFrame(): fills in its size (written bytes and referenced ones)
   * and returns its parts in order. The written bytes are copied out (they are small), so the
   * writer can be reused at once.
   */
  endFrame(): Buffer[] {
    const size = this.offset - 4 + this.referencedBytes;
    if (size > MAX_FRAME_BYTES) {
      throw new KafkaError(ERROR_CODES.MESSAGE_TOO_LARGE, `frame of ${size} bytes is larger than ${MAX_FRAME_BYTES}`);
    }
    this.buffer.writeInt32BE(size, 0);
    const own = Buffer.from(this.finish());
    const parts: Buffer[] = [];
    let from = 0;
    for (const { at, bytes } of this.refs) {
      if (at > from) parts.push(own.subarray(from, at));
      parts.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      from = at;
    }
    if (own.length > from) parts.push(own.subarray(from));
    this.reset();
    return parts;
  }
}
