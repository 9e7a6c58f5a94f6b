import { describe, expect, it } from 'vitest';
import { InPlaceFrames } from './in-place-frames.js';

const frame = (body: string) => {
  const b = Buffer.from(body);
  const f = Buffer.alloc(4 + b.length);
  f.writeInt32BE(b.length, 0);
  b.copy(f, 4);
  return f;
};

/** Feeds `stream` through target()/written() in reads of the given sizes (cycled), as the socket would. */
function feed(frames: InPlaceFrames, stream: Buffer, reads: number[]): void {
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const t = frames.target();
    expect(t.length).toBeGreaterThan(0);
    const n = Math.min(reads[i % reads.length], t.length, stream.length - at);
    stream.copy(t, 0, at, at + n);
    frames.written(n);
    at += n;
  }
}

describe('response frames read in place (raw-protocol fetch)', () => {
  it('hands out each frame whole, however the reads split or join them', () => {
    const bodies = ['a', 'hello', '', 'x'.repeat(70_000), 'end'];
    const stream = Buffer.concat(bodies.map(frame));
    for (const reads of [[1], [3, 7], [stream.length], [65_536], [5, 100_000]]) {
      const got: string[] = [];
      // A small first buffer: the 70,000-byte frame makes it grow, keeping what it had.
      feed(new InPlaceFrames((f) => got.push(f.toString()), 1024), stream, reads);
      expect(got).toEqual(bodies);
    }
  });

  it('a frame is a view into the buffer, with no copy per read', () => {
    const frames: Buffer[] = [];
    const r = new InPlaceFrames((f) => frames.push(f), 1 << 20);
    const target = r.target();
    feed(r, frame('abc'), [2, 2, 3]);
    expect(frames[0].buffer).toBe(target.buffer);
  });

  it('refuses a negative or oversized frame size, naming it', () => {
    const r = new InPlaceFrames(() => {}, 1024, 1000);
    const bad = Buffer.alloc(4);
    bad.writeInt32BE(5000, 0);
    expect(() => feed(r, bad, [4])).toThrow(/frame size 5000 .*limit 1000/);
    const neg = new InPlaceFrames(() => {});
    bad.writeInt32BE(-2, 0);
    expect(() => feed(neg, bad, [4])).toThrow(/frame size -2/);
  });
});
