// The SASL state of one connection on a SASL_PLAINTEXT or SASL_SSL listener, as Kafka's
// SaslServerAuthenticator keeps it: ApiVersions and SaslHandshake first, then SaslAuthenticate
// until the mechanism completes; nothing else is served before. A refused login is answered
// (SASL_AUTHENTICATION_FAILED) and the connection closed. With connections.max.reauth.ms the
// session expires and the client must authenticate again on the same connection (KIP-368).

import { ApiVersionsApi, SaslAuthenticateApi, SaslHandshakeApi } from '@sluice/protocol';
import {
  OAuthBearerServer,
  type OAuthBearerValidator,
  type PlainPasswordCheck,
  PlainServer,
  type SaslMechanismName,
  type SaslServer,
  type ScramCredentialLookup,
  ScramServer,
  type ScramTokenLookup,
} from '@sluice/security';

/** What a SASL listener offers: its enabled mechanisms and where their credentials come from. */
export interface SaslListenerSettings {
  readonly mechanisms: readonly SaslMechanismName[];
  plainCheck(listener: string): PlainPasswordCheck;
  readonly scramLookup: ScramCredentialLookup;
  /** Delegation tokens for SCRAM's `tokenauth=true` logins (absent: such logins are refused). */
  readonly tokenLookup?: ScramTokenLookup;
  /** OAUTHBEARER's token check (unsecured JWS or JWKS), when the mechanism is enabled. */
  readonly oauthValidator?: OAuthBearerValidator;
  /** Where a refused OAUTHBEARER token's reason goes (the client only sees the JSON status). */
  readonly onOAuthRefusal?: (reason: string) => void;
  /** connections.max.reauth.ms; 0: sessions do not expire. */
  readonly maxReauthMs: number;
  /** sasl.server.max.receive.size: bytes a client may send before it has authenticated. */
  readonly maxReceiveBytes: number;
}

export interface AuthenticateResult {
  response: Buffer;
  sessionLifetimeMs: number;
}

type State = 'handshake' | 'authenticate' | 'complete' | 'reauth-authenticate' | 'failed';

export class SaslSession {
  private state: State = 'handshake';
  private server: SaslServer | null = null;
  private mechanism: SaslMechanismName | null = null;
  /** The authenticated user (Kafka's KafkaPrincipal name), once complete. */
  user: string | null = null;
  /** Whether the client logged in with a delegation token (it may then not manage tokens, as in Kafka). */
  tokenAuthenticated = false;
  /** When the session ends (ms since the epoch), or Infinity. */
  expiresAtMs = Number.POSITIVE_INFINITY;

  constructor(
    readonly listener: string,
    private readonly settings: SaslListenerSettings,
    private readonly now: () => number = Date.now,
  ) {}

  get maxReceiveBytes(): number {
    return this.settings.maxReceiveBytes;
  }

  get mechanisms(): readonly SaslMechanismName[] {
    return this.settings.mechanisms;
  }

  get authenticated(): boolean {
    return this.state === 'complete' || this.state === 'reauth-authenticate';
  }

  /**
   * Why a request of `apiKey` may not be served now (the connection is then closed), or null.
   * Called for every request on a SASL connection, in arrival order.
   */
  refusal(apiKey: number): string | null {
    switch (this.state) {
      case 'complete':
        if (this.now() > this.expiresAtMs && apiKey !== SaslHandshakeApi.apiKey) {
          return 'the SASL session expired and the client did not re-authenticate (connections.max.reauth.ms)';
        }
        return null;
      case 'handshake':
        if (apiKey === ApiVersionsApi.apiKey || apiKey === SaslHandshakeApi.apiKey) return null;
        return `unexpected request (API key ${apiKey}) before SASL authentication`;
      case 'authenticate':
        if (apiKey === SaslAuthenticateApi.apiKey) return null;
        return `unexpected request (API key ${apiKey}) during SASL authentication`;
      case 'reauth-authenticate':
        // Requests sent before the re-authentication began are still served.
        return null;
      case 'failed':
        return 'SASL authentication failed';
    }
  }

  /** SaslHandshake: the mechanism, or null when it is not enabled (the connection then closes). */
  handshake(mechanism: string): boolean {
    if (this.state === 'complete') {
      // KIP-368: a new handshake on an authenticated connection starts re-authentication, with the same mechanism.
      if (mechanism !== this.mechanism) {
        this.state = 'failed';
        return false;
      }
      this.state = 'reauth-authenticate';
    } else if (this.state === 'handshake') {
      this.state = 'authenticate';
    } else {
      this.state = 'failed';
      return false;
    }
    const m = this.settings.mechanisms.find((x) => x === mechanism);
    if (m === undefined) {
      this.state = 'failed';
      return false;
    }
    this.mechanism = m;
    this.server =
      m === 'PLAIN'
        ? new PlainServer(this.settings.plainCheck(this.listener))
        : m === 'OAUTHBEARER'
          ? new OAuthBearerServer(
              this.settings.oauthValidator ?? (() => Promise.reject(new Error('OAUTHBEARER has no validator'))),
              this.settings.onOAuthRefusal,
            )
          : new ScramServer(m, this.settings.scramLookup, undefined, this.settings.tokenLookup);
    return true;
  }

  /**
   * One SaslAuthenticate token: the answer, and the session lifetime to report once complete.
   * Throws SaslAuthenticationError when the login is refused (the state is then `failed`).
   */
  authenticate(token: Buffer, apiVersion: number): AuthenticateResult | Promise<AuthenticateResult> {
    const server = this.server;
    if (server === null || (this.state !== 'authenticate' && this.state !== 'reauth-authenticate')) {
      this.state = 'failed';
      throw new Error('SaslAuthenticate without a SaslHandshake');
    }
    const reauth = this.state === 'reauth-authenticate';
    let response: Buffer | Promise<Buffer>;
    try {
      response = server.evaluate(token);
    } catch (err) {
      this.state = 'failed';
      throw err;
    }
    if (response instanceof Promise) {
      return response.then(
        (r) => this.afterEvaluate(server, r, reauth, apiVersion),
        (err) => {
          this.state = 'failed';
          throw err;
        },
      );
    }
    return this.afterEvaluate(server, response, reauth, apiVersion);
  }

  private afterEvaluate(server: SaslServer, response: Buffer, reauth: boolean, apiVersion: number): AuthenticateResult {
    if (!server.complete) return { response, sessionLifetimeMs: 0 };
    const user = server.authorizationId!;
    if (reauth && user !== this.user) {
      this.state = 'failed';
      throw new Error(`re-authentication as ${user} on a connection of ${this.user} is not allowed`);
    }
    this.user = user;
    this.tokenAuthenticated = server instanceof ScramServer && server.tokenAuthenticated;
    this.state = 'complete';
    this.server = null;
    // KIP-368, as Kafka's SaslServerAuthenticator: the lifetime is connections.max.reauth.ms, or the
    // credential's remaining life (an OAUTHBEARER token's exp), whichever is shorter; only clients
    // that understand the lifetime (v1+) are held to it.
    const now = this.now();
    const maxReauth = this.settings.maxReauthMs;
    const expiresAt = server.credentialExpiresAtMs ?? null;
    let lifetime = 0;
    let bounded = false;
    if (expiresAt !== null) {
      lifetime = Math.max(0, maxReauth > 0 ? Math.min(expiresAt - now, maxReauth) : expiresAt - now);
      bounded = true;
    } else if (maxReauth > 0) {
      lifetime = maxReauth;
      bounded = true;
    }
    if (apiVersion < 1) bounded = false;
    this.expiresAtMs = bounded ? now + lifetime : Number.POSITIVE_INFINITY;
    return { response, sessionLifetimeMs: bounded ? lifetime : 0 };
  }
}
