// Browser sessions of a console that logs in per user (`--login`): each session owns its own
// client connections, opened with the SASL credentials its user typed and checked by a request
// before the session exists. Sessions are bounded in number, forgotten after an idle time, and
// their connections are closed on logout, expiry and shutdown.
import { randomBytes } from 'node:crypto';
import type { SaslOptions } from '@sluice/client';
import type { ClusterView } from './cluster.js';

export const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type Mechanism = (typeof MECHANISMS)[number];

export interface Credentials {
  mechanism: Mechanism;
  username: string;
  password: string;
}

export interface Session {
  /** The cookie's value: 256 random bits, base64url. */
  readonly id: string;
  readonly username: string;
  readonly mechanism: Mechanism;
  readonly cluster: ClusterView;
  lastUsed: number;
}

export interface SessionLimits {
  /** Sessions kept at most; a login past it is refused until one ends. Default 100. */
  maxSessions?: number;
  /** A session unused this long is closed. Default 30 minutes. */
  idleTimeoutMs?: number;
  /** Logins being checked at once at most (each opens connections). Default 8. */
  maxPendingLogins?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** A login the console refuses before asking the cluster (too many sessions or logins). */
export class LoginRefused extends Error {
  override name = 'LoginRefused';
}

export class Sessions {
  readonly maxSessions: number;
  readonly idleTimeoutMs: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly sessions = new Map<string, Session>();
  private pending = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    /** Opens a cluster connection with a user's credentials (nothing is sent until it is used). */
    private readonly open: (sasl: SaslOptions) => ClusterView,
    limits: SessionLimits = {},
  ) {
    this.maxSessions = limits.maxSessions ?? 100;
    this.idleTimeoutMs = limits.idleTimeoutMs ?? 30 * 60_000;
    this.maxPending = limits.maxPendingLogins ?? 8;
    this.now = limits.now ?? Date.now;
    if (!(this.maxSessions >= 1) || !(this.idleTimeoutMs >= 1000)) {
      throw new RangeError('sessions: at least 1 session and an idle timeout of at least 1 s');
    }
    this.sweeper = setInterval(() => this.sweep(), Math.min(this.idleTimeoutMs / 4, 30_000));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Opens connections with `credentials` and checks them with a Metadata request (which needs the
   * SASL login to succeed); the Kafka error of a failed login is thrown as it came.
   */
  async login(credentials: Credentials): Promise<Session> {
    this.sweep();
    if (this.sessions.size >= this.maxSessions) {
      throw new LoginRefused(
        `${this.maxSessions} sessions are open: log out of one, or wait until one is idle for ${Math.round(this.idleTimeoutMs / 60_000)} min`,
      );
    }
    if (this.pending >= this.maxPending) throw new LoginRefused('too many logins in progress: try again');
    this.pending++;
    let cluster: ClusterView | undefined;
    try {
      cluster = this.open({ ...credentials });
      await cluster.snapshot([]);
    } catch (err) {
      await cluster?.close();
      throw err;
    } finally {
      this.pending--;
    }
    // Other logins may have filled the table while this one was checked.
    if (this.sessions.size >= this.maxSessions) {
      await cluster.close();
      throw new LoginRefused(`${this.maxSessions} sessions are open: log out of one first`);
    }
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      username: credentials.username,
      mechanism: credentials.mechanism,
      cluster,
      lastUsed: this.now(),
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (its idle time starts again), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.sessions.get(id);
    if (s === undefined) return undefined;
    if (this.now() - s.lastUsed > this.idleTimeoutMs) {
      this.end(s);
      return undefined;
    }
    s.lastUsed = this.now();
    return s;
  }

  async logout(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (s !== undefined) await this.end(s);
  }

  /** Closes the sessions idle past the timeout. */
  sweep(): void {
    const now = this.now();
    for (const s of this.sessions.values()) {
      if (now - s.lastUsed > this.idleTimeoutMs) void this.end(s);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => this.end(s)));
  }

  private end(s: Session): Promise<void> {
    this.sessions.delete(s.id);
    return s.cluster.close();
  }
}
