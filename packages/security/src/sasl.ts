/** The SASL mechanisms Sluice implements, by their IANA names as Kafka spells them. */
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;
export type SaslMechanismName = (typeof SASL_MECHANISMS)[number];

/** Kafka sends this (errorMessage of SaslAuthenticate) for a refused login; the connection then closes. */
export class SaslAuthenticationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaslAuthenticationError';
  }
}

/**
 * One authentication exchange on the server side. `evaluate` takes the client's next token and
 * returns the server's answer; `complete` is true once the client is authenticated, and then
 * `authorizationId` names it. A refused login throws SaslAuthenticationError (or rejects, for a
 * mechanism that validates asynchronously, as OAUTHBEARER against a JWKS).
 */
export interface SaslServer {
  readonly mechanism: SaslMechanismName;
  evaluate(token: Buffer): Buffer | Promise<Buffer>;
  readonly complete: boolean;
  readonly authorizationId: string | null;
  /** When the credential expires (ms since the epoch), for mechanisms whose credential does (OAUTHBEARER). */
  readonly credentialExpiresAtMs?: number | null;
}

/** The client side of one exchange: `first()` the opening token, `evaluate` each server answer. */
export interface SaslClient {
  readonly mechanism: SaslMechanismName;
  first(): Buffer;
  /** The next token for the server's answer, or null when the exchange is done (and verified). */
  evaluate(challenge: Buffer): Buffer | null;
}

/** No SASL token Sluice's mechanisms accept is longer (a PLAIN token with long names, a SCRAM message). */
export const MAX_SASL_TOKEN_BYTES = 64 * 1024;

export function checkTokenSize(token: Buffer, mechanism: string): void {
  if (token.length > MAX_SASL_TOKEN_BYTES) {
    throw new SaslAuthenticationError(
      `Authentication failed: ${mechanism} token of ${token.length} bytes is more than ${MAX_SASL_TOKEN_BYTES}`,
    );
  }
}
