import { timingSafeEqual } from 'node:crypto';
import { checkTokenSize, SaslAuthenticationError, type SaslClient, type SaslServer } from './sasl.js';

/** Checks a user's password; PLAIN users come from the broker's JAAS config (`user_<name>` options). */
export type PlainPasswordCheck = (username: string, password: string) => boolean;

/** Compares two passwords in time that does not depend on where they differ. */
export function passwordsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // Equal lengths first (timingSafeEqual needs them); the length itself is not the secret.
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A check against a fixed table of users, as Kafka's PlainServerCallbackHandler reads the JAAS options. */
export function plainUsers(users: ReadonlyMap<string, string>): PlainPasswordCheck {
  return (username, password) => {
    const expected = users.get(username);
    return expected !== undefined && passwordsEqual(expected, password);
  };
}

/** RFC 4616 on the server: one token `[authzid] NUL authcid NUL passwd`. */
export class PlainServer implements SaslServer {
  readonly mechanism = 'PLAIN' as const;
  complete = false;
  authorizationId: string | null = null;

  constructor(private readonly check: PlainPasswordCheck) {}

  evaluate(token: Buffer): Buffer {
    if (this.complete) throw new SaslAuthenticationError('Authentication failed: PLAIN takes one token');
    checkTokenSize(token, 'PLAIN');
    const first = token.indexOf(0);
    const second = first < 0 ? -1 : token.indexOf(0, first + 1);
    if (first < 0 || second < 0 || token.indexOf(0, second + 1) >= 0) {
      throw new SaslAuthenticationError('Invalid SASL/PLAIN response: expected 3 tokens');
    }
    const authzid = token.subarray(0, first).toString('utf8');
    const username = token.subarray(first + 1, second).toString('utf8');
    const password = token.subarray(second + 1).toString('utf8');
    if (username === '') throw new SaslAuthenticationError('Authentication failed: username not specified');
    if (password === '') throw new SaslAuthenticationError('Authentication failed: password not specified');
    if (!this.check(username, password)) {
      throw new SaslAuthenticationError('Authentication failed: Invalid username or password');
    }
    if (authzid !== '' && authzid !== username) {
      throw new SaslAuthenticationError(
        'Authentication failed: Client requested an authorization id that is different from username',
      );
    }
    this.complete = true;
    this.authorizationId = username;
    return Buffer.alloc(0);
  }
}

export class PlainClient implements SaslClient {
  readonly mechanism = 'PLAIN' as const;
  constructor(
    private readonly username: string,
    private readonly password: string,
  ) {}

  first(): Buffer {
    return Buffer.from(`\0${this.username}\0${this.password}`, 'utf8');
  }

  evaluate(): Buffer | null {
    return null;
  }
}
