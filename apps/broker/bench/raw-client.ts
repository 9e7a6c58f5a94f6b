// A raw Kafka-protocol connection for the benches: requests are encoded once into frames and
// sent as they are, so the client adds next to nothing to what the broker is measured doing.
import { connect, type Socket } from 'node:net';
import { FrameDecoder, Reader, Writer, writeRequest } from '@sluice/protocol';

/** One request frame (size, header, body), client id `bench`; `capacity` is the writer's starting size. */
export function requestFrame<T>(
  api: { apiKey: number; request: { encode(w: Writer, v: number, m: T): void } },
  version: number,
  msg: T,
  correlationId: number,
  capacity = 4096,
): Buffer {
  const w = new Writer(capacity);
  writeRequest(w, api, version, msg, correlationId, 'bench');
  return w.toBuffer();
}

/** A connection that sends pre-encoded frames and hands back response frames in order. */
export class RawClient {
  private readonly decoder = new FrameDecoder({ maxFrameSize: 256 << 20 });
  private readonly waiting: ((frame: Buffer) => void)[] = [];
  private correlationId = 0;
  private constructor(
    private readonly socket: Socket,
    private readonly frameCapacity: number,
  ) {
    socket.on('data', (chunk) => this.decoder.push(chunk, (f) => this.waiting.shift()?.(f)));
  }
  /** `frameCapacity` is the writer's starting size for each frame (it grows past it if needed). */
  static open(port: number, frameCapacity = 1 << 20): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawClient(s, frameCapacity)));
      s.setNoDelay(true);
      s.once('error', reject);
    });
  }
  frame<T>(
    api: { apiKey: number; request: { encode(w: Writer, v: number, m: T): void } },
    version: number,
    msg: T,
  ): Buffer {
    return requestFrame(api, version, msg, ++this.correlationId, this.frameCapacity);
  }
  send(frame: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(frame);
    });
  }
  close(): void {
    this.socket.destroy();
  }
}

/** Skips a flexible (v1) response header and decodes the body. */
export function body<T>(frame: Buffer, decode: (r: Reader) => T): T {
  const r = new Reader(frame);
  r.int32();
  r.taggedFields();
  return decode(r);
}
