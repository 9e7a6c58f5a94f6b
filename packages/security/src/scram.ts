// SCRAM (RFC 5802) with SHA-256 and SHA-512 (RFC 7677), as Kafka's ScramSaslServer/Client speak it:
// no channel binding, iterations from 4096, and the `tokenauth=true` extension for delegation tokens
// (the user name is then a token id, the authorization id the token's owner).

import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { checkTokenSize, SaslAuthenticationError, type SaslClient, type SaslServer } from './sasl.js';

export type ScramMechanismName = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

/** Kafka's ScramMechanism: the hash, and the iteration bounds AlterUserScramCredentials enforces. */
export const SCRAM_MECHANISMS: Readonly<Record<ScramMechanismName, { hash: 'sha256' | 'sha512'; type: number }>> = {
  // `type` is the mechanism's number in DescribeUserScramCredentials/AlterUserScramCredentials.
  'SCRAM-SHA-256': { hash: 'sha256', type: 1 },
  'SCRAM-SHA-512': { hash: 'sha512', type: 2 },
};
export const SCRAM_MIN_ITERATIONS = 4096;
export const SCRAM_MAX_ITERATIONS = 16384;

export function scramMechanismByType(type: number): ScramMechanismName | undefined {
  for (const [name, m] of Object.entries(SCRAM_MECHANISMS)) if (m.type === type) return name as ScramMechanismName;
  return undefined;
}

/** What a broker keeps of a SCRAM password: never the password nor the salted password. */
export interface ScramCredential {
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
  iterations: number;
}

const hmac = (hash: string, key: Buffer, data: string | Buffer) => createHmac(hash, key).update(data).digest();
const digest = (hash: string, data: Buffer) => createHash(hash).update(data).digest();

/** Hi(password, salt, i) of RFC 5802: PBKDF2 with the mechanism's HMAC. */
export function saltedPassword(mechanism: ScramMechanismName, password: string, salt: Buffer, iterations: number) {
  const { hash } = SCRAM_MECHANISMS[mechanism];
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, hash === 'sha256' ? 32 : 64, hash);
}

/** The stored form from a salted password (AlterUserScramCredentials sends the salted password). */
export function credentialFromSaltedPassword(
  mechanism: ScramMechanismName,
  salted: Buffer,
  salt: Buffer,
  iterations: number,
): ScramCredential {
  const { hash } = SCRAM_MECHANISMS[mechanism];
  const clientKey = hmac(hash, salted, 'Client Key');
  return { salt, storedKey: digest(hash, clientKey), serverKey: hmac(hash, salted, 'Server Key'), iterations };
}

/** A new credential for a password, with a random salt. */
export function createScramCredential(
  mechanism: ScramMechanismName,
  password: string,
  iterations = SCRAM_MIN_ITERATIONS,
  salt: Buffer = randomBytes(32),
): ScramCredential {
  checkIterations(iterations);
  return credentialFromSaltedPassword(
    mechanism,
    saltedPassword(mechanism, password, salt, iterations),
    salt,
    iterations,
  );
}

export function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) {
    throw new RangeError(`SCRAM iterations must be in [${SCRAM_MIN_ITERATIONS}, ${SCRAM_MAX_ITERATIONS}]`);
  }
}

/** RFC 5802 saslname: ',' and '=' are escaped as =2C and =3D; any other '=' is malformed. */
export function decodeSaslName(name: string): string | null {
  if (/=(?!2C|3D)/.test(name)) return null;
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

export function encodeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

// printable = %x21-2B / %x2D-7E: the nonce has no comma.
const NONCE_RE = /^[\x21-\x2b\x2d-\x7e]+$/;
const MAX_USERNAME_CHARS = 1024;

/** Splits `a=1,b=2` into attributes in order; null when an attribute is not `x=value`. */
function attributes(message: string): [string, string][] | null {
  const out: [string, string][] = [];
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') return null;
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

export type ScramCredentialLookup = (username: string, mechanism: ScramMechanismName) => ScramCredential | undefined;

/** A delegation token's login: its credential, the owner's name (the authorization id) and its expiry. */
export interface ScramTokenCredential {
  credential: ScramCredential;
  ownerName: string;
  expiryTimestampMs: number;
}
/** Looks a token up by id; undefined when unknown, expired or tokens are off. */
export type ScramTokenLookup = (tokenId: string, mechanism: ScramMechanismName) => ScramTokenCredential | undefined;

/** The server side: client-first → server-first → client-final → server-final. */
export class ScramServer implements SaslServer {
  complete = false;
  authorizationId: string | null = null;
  /** Set when the client logged in with a delegation token (`tokenauth=true`). */
  tokenAuthenticated = false;
  /** A token login's session ends with the token (KIP-368, as Kafka's ScramSaslServer reports it). */
  credentialExpiresAtMs: number | null = null;
  private state: 'first' | 'final' | 'done' = 'first';
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private credential: ScramCredential | undefined;
  /** The authorization id once the exchange completes: the user, or a token's owner. */
  private authorizedAs = '';

  constructor(
    readonly mechanism: ScramMechanismName,
    private readonly lookup: ScramCredentialLookup,
    /** The server's part of the nonce (random; fixed only to replay RFC test vectors). */
    private readonly serverNonce: () => string = () => randomBytes(24).toString('base64').replace(/,/g, '-'),
    /** Delegation tokens; without it a `tokenauth` login is refused. */
    private readonly tokenLookup?: ScramTokenLookup,
  ) {}

  private fail(why: string): never {
    this.state = 'done';
    throw new SaslAuthenticationError(why);
  }

  evaluate(token: Buffer): Buffer {
    checkTokenSize(token, this.mechanism);
    const text = token.toString('utf8');
    if (this.state === 'first') return this.clientFirst(text);
    if (this.state === 'final') return this.clientFinal(text);
    return this.fail(`Authentication failed: ${this.mechanism} exchange is over`);
  }

  private clientFirst(text: string): Buffer {
    // gs2-header: "n" (or "y": the client would bind, thinks we cannot) "," [a=authzid] ","
    const m = /^([ny]),(?:a=([^,]*))?,(.*)$/s.exec(text);
    if (!m) return this.fail('Invalid SCRAM client first message');
    const authzid = m[2] === undefined ? '' : decodeSaslName(m[2]);
    const bare = m[3]!;
    const parts = bare.split(',');
    if (authzid === null || parts.length < 2 || !parts[0]!.startsWith('n=') || !parts[1]!.startsWith('r=')) {
      return this.fail('Invalid SCRAM client first message');
    }
    const username = decodeSaslName(parts[0]!.slice(2));
    const clientNonce = parts[1]!.slice(2);
    if (username === null || username === '' || username.length > MAX_USERNAME_CHARS || !NONCE_RE.test(clientNonce)) {
      return this.fail('Invalid SCRAM client first message');
    }
    // Extensions (`key=value`): Kafka acts on tokenauth only and ignores the others.
    let tokenAuth = false;
    for (const ext of parts.slice(2)) {
      const eq = ext.indexOf('=');
      if (eq < 1) return this.fail('Invalid SCRAM client first message');
      if (ext.slice(0, eq) === 'tokenauth') tokenAuth = ext.slice(eq + 1).toLowerCase() === 'true';
    }
    if (authzid !== '' && authzid !== username) {
      return this.fail('Authentication failed: Client requested an authorization id that is different from username');
    }
    let credential: ScramCredential | undefined;
    if (tokenAuth) {
      const token = this.tokenLookup?.(username, this.mechanism);
      if (!token) return this.fail('Token Authentication failed: Invalid tokenId');
      credential = token.credential;
      this.tokenAuthenticated = true;
      this.credentialExpiresAtMs = token.expiryTimestampMs;
      this.authorizedAs = token.ownerName;
    } else {
      credential = this.lookup(username, this.mechanism);
      if (!credential) return this.fail('Authentication failed: Invalid user credentials');
      this.authorizedAs = username;
    }
    this.credential = credential;
    this.gs2Header = text.slice(0, text.length - bare.length);
    this.clientFirstBare = bare;
    this.nonce = clientNonce + this.serverNonce();
    this.serverFirst = `r=${this.nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
    this.state = 'final';
    return Buffer.from(this.serverFirst, 'utf8');
  }

  private clientFinal(text: string): Buffer {
    const attrs = attributes(text);
    const proofAt = text.lastIndexOf(',p=');
    if (!attrs || attrs.length < 3 || attrs[0]![0] !== 'c' || attrs[1]![0] !== 'r' || proofAt < 0) {
      return this.fail('Invalid SCRAM client final message');
    }
    const last = attrs[attrs.length - 1]!;
    if (last[0] !== 'p') return this.fail('Invalid SCRAM client final message');
    if (attrs[1]![1] !== this.nonce) return this.fail('Invalid SCRAM client final message: nonce mismatch');
    if (attrs[0]![1] !== Buffer.from(this.gs2Header, 'utf8').toString('base64')) {
      return this.fail('Invalid SCRAM client final message: channel binding mismatch');
    }
    const { hash } = SCRAM_MECHANISMS[this.mechanism];
    const credential = this.credential!;
    const proof = Buffer.from(last[1], 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${text.slice(0, proofAt)}`;
    const clientSignature = hmac(hash, credential.storedKey, authMessage);
    if (proof.length !== clientSignature.length) return this.fail(this.invalidCredentials());
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
    if (!timingSafeEqual(digest(hash, clientKey), credential.storedKey)) return this.fail(this.invalidCredentials());
    const serverSignature = hmac(hash, credential.serverKey, authMessage);
    this.state = 'done';
    this.complete = true;
    this.authorizationId = this.authorizedAs;
    return Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8');
  }

  private invalidCredentials(): string {
    return `Authentication failed during authentication due to invalid credentials with SASL mechanism ${this.mechanism}`;
  }
}

/** The client side, checking the server's signature at the end (a server without the key cannot forge it). */
export class ScramClient implements SaslClient {
  private readonly clientNonce: string;
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | null = null;

  constructor(
    readonly mechanism: ScramMechanismName,
    private readonly username: string,
    private readonly password: string,
    nonce?: string,
    /** Log in with a delegation token: username is the token id, password base64(hmac). */
    private readonly tokenAuth = false,
  ) {
    this.clientNonce = nonce ?? randomBytes(24).toString('base64').replace(/,/g, '-');
  }

  first(): Buffer {
    const extensions = this.tokenAuth ? ',tokenauth=true' : '';
    this.clientFirstBare = `n=${encodeSaslName(this.username)},r=${this.clientNonce}${extensions}`;
    return Buffer.from(`n,,${this.clientFirstBare}`, 'utf8');
  }

  evaluate(challenge: Buffer): Buffer | null {
    const text = challenge.toString('utf8');
    if (this.expectedServerSignature === null) return this.serverFirst(text);
    const attrs = attributes(text);
    if (attrs?.[0]?.[0] === 'e') throw new SaslAuthenticationError(`SCRAM server error: ${attrs[0][1]}`);
    if (!attrs || attrs[0]![0] !== 'v') throw new SaslAuthenticationError('Invalid SCRAM server final message');
    const got = Buffer.from(attrs[0]![1], 'base64');
    if (got.length !== this.expectedServerSignature.length || !timingSafeEqual(got, this.expectedServerSignature)) {
      throw new SaslAuthenticationError('SCRAM server signature does not match: the server does not know the password');
    }
    return null;
  }

  private serverFirst(text: string): Buffer {
    const attrs = attributes(text);
    const get = (k: string) => attrs?.find(([key]) => key === k)?.[1];
    const nonce = get('r');
    const salt = get('s');
    const iterations = Number(get('i'));
    if (!attrs || nonce === undefined || salt === undefined || !nonce.startsWith(this.clientNonce)) {
      throw new SaslAuthenticationError('Invalid SCRAM server first message');
    }
    if (!Number.isInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) {
      throw new SaslAuthenticationError(`SCRAM server asked for ${get('i')} iterations`);
    }
    const { hash } = SCRAM_MECHANISMS[this.mechanism];
    const salted = saltedPassword(this.mechanism, this.password, Buffer.from(salt, 'base64'), iterations);
    const clientKey = hmac(hash, salted, 'Client Key');
    const storedKey = digest(hash, clientKey);
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${text},${withoutProof}`;
    const clientSignature = hmac(hash, storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.expectedServerSignature = hmac(hash, hmac(hash, salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }
}
