import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect } from 'node:tls';
import {
  type ApiDefinition,
  ApiVersionsApi,
  Reader,
  RequestHeaderCodec,
  ResponseHeaderCodec,
  requestHeaderVersion,
  responseHeaderVersion,
  SaslAuthenticateApi,
  SaslHandshakeApi,
  Writer,
  writeRequestFrame,
} from '@sluice/protocol';
import { OAuthBearerClient, PlainClient, type SaslClient, ScramClient } from '@sluice/security';
import { ConnectionError, ERROR_CODES, KafkaError, RequestTimeoutError } from './errors.js';
import { FrameReader } from './frame-reader.js';
import type { MetricsSink } from './metrics.js';
import { negotiateVersions, pickVersion } from './versions.js';

/**
 * TLS to the broker (Kafka's `security.protocol=SSL`/`SASL_SSL`): `true` for the system's trusted
 * CAs, or node:tls options (`ca`, and `cert`/`key` for a client certificate).
 */
export type SslOptions =
  | true
  | Pick<
      TlsConnectionOptions,
      'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'servername' | 'rejectUnauthorized' | 'checkServerIdentity'
    >;

/**
 * SASL login: Kafka's `sasl.mechanism` with its JAAS username and password, or OAUTHBEARER with a
 * function that gives the bearer token (called for each connection, so it may refresh it).
 */
export type SaslOptions =
  | {
      mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
      username: string;
      password: string;
      /**
       * SCRAM with a delegation token (Kafka's `tokenauth=true` in the ScramLoginModule): username is
       * the token id, password the token's hmac in base64.
       */
      tokenAuth?: boolean;
    }
  | {
      mechanism: 'OAUTHBEARER' | 'oauthbearer';
      token: () => string | Promise<string>;
    };

/** Rounds of one SASL exchange a client goes through at most (SCRAM takes 2). */
const MAX_SASL_ROUNDS = 10;

export interface ConnectionOptions {
  host: string;
  port: number;
  clientId?: string;
  connectTimeoutMs?: number;
  /** Default timeout of a request, from send to response. */
  requestTimeoutMs?: number;
  /** Requests sent but not answered; more wait in line (bounded by maxQueued). Default 5. */
  maxInFlight?: number;
  /** Requests waiting for an in-flight slot before request() rejects. Default 10 000. */
  maxQueued?: number;
  /** Largest response frame accepted. Default 100 MiB. */
  maxFrameSize?: number;
  metrics?: MetricsSink;
  ssl?: SslOptions;
  sasl?: SaslOptions;
  /** Highest versions by API key in place of the client's own caps (a broker's requests to another broker). */
  versionCaps?: ReadonlyMap<number, number>;
}

export interface RequestOptions {
  /** Use this version instead of the negotiated one (it is still capped by the negotiated one). */
  maxVersion?: number;
  /** Extra time on top of the request timeout (a long-polling fetch adds its max wait). */
  extraTimeoutMs?: number;
  /** acks=0 produce: no response comes; resolves once written. */
  noResponse?: boolean;
  /**
   * Byte fields (record batches) to hand to the socket by reference instead of copying them into
   * the request frame. They must not change until the socket has written them.
   */
  splice?: ReadonlySet<Uint8Array>;
}

/**
 * A Writer that leaves the byte fields listed in `splice` out of its buffer and remembers where
 * they go, so a Produce request's record batches reach the socket without a copy.
 */
class SplicingWriter extends Writer {
  /** [position in this writer's buffer, spliced bytes], in order. */
  readonly spliced: Array<[number, Uint8Array]> = [];
  splicedBytes = 0;

  constructor(
    capacity: number,
    private readonly splice: ReadonlySet<Uint8Array>,
  ) {
    super(capacity);
  }

  override raw(v: Uint8Array): this {
    if (!this.splice.has(v)) return super.raw(v);
    this.spliced.push([this.offset, v]);
    this.splicedBytes += v.length;
    return this;
  }
}

interface Pending {
  api: ApiDefinition;
  version: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
  started: number;
}

interface Queued {
  run: () => void;
  reject: (e: unknown) => void;
}

const API_VERSIONS_MAX = 4;

/**
 * One TCP connection to one broker: negotiates API versions once, then pipelines requests,
 * matching responses by correlation id, with at most `maxInFlight` unanswered at a time.
 * A timed-out request closes the connection (responses come in order, so the stream cannot be
 * trusted afterwards), failing every pending request with a retriable error.
 */
export class Connection {
  readonly address: string;
  versions: Map<number, number> = new Map();
  private socket: Socket | null = null;
  private readonly reader: FrameReader;
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Queued[] = [];
  private nextCorrelationId = 1;
  private closedError: Error | null = null;
  private readonly clientId: string;
  private readonly requestTimeoutMs: number;
  private readonly maxInFlight: number;
  private readonly maxQueued: number;
  private readonly closeListeners: Array<() => void> = [];

  private constructor(private readonly options: ConnectionOptions) {
    this.address = `${options.host}:${options.port}`;
    this.clientId = options.clientId ?? 'sluice-client';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxInFlight = options.maxInFlight ?? 5;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.reader = new FrameReader((frame) => this.onFrame(frame), options.maxFrameSize);
  }

  /** Connects and negotiates API versions. */
  static async open(options: ConnectionOptions): Promise<Connection> {
    const c = new Connection(options);
    await c.connect(options.connectTimeoutMs ?? 10_000);
    try {
      await c.negotiate();
      if (options.sasl) await c.authenticate(options.sasl);
    } catch (err) {
      c.close(err as Error);
      throw err;
    }
    return c;
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  private connect(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      // Reads go where the reader says: large frames straight into their own buffer.
      const ssl = this.options.ssl;
      const tlsOptions: TlsConnectionOptions = ssl === undefined || ssl === true ? {} : { ...ssl };
      // SNI takes host names only.
      if (ssl !== undefined && tlsOptions.servername === undefined && isIP(this.options.host) === 0) {
        tlsOptions.servername = this.options.host;
      }
      const socketOptions = {
        host: this.options.host,
        port: this.options.port,
        noDelay: true,
        onread: {
          buffer: () => this.reader.nextBuffer(),
          callback: (n: number, buf: Uint8Array) => {
            try {
              this.reader.received(n, buf as Buffer);
            } catch (err) {
              this.close(err as Error);
            }
            return true;
          },
        },
      };
      const socket: Socket =
        ssl === undefined ? netConnect(socketOptions) : tlsConnect({ ...tlsOptions, ...socketOptions });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionError(this.address, `connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once(ssl === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve();
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        if (this.socket === null) reject(new ConnectionError(this.address, err.message, { cause: err }));
        else this.close(new ConnectionError(this.address, err.message, { cause: err }));
      });
      socket.on('close', () => this.close(new ConnectionError(this.address, 'connection closed')));
    });
  }

  private async negotiate(): Promise<void> {
    // Until ApiVersions answers, only ApiVersions is sent, at the newest version we know.
    this.versions = new Map([[ApiVersionsApi.apiKey, API_VERSIONS_MAX]]);
    let res = await this.request(ApiVersionsApi, {
      ...ApiVersionsApi.request.defaults(),
      clientSoftwareName: 'sluice-client',
      clientSoftwareVersion: '0.0.0',
    }).catch((err: unknown) => {
      if (err instanceof UnsupportedApiVersions) return err.response;
      throw err;
    });
    if (res.errorCode === ERROR_CODES.UNSUPPORTED_VERSION) {
      // The broker answered in v0 with the versions it has: retry at its highest ApiVersions.
      const theirs = res.apiKeys.find((k) => k.apiKey === ApiVersionsApi.apiKey);
      this.versions = new Map([[ApiVersionsApi.apiKey, Math.min(theirs?.maxVersion ?? 0, API_VERSIONS_MAX)]]);
      res = await this.request(ApiVersionsApi, ApiVersionsApi.request.defaults());
    }
    if (res.errorCode !== 0) throw new KafkaError(res.errorCode, `${this.address}: ApiVersions failed`);
    this.versions = negotiateVersions(res.apiKeys, this.options.versionCaps);
  }

  /** SaslHandshake, then SaslAuthenticate rounds until the mechanism is done (and the server verified). */
  private async authenticate(sasl: SaslOptions): Promise<void> {
    const mechanism = sasl.mechanism.toUpperCase();
    const handshake = await this.request(SaslHandshakeApi, { mechanism });
    if (handshake.errorCode !== 0) {
      throw new KafkaError(
        handshake.errorCode,
        `${this.address}: SASL mechanism ${mechanism} refused (enabled: ${handshake.mechanisms.join(', ')})`,
      );
    }
    const client: SaslClient =
      'token' in sasl
        ? new OAuthBearerClient(await sasl.token())
        : sasl.mechanism === 'PLAIN'
          ? new PlainClient(sasl.username, sasl.password)
          : new ScramClient(sasl.mechanism, sasl.username, sasl.password, undefined, sasl.tokenAuth === true);
    let token: Buffer | null = client.first();
    for (let round = 0; token !== null; round++) {
      if (round >= MAX_SASL_ROUNDS) throw new ConnectionError(this.address, 'SASL exchange did not end');
      const res = await this.request(SaslAuthenticateApi, { authBytes: token });
      if (res.errorCode !== 0) {
        throw new KafkaError(res.errorCode, `${this.address}: ${res.errorMessage ?? 'SASL authentication failed'}`);
      }
      token = client.evaluate(res.authBytes);
    }
  }

  /** The version `request()` will use for `api` (throws UNSUPPORTED_VERSION when none is common). */
  version(api: ApiDefinition, cap?: number): number {
    return pickVersion(this.versions, api, cap);
  }

  /** Sends one request and resolves with its decoded response. */
  request<Req, Res>(api: ApiDefinition<Req, Res>, body: Req, options: RequestOptions = {}): Promise<Res> {
    if (this.closedError) return Promise.reject(this.closedError);
    let version: number;
    try {
      version = this.version(api, options.maxVersion);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Res>((resolve, reject) => {
      const run = () => this.send(api, version, body, options, resolve as (v: unknown) => void, reject);
      if (this.pending.size < this.maxInFlight && this.queue.length === 0) run();
      else if (this.queue.length >= this.maxQueued) {
        reject(new KafkaError(ERROR_CODES.REQUEST_TIMED_OUT, `${this.address}: ${this.maxQueued} requests queued`));
      } else this.queue.push({ run, reject });
    });
  }

  private send<Req>(
    api: ApiDefinition<Req, unknown>,
    version: number,
    body: Req,
    options: RequestOptions,
    resolve: (v: unknown) => void,
    reject: (e: unknown) => void,
  ): void {
    const socket = this.socket;
    if (this.closedError || socket === null) {
      reject(this.closedError ?? new ConnectionError(this.address, 'not connected'));
      return;
    }
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = correlationId === 0x7fffffff ? 1 : correlationId + 1;
    let frame: Buffer;
    let spliced: SplicingWriter | null = null;
    try {
      const hv = requestHeaderVersion(api.apiKey, version);
      const header = (w: Writer) =>
        RequestHeaderCodec.encode(w, hv, {
          requestApiKey: api.apiKey,
          requestApiVersion: version,
          correlationId,
          clientId: this.clientId,
        });
      if (options.splice !== undefined && options.splice.size > 0) {
        // Size prefix, header and body; the spliced fields count towards the size but are not copied.
        const w = new SplicingWriter(256, options.splice);
        w.int32(0);
        header(w);
        api.request.encode(w, version, body);
        const size = w.offset - 4 + w.splicedBytes;
        if (size > 0x7fffffff) throw new KafkaError(ERROR_CODES.MESSAGE_TOO_LARGE, `request of ${size} bytes`);
        w.buffer.writeInt32BE(size, 0);
        frame = w.finish();
        spliced = w;
      } else {
        const w = new Writer(256);
        writeRequestFrame(w, header, (w) => api.request.encode(w, version, body));
        frame = w.finish();
      }
    } catch (err) {
      reject(err);
      this.pump();
      return;
    }
    const write = (cb?: (err?: Error | null) => void): void => {
      if (spliced === null || spliced.spliced.length === 0) {
        socket.write(frame, cb);
        return;
      }
      // One writev: the frame's own bytes with the spliced buffers in between.
      socket.cork();
      let from = 0;
      for (const [at, bytes] of spliced.spliced) {
        if (at > from) socket.write(frame.subarray(from, at));
        socket.write(bytes);
        from = at;
      }
      socket.write(frame.subarray(from), cb);
      socket.uncork();
    };
    const started = performance.now();
    if (options.noResponse) {
      write((err) => (err ? reject(err) : resolve(undefined)));
      this.options.metrics?.request(api.name, 0, false);
      this.pump();
      return;
    }
    const timeoutMs = this.requestTimeoutMs + (options.extraTimeoutMs ?? 0);
    const timer = setTimeout(() => {
      this.close(new RequestTimeoutError(`${this.address} ${api.name} v${version}`, timeoutMs));
    }, timeoutMs);
    this.pending.set(correlationId, { api: api as ApiDefinition, version, resolve, reject, timer, started });
    write();
  }

  private pump(): void {
    while (this.queue.length > 0 && this.pending.size < this.maxInFlight && !this.closedError) {
      (this.queue.shift() as Queued).run();
    }
  }

  private onFrame(frame: Buffer): void {
    if (frame.length < 4) throw new ConnectionError(this.address, `response frame of ${frame.length} bytes`);
    const correlationId = frame.readInt32BE(0);
    const p = this.pending.get(correlationId);
    if (p === undefined) throw new ConnectionError(this.address, `response to unknown correlation id ${correlationId}`);
    this.pending.delete(correlationId);
    clearTimeout(p.timer);
    const elapsed = performance.now() - p.started;
    try {
      const r = new Reader(frame);
      ResponseHeaderCodec.decode(r, responseHeaderVersion(p.api.apiKey, p.version));
      if (p.api.apiKey === ApiVersionsApi.apiKey && frame.length >= 6 && frame.readInt16BE(4) === 35) {
        // An unsupported ApiVersions version is answered in v0, whatever version was asked.
        p.reject(new UnsupportedApiVersions(ApiVersionsApi.response.decode(r, 0)));
      } else {
        p.resolve(p.api.response.decode(r, p.version));
      }
      this.options.metrics?.request(p.api.name, elapsed, false);
    } catch (err) {
      this.options.metrics?.request(p.api.name, elapsed, true);
      p.reject(err);
    }
    this.pump();
  }

  /** Closes the socket and fails every pending and queued request with `reason`. */
  close(reason: Error = new ConnectionError(this.address, 'closed by the client')): void {
    if (this.closedError) return;
    this.closedError = reason;
    this.socket?.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.pending.clear();
    for (const q of this.queue.splice(0)) q.reject(reason);
    for (const l of this.closeListeners) l();
  }
}

class UnsupportedApiVersions extends KafkaError {
  constructor(readonly response: ReturnType<typeof ApiVersionsApi.response.decode>) {
    super(ERROR_CODES.UNSUPPORTED_VERSION);
  }
}
