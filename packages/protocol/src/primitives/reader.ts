import { DecodeError } from '../errors.js';

/** An unknown tagged field kept as raw bytes, so that it can be written back unchanged. */
export interface RawTaggedField {
  tag: number;
  data: Buffer;
}

const UUID_BYTES = 16;

/** Kafka's null topic id (Uuid.ZERO_UUID), in the canonical text form this codec uses. */
export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * Reads Kafka's primitive types from a Buffer, front to back.
 *
 * Every length read from the input is checked against what is left before anything is
 * allocated or sliced, so a hostile length can never make the reader allocate more than the
 * input itself. Byte fields are zero-copy views into the input.
 */
export class Reader {
  readonly buffer: Buffer;
  offset: number;
  readonly end: number;

  constructor(buffer: Buffer, offset = 0, end = buffer.length) {
    if (offset < 0 || end > buffer.length || offset > end) {
      throw new RangeError(`reader bounds [${offset}, ${end}) outside a buffer of ${buffer.length} bytes`);
    }
    this.buffer = buffer;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Fails unless `n` more bytes are available; `what` names the field in the error. */
  need(n: number, what: string): void {
    if (n > this.end - this.offset) {
      throw new DecodeError(`${what}: needs ${n} bytes, ${this.end - this.offset} left`, this.offset);
    }
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buffer.readInt8(this.offset++);
  }

  uint8(): number {
    this.need(1, 'uint8');
    return this.buffer[this.offset++];
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  int16(): number {
    this.need(2, 'int16');
    const v = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  uint16(): number {
    this.need(2, 'uint16');
    const v = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'int32');
    const v = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, 'int64');
    const v = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  float64(): number {
    this.need(8, 'float64');
    const v = this.buffer.readDoubleBE(this.offset);
    this.offset += 8;
    return v;
  }

  /** Unsigned LEB128 varint of at most 5 bytes (a uint32). */
  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      if (this.offset >= this.end) throw new DecodeError('varint: input ends inside a varint', this.offset);
      const b = this.buffer[this.offset++];
      if (i === 4 && b > 0x0f) throw new DecodeError('varint: more than 32 bits', this.offset - 1);
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    throw new DecodeError('varint: longer than 5 bytes', this.offset);
  }

  /** Zigzag-encoded signed varint (an int32). */
  varint(): number {
    const u = this.uvarint();
    // Zigzag: even values are non-negative. Arithmetic keeps it exact for the full uint32 range.
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /** Unsigned varlong of at most 10 bytes (a uint64). */
  uvarlong(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.end) throw new DecodeError('varlong: input ends inside a varlong', this.offset);
      const b = this.buffer[this.offset++];
      if (i === 9 && b > 0x01) throw new DecodeError('varlong: more than 64 bits', this.offset - 1);
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new DecodeError('varlong: longer than 10 bytes', this.offset);
  }

  /** Zigzag-encoded signed varlong (an int64). */
  varlong(): bigint {
    const u = this.uvarlong();
    return (u >> 1n) ^ -(u & 1n);
  }

  uuid(): string {
    this.need(UUID_BYTES, 'uuid');
    const hex = this.buffer.toString('hex', this.offset, this.offset + UUID_BYTES);
    this.offset += UUID_BYTES;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** A raw slice of `n` bytes (zero-copy). */
  raw(n: number, what = 'bytes'): Buffer {
    if (n < 0) throw new DecodeError(`${what}: negative length ${n}`, this.offset);
    this.need(n, what);
    const v = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  private utf8(n: number, what: string): string {
    this.need(n, what);
    const v = this.buffer.toString('utf8', this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** STRING: int16 length, then UTF-8. */
  string(): string {
    const n = this.int16();
    if (n < 0) throw new DecodeError(`string: negative length ${n}`, this.offset - 2);
    return this.utf8(n, 'string');
  }

  /** NULLABLE_STRING: int16 length, -1 for null. */
  nullableString(): string | null {
    const n = this.int16();
    if (n === -1) return null;
    if (n < 0) throw new DecodeError(`nullable string: invalid length ${n}`, this.offset - 2);
    return this.utf8(n, 'string');
  }

  /** COMPACT_STRING: unsigned varint length + 1. */
  compactString(): string {
    const n = this.uvarint() - 1;
    if (n < 0) throw new DecodeError('compact string: null where a string is required', this.offset);
    return this.utf8(n, 'compact string');
  }

  /** COMPACT_NULLABLE_STRING: unsigned varint length + 1, 0 for null. */
  compactNullableString(): string | null {
    const n = this.uvarint() - 1;
    if (n === -1) return null;
    return this.utf8(n, 'compact string');
  }

  /** BYTES: int32 length, then the bytes (zero-copy). */
  bytes(): Buffer {
    const n = this.int32();
    if (n < 0) throw new DecodeError(`bytes: negative length ${n}`, this.offset - 4);
    return this.raw(n);
  }

  nullableBytes(): Buffer | null {
    const n = this.int32();
    if (n === -1) return null;
    if (n < 0) throw new DecodeError(`nullable bytes: invalid length ${n}`, this.offset - 4);
    return this.raw(n);
  }

  compactBytes(): Buffer {
    const n = this.uvarint() - 1;
    if (n < 0) throw new DecodeError('compact bytes: null where bytes are required', this.offset);
    return this.raw(n, 'compact bytes');
  }

  compactNullableBytes(): Buffer | null {
    const n = this.uvarint() - 1;
    if (n === -1) return null;
    return this.raw(n, 'compact bytes');
  }

  /**
   * ARRAY length (int32, -1 for null). Each element takes at least `minElementBytes` bytes, so a
   * count that the remaining input cannot hold is refused before any array is allocated.
   */
  arrayLength(minElementBytes = 1): number {
    const n = this.int32();
    if (n === -1) return -1;
    if (n < 0) throw new DecodeError(`array: invalid length ${n}`, this.offset - 4);
    this.checkCount(n, minElementBytes);
    return n;
  }

  /** COMPACT_ARRAY length (unsigned varint N+1, 0 for null); -1 means null. */
  compactArrayLength(minElementBytes = 1): number {
    const n = this.uvarint() - 1;
    if (n === -1) return -1;
    this.checkCount(n, minElementBytes);
    return n;
  }

  private checkCount(n: number, minElementBytes: number): void {
    if (n * minElementBytes > this.end - this.offset) {
      throw new DecodeError(`array: ${n} elements cannot fit in ${this.end - this.offset} bytes`, this.offset);
    }
  }

  /**
   * A tagged-field section. Known tags are handed to `onTag`, which reads the field from a
   * sub-reader bounded to that field and returns true; unknown ones are returned raw.
   */
  taggedFields(onTag?: (tag: number, r: Reader) => boolean): RawTaggedField[] | undefined {
    const count = this.uvarint();
    this.checkCount(count, 2);
    let unknown: RawTaggedField[] | undefined;
    let lastTag = -1;
    for (let i = 0; i < count; i++) {
      const tag = this.uvarint();
      if (tag <= lastTag) throw new DecodeError(`tagged fields: tag ${tag} after ${lastTag}`, this.offset);
      lastTag = tag;
      const size = this.uvarint();
      this.need(size, `tagged field ${tag}`);
      const start = this.offset;
      const sub = new Reader(this.buffer, start, start + size);
      if (onTag?.(tag, sub)) {
        if (sub.offset !== sub.end) {
          throw new DecodeError(`tagged field ${tag}: ${sub.end - sub.offset} bytes left over`, sub.offset);
        }
      } else {
        (unknown ??= []).push({ tag, data: this.buffer.subarray(start, start + size) });
      }
      this.offset = start + size;
    }
    return unknown;
  }
}
