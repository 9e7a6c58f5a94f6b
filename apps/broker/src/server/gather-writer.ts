import { FileRegion } from '@sluice/log';
import { ERROR_CODES, KafkaError, Writer } from '@sluice/protocol';

/** Byte fields at least this long are referenced, not copied: below it a copy costs less than another iovec. */
const REFERENCE_MIN_BYTES = 2048;
const MAX_FRAME_BYTES = 0x7fffffff;
/** Written bytes above this are handed over with the writer's buffer rather than copied out of it. */
const DETACH_ABOVE_BYTES = 32 * 1024;
const CAPACITY = 64 * 1024;

/** Bytes of a byte field that a GatherWriter copies (short fields) rather than references, for size hints. */
export function copiedBytes(field: Uint8Array | null | undefined): number {
  return field != null && field.length < REFERENCE_MIN_BYTES ? field.length : 0;
}

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
    if (v.length < REFERENCE_MIN_BYTES && !(v instanceof FileRegion)) return super.raw(v);
    this.refs.push({ at: this.offset, bytes: v });
    this.referencedBytes += v.length;
    return this;
  }

  constructor() {
    super(CAPACITY);
  }

  /** Starts a frame: reserves its size prefix, and room for about `sizeHint` written bytes. */
  beginFrame(sizeHint = 0): this {
    this.reset();
    if (sizeHint > 0) this.ensure(sizeHint);
    this.int32(0);
    return this;
  }

  /**
   * Ends the frame begun by beginFrame(): fills in its size (written bytes and referenced ones)
   * and returns its parts in order. The written bytes are copied out when small, else handed over
   * with the buffer; either way the writer can be reused at once. A FileRegion (records the log
   * handed out as a range of a file, for sendfile) is a part of its own, as it came.
   */
  endFrame(): Buffer[] {
    const size = this.offset - 4 + this.referencedBytes;
    if (size > MAX_FRAME_BYTES) {
      throw new KafkaError(ERROR_CODES.MESSAGE_TOO_LARGE, `frame of ${size} bytes is larger than ${MAX_FRAME_BYTES}`);
    }
    this.buffer.writeInt32BE(size, 0);
    const own = this.offset > DETACH_ABOVE_BYTES ? this.detach(CAPACITY) : Buffer.from(this.finish());
    const parts: Buffer[] = [];
    let from = 0;
    for (const { at, bytes } of this.refs) {
      if (at > from) parts.push(own.subarray(from, at));
      parts.push(
        Buffer.isBuffer(bytes) || bytes instanceof FileRegion
          ? (bytes as Buffer)
          : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length),
      );
      from = at;
    }
    if (own.length > from) parts.push(own.subarray(from));
    this.reset();
    return parts;
  }
}
