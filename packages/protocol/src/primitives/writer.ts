import type { RawTaggedField } from './reader.js';

const INITIAL_CAPACITY = 4096;
/** A writer that grew past this gives its buffer back on reset, so one huge message does not pin memory. */
const RETAINED_CAPACITY = 1 << 20;
const UUID_TEXT = /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$/;

/**
 * Writes Kafka's primitive types into one growing Buffer.
 *
 * A Writer is meant to be reused (`reset()`): the buffer is kept between messages, so encoding
 * allocates nothing per field. `finish()` returns a view of the written bytes that is only valid
 * until the next write; `toBuffer()` copies them out.
 */
export class Writer {
  buffer: Buffer;
  offset = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  reset(): this {
    if (this.buffer.length > RETAINED_CAPACITY) this.buffer = Buffer.allocUnsafe(INITIAL_CAPACITY);
    this.offset = 0;
    return this;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const needed = this.offset + n;
    if (needed <= this.buffer.length) return;
    // max(…, 64): a writer made with capacity 0 would otherwise double 0 forever.
    let capacity = Math.max(this.buffer.length * 2, 64);
    while (capacity < needed) capacity *= 2;
    const next = Buffer.allocUnsafe(capacity);
    this.buffer.copy(next, 0, 0, this.offset);
    this.buffer = next;
  }

  /** The bytes written so far, as a view valid until the next write or reset. */
  finish(): Buffer {
    return this.buffer.subarray(0, this.offset);
  }

  /** The bytes written so far, copied into a Buffer of their own. */
  toBuffer(): Buffer {
    return Buffer.from(this.finish());
  }

  /**
   * The bytes written so far, without a copy: the writer hands its buffer over and starts a new
   * one of `nextCapacity` bytes. Cheaper than toBuffer() when the output is large (a Fetch
   * response), since allocating is cheaper than copying megabytes.
   */
  detach(nextCapacity = INITIAL_CAPACITY): Buffer {
    const out = this.buffer.subarray(0, this.offset);
    this.buffer = Buffer.allocUnsafe(nextCapacity);
    this.offset = 0;
    return out;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buffer.writeInt8(v, this.offset);
    this.offset += 1;
    return this;
  }

  uint8(v: number): this {
    this.ensure(1);
    this.buffer[this.offset++] = v;
    return this;
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  int16(v: number): this {
    this.ensure(2);
    this.buffer.writeInt16BE(v, this.offset);
    this.offset += 2;
    return this;
  }

  uint16(v: number): this {
    this.ensure(2);
    this.buffer.writeUInt16BE(v, this.offset);
    this.offset += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buffer.writeInt32BE(v, this.offset);
    this.offset += 4;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buffer.writeUInt32BE(v, this.offset);
    this.offset += 4;
    return this;
  }

  int64(v: bigint): this {
    this.ensure(8);
    this.buffer.writeBigInt64BE(v, this.offset);
    this.offset += 8;
    return this;
  }

  float64(v: number): this {
    this.ensure(8);
    this.buffer.writeDoubleBE(v, this.offset);
    this.offset += 8;
    return this;
  }

  /** Unsigned varint (a uint32). */
  uvarint(v: number): this {
    if (!(v >= 0 && v <= 0xffffffff) || !Number.isInteger(v)) throw new RangeError(`uvarint out of range: ${v}`);
    this.ensure(5);
    const buf = this.buffer;
    while (v >= 0x80) {
      buf[this.offset++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[this.offset++] = v;
    return this;
  }

  /** Zigzag signed varint (an int32). */
  varint(v: number): this {
    if (!(v >= -0x80000000 && v <= 0x7fffffff) || !Number.isInteger(v))
      throw new RangeError(`varint out of range: ${v}`);
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /** Unsigned varlong (a uint64). */
  uvarlong(v: bigint): this {
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`uvarlong out of range: ${v}`);
    if (v <= 0xffffffffn) return this.uvarint(Number(v));
    this.ensure(10);
    while (v >= 0x80n) {
      this.buffer[this.offset++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buffer[this.offset++] = Number(v);
    return this;
  }

  /** Zigzag signed varlong (an int64). */
  varlong(v: bigint): this {
    // Without this check asUintN below would silently wrap a value outside int64.
    if (v < -0x8000000000000000n || v > 0x7fffffffffffffffn) throw new RangeError(`varlong out of range: ${v}`);
    if (v >= -0x40000000n && v < 0x40000000n) {
      const n = Number(v);
      return this.uvarint(n >= 0 ? n * 2 : -n * 2 - 1);
    }
    return this.uvarlong(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  uuid(v: string): this {
    // Canonical 8-4-4-4-12 form (dashes only at their places) or 32 bare hex digits.
    if (!UUID_TEXT.test(v)) throw new RangeError(`not a UUID: ${v}`);
    const hex = v.length === 36 ? v.replaceAll('-', '') : v;
    this.ensure(16);
    this.buffer.write(hex, this.offset, 16, 'hex');
    this.offset += 16;
    return this;
  }

  raw(v: Uint8Array): this {
    // A stand-in whose length is not its bytes' (the log's FileRegion, sent by sendfile) cannot be copied.
    if (v.length !== v.byteLength)
      throw new TypeError(`a ${v.constructor.name} of ${v.length} bytes holds none to copy`);
    this.ensure(v.length);
    this.buffer.set(v, this.offset);
    this.offset += v.length;
    return this;
  }

  private utf8(v: string, byteLength: number): void {
    this.ensure(byteLength);
    this.offset += this.buffer.write(v, this.offset, byteLength, 'utf8');
  }

  string(v: string): this {
    const n = Buffer.byteLength(v, 'utf8');
    if (n > 0x7fff) throw new RangeError(`string of ${n} bytes is longer than 32767`);
    this.int16(n);
    this.utf8(v, n);
    return this;
  }

  nullableString(v: string | null): this {
    return v === null ? this.int16(-1) : this.string(v);
  }

  compactString(v: string): this {
    const n = Buffer.byteLength(v, 'utf8');
    this.uvarint(n + 1);
    this.utf8(v, n);
    return this;
  }

  compactNullableString(v: string | null): this {
    return v === null ? this.uvarint(0) : this.compactString(v);
  }

  bytes(v: Uint8Array): this {
    this.int32(v.length);
    return this.raw(v);
  }

  nullableBytes(v: Uint8Array | null): this {
    return v === null ? this.int32(-1) : this.bytes(v);
  }

  compactBytes(v: Uint8Array): this {
    this.uvarint(v.length + 1);
    return this.raw(v);
  }

  compactNullableBytes(v: Uint8Array | null): this {
    return v === null ? this.uvarint(0) : this.compactBytes(v);
  }

  arrayLength(n: number): this {
    return this.int32(n);
  }

  /** Compact array length; -1 writes null. */
  compactArrayLength(n: number): this {
    return this.uvarint(n + 1);
  }

  /**
   * Reserves a 4-byte big-endian length at the current position; call the returned function
   * after writing the body to fill in the number of bytes written since.
   */
  lengthPrefix32(): () => void {
    const at = this.offset;
    this.int32(0);
    return () => {
      this.buffer.writeInt32BE(this.offset - at - 4, at);
    };
  }

  /**
   * Writes a tagged-field section: the known fields (already in tag order, each given as a tag
   * and a function writing its value) merged in tag order with the unknown fields kept from
   * decoding.
   */
  taggedFields(
    known: ReadonlyArray<readonly [number, (w: Writer) => void]>,
    unknown?: readonly RawTaggedField[],
  ): this {
    const total = known.length + (unknown?.length ?? 0);
    this.uvarint(total);
    if (total === 0) return this;
    let k = 0;
    let u = 0;
    const scratch = new Writer(64);
    while (k < known.length || (unknown && u < unknown.length)) {
      const takeKnown = !unknown || u >= unknown.length || (k < known.length && known[k][0] < unknown[u].tag);
      if (takeKnown) {
        const [tag, write] = known[k++];
        scratch.reset();
        write(scratch);
        this.uvarint(tag);
        this.uvarint(scratch.offset);
        this.raw(scratch.finish());
      } else {
        const f = (unknown as readonly RawTaggedField[])[u++];
        this.uvarint(f.tag);
        this.uvarint(f.data.length);
        this.raw(f.data);
      }
    }
    return this;
  }
}

/** Bytes an unsigned varint takes. */
export function uvarintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Bytes a zigzag varint takes. */
export function varintSize(v: number): number {
  return uvarintSize(v >= 0 ? v * 2 : -v * 2 - 1);
}

/** Bytes a zigzag varlong takes. */
export function varlongSize(v: bigint): number {
  let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  let n = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}
