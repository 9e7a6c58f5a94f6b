import type { Socket } from 'node:net';
import { FrameDecoder } from '@sluice/protocol';
import { type SendFile, socketFd } from '@sluice/sendfile';
import type { Logger } from 'pino';
import { hasRegion, RegionFrameWriter } from './region-writer.js';
import type { RequestBudget } from './request-budget.js';
import type { SaslSession } from './sasl-session.js';

/** A response frame (with its size prefix): one Buffer, or its parts in order, written together. */
export type ResponseFrame = Buffer | GatheredFrame;

/**
 * A frame's parts; `onWritten` runs once when they have left for the socket or will never be
 * written (the connection closed), so whoever lent the referenced Buffers (the log's mapped
 * views) can take them back.
 */
export type GatheredFrame = readonly Buffer[] & { onWritten?: () => void };

/** Tells a frame's lender that its parts are done with (written or dropped); at most once per frame. */
function done(response: ResponseFrame | null): void {
  if (response === null || Buffer.isBuffer(response)) return;
  const cb = (response as GatheredFrame).onWritten;
  if (cb !== undefined) {
    (response as { onWritten?: () => void }).onWritten = undefined;
    cb();
  }
}

/** What a connection asks of the broker for each request frame. */
export interface FrameHandler {
  /**
   * Handles one request frame (without its size prefix). Returns the response frame, null when
   * the request gets no response (Produce with acks=0), or a promise of either. Throwing (or
   * rejecting) closes the connection, as Kafka does for a request it cannot parse.
   */
  handle(frame: Buffer, connection: ConnectionInfo): ResponseFrame | null | Promise<ResponseFrame | null>;
}

export interface ConnectionInfo {
  readonly id: number;
  readonly remote: string;
  /** Set when the connection closes, so long-running handlers can give up early. */
  closed: boolean;
  /** Closes the connection, logging `reason`. */
  close?(reason: string): void;
  /** The listener the client connected to (Kafka's listener name); unset: the only one. */
  readonly listener?: string;
  /** The peer's address without its port (ACL host matching). */
  readonly remoteAddress?: string;
  /**
   * Who the client is, as Kafka's KafkaPrincipal (`User:alice`; `User:ANONYMOUS` on PLAINTEXT). On a
   * SASL listener it is set once the client has authenticated.
   */
  principal?: string;
  /** The SASL state on a SASL_PLAINTEXT/SASL_SSL listener; unset elsewhere. */
  readonly sasl?: SaslSession;
  /** Closes the connection once the responses queued so far are written (a refused login's answer). */
  closeAfterResponses?(reason: string): void;
  /** Reads no further request for `ms` (a client over its quota, KIP-219). */
  throttle?(ms: number): void;
  /**
   * Responses may send records straight from segment files (sendfile): a plain TCP socket, the
   * addon built, and log.io.sendfile on. Unset: records are read into memory and written.
   */
  readonly zeroCopy?: boolean;
}

/** Who a connection is, set at accept (the certificate on SSL) or by SASL. */
export interface ConnectionSecurity {
  listener: string;
  principal: string;
  sasl?: SaslSession;
}

export interface ConnectionOptions {
  maxRequestBytes: number;
  /** Requests read but not yet answered; beyond this the socket is not read (backpressure). */
  maxInFlight: number;
  idleTimeoutMs: number;
  /** Broker-wide bytes of requests in flight (queued.max.request.bytes); none: unbounded. */
  budget?: RequestBudget;
  /**
   * Reports why a connection closed (instead of one info line per close); `invalid` when the peer
   * sent something that is not a well-formed request.
   */
  reportClose?: (connection: Connection, reason: string, invalid: boolean) => void;
  /** sendfile, when Fetch responses may send records from segment files (FileRegion parts). */
  sendFile?: SendFile | null;
}

interface Pending {
  done: boolean;
  response: ResponseFrame | null;
  /** Request bytes taken from the budget, 0 once given back. */
  bytes: number;
}

/**
 * One client connection: cuts the byte stream into frames, hands each to the broker in arrival
 * order, and writes the responses in request order even when later requests finish first.
 * Reading stops while too many requests are unanswered, the socket's writes are not drained, or
 * the broker-wide budget of request bytes is spent.
 */
export class Connection implements ConnectionInfo {
  readonly id: number;
  readonly remote: string;
  /** The peer's address without its port. */
  readonly remoteAddress: string;
  readonly listener?: string;
  principal?: string;
  readonly sasl?: SaslSession;
  closed = false;
  /** The socket's descriptor when responses may use sendfile on it. */
  private readonly sendfileFd: number | null;
  /** The frame being written with sendfile; later responses wait for it. */
  private regionFrame: { writer: RegionFrameWriter; parts: GatheredFrame } | null = null;
  /** Set by closeAfterResponses: the reason to close with once the queue is written. */
  private closeWhenWritten: string | null = null;
  /** A quota throttle: no request is taken on until it ends. */
  private throttled: NodeJS.Timeout | null = null;
  private readonly decoder: FrameDecoder;
  private readonly queue: Pending[] = [];
  /**
   * Frames cut from the last chunk but not yet handed on, because the connection must wait
   * (too many in flight, or writes not drained). At most one read chunk's worth: the socket is
   * paused while any are held.
   */
  private readonly held: Buffer[] = [];
  private processing = false;
  private writeBlocked = false;
  private paused = false;
  /** Reading waits for the broker-wide budget until `wake` runs (bytes came back). */
  private waitingForBudget = false;
  /** Bytes of the partial frame (or size prefix) counted in the budget. */
  private partialCounted = 0;
  // A microtask, so that one connection's answer does not run another connection's handler inside it.
  private readonly wake = () =>
    queueMicrotask(() => {
      if (this.closed) return;
      this.waitingForBudget = false;
      this.updateFlow();
    });

  constructor(
    private readonly socket: Socket,
    id: number,
    private readonly handler: FrameHandler,
    private readonly options: ConnectionOptions,
    private readonly log: Logger,
    private readonly onClose: (c: Connection) => void,
    security?: ConnectionSecurity,
  ) {
    this.id = id;
    if (security) {
      this.listener = security.listener;
      this.principal = security.principal;
      this.sasl = security.sasl;
    }
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.remote = `${this.remoteAddress}:${socket.remotePort}`;
    this.decoder = new FrameDecoder({ maxFrameSize: options.maxRequestBytes });
    this.sendfileFd = options.sendFile ? socketFd(socket) : null;
    socket.setNoDelay(true);
    if (options.idleTimeoutMs > 0) socket.setTimeout(options.idleTimeoutMs, () => this.close('idle timeout'));
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.updateFlow();
    });
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close());
  }

  get zeroCopy(): boolean {
    return this.sendfileFd !== null;
  }

  /** Requests received and not yet answered. */
  get inFlight(): number {
    return this.queue.length;
  }

  private onData(chunk: Buffer): void {
    if (this.closeWhenWritten !== null) return;
    let completed = 0;
    try {
      this.decoder.push(chunk, (frame) => {
        this.held.push(frame);
        completed += frame.length;
      });
    } catch (err) {
      this.close(`invalid request framing: ${(err as Error).message}`, true);
      return;
    }
    // Before a SASL client has authenticated, frames are bounded by sasl.server.max.receive.size.
    const sasl = this.sasl;
    if (sasl !== undefined && !sasl.authenticated && this.decoder.buffered + completed > sasl.maxReceiveBytes) {
      this.close(`more than sasl.server.max.receive.size (${sasl.maxReceiveBytes}) bytes before authentication`, true);
      return;
    }
    const budget = this.options.budget;
    if (budget) {
      // Every byte read counts from now: whole frames until answered, a partial one as it grows.
      const partial = this.decoder.buffered;
      budget.acquire(completed + partial - this.partialCounted);
      this.partialCounted = partial;
    }
    this.processHeld();
  }

  /**
   * Whether the budget lets this connection read on: it has room, or this connection may finish
   * the frame it is receiving (one connection at a time). When not, waits for room.
   */
  private budgetAllowsReading(): boolean {
    const budget = this.options.budget;
    if (!budget) return true;
    // Between frames there is nothing to finish: the right goes to another connection.
    if (this.decoder.idle) budget.releaseCompletion(this);
    if (!budget.exhausted) return true;
    if (!this.decoder.idle && budget.claimCompletion(this)) return true;
    this.waitingForBudget = true;
    budget.waitForRoom(this.wake);
    return false;
  }

  /** In flight at the bound, or responses not drained: no more requests are taken on. */
  private mustWait(): boolean {
    return (
      this.writeBlocked ||
      this.queue.length >= this.options.maxInFlight ||
      this.closeWhenWritten !== null ||
      this.throttled !== null
    );
  }

  /**
   * Hands held frames to the handler in order while the connection may take them. A chunk can
   * hold hundreds of small requests; pausing the socket alone would not stop those.
   */
  private processHeld(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      // Bounded by the held frames, each handed on once. Their bytes are counted in the budget already.
      const counted = this.options.budget !== undefined;
      while (this.held.length > 0 && !this.closed && !this.mustWait()) {
        const frame = this.held.shift()!;
        this.onFrame(frame, counted ? frame.length : 0);
      }
    } finally {
      this.processing = false;
    }
    this.updateFlow();
  }

  private onFrame(frame: Buffer, bytes: number): void {
    const slot: Pending = { done: false, response: null, bytes };
    this.queue.push(slot);
    this.updateFlow();
    let result: ResponseFrame | null | Promise<ResponseFrame | null>;
    try {
      result = this.handler.handle(frame, this);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (response) => this.complete(slot, response),
        (err) => this.fail(err),
      );
    } else {
      this.complete(slot, result);
    }
  }

  private complete(slot: Pending, response: ResponseFrame | null): void {
    this.giveBack(slot);
    // Answered after the connection closed: it will never be written.
    if (this.closed) done(response);
    slot.done = true;
    slot.response = response;
    this.flush();
  }

  /** The request is answered (or abandoned): its bytes go back to the broker-wide budget, once. */
  private giveBack(slot: Pending): void {
    if (slot.bytes > 0) {
      const bytes = slot.bytes;
      slot.bytes = 0;
      this.options.budget?.release(bytes);
    }
  }

  private fail(err: unknown): void {
    this.close(`request failed: ${(err as Error)?.message ?? String(err)}`, true);
  }

  /**
   * Writes every finished response at the front of the queue, in request order. The socket is
   * corked meanwhile, so all of them (and every part of each) leave in one gathered write.
   */
  private flush(): void {
    if (this.closed) return;
    const q = this.queue;
    let n = 0;
    let corked = false;
    while (n < q.length && q[n].done && this.regionFrame === null) {
      const response = q[n].response;
      if (response !== null && !Buffer.isBuffer(response) && this.sendfileFd !== null && hasRegion(response)) {
        // What is corked goes first; the frame's writer then holds the socket until it is done.
        if (corked) this.socket.uncork();
        corked = false;
        this.writeRegionFrame(response as GatheredFrame, this.sendfileFd);
        n++;
        break;
      }
      if (response !== null) {
        if (!corked) {
          this.socket.cork();
          corked = true;
        }
        if (!this.write(response)) this.writeBlocked = true;
      }
      n++;
    }
    if (corked) this.socket.uncork();
    if (n > 0) q.splice(0, n);
    if (this.closeWhenWritten !== null && q.length === 0 && this.regionFrame === null) {
      this.endGracefully(this.closeWhenWritten);
      return;
    }
    this.updateFlow();
  }

  throttle(ms: number): void {
    if (this.closed || ms <= 0) return;
    if (this.throttled !== null) clearTimeout(this.throttled);
    this.throttled = setTimeout(() => {
      this.throttled = null;
      this.updateFlow();
    }, ms);
    this.updateFlow();
  }

  closeAfterResponses(reason: string): void {
    if (this.closed) return;
    // Nothing more is read or handed on (mustWait); what is queued is answered, then the socket ends.
    this.closeWhenWritten = reason;
  }

  /** Closes after the written responses have left (bounded: a peer that does not read is cut off). */
  private endGracefully(reason: string): void {
    const socket = this.socket;
    const timer = setTimeout(() => socket.destroy(), 5000);
    timer.unref();
    socket.end(() => {
      clearTimeout(timer);
      socket.destroy();
    });
    this.close(reason, false, true);
  }

  /** Starts writing a frame with FileRegion parts; flush() goes on once it is written. */
  private writeRegionFrame(parts: GatheredFrame, fd: number): void {
    const writer = new RegionFrameWriter(this.socket, fd, this.options.sendFile as SendFile, parts, (error) => {
      this.regionFrame = null;
      done(parts);
      if (error !== null) this.close(error);
      else this.flush();
    });
    this.regionFrame = { writer, parts };
    writer.start();
  }

  /** Queues one response on the socket; false when the socket asks the writer to wait for 'drain'. */
  private write(response: ResponseFrame): boolean {
    if (Buffer.isBuffer(response)) return this.socket.write(response);
    const parts = response as GatheredFrame;
    // Records as file ranges on a connection that cannot send them would be written as nothing.
    if (this.sendfileFd === null && hasRegion(parts)) {
      this.close('a response holds file regions but this connection does not use sendfile');
      return false;
    }
    // The last part's callback runs when all have left (or failed, when the socket is destroyed).
    const last = parts.length - 1;
    const written = parts.onWritten === undefined ? undefined : () => done(parts);
    if (last < 0) written?.();
    let ok = true;
    for (let i = 0; i <= last; i++) ok = this.socket.write(parts[i], i === last ? written : undefined);
    return ok;
  }

  private updateFlow(): void {
    if (this.closed) return;
    const wait = this.mustWait();
    // Held frames go first once the connection may take requests again.
    if (!wait && this.held.length > 0 && !this.processing) {
      this.processHeld();
      return;
    }
    // A connection waiting on itself (its client's reads, its answers) does not keep others waiting.
    if (wait || this.held.length > 0) this.options.budget?.releaseCompletion(this);
    const shouldPause = wait || this.held.length > 0 || this.waitingForBudget || !this.budgetAllowsReading();
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Closes the connection; `reason` (when given) is reported once. `invalid`: the peer sent a malformed request. */
  close(reason?: string, invalid = false, ended = false): void {
    if (this.closed) return;
    this.closed = true;
    if (reason) {
      if (this.options.reportClose) this.options.reportClose(this, reason, invalid);
      else this.log.info({ connection: this.id, remote: this.remote }, `closing connection: ${reason}`);
    }
    for (const slot of this.queue) {
      this.giveBack(slot);
      done(slot.response);
    }
    this.queue.length = 0;
    if (this.regionFrame !== null) {
      this.regionFrame.writer.abort();
      done(this.regionFrame.parts);
      this.regionFrame = null;
    }
    const budget = this.options.budget;
    if (budget) {
      let heldBytes = this.partialCounted;
      for (const frame of this.held) heldBytes += frame.length;
      this.partialCounted = 0;
      budget.cancelWait(this.wake);
      budget.release(heldBytes);
      budget.releaseCompletion(this);
    }
    this.held.length = 0;
    if (this.throttled !== null) clearTimeout(this.throttled);
    this.throttled = null;
    if (!ended) this.socket.destroy();
    this.onClose(this);
  }
}
