import { describe, expect, it } from 'vitest';
import { DecodeError, KafkaError } from '../errors.js';
import { Writer } from '../primitives/writer.js';
import { peekRequestHead, writeFrame, writeRequestFrame, writeResponseFrame } from './frame.js';
import { FrameDecoder } from './frame-decoder.js';

describe('peekRequestHead', () => {
  it('reads api key, version and correlation id from the first 8 bytes', () => {
    // Produce (0) v9, correlation id 0x01020304, then an unparseable remainder.
    const frame = Buffer.from([0x00, 0x00, 0x00, 0x09, 0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff]);
    expect(peekRequestHead(frame)).toEqual({ apiKey: 0, apiVersion: 9, correlationId: 0x01020304 });
  });

  it('reads signed values as Kafka does', () => {
    const frame = Buffer.from([0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    expect(peekRequestHead(frame)).toEqual({ apiKey: -1, apiVersion: 32767, correlationId: -2 });
  });

  it('refuses a frame shorter than 8 bytes with a DecodeError', () => {
    for (let n = 0; n < 8; n++) {
      const err = (() => {
        try {
          peekRequestHead(Buffer.alloc(n));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DecodeError);
      expect(err).toBeInstanceOf(KafkaError);
    }
  });
});

describe('writeFrame', () => {
  it('writes size + header + body, readable by FrameDecoder', () => {
    const w = new Writer(0);
    w.uint8(0xaa); // something already in the writer stays untouched
    const size = writeResponseFrame(
      w,
      (h) => h.int32(42),
      (b) => b.int16(0).compactString('ok'),
    );
    expect(size).toBe(4 + 2 + 3);
    expect(w.finish()).toEqual(Buffer.from([0xaa, 0, 0, 0, 9, 0, 0, 0, 42, 0, 0, 3, 0x6f, 0x6b]));
    const frames = new FrameDecoder().decode(w.finish().subarray(1));
    expect(frames).toEqual([Buffer.from([0, 0, 0, 42, 0, 0, 3, 0x6f, 0x6b])]);
  });

  it('writes request frames whose head can be peeked', () => {
    const w = new Writer();
    writeRequestFrame(
      w,
      (h) => h.int16(18).int16(3).int32(7).nullableString('client').uvarint(0),
      (b) => b.compactString('sluice').compactString('1.0').uvarint(0),
    );
    const [frame] = new FrameDecoder().decode(w.toBuffer());
    expect(peekRequestHead(frame)).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 7 });
  });

  it('writes an empty frame', () => {
    const w = new Writer();
    expect(writeFrame(w, [])).toBe(0);
    expect(w.finish()).toEqual(Buffer.from([0, 0, 0, 0]));
  });

  it('refuses a frame above the maximum and leaves the writer as it was', () => {
    const w = new Writer();
    w.int8(1);
    let err: unknown;
    try {
      writeFrame(w, [(x) => x.raw(Buffer.alloc(11))], 10);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KafkaError);
    expect((err as KafkaError).errorName).toBe('MESSAGE_TOO_LARGE');
    expect(w.offset).toBe(1);
    expect(writeFrame(w, [(x) => x.raw(Buffer.alloc(10))], 10)).toBe(10);
  });

  it('rolls the writer back when a part throws', () => {
    const w = new Writer();
    expect(() =>
      writeFrame(w, [
        (x) => x.int32(1),
        () => {
          throw new Error('boom');
        },
      ]),
    ).toThrow('boom');
    expect(w.offset).toBe(0);
  });
});
