import { describe, expect, it } from 'vitest';
import { SaslAuthenticationError } from './sasl.js';
import {
  createScramCredential,
  decodeSaslName,
  encodeSaslName,
  ScramClient,
  type ScramCredential,
  ScramServer,
} from './scram.js';

// RFC 7677 section 3: SCRAM-SHA-256, user "user", password "pencil".
const V = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNoncePart: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const b = (s: string) => Buffer.from(s, 'utf8');

function serverFor(
  users: Record<string, ScramCredential>,
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' = 'SCRAM-SHA-256',
) {
  return new ScramServer(mechanism, (u, m) => (m === mechanism ? users[u] : undefined));
}

describe('SCRAM', () => {
  it('the server replays RFC 7677 test vector', () => {
    const cred = createScramCredential('SCRAM-SHA-256', 'pencil', 4096, V.salt);
    const server = new ScramServer(
      'SCRAM-SHA-256',
      (u) => (u === 'user' ? cred : undefined),
      () => V.serverNoncePart,
    );
    expect(server.evaluate(b(V.clientFirst)).toString()).toBe(V.serverFirst);
    expect(server.complete).toBe(false);
    expect(server.evaluate(b(V.clientFinal)).toString()).toBe(V.serverFinal);
    expect(server.complete).toBe(true);
    expect(server.authorizationId).toBe('user');
  });

  it('the client replays RFC 7677 test vector and checks the server signature', () => {
    const client = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', V.clientNonce);
    expect(client.first().toString()).toBe(V.clientFirst);
    expect(client.evaluate(b(V.serverFirst))!.toString()).toBe(V.clientFinal);
    expect(client.evaluate(b(V.serverFinal))).toBeNull();
    const forged = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', V.clientNonce);
    forged.first();
    forged.evaluate(b(V.serverFirst));
    expect(() => forged.evaluate(b('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='))).toThrow(SaslAuthenticationError);
  });

  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    it(`${mechanism}: client and server agree; a wrong password is refused with Kafka's message`, () => {
      const users = { alice: createScramCredential(mechanism, 'alice-secret', 4096) };
      const ok = serverFor(users, mechanism);
      const client = new ScramClient(mechanism, 'alice', 'alice-secret');
      const final = client.evaluate(ok.evaluate(client.first()))!;
      expect(client.evaluate(ok.evaluate(final))).toBeNull();
      expect(ok.authorizationId).toBe('alice');

      const bad = serverFor(users, mechanism);
      const wrong = new ScramClient(mechanism, 'alice', 'guess');
      const wrongFinal = wrong.evaluate(bad.evaluate(wrong.first()))!;
      expect(() => bad.evaluate(wrongFinal)).toThrow(
        `Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`,
      );
      expect(bad.complete).toBe(false);
    });
  }

  it('refuses unknown users, malformed messages, a changed nonce and a second exchange', () => {
    const users = { alice: createScramCredential('SCRAM-SHA-256', 'pw') };
    expect(() => serverFor(users).evaluate(b('n,,n=bob,r=abc'))).toThrow('Invalid user credentials');
    for (const bad of [
      '',
      'x',
      'p=tls-unique,,n=alice,r=abc',
      'n,,r=abc,n=alice',
      'n,,n=alice',
      'n,,n=al=ice,r=a',
      'n,,n=alice,r=a,b,c',
    ]) {
      expect(() => serverFor(users).evaluate(b(bad)), bad).toThrow(SaslAuthenticationError);
    }
    expect(() => serverFor(users).evaluate(b('n,a=bob,n=alice,r=abc'))).toThrow('authorization id');
    // Without a token lookup (tokens off), a token login names no known token.
    expect(() => serverFor(users).evaluate(b('n,,n=alice,r=abc,tokenauth=true'))).toThrow('Invalid tokenId');
    // Kafka ignores extensions it does not know; a malformed one is refused.
    expect(serverFor(users).evaluate(b('n,,n=alice,r=abc,foo=bar')).toString()).toMatch(/^r=abc/);
    expect(() => serverFor(users).evaluate(b('n,,n=alice,r=abc,foo'))).toThrow('Invalid SCRAM client first message');
    expect(() => serverFor(users).evaluate(Buffer.alloc(70_000, 0x61))).toThrow('more than');

    const s = serverFor(users);
    const client = new ScramClient('SCRAM-SHA-256', 'alice', 'pw');
    const final = client.evaluate(s.evaluate(client.first()))!.toString();
    expect(() => s.evaluate(b(final.replace(/r=([^,]*)/, 'r=$1x')))).toThrow('nonce mismatch');
    expect(() => s.evaluate(b(final))).toThrow('exchange is over');

    const s2 = serverFor(users);
    const c2 = new ScramClient('SCRAM-SHA-256', 'alice', 'pw');
    const f2 = c2.evaluate(s2.evaluate(c2.first()))!.toString();
    expect(() => s2.evaluate(b(f2.replace('c=biws', 'c=eSws')))).toThrow('channel binding');
  });

  it('refuses credentials with fewer than 4096 iterations', () => {
    expect(() => createScramCredential('SCRAM-SHA-256', 'pw', 4095)).toThrow(RangeError);
  });

  it('saslname escaping round-trips and refuses a bare =', () => {
    expect(encodeSaslName('a,b=c')).toBe('a=2Cb=3Dc');
    expect(decodeSaslName('a=2Cb=3Dc')).toBe('a,b=c');
    expect(decodeSaslName('a=b')).toBeNull();
  });
});
