import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  allowedToRenew,
  ownerOrRenewer,
  parseTokenRecord,
  type TokenInformation,
  tokenExpired,
  tokenHmac,
  tokenRecord,
  tokenScramCredential,
} from './delegation-token.js';
import { ScramClient, type ScramMechanismName, ScramServer } from './scram.js';

const token: TokenInformation = {
  tokenId: 'tok-1',
  owner: 'User:alice',
  requester: 'User:admin',
  renewers: ['User:bob'],
  issueTimestampMs: 1_000,
  expiryTimestampMs: 5_000,
  maxTimestampMs: 9_000,
};

describe('delegation token', () => {
  it('hmac is HMAC-SHA512 keyed with the secret key over the token id', () => {
    // RFC 4231-style known answer (Wikipedia's HMAC_SHA512("key", "The quick brown fox…")).
    expect(tokenHmac('key', 'The quick brown fox jumps over the lazy dog').toString('hex')).toBe(
      'b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb82f948a549f7b791a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a',
    );
    expect(tokenHmac('k1', 'tok-1').equals(tokenHmac('k2', 'tok-1'))).toBe(false);
    expect(tokenHmac('k1', 'tok-1')).toEqual(createHmac('sha512', 'k1').update('tok-1').digest());
  });

  it('who may describe, renew and expire a token', () => {
    expect(ownerOrRenewer(token, 'User:alice')).toBe(true);
    expect(ownerOrRenewer(token, 'User:admin')).toBe(true);
    expect(ownerOrRenewer(token, 'User:bob')).toBe(true);
    expect(ownerOrRenewer(token, 'User:eve')).toBe(false);
    // The requester describes it but may not renew it (Kafka's allowedToRenew: owner or renewer).
    expect(allowedToRenew(token, 'User:admin')).toBe(false);
    expect(allowedToRenew(token, 'User:bob')).toBe(true);
    expect(tokenExpired(token, 5_000)).toBe(false);
    expect(tokenExpired(token, 5_001)).toBe(true);
    expect(tokenExpired({ ...token, expiryTimestampMs: 20_000 }, 9_001)).toBe(true);
  });

  it('records round-trip; corrupt ones are no token', () => {
    expect(parseTokenRecord('tok-1', tokenRecord(token))).toEqual(token);
    for (const bad of ['', '{', '[]', '{"owner":1}', JSON.stringify({ ...JSON.parse(tokenRecord(token)), max: 'x' })]) {
      expect(parseTokenRecord('tok-1', bad), bad).toBeUndefined();
    }
  });

  it.each([
    'SCRAM-SHA-256',
    'SCRAM-SHA-512',
  ] as ScramMechanismName[])('%s login with tokenauth=true: authorized as the owner, session bounded by the expiry', (mechanism) => {
    const hmac = tokenHmac('secret', 'tok-1');
    const credential = tokenScramCredential(mechanism, hmac);
    const lookup = (id: string) =>
      id === 'tok-1' ? { credential, ownerName: 'alice', expiryTimestampMs: 5_000 } : undefined;
    const server = new ScramServer(mechanism, () => undefined, undefined, lookup);
    const client = new ScramClient(mechanism, 'tok-1', hmac.toString('base64'), undefined, true);
    const first = client.first();
    expect(first.toString()).toMatch(/,tokenauth=true$/);
    const final = client.evaluate(server.evaluate(first))!;
    expect(client.evaluate(server.evaluate(final))).toBeNull();
    expect(server.complete).toBe(true);
    expect(server.authorizationId).toBe('alice');
    expect(server.tokenAuthenticated).toBe(true);
    expect(server.credentialExpiresAtMs).toBe(5_000);

    // The wrong hmac (another secret key) fails the proof.
    const s2 = new ScramServer(mechanism, () => undefined, undefined, lookup);
    const c2 = new ScramClient(mechanism, 'tok-1', tokenHmac('other', 'tok-1').toString('base64'), undefined, true);
    expect(() => s2.evaluate(c2.evaluate(s2.evaluate(c2.first()))!)).toThrow('invalid credentials');
    // An unknown token id, and a token id used as a plain SCRAM user name, are refused.
    const s3 = new ScramServer(mechanism, () => undefined, undefined, lookup);
    expect(() => s3.evaluate(new ScramClient(mechanism, 'tok-2', 'x', undefined, true).first())).toThrow(
      'Invalid tokenId',
    );
    const s4 = new ScramServer(mechanism, () => undefined, undefined, lookup);
    expect(() => s4.evaluate(new ScramClient(mechanism, 'tok-1', 'x').first())).toThrow('Invalid user credentials');
  });
});
