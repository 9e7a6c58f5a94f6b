// SASL OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer answers it: the client's first
// message carries `auth=Bearer <token>`; a token the validator refuses is answered with a JSON
// status (not an error), the client acknowledges with a lone %x01, and only then is the login
// failed with that JSON as the message. Two validators: Kafka's unsecured JWS one (alg "none",
// for tests; its `unsecuredValidator*` JAAS options) and JWT verification against a JWKS
// (`sasl.oauthbearer.jwks.endpoint.url`), done with the `jose` library.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { checkTokenSize, SaslAuthenticationError, type SaslClient, type SaslServer } from './sasl.js';

/** What a validator makes of an accepted token. */
export interface OAuthBearerToken {
  readonly principal: string;
  /** The token's `exp`, ms since the epoch: the session may not outlive it (KIP-368). */
  readonly expiresAtMs: number;
  readonly scope: readonly string[];
}

/** Kafka's OAuthBearerValidatorCallback error: the RFC 6750 status and, for scope failures, the scope. */
export class OAuthBearerValidationError extends Error {
  constructor(
    message: string,
    readonly status: 'invalid_token' | 'insufficient_scope' = 'invalid_token',
    readonly scope: string | null = null,
  ) {
    super(message);
    this.name = 'OAuthBearerValidationError';
  }
}

/** Validates a bearer token; rejects with OAuthBearerValidationError when it is refused. */
export type OAuthBearerValidator = (token: string) => Promise<OAuthBearerToken>;

// RFC 7628 section 3.1 as Kafka's OAuthBearerClientInitialResponse matches it.
const SASLNAME = '(?:[\\x01-\\x2B\\x2D-\\x3C\\x3E-\\x7F]|=2C|=3D)+';
const KVPAIR = '[A-Za-z]+=[\\x21-\\x7E \\t\\r\\n]+\\x01';
const CLIENT_FIRST = new RegExp(`^n,(?:a=(${SASLNAME}))?,\\x01((?:${KVPAIR})*)\\x01$`);
const AUTH = /^(\w+) +([-_~+/.a-zA-Z0-9]+=*)$/;

export interface OAuthBearerClientFirst {
  readonly authorizationId: string;
  readonly token: string;
  readonly extensions: ReadonlyMap<string, string>;
}

/** Parses the client's first message; throws SaslAuthenticationError with Kafka's wording when it is malformed. */
export function parseOAuthBearerClientFirst(message: Buffer): OAuthBearerClientFirst {
  const m = CLIENT_FIRST.exec(message.toString('latin1'));
  if (m === null) throw new SaslAuthenticationError('Invalid OAUTHBEARER client first message');
  const pairs = new Map<string, string>();
  for (const kv of (m[2] ?? '').split('\x01')) {
    if (kv === '') continue;
    const eq = kv.indexOf('=');
    pairs.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const auth = pairs.get('auth');
  if (auth === undefined) {
    throw new SaslAuthenticationError("Invalid OAUTHBEARER client first message: 'auth' not specified");
  }
  pairs.delete('auth');
  const a = AUTH.exec(auth);
  if (a === null) throw new SaslAuthenticationError("Invalid OAUTHBEARER client first message: invalid 'auth' format");
  if (a[1]!.toLowerCase() !== 'bearer') {
    throw new SaslAuthenticationError(`Invalid scheme in OAUTHBEARER client first message: ${a[1]}`);
  }
  return { authorizationId: m[1] ?? '', token: a[2]!, extensions: pairs };
}

/** The client's first message: `n,,\x01auth=Bearer <token>\x01\x01`. */
export function oauthBearerClientFirst(token: string): Buffer {
  return Buffer.from(`n,,\x01auth=Bearer ${token}\x01\x01`, 'utf8');
}

/** The JSON status Kafka sends for a refused token. */
function jsonError(err: OAuthBearerValidationError): string {
  return err.scope === null ? `{"status":"${err.status}"}` : `{"status":"${err.status}", "scope":"${err.scope}"}`;
}

/** Called with the reason of each refused token (Kafka logs it; the client only sees the JSON status). */
export type OAuthBearerRefusalLog = (reason: string) => void;

export class OAuthBearerServer implements SaslServer {
  readonly mechanism = 'OAUTHBEARER' as const;
  complete = false;
  authorizationId: string | null = null;
  /** The token's expiry once complete. */
  credentialExpiresAtMs: number | null = null;
  private errorMessage: string | null = null;
  private busy = false;

  constructor(
    private readonly validate: OAuthBearerValidator,
    private readonly onRefusal: OAuthBearerRefusalLog = () => {},
  ) {}

  async evaluate(message: Buffer): Promise<Buffer> {
    if (this.complete || this.busy) {
      throw new SaslAuthenticationError(
        'Authentication failed: OAUTHBEARER exchange is already complete or in progress',
      );
    }
    checkTokenSize(message, 'OAUTHBEARER');
    if (this.errorMessage !== null) {
      // The client acknowledges our error with a lone %x01; anything else after an error is refused too.
      throw new SaslAuthenticationError(this.errorMessage);
    }
    const first = parseOAuthBearerClientFirst(message);
    let token: OAuthBearerToken;
    this.busy = true;
    try {
      token = await this.validate(first.token);
    } catch (err) {
      if (!(err instanceof OAuthBearerValidationError)) throw err;
      this.onRefusal(err.message);
      this.errorMessage = jsonError(err);
      return Buffer.from(this.errorMessage, 'utf8');
    } finally {
      this.busy = false;
    }
    if (first.authorizationId !== '' && first.authorizationId !== token.principal) {
      throw new SaslAuthenticationError(
        `Authentication failed: Client requested an authorization id (${first.authorizationId}) that is different from the token's principal name (${token.principal})`,
      );
    }
    this.complete = true;
    this.authorizationId = token.principal;
    this.credentialExpiresAtMs = token.expiresAtMs;
    return Buffer.alloc(0);
  }
}

/** The client side: sends the token; a JSON error from the server is acknowledged with %x01, as RFC 7628 asks. */
export class OAuthBearerClient implements SaslClient {
  readonly mechanism = 'OAUTHBEARER' as const;
  private failed: string | null = null;
  constructor(private readonly token: string) {}

  first(): Buffer {
    return oauthBearerClientFirst(this.token);
  }

  evaluate(challenge: Buffer): Buffer | null {
    if (challenge.length === 0) return null;
    if (this.failed !== null) throw new SaslAuthenticationError(this.failed);
    this.failed = challenge.toString('utf8');
    return Buffer.from([1]);
  }
}

function scopeOf(raw: unknown): string[] {
  if (typeof raw === 'string') return raw.split(' ').filter((s) => s !== '');
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

const MAX_JSON_PART_BYTES = 16 * 1024;

function decodePart(part: string, what: string): Record<string, unknown> {
  if (part.length > MAX_JSON_PART_BYTES * 2) throw new OAuthBearerValidationError(`JWS ${what} is too long`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new OAuthBearerValidationError(`JWS ${what} is not base64url-encoded JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new OAuthBearerValidationError(`JWS ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Kafka's OAuthBearerUnsecuredValidatorCallbackHandler options (JAAS `unsecuredValidator*`). */
export interface UnsecuredValidatorOptions {
  principalClaimName?: string;
  scopeClaimName?: string;
  requiredScope?: readonly string[];
  allowableClockSkewMs?: number;
}

/** Reads the unsecuredValidator* options of the OAUTHBEARER JAAS entry; throws on a bad clock skew, as Kafka does. */
export function unsecuredValidatorOptions(options: ReadonlyMap<string, string>): UnsecuredValidatorOptions {
  const blank = (v: string | undefined) => v === undefined || v.trim() === '';
  const skewRaw = options.get('unsecuredValidatorAllowableClockSkewMs');
  const skew = blank(skewRaw) ? 0 : Number(skewRaw!.trim());
  if (!Number.isInteger(skew) || skew < 0 || skew > 2 ** 31 - 1) {
    throw new Error(`Allowable clock skew millis must be a non-negative integer: ${skewRaw}`);
  }
  const required = options.get('unsecuredValidatorRequiredScope');
  return {
    principalClaimName: blank(options.get('unsecuredValidatorPrincipalClaimName'))
      ? 'sub'
      : options.get('unsecuredValidatorPrincipalClaimName')!.trim(),
    scopeClaimName: blank(options.get('unsecuredValidatorScopeClaimName'))
      ? 'scope'
      : options.get('unsecuredValidatorScopeClaimName')!.trim(),
    requiredScope: blank(required) ? [] : scopeOf(required!.trim()),
    allowableClockSkewMs: skew,
  };
}

/** Unsecured JWS (`alg: none`, empty signature) with Kafka's checks: principal claim, iat, exp, their order, scope. */
export function unsecuredJwsValidator(
  options: UnsecuredValidatorOptions = {},
  now: () => number = Date.now,
): OAuthBearerValidator {
  const principalClaim = options.principalClaimName ?? 'sub';
  const scopeClaim = options.scopeClaimName ?? 'scope';
  const required = options.requiredScope ?? [];
  const skew = options.allowableClockSkewMs ?? 0;
  return async (token) => {
    if (token.includes('..')) throw new OAuthBearerValidationError("Malformed compact serialization contains '..'");
    const parts = token.split('.');
    if (parts.length !== 3)
      throw new OAuthBearerValidationError('Unsecured JWS compact serialization must have 3 parts');
    const header = decodePart(parts[0]!, 'header');
    const claims = decodePart(parts[1]!, 'claims');
    if (header.alg !== 'none') throw new OAuthBearerValidationError("Unsecured JWS must have 'none' for an algorithm");
    if (parts[2] !== '') throw new OAuthBearerValidationError('Unsecured JWS must not contain a digital signature');
    const principal = claims[principalClaim];
    if (principal === undefined || principal === null) {
      throw new OAuthBearerValidationError(`Required claim missing: ${principalClaim}`);
    }
    if (typeof principal !== 'string' || principal.trim() === '') {
      throw new OAuthBearerValidationError(`The ${principalClaim} claim had the incorrect type or is blank`);
    }
    const exp = claims.exp;
    const iat = claims.iat;
    if (exp === undefined || exp === null) throw new OAuthBearerValidationError('Required claim missing: exp');
    if (typeof exp !== 'number') throw new OAuthBearerValidationError('The exp claim had the incorrect type');
    if (iat !== undefined && iat !== null && typeof iat !== 'number') {
      throw new OAuthBearerValidationError('The iat claim had the incorrect type');
    }
    const t = now();
    if (typeof iat === 'number' && 1000 * iat > t + skew) {
      throw new OAuthBearerValidationError(
        `The Issued At value (${iat} seconds) was after the indicated time (${t} ms) plus allowable clock skew (${skew} ms)`,
      );
    }
    if (t - skew >= 1000 * exp) {
      throw new OAuthBearerValidationError(
        `The indicated time (${t} ms) minus allowable clock skew (${skew} ms) was on or after the Expiration Time value (${exp} seconds)`,
      );
    }
    if (typeof iat === 'number' && exp <= iat) {
      throw new OAuthBearerValidationError(
        `The Expiration Time time (${exp} seconds) was not after the Issued At time (${iat} seconds)`,
      );
    }
    const scope = scopeOf(claims[scopeClaim]);
    for (const s of required) {
      if (!scope.includes(s)) {
        throw new OAuthBearerValidationError(
          `The provided scope (${scope.join(' ')}) was missing a required scope (${s}). All required scope elements: ${required.join(' ')}`,
          'insufficient_scope',
          `[${required.join(', ')}]`,
        );
      }
    }
    return { principal, expiresAtMs: Math.floor(1000 * exp), scope };
  };
}

/**
 * Kafka 4's allow-list of OAuth endpoints (a JVM system property there, a broker property here):
 * comma-separated URLs; the default is empty, so no JWKS or token endpoint URL may be used until
 * it is listed.
 */
export const OAUTHBEARER_ALLOWED_URLS = 'org.apache.kafka.sasl.oauthbearer.allowed.urls';

/**
 * Kafka's ConfigurationUtils.throwIfURLIsNotAllowed: `url` must equal one of the (trimmed) entries
 * of `allowed`; otherwise a ConfigException-worded error naming the config and the property.
 */
export function checkOAuthBearerUrlAllowed(configName: string, url: string, allowed: string | null): void {
  const list = new Set((allowed ?? '').split(',').map((u) => u.trim()));
  if (list.has(url)) return;
  throw new Error(
    `Invalid value ${url} for configuration ${configName}: The URL cannot be accessed due to restrictions. Update the system property '${OAUTHBEARER_ALLOWED_URLS}' to allow the URL to be accessed.`,
  );
}

/** Kafka's broker-side JWT validation settings (`sasl.oauthbearer.*`). */
export interface JwtValidatorOptions {
  /** `sasl.oauthbearer.jwks.endpoint.url`: an http(s) URL, or a file: URL of a JWKS document. */
  jwksUrl: string;
  expectedAudience?: readonly string[];
  expectedIssuer?: string | null;
  subClaimName?: string;
  scopeClaimName?: string;
  clockSkewSeconds?: number;
  /** `sasl.oauthbearer.jwks.endpoint.refresh.ms`: how long fetched keys are cached. */
  refreshMs?: number;
}

function keySet(options: JwtValidatorOptions): JWTVerifyGetKey {
  const url = new URL(options.jwksUrl);
  if (url.protocol === 'file:') {
    // Kafka's JwksFileVerificationKeyResolver reads the file once, at start.
    const text = readFileSync(fileURLToPath(url), 'utf8');
    return createLocalJWKSet(JSON.parse(text));
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`sasl.oauthbearer.jwks.endpoint.url: unsupported scheme ${url.protocol}`);
  }
  return createRemoteJWKSet(url, { cacheMaxAge: options.refreshMs ?? 3_600_000, timeoutDuration: 10_000 });
}

/** JWT signed with a key of the JWKS; `exp` and `iat` required, `alg: none` refused (Kafka's ValidatorAccessTokenValidator). */
export function jwtValidator(options: JwtValidatorOptions): OAuthBearerValidator {
  const keys = keySet(options);
  const subClaim = options.subClaimName ?? 'sub';
  const scopeClaim = options.scopeClaimName ?? 'scope';
  const audience = options.expectedAudience ?? [];
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        audience: audience.length > 0 ? [...audience] : undefined,
        issuer: options.expectedIssuer ?? undefined,
        clockTolerance: options.clockSkewSeconds ?? 30,
        requiredClaims: ['exp', 'iat'],
      }));
    } catch (err) {
      throw new OAuthBearerValidationError(`Could not validate the access token: ${(err as Error).message}`);
    }
    const sub = payload[subClaim];
    if (typeof sub !== 'string' || sub.trim() === '') {
      throw new OAuthBearerValidationError(`The ${subClaim} claim is missing or not a non-blank string`);
    }
    return { principal: sub.trim(), expiresAtMs: (payload.exp as number) * 1000, scope: scopeOf(payload[scopeClaim]) };
  };
}

/**
 * The token Kafka's OAuthBearerUnsecuredLoginCallbackHandler makes from the JAAS options of
 * OAuthBearerLoginModule: `unsecuredLoginStringClaim_<name>`, `unsecuredLoginNumberClaim_<name>`,
 * `unsecuredLoginListClaim_<name>` (the first character is the separator), the principal claim
 * (`unsecuredLoginPrincipalClaimName`, default sub) required, `iat` now and `exp` after
 * `unsecuredLoginLifetimeSeconds` (default 3600). Throws when the options do not make a token.
 */
export function unsecuredLoginToken(options: ReadonlyMap<string, string>, now: () => number = Date.now): string {
  const claims: Record<string, unknown> = {};
  for (const [key, value] of options) {
    const m = /^unsecuredLogin(String|Number|List)Claim_(.+)$/.exec(key);
    if (m === null) continue;
    const name = m[2]!;
    if (name === 'iat' || name === 'exp')
      throw new Error(`unsecuredLogin${m[1]}Claim_${name}: ${name} is set by the login`);
    if (m[1] === 'String') claims[name] = value;
    else if (m[1] === 'Number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`${key}: ${value} is not a number`);
      claims[name] = n;
    } else
      claims[name] =
        value.length === 0
          ? []
          : value
              .slice(1)
              .split(value[0]!)
              .filter((s) => s !== '');
  }
  const principalClaim = options.get('unsecuredLoginPrincipalClaimName')?.trim() || 'sub';
  if (typeof claims[principalClaim] !== 'string' || (claims[principalClaim] as string).trim() === '') {
    throw new Error(`unsecuredLoginStringClaim_${principalClaim} is needed for the token's principal`);
  }
  const lifetimeRaw = options.get('unsecuredLoginLifetimeSeconds');
  const lifetime = lifetimeRaw === undefined || lifetimeRaw.trim() === '' ? 3600 : Number(lifetimeRaw);
  if (!Number.isInteger(lifetime) || lifetime <= 0)
    throw new Error(`unsecuredLoginLifetimeSeconds: ${lifetimeRaw} is not a positive whole number`);
  const iat = Math.floor(now() / 1000);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64({ ...claims, iat, exp: iat + lifetime })}.`;
}
