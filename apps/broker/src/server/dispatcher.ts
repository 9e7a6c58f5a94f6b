import type { ViewLease } from '@sluice/log';
import {
  type ApiDefinition,
  ApiVersionsApi,
  type ApiVersionsResponse,
  ERROR_CODES,
  peekRequestHead,
  Reader,
  type RequestHeader,
  RequestHeaderCodec,
  ResponseHeaderCodec,
  requestHeaderVersion,
  responseHeaderVersion,
  Writer,
  writeFrame,
} from '@sluice/protocol';
import type { Logger } from 'pino';
import type { ConnectionInfo, FrameHandler, GatheredFrame, ResponseFrame } from './connection.js';
import { GatherWriter } from './gather-writer.js';

const WRITER_CAPACITY = 64 * 1024;
const DETACH_ABOVE_BYTES = 32 * 1024;

/** What a handler knows about the request it answers. */
export interface RequestContext {
  readonly apiVersion: number;
  readonly header: RequestHeader;
  readonly connection: ConnectionInfo;
  /**
   * The lease of the log views the response will carry: released once the response has been
   * written (or dropped), or at once when it is not sent by reference. Replaces, and releases,
   * a lease set earlier for this request (a long poll that read again).
   */
  holdViews(lease: ViewLease): void;
}

/**
 * One API's handler: turns a decoded request into a response (or null for no response, as for
 * Produce with acks=0). `minVersion`/`maxVersion` are what the broker advertises and accepts.
 */
// biome-ignore lint/suspicious/noExplicitAny: handlers of every API share one list; each is typed where it is written.
export interface ApiHandler<Req = any, Res = any> {
  readonly api: ApiDefinition<Req, Res>;
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(request: Req, ctx: RequestContext): Res | null | Promise<Res | null>;
  /**
   * Bytes the encoded response will roughly take, so big responses are encoded without regrowing
   * (with `gather`, the bytes written, not those referenced).
   */
  sizeHint?(response: Res): number;
  /**
   * The response's long byte fields go to the socket as they are, not copied into the frame
   * (see GatherWriter for what the response must satisfy). The handler guarantees those Buffers
   * do not change until written.
   */
  readonly gather?: boolean;
}

export interface RequestObserver {
  /** Called after each answered request. */
  onRequest(apiName: string, apiVersion: number, seconds: number, requestBytes: number): void;
}

/**
 * Parses request frames, routes them to the API handlers and frames their responses. Everything
 * that is not a well-formed request of a supported API and version closes the connection with
 * one log line, as Kafka's broker does; ApiVersions alone answers an unsupported version with
 * UNSUPPORTED_VERSION so that clients can negotiate.
 */
export class Dispatcher implements FrameHandler {
  private readonly handlers: (ApiHandler | undefined)[] = [];
  private readonly writer = new Writer(WRITER_CAPACITY);
  private readonly gatherWriter = new GatherWriter();

  constructor(
    handlers: readonly ApiHandler[],
    private readonly log: Logger,
    private readonly observer?: RequestObserver,
  ) {
    for (const h of handlers) this.handlers[h.api.apiKey] = h;
  }

  /** The API keys and version ranges this broker serves, as ApiVersions advertises them. */
  supportedApis(): { apiKey: number; minVersion: number; maxVersion: number }[] {
    return this.handlers
      .filter((h): h is ApiHandler => h !== undefined)
      .map((h) => ({ apiKey: h.api.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }));
  }

  handle(frame: Buffer, connection: ConnectionInfo): ResponseFrame | null | Promise<ResponseFrame | null> {
    const started = performance.now();
    const head = peekRequestHead(frame);
    const handler = this.handlers[head.apiKey];
    if (handler === undefined) {
      throw new Error(`unknown API key ${head.apiKey} (correlation id ${head.correlationId})`);
    }
    // On a SASL listener nothing but the handshake is served before the client has authenticated.
    const sasl = connection.sasl;
    if (sasl !== undefined) {
      const refused = sasl.refusal(head.apiKey);
      if (refused !== null) throw new Error(refused);
    }
    const { api } = handler;
    if (head.apiVersion < handler.minVersion || head.apiVersion > handler.maxVersion) {
      if (api.apiKey === ApiVersionsApi.apiKey) return this.unsupportedApiVersions(head.correlationId, handler);
      throw new Error(
        `unsupported ${api.name} version ${head.apiVersion} (supported ${handler.minVersion}-${handler.maxVersion})`,
      );
    }
    const reader = new Reader(frame);
    const header = RequestHeaderCodec.decode(reader, requestHeaderVersion(head.apiKey, head.apiVersion));
    const request = api.request.decode(reader, head.apiVersion);
    let lease: ViewLease | null = null;
    const ctx: RequestContext = {
      apiVersion: head.apiVersion,
      header,
      connection,
      holdViews(next) {
        if (lease !== null && lease !== next) lease.release();
        lease = next;
        // Held past the bound by a response that does not leave (a stalled client): Kafka closes
        // a fetch whose segment file is gone; so does this.
        next.onRevoke = () => connection.close?.('a response held views of a deleted segment too long');
      },
    };
    const release = () => {
      const l = lease as ViewLease | null;
      l?.release();
    };
    const finish = (response: unknown): ResponseFrame | null => {
      try {
        if (response === null) {
          release();
          return null;
        }
        const sizeHint = handler.sizeHint?.(response);
        let out: ResponseFrame;
        if (handler.gather) {
          const parts: GatheredFrame = this.encodeGathered(
            api,
            head.apiVersion,
            head.correlationId,
            response,
            sizeHint,
          );
          if (lease !== null) parts.onWritten = release;
          out = parts;
        } else {
          out = this.encodeResponse(api, head.apiVersion, head.correlationId, response, sizeHint);
          release();
        }
        this.observer?.onRequest(api.name, head.apiVersion, (performance.now() - started) / 1000, frame.length);
        return out;
      } catch (err) {
        release();
        throw err;
      }
    };
    let result: unknown;
    try {
      result = handler.handle(request, ctx);
    } catch (err) {
      release();
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(finish, (err) => {
        release();
        throw err;
      });
    }
    return finish(result);
  }

  private encodeResponse(
    api: ApiDefinition,
    version: number,
    correlationId: number,
    response: unknown,
    sizeHint = 0,
  ): Buffer {
    const w = this.writer.reset();
    if (sizeHint > 0) w.ensure(sizeHint);
    writeFrame(w, [
      (w) => ResponseHeaderCodec.encode(w, responseHeaderVersion(api.apiKey, version), { correlationId }),
      (w) => api.response.encode(w, version, response),
    ]);
    // Large responses (fetches) are handed over rather than copied out of the shared writer.
    return w.offset > DETACH_ABOVE_BYTES ? w.detach(WRITER_CAPACITY) : w.toBuffer();
  }

  /** A response frame as parts: its fields, and its long byte fields by reference (see GatherWriter). */
  private encodeGathered(
    api: ApiDefinition,
    version: number,
    correlationId: number,
    response: unknown,
    sizeHint?: number,
  ): GatheredFrame {
    const w = this.gatherWriter.beginFrame(sizeHint);
    ResponseHeaderCodec.encode(w, responseHeaderVersion(api.apiKey, version), { correlationId });
    api.response.encode(w, version, response);
    return w.endFrame();
  }

  /** Kafka answers an ApiVersions request of a version it does not know with a v0 response. */
  private unsupportedApiVersions(correlationId: number, handler: ApiHandler): Buffer {
    this.log.debug({ correlationId }, 'ApiVersions request of an unsupported version');
    const response: ApiVersionsResponse = {
      ...ApiVersionsApi.response.defaults(),
      errorCode: ERROR_CODES.UNSUPPORTED_VERSION,
      apiKeys: [{ apiKey: handler.api.apiKey, minVersion: handler.minVersion, maxVersion: handler.maxVersion }],
    };
    return this.encodeResponse(ApiVersionsApi, 0, correlationId, response);
  }
}
