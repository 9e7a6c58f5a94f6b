import { ERROR_CODES } from '../error-codes.js';
import { DecodeError } from '../errors.js';

/** One record header: a UTF-8 key and a nullable value (a zero-copy slice). */
export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A decoded record. key, value and header values are zero-copy slices of the (decompressed) batch. */
export interface KafkaRecord {
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** Record attributes (unused by Kafka so far). */
  attributes: number;
  offsetDelta: number;
  /** Encoded size of the record, its length varint included. */
  sizeInBytes: number;
}

const NO_HEADERS: RecordHeader[] = [];
Object.freeze(NO_HEADERS);

/** The smallest possible record: length, attributes, timestamp delta, offset delta, key and value lengths, header count. */
export const MIN_RECORD_BYTES = 7;

/**
 * Node's Buffer constructor for views (FastBuffer), as `Buffer[Symbol.species]` gives it: constructing a
 * view with it takes about a third of the time of `buf.subarray()` (which goes through argument
 * normalisation first). Null where it is not there or does not make Buffers (another runtime).
 */
const BufferView: (new (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer) | null = (() => {
  const species = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species !== 'function') return null;
  try {
    const Ctor = species as new (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer;
    const probe = new Ctor(new ArrayBuffer(4), 1, 2);
    return Buffer.isBuffer(probe) && probe.byteOffset === 1 && probe.length === 2 ? Ctor : null;
  } catch {
    return null;
  }
})();

/**
 * `buf.subarray(start, end)` for bounds the caller has checked (0 <= start <= end <= buf.length): a
 * Buffer over the same memory.
 */
export function bufferView(buf: Buffer, start: number, end: number): Buffer {
  return BufferView === null
    ? buf.subarray(start, end)
    : new BufferView(buf.buffer, buf.byteOffset + start, end - start);
}

function corrupt(what: string, offset: number): DecodeError {
  return new DecodeError(what, offset, ERROR_CODES.CORRUPT_MESSAGE);
}

/**
 * Recently decoded ASCII header keys, by header index: record after record carries the same keys
 * ("trace-id", …), so a key whose bytes equal the cached string's char codes reuses it instead
 * of decoding UTF-8 again. Only ASCII strings are cached, where bytes and char codes coincide.
 */
const HEADER_KEY_CACHE_SIZE = 8;
const headerKeyCache: string[] = new Array<string>(HEADER_KEY_CACHE_SIZE).fill('');

function headerKey(buf: Buffer, start: number, end: number, index: number): string {
  const length = end - start;
  if (index < HEADER_KEY_CACHE_SIZE) {
    const cached = headerKeyCache[index];
    if (cached.length === length) {
      let i = 0;
      while (i < length && buf[start + i] === cached.charCodeAt(i)) i++;
      if (i === length) return cached;
    }
  }
  const key = buf.toString('utf8', start, end);
  if (index < HEADER_KEY_CACHE_SIZE && length <= 64 && key.length === length) {
    let ascii = true;
    for (let i = 0; i < length && ascii; i++) ascii = key.charCodeAt(i) < 0x80;
    if (ascii) headerKeyCache[index] = key;
  }
  return key;
}

/**
 * Decodes the records of one batch lazily, front to back, from `buffer[start, end)`. Every
 * length is checked against the record it sits in; the record count must match the bytes
 * exactly. `positionBase` is added to positions in error messages (the batch's own offset of
 * the records for uncompressed batches).
 *
 * Deltas are decoded on numbers, as int32 where they fit: V8 turns an int32 into a bigint and adds
 * it to the batch's base several times faster than it converts a double (BigInt(number)).
 */
export class RecordIterator implements IterableIterator<KafkaRecord> {
  private pos: number;
  private index = 0;
  /** A varlong that did not fit the number path, as varlong() left it (it then returns NaN). */
  private wide = 0n;
  /**
   * The last int32 timestamp delta and its timestamp: records of a batch mostly share a few
   * timestamps, and a bigint is immutable, so equal ones share one instead of allocating two each.
   */
  private lastDelta = Number.NaN;
  private lastTimestamp = 0n;

  /**
   * The record advance() decoded last (a cursor: no object per record). The fields are those of
   * KafkaRecord; key, value and header values are zero-copy slices as there.
   */
  recordOffset = 0n;
  recordTimestamp = 0n;
  recordKey: Buffer | null = null;
  recordValue: Buffer | null = null;
  recordHeaders: RecordHeader[] = NO_HEADERS;
  recordAttributes = 0;
  recordOffsetDelta = 0;
  recordSizeInBytes = 0;

  constructor(
    private readonly buffer: Buffer,
    start: number,
    private readonly end: number,
    /** Number of records the batch header declares. */
    readonly count: number,
    private readonly baseOffset: bigint,
    private readonly baseTimestamp: bigint,
    /** For LogAppendTime batches every record takes the batch's max timestamp. */
    private readonly logAppendTime: bigint | null,
    private readonly positionBase = 0,
    private readonly where = 'record',
  ) {
    this.pos = start;
    if (count < 0 || count > (end - start) / MIN_RECORD_BYTES) {
      throw corrupt(`${where}: record count ${count} cannot fit in ${end - start} bytes`, positionBase + start);
    }
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<KafkaRecord> {
    if (this.index >= this.count) {
      if (this.pos !== this.end) {
        throw corrupt(
          `${this.where}: ${this.end - this.pos} bytes after the last record`,
          this.positionBase + this.pos,
        );
      }
      return { done: true, value: undefined };
    }
    this.index++;
    this.decode();
    return { done: false, value: this.current() };
  }

  /**
   * Decodes the next record into the `record*` fields and returns true, or returns false after the
   * last one: next() without the objects (same checks, same errors). Mixing it with next() on one
   * iterator is fine; each record is decoded once either way.
   */
  advance(): boolean {
    if (this.index >= this.count) {
      if (this.pos !== this.end) {
        throw corrupt(
          `${this.where}: ${this.end - this.pos} bytes after the last record`,
          this.positionBase + this.pos,
        );
      }
      return false;
    }
    this.index++;
    this.decode();
    return true;
  }

  private current(): KafkaRecord {
    return {
      offset: this.recordOffset,
      timestamp: this.recordTimestamp,
      key: this.recordKey,
      value: this.recordValue,
      headers: this.recordHeaders,
      attributes: this.recordAttributes,
      offsetDelta: this.recordOffsetDelta,
      sizeInBytes: this.recordSizeInBytes,
    };
  }

  /** Reads every remaining record into an array. */
  toArray(): KafkaRecord[] {
    const out: KafkaRecord[] = [];
    for (let r = this.next(); !r.done; r = this.next()) out.push(r.value);
    return out;
  }

  private fail(what: string, at: number): never {
    throw corrupt(`${this.where} ${this.index - 1}: ${what}`, this.positionBase + at);
  }

  /** Zigzag varint (int32) ending no later than `limit`. */
  private varint(limit: number): number {
    const buf = this.buffer;
    const pos = this.pos;
    if (pos < limit) {
      // One or two bytes (-8192..8191): the usual lengths, deltas and counts.
      const b0 = buf[pos];
      if (b0 < 0x80) {
        this.pos = pos + 1;
        return (b0 >>> 1) ^ -(b0 & 1);
      }
      if (pos + 1 < limit) {
        const b1 = buf[pos + 1];
        if (b1 < 0x80) {
          const u = (b0 & 0x7f) | (b1 << 7);
          this.pos = pos + 2;
          return (u >>> 1) ^ -(u & 1);
        }
      }
    }
    return this.varintSlow(limit);
  }

  /** varint() past its fast path: any length, with the bounds and 32-bit checks. */
  private varintSlow(limit: number): number {
    const buf = this.buffer;
    let pos = this.pos;
    let u = 0;
    let shift = 0;
    for (;;) {
      if (pos >= limit) this.fail('varint past the end of the record', pos);
      const b = buf[pos++];
      if (shift === 28) {
        if (b > 0x0f) this.fail('varint longer than 32 bits', pos - 1);
        u += b * 0x10000000;
        break;
      }
      u |= (b & 0x7f) << shift;
      if (b < 0x80) {
        u >>>= 0;
        break;
      }
      shift += 7;
    }
    this.pos = pos;
    // u < 2^32 here, so the zigzag stays in int32 arithmetic.
    return (u >>> 1) ^ -(u & 1);
  }

  /**
   * Zigzag varlong. Up to 7 bytes (49 bits) it is computed on numbers and returned; longer ones
   * are finished in bigint, left in `wide`, and NaN is returned.
   */
  private varlong(limit: number): number {
    const buf = this.buffer;
    const pos = this.pos;
    if (pos + 1 < limit) {
      // One or two bytes: timestamps within ±8 s of the batch's first.
      const b0 = buf[pos];
      if (b0 < 0x80) {
        this.pos = pos + 1;
        return (b0 >>> 1) ^ -(b0 & 1);
      }
      const b1 = buf[pos + 1];
      if (b1 < 0x80) {
        const u = (b0 & 0x7f) | (b1 << 7);
        this.pos = pos + 2;
        return (u >>> 1) ^ -(u & 1);
      }
    }
    return this.varlongSlow(limit);
  }

  /** varlong() past its fast path: up to 10 bytes, with the bounds and 64-bit checks. */
  private varlongSlow(limit: number): number {
    const buf = this.buffer;
    let pos = this.pos;
    let u = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (pos >= limit) this.fail('varlong past the end of the record', pos);
      const b = buf[pos++];
      u += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.pos = pos;
        return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
      }
      mul *= 128;
    }
    // 8 to 10 bytes: finish in bigint.
    let big = BigInt(u);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (pos >= limit) this.fail('varlong past the end of the record', pos);
      const b = buf[pos++];
      if (i === 9 && b > 0x01) this.fail('varlong longer than 64 bits', pos - 1);
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.wide = (big >> 1n) ^ -(big & 1n);
        return Number.NaN;
      }
      shift += 7n;
    }
    this.fail('varlong longer than 10 bytes', pos);
  }

  /** The record's timestamp from its delta (as varlong() returned it). */
  private timestamp(delta: number): bigint {
    if ((delta | 0) === delta) {
      if (delta !== this.lastDelta) {
        this.lastDelta = delta;
        this.lastTimestamp = this.baseTimestamp + BigInt(delta | 0);
      }
      return this.lastTimestamp;
    }
    return this.baseTimestamp + (Number.isNaN(delta) ? this.wide : BigInt(delta));
  }

  private decode(): void {
    const buf = this.buffer;
    const recordStart = this.pos;
    const length = this.varint(this.end);
    const bodyStart = this.pos;
    if (length < MIN_RECORD_BYTES - 1 || length > this.end - bodyStart) {
      this.fail(`record length ${length} with ${this.end - bodyStart} bytes left`, recordStart);
    }
    const limit = bodyStart + length;
    const attributes = buf[this.pos++];
    const timestampDelta = this.varlong(limit);
    const offsetDelta = this.varint(limit);
    const keyLength = this.varint(limit);
    let key: Buffer | null = null;
    if (keyLength >= 0) {
      if (keyLength > limit - this.pos) this.fail(`key length ${keyLength} past the end of the record`, this.pos);
      key = bufferView(buf, this.pos, (this.pos += keyLength));
    } else if (keyLength !== -1) this.fail(`invalid key length ${keyLength}`, this.pos);
    const valueLength = this.varint(limit);
    let value: Buffer | null = null;
    if (valueLength >= 0) {
      if (valueLength > limit - this.pos) this.fail(`value length ${valueLength} past the end of the record`, this.pos);
      value = bufferView(buf, this.pos, (this.pos += valueLength));
    } else if (valueLength !== -1) this.fail(`invalid value length ${valueLength}`, this.pos);
    const headerCount = this.varint(limit);
    let headers = NO_HEADERS;
    if (headerCount !== 0) {
      // Each header takes at least two bytes (two length varints).
      if (headerCount < 0 || headerCount * 2 > limit - this.pos) {
        this.fail(`header count ${headerCount} cannot fit in the record`, this.pos);
      }
      headers = new Array<RecordHeader>(headerCount);
      for (let h = 0; h < headerCount; h++) {
        const keyLen = this.varint(limit);
        if (keyLen < 0 || keyLen > limit - this.pos) this.fail(`header key length ${keyLen}`, this.pos);
        const hkey = headerKey(buf, this.pos, (this.pos += keyLen), h);
        const valueLen = this.varint(limit);
        let hvalue: Buffer | null = null;
        if (valueLen >= 0) {
          if (valueLen > limit - this.pos)
            this.fail(`header value length ${valueLen} past the end of the record`, this.pos);
          hvalue = bufferView(buf, this.pos, (this.pos += valueLen));
        } else if (valueLen !== -1) this.fail(`invalid header value length ${valueLen}`, this.pos);
        headers[h] = { key: hkey, value: hvalue };
      }
    }
    if (this.pos !== limit)
      this.fail(`record declares ${length} bytes but its fields take ${this.pos - bodyStart}`, this.pos);
    this.recordOffset = this.baseOffset + BigInt(offsetDelta);
    this.recordTimestamp = this.logAppendTime ?? this.timestamp(timestampDelta);
    this.recordKey = key;
    this.recordValue = value;
    this.recordHeaders = headers;
    this.recordAttributes = attributes;
    this.recordOffsetDelta = offsetDelta;
    this.recordSizeInBytes = limit - recordStart;
  }
}
