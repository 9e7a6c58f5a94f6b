import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { InvalidFrameSizeError } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { Connection } from '../src/connection.js';
import { FrameReader } from '../src/frame-reader.js';

function framed(body: Buffer): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

function bodyOf(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Feeds `stream` to the reader in reads of at most `step` bytes, as a socket would. */
function feed(r: FrameReader, stream: Buffer, step: number): { reads: number } {
  let pos = 0;
  let reads = 0;
  while (pos < stream.length) {
    const buf = r.nextBuffer();
    const n = Math.min(step, buf.length, stream.length - pos);
    stream.copy(buf, 0, pos, pos + n);
    pos += n;
    reads++;
    r.received(n, buf);
  }
  return { reads };
}

describe('FrameReader', () => {
  it('cuts frames however the reads split them, size prefixes included, and hands out stable copies', () => {
    const bodies = [bodyOf(0, 1), bodyOf(1, 2), bodyOf(5, 3), bodyOf(300, 4), bodyOf(70_000, 5), bodyOf(9, 6)];
    const stream = Buffer.concat(bodies.map(framed));
    for (const step of [1, 2, 3, 5, 7, 4096, 65_536, stream.length]) {
      const got: Buffer[] = [];
      const r = new FrameReader((f) => got.push(f));
      feed(r, stream, step);
      expect(r.idle).toBe(true);
      expect(got.map((f) => f.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
    }
    // Frames from the staging buffer are copies: the next read does not change them.
    const got: Buffer[] = [];
    const r = new FrameReader((f) => got.push(f));
    feed(r, Buffer.concat([framed(bodyOf(10, 7)), framed(bodyOf(10, 8))]), 14);
    expect(got[0].equals(bodyOf(10, 7))).toBe(true);
  });

  it('reads the rest of a large frame straight into the frame, in few reads', () => {
    const body = bodyOf(3 * 1024 * 1024, 9);
    const got: Buffer[] = [];
    const r = new FrameReader((f) => got.push(f));
    const first = r.nextBuffer();
    const stream = framed(body);
    stream.copy(first, 0, 0, first.length);
    r.received(first.length, first);
    const tail = r.nextBuffer();
    // What is left of the frame, exactly: a read cannot run into the next frame.
    expect(tail.length).toBe(stream.length - first.length);
    stream.copy(tail, 0, first.length);
    r.received(tail.length, tail);
    expect(got).toHaveLength(1);
    expect(got[0].equals(body)).toBe(true);
    // The frame is the buffer the read filled, not a copy of it.
    expect(got[0].buffer).toBe(tail.buffer);
  });

  it('rejects a negative or oversized frame size before allocating, and stays failed', () => {
    for (const size of [-1, 1025]) {
      const r = new FrameReader(() => {}, 1024);
      const buf = r.nextBuffer();
      buf.writeInt32BE(size, 0);
      expect(() => r.received(4, buf)).toThrow(InvalidFrameSizeError);
      expect(() => r.received(0, r.nextBuffer())).toThrow(InvalidFrameSizeError);
    }
  });

  it('refuses bytes in a buffer it did not lend', () => {
    const r = new FrameReader(() => {});
    r.nextBuffer();
    expect(() => r.received(4, Buffer.alloc(4))).toThrow(/did not lend/);
  });

  it('works as a socket onread target: many frames of mixed sizes arrive intact', async () => {
    const bodies = Array.from({ length: 200 }, (_, i) => bodyOf(i % 10 === 0 ? 200_000 + i : (i * 37) % 5000, i));
    const server = createServer((s) => {
      // Written in odd-sized pieces so frames and size prefixes straddle TCP segments.
      const stream = Buffer.concat(bodies.map(framed));
      for (let pos = 0; pos < stream.length; pos += 9_999) s.write(stream.subarray(pos, pos + 9_999));
      s.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const got: Buffer[] = [];
    const r = new FrameReader((f) => got.push(f));
    const socket = connect({
      host: '127.0.0.1',
      port: (server.address() as { port: number }).port,
      onread: {
        buffer: () => r.nextBuffer(),
        callback: (n: number, buf: Uint8Array) => {
          r.received(n, buf as Buffer);
          return true;
        },
      },
    });
    await once(socket, 'end');
    socket.destroy();
    server.close();
    expect(r.idle).toBe(true);
    expect(got).toHaveLength(bodies.length);
    for (let i = 0; i < bodies.length; i++) expect(got[i].equals(bodies[i])).toBe(true);
  });

  it('closes the connection with InvalidFrameSizeError when a response announces more than maxFrameSize', async () => {
    const server = createServer((s) => {
      s.once('data', () => {
        const b = Buffer.alloc(8);
        b.writeInt32BE(2048, 0);
        s.write(b);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const err = await Connection.open({ host: '127.0.0.1', port, maxFrameSize: 1024 }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidFrameSizeError);
    server.close();
  });
});
