// MirrorMaker 2's record formats, byte for byte: OffsetSync (mm2-offset-syncs.<target>.internal),
// Checkpoint (<source>.checkpoints.internal) and Heartbeat (heartbeats) are Kafka protocol Structs
// (STRING = int16 length + UTF-8, integers big-endian); Checkpoint and Heartbeat values start with
// an int16 version header (0). Source positions use Kafka Connect's JSON offset records, as MM2's
// dedicated mode stores them in mm2-offsets.<source>.internal.

export class RecordFormatError extends Error {
  override readonly name = 'RecordFormatError';
}

export interface OffsetSync {
  topic: string;
  partition: number;
  upstreamOffset: bigint;
  downstreamOffset: bigint;
}

export interface Checkpoint {
  group: string;
  /** The topic on the target (the remote name). */
  topic: string;
  partition: number;
  upstreamOffset: bigint;
  downstreamOffset: bigint;
  metadata: string;
}

export interface Heartbeat {
  sourceClusterAlias: string;
  targetClusterAlias: string;
  timestamp: bigint;
}

const VERSION = 0;
const MAX_STRING = 32_767;

class StructWriter {
  private readonly parts: Buffer[] = [];
  string(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > MAX_STRING) throw new RecordFormatError(`string of ${bytes.length} bytes is over ${MAX_STRING}`);
    const len = Buffer.allocUnsafe(2);
    len.writeInt16BE(bytes.length, 0);
    this.parts.push(len, bytes);
    return this;
  }
  int16(n: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(n, 0);
    this.parts.push(b);
    return this;
  }
  int32(n: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(n, 0);
    this.parts.push(b);
    return this;
  }
  int64(n: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(n, 0);
    this.parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads a Struct, every length checked against what is left; names the record kind and field on error. */
class StructReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number, field: string): void {
    if (this.pos + n > this.buf.length) {
      throw new RecordFormatError(
        `${this.what}: ${field} needs ${n} bytes at byte ${this.pos}, ${this.buf.length - this.pos} left`,
      );
    }
  }
  string(field: string): string {
    this.need(2, field);
    const len = this.buf.readInt16BE(this.pos);
    if (len < 0) throw new RecordFormatError(`${this.what}: ${field} has negative length ${len}`);
    this.pos += 2;
    this.need(len, field);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  int16(field: string): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  version(): void {
    const v = this.int16('version');
    if (v !== VERSION) throw new RecordFormatError(`${this.what}: version ${v} is not supported (only ${VERSION})`);
  }
}

function need(b: Buffer | null, what: string): Buffer {
  if (b === null) throw new RecordFormatError(`${what}: null key or value`);
  return b;
}

export function encodeOffsetSync(s: OffsetSync): { key: Buffer; value: Buffer } {
  return {
    key: new StructWriter().string(s.topic).int32(s.partition).done(),
    value: new StructWriter().int64(s.upstreamOffset).int64(s.downstreamOffset).done(),
  };
}

export function decodeOffsetSync(key: Buffer | null, value: Buffer | null): OffsetSync {
  const k = new StructReader(need(key, 'OffsetSync key'), 'OffsetSync key');
  const v = new StructReader(need(value, 'OffsetSync value'), 'OffsetSync value');
  return {
    topic: k.string('topic'),
    partition: k.int32('partition'),
    upstreamOffset: v.int64('upstreamOffset'),
    downstreamOffset: v.int64('offset'),
  };
}

export function encodeCheckpoint(c: Checkpoint): { key: Buffer; value: Buffer } {
  return {
    key: new StructWriter().string(c.group).string(c.topic).int32(c.partition).done(),
    value: new StructWriter()
      .int16(VERSION)
      .int64(c.upstreamOffset)
      .int64(c.downstreamOffset)
      .string(c.metadata)
      .done(),
  };
}

export function decodeCheckpoint(key: Buffer | null, value: Buffer | null): Checkpoint {
  const k = new StructReader(need(key, 'Checkpoint key'), 'Checkpoint key');
  const v = new StructReader(need(value, 'Checkpoint value'), 'Checkpoint value');
  v.version();
  return {
    group: k.string('group'),
    topic: k.string('topic'),
    partition: k.int32('partition'),
    upstreamOffset: v.int64('upstreamOffset'),
    downstreamOffset: v.int64('offset'),
    metadata: v.string('metadata'),
  };
}

export function encodeHeartbeat(h: Heartbeat): { key: Buffer; value: Buffer } {
  return {
    key: new StructWriter().string(h.sourceClusterAlias).string(h.targetClusterAlias).done(),
    value: new StructWriter().int16(VERSION).int64(h.timestamp).done(),
  };
}

export function decodeHeartbeat(key: Buffer | null, value: Buffer | null): Heartbeat {
  const k = new StructReader(need(key, 'Heartbeat key'), 'Heartbeat key');
  const v = new StructReader(need(value, 'Heartbeat value'), 'Heartbeat value');
  v.version();
  return {
    sourceClusterAlias: k.string('sourceClusterAlias'),
    targetClusterAlias: k.string('targetClusterAlias'),
    timestamp: v.int64('timestamp'),
  };
}

/** Connect's source-offset record of MirrorSourceConnector: the last upstream offset copied of a partition. */
export interface SourcePosition {
  cluster: string;
  topic: string;
  partition: number;
  /** The upstream offset of the last record copied; copying resumes at offset + 1. */
  offset: bigint;
}

const CONNECTOR = 'MirrorSourceConnector';

export function encodeSourcePosition(p: SourcePosition): { key: Buffer; value: Buffer } {
  return {
    key: Buffer.from(JSON.stringify([CONNECTOR, { cluster: p.cluster, partition: p.partition, topic: p.topic }])),
    value: Buffer.from(`{"offset":${p.offset.toString()}}`),
  };
}

/** Null for records of other connectors or tombstones; an error for a record of ours that does not parse. */
export function decodeSourcePosition(key: Buffer | null, value: Buffer | null): SourcePosition | null {
  if (key === null || value === null) return null;
  let k: unknown;
  let v: unknown;
  try {
    k = JSON.parse(key.toString('utf8'));
  } catch {
    throw new RecordFormatError('source position key: not JSON');
  }
  if (!Array.isArray(k) || k[0] !== CONNECTOR) return null;
  const part = k[1] as { cluster?: unknown; topic?: unknown; partition?: unknown } | null;
  if (
    part === null ||
    typeof part !== 'object' ||
    typeof part.cluster !== 'string' ||
    typeof part.topic !== 'string' ||
    !Number.isInteger(part.partition)
  ) {
    throw new RecordFormatError('source position key: expected {cluster, topic, partition}');
  }
  // The offset may exceed 2^53: read its digits, not a JS number.
  const m = /^\s*\{\s*"offset"\s*:\s*(-?\d{1,19})\s*\}\s*$/.exec(value.toString('utf8'));
  try {
    v = m ? BigInt(m[1]) : undefined;
  } catch {
    v = undefined;
  }
  if (typeof v !== 'bigint') throw new RecordFormatError('source position value: expected {"offset": <int64>}');
  return { cluster: part.cluster, topic: part.topic, partition: part.partition as number, offset: v };
}
