import { connect, type Socket } from 'node:net';
import {
  type ApiDefinition,
  FrameDecoder,
  Reader,
  ResponseHeaderCodec,
  responseHeaderVersion,
  Writer,
  writeRequest,
} from '@sluice/protocol';

/** Largest response frame the conformance client accepts (fetch responses in the suite stay far below). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Requests in flight per connection; the suite's scripts never need more. */
const MAX_PENDING = 64;

interface Pending {
  apiKey: number;
  version: number;
  resolve: (frame: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A raw Kafka connection for the differential suite: encodes requests with @sluice/protocol,
 * pipelines them by correlation id and decodes the responses. Nothing here knows which broker
 * is on the other end.
 */
export class WireClient {
  private readonly pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly clientId: string,
    /** Names the broker in error messages. */
    readonly label: string,
  ) {
    const decoder = new FrameDecoder({ maxFrameSize: MAX_RESPONSE_BYTES });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (frame) => this.onFrame(frame));
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error(`${this.label}: connection closed by the broker`)));
  }

  static connect(port: number, label: string, clientId = 'sluice-conformance'): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new WireClient(socket, clientId, label));
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Sends one request and resolves with the decoded response. */
  async send<Req, Res>(api: ApiDefinition<Req, Res>, version: number, request: Req, timeoutMs = 30_000): Promise<Res> {
    const frame = await this.sendFrame(api, version, request, true, timeoutMs);
    const r = new Reader(frame!);
    ResponseHeaderCodec.decode(r, responseHeaderVersion(api.apiKey, version));
    const response = api.response.decode(r, version);
    if (r.remaining !== 0) throw new Error(`${api.name} v${version}: ${r.remaining} bytes left after the response`);
    return response;
  }

  /** Sends a request the broker does not answer (Produce with acks=0). */
  async sendOneWay<Req>(api: ApiDefinition<Req, unknown>, version: number, request: Req): Promise<void> {
    await this.sendFrame(api, version, request, false, 0);
  }

  /** Sends a request and resolves with the response frame after its header, undecoded. */
  async sendRaw<Req>(api: ApiDefinition<Req, unknown>, version: number, request: Req, timeoutMs = 30_000) {
    const frame = await this.sendFrame(api, version, request, true, timeoutMs);
    const r = new Reader(frame!);
    const header = ResponseHeaderCodec.decode(r, responseHeaderVersion(api.apiKey, version));
    return { correlationId: header.correlationId, body: frame!.subarray(frame!.length - r.remaining) };
  }

  /**
   * Sends a hand-built request frame (size prefix included; correlation id at its usual place) and
   * resolves with the response frame without its size prefix. For requests the codec refuses to encode.
   */
  sendBytes(frame: Buffer, timeoutMs = 30_000): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    const correlationId = frame.readInt32BE(8);
    if (this.pending.has(correlationId)) return Promise.reject(new Error(`correlation id ${correlationId} in use`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new Error(`${this.label}: raw request: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlationId, {
        apiKey: frame.readInt16BE(4),
        version: frame.readInt16BE(6),
        resolve,
        reject,
        timer,
      });
      this.socket.write(frame);
    });
  }

  close(): void {
    this.socket.destroy();
    this.fail(new Error('client closed'));
  }

  private sendFrame<Req>(
    api: ApiDefinition<Req, unknown>,
    version: number,
    request: Req,
    expectResponse: boolean,
    timeoutMs: number,
  ): Promise<Buffer | undefined> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new Error('too many requests in flight'));
    const correlationId = this.nextCorrelationId++;
    const w = new Writer();
    writeRequest(w, api, version, request, correlationId, this.clientId);
    const bytes = w.toBuffer();
    if (!expectResponse) {
      return new Promise((resolve, reject) =>
        this.socket.write(bytes, (err) => (err ? reject(err) : resolve(undefined))),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new Error(`${this.label}: ${api.name} v${version}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlationId, { apiKey: api.apiKey, version, resolve, reject, timer });
      this.socket.write(bytes);
    });
  }

  private onFrame(frame: Buffer): void {
    if (frame.length < 4) throw new Error(`response frame of ${frame.length} bytes`);
    const correlationId = frame.readInt32BE(0);
    const p = this.pending.get(correlationId);
    if (!p) throw new Error(`response with unknown correlation id ${correlationId}`);
    this.pending.delete(correlationId);
    clearTimeout(p.timer);
    p.resolve(frame);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
