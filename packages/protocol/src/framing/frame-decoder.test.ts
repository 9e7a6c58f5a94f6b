import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KafkaError } from '../errors.js';
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, InvalidFrameSizeError } from './frame-decoder.js';

function sized(payload: Buffer): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  b.writeInt32BE(payload.length, 0);
  payload.copy(b, 4);
  return b;
}

function sizeOnly(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

/** Cuts `stream` at the given (sorted, deduplicated) points. */
function split(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  chunks.push(stream.subarray(prev));
  return chunks;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('FrameDecoder', () => {
  it('decodes many frames from one chunk without copying', () => {
    const stream = Buffer.concat([sized(Buffer.from('abc')), sized(Buffer.alloc(0)), sized(Buffer.from('hello'))]);
    const frames = new FrameDecoder().decode(stream);
    expect(frames.map((f) => f.toString())).toEqual(['abc', '', 'hello']);
    // Zero-copy: the frames are views of the chunk.
    expect(frames[0].buffer).toBe(stream.buffer);
    expect(frames[0].byteOffset).toBe(stream.byteOffset + 4);
    expect(frames[2].byteOffset).toBe(stream.byteOffset + 15);
  });

  it('decodes a stream fed byte by byte', () => {
    const payloads = [Buffer.from('first'), Buffer.alloc(0), Buffer.from([0, 1, 2, 255])];
    const stream = Buffer.concat(payloads.map(sized));
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      out.push(...d.decode(stream.subarray(i, i + 1)));
      expect(d.buffered).toBeLessThanOrEqual(4 + 5);
    }
    expect(out).toEqual(payloads);
    expect(d.idle).toBe(true);
    expect(d.buffered).toBe(0);
  });

  it('reports a partial frame as not idle', () => {
    const d = new FrameDecoder();
    expect(d.decode(Buffer.from([0, 0]))).toEqual([]);
    expect(d.idle).toBe(false);
    expect(d.buffered).toBe(2);
    expect(d.decode(Buffer.from([0, 3, 9]))).toEqual([]);
    expect(d.idle).toBe(false);
    expect(d.buffered).toBe(1);
    expect(d.decode(Buffer.from([8, 7, 0, 0]))).toEqual([Buffer.from([9, 8, 7])]);
    expect(d.buffered).toBe(2);
  });

  it('assembles a small frame spanning chunks into a buffer of its size', () => {
    const payload = Buffer.from('0123456789');
    const stream = sized(payload);
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    const d = new FrameDecoder();
    expect(d.decode(stream.subarray(0, 7))).toEqual([]);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy).toHaveBeenCalledWith(10);
    const [frame] = d.decode(stream.subarray(7));
    expect(frame).toEqual(payload);
    expect(frame.length).toBe(10);
    expect(frame.buffer).not.toBe(stream.buffer);
  });

  it('holds only what arrived of an announced frame, never its announced size', () => {
    const d = new FrameDecoder({ maxFrameSize: 200 << 20 });
    const head = Buffer.alloc(4 + 10);
    head.writeInt32BE(150 << 20, 0);
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    try {
      expect(d.decode(head)).toEqual([]);
      const allocated = spy.mock.calls.reduce((n, [size]) => n + Number(size), 0);
      expect(allocated).toBeLessThanOrEqual(64 * 1024);
      expect(d.buffered).toBe(10);
      expect(d.idle).toBe(false);
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps large pieces of a spanning frame as views and copies them once into the frame', () => {
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const stream = sized(payload);
    const d = new FrameDecoder();
    const frames: Buffer[] = [];
    // 64 KiB chunks, as a socket delivers them, plus a few tiny ones in the middle.
    for (let at = 0; at < stream.length; ) {
      const step = at > 100_000 && at < 100_010 ? 1 : 65_536;
      frames.push(...d.decode(stream.subarray(at, Math.min(stream.length, at + step))));
      at += step;
    }
    expect(frames).toHaveLength(1);
    expect(frames[0].equals(payload)).toBe(true);
    expect(d.idle).toBe(true);
  });

  it('accepts a frame of exactly the maximum size', () => {
    const d = new FrameDecoder({ maxFrameSize: 16 });
    expect(d.decode(sized(Buffer.alloc(16, 7)))).toEqual([Buffer.alloc(16, 7)]);
  });

  it.each([
    [17, 16],
    [-1, 16],
    [-0x80000000, DEFAULT_MAX_FRAME_SIZE],
    [0x7fffffff, DEFAULT_MAX_FRAME_SIZE],
    [DEFAULT_MAX_FRAME_SIZE + 1, DEFAULT_MAX_FRAME_SIZE],
  ])('refuses size %i with limit %i before allocating', (size, limit) => {
    const d = new FrameDecoder({ maxFrameSize: limit });
    const input = Buffer.concat([sizeOnly(size), Buffer.from([1, 2, 3])]);
    const spyUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    const spyAlloc = vi.spyOn(Buffer, 'alloc');
    let err: unknown;
    try {
      d.decode(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidFrameSizeError);
    expect(err).toBeInstanceOf(KafkaError);
    const e = err as InvalidFrameSizeError;
    expect(e.size).toBe(size);
    expect(e.limit).toBe(limit);
    expect(e.message).toContain(String(size));
    if (size >= 0) expect(e.message).toContain(String(limit));
    expect(spyUnsafe).not.toHaveBeenCalled();
    expect(spyAlloc).not.toHaveBeenCalled();
    expect(d.buffered).toBe(0);
    // The stream cannot be resynchronised: the decoder stays failed until reset.
    expect(() => d.decode(sized(Buffer.from('x')))).toThrow(InvalidFrameSizeError);
    d.reset();
    expect(d.decode(sized(Buffer.from('x')))).toEqual([Buffer.from('x')]);
  });

  it('refuses an oversize prefix split across chunks', () => {
    const d = new FrameDecoder({ maxFrameSize: 1000 });
    const head = sizeOnly(1001);
    expect(d.decode(head.subarray(0, 1))).toEqual([]);
    expect(d.decode(head.subarray(1, 3))).toEqual([]);
    expect(() => d.decode(head.subarray(3))).toThrow(/1001 larger than 1000/);
  });

  it('hands out frames completed before an invalid size in the same chunk', () => {
    const d = new FrameDecoder({ maxFrameSize: 8 });
    const seen: string[] = [];
    expect(() =>
      d.push(Buffer.concat([sized(Buffer.from('ok')), sizeOnly(9)]), (f) => seen.push(f.toString())),
    ).toThrow(InvalidFrameSizeError);
    expect(seen).toEqual(['ok']);
  });

  it('validates its options', () => {
    expect(() => new FrameDecoder({ maxFrameSize: -1 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameSize: 2 ** 31 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameSize: 1.5 })).toThrow(RangeError);
    expect(new FrameDecoder().maxFrameSize).toBe(DEFAULT_MAX_FRAME_SIZE);
  });

  it('property: any concatenation of frames split anywhere decodes to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, cuts) => {
          const frames = payloads.map((p) => Buffer.from(p));
          const stream = Buffer.concat(frames.map(sized));
          const d = new FrameDecoder({ maxFrameSize: 300 });
          const out: Buffer[] = [];
          for (const chunk of split(stream, cuts)) {
            d.push(chunk, (f) => out.push(Buffer.from(f)));
            // Bounded buffering: never more than one frame plus its prefix.
            expect(d.buffered).toBeLessThanOrEqual(304);
          }
          expect(out).toEqual(frames);
          expect(d.idle).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: a negative or oversize prefix anywhere in the stream is refused without allocating it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }),
        fc.oneof(fc.integer({ min: -0x80000000, max: -1 }), fc.integer({ min: 65, max: 0x7fffffff })),
        fc.array(fc.nat(), { maxLength: 10 }),
        (payloads, badSize, cuts) => {
          const good = payloads.map((p) => Buffer.from(p));
          const stream = Buffer.concat([...good.map(sized), sizeOnly(badSize), Buffer.alloc(8)]);
          const allocs: number[] = [];
          const real = Buffer.allocUnsafe;
          const spy = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
            allocs.push(n);
            return real(n);
          });
          try {
            const d = new FrameDecoder({ maxFrameSize: 64 });
            const out: Buffer[] = [];
            let err: unknown;
            try {
              for (const chunk of split(stream, cuts)) d.push(chunk, (f) => out.push(Buffer.from(f)));
            } catch (e) {
              err = e;
            }
            expect(err).toBeInstanceOf(InvalidFrameSizeError);
            expect((err as InvalidFrameSizeError).size).toBe(badSize);
            expect(out).toEqual(good);
            for (const n of allocs) expect(n).toBeLessThanOrEqual(64);
          } finally {
            spy.mockRestore();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
