import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  checkOAuthBearerUrlAllowed,
  jwtValidator,
  OAUTHBEARER_ALLOWED_URLS,
  OAuthBearerClient,
  OAuthBearerServer,
  oauthBearerClientFirst,
  parseOAuthBearerClientFirst,
  unsecuredJwsValidator,
  unsecuredLoginToken,
  unsecuredValidatorOptions,
} from './oauthbearer.js';
import { SaslAuthenticationError } from './sasl.js';

const NOW = 1_700_000_000_000;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const unsecured = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'none' }) =>
  `${b64(header)}.${b64(claims)}.`;

describe('OAUTHBEARER client first message (RFC 7628)', () => {
  it('parses the token, the authorization id and extensions', () => {
    const msg = Buffer.from('n,a=alice,\x01auth=Bearer abc.def.\x01traceId=42\x01\x01');
    const m = parseOAuthBearerClientFirst(msg);
    expect(m).toEqual({ authorizationId: 'alice', token: 'abc.def.', extensions: new Map([['traceId', '42']]) });
    expect(parseOAuthBearerClientFirst(oauthBearerClientFirst('x.y.')).token).toBe('x.y.');
  });

  it("refuses malformed messages with Kafka's wording", () => {
    const bad = (s: string) => () => parseOAuthBearerClientFirst(Buffer.from(s));
    expect(bad('y,,\x01auth=Bearer t\x01\x01')).toThrow('Invalid OAUTHBEARER client first message');
    expect(bad('n,,\x01auth=Bearer t\x01')).toThrow('Invalid OAUTHBEARER client first message');
    expect(bad('n,,\x01x=1\x01\x01')).toThrow("'auth' not specified");
    expect(bad('n,,\x01auth=Basic dXNlcg==\x01\x01')).toThrow('Invalid scheme');
    expect(bad('n,,\x01auth=Bearer a b\x01\x01')).toThrow("invalid 'auth' format");
  });
});

describe('unsecured JWS validator (OAuthBearerUnsecuredValidatorCallbackHandler)', () => {
  const validate = unsecuredJwsValidator(
    unsecuredValidatorOptions(new Map([['unsecuredValidatorRequiredScope', 'kafka']])),
    () => NOW,
  );
  const exp = NOW / 1000 + 60;

  it('accepts a token and takes the principal from sub and the expiry from exp', async () => {
    const t = await validate(unsecured({ sub: 'alice', exp, iat: NOW / 1000, scope: 'kafka other' }));
    expect(t).toEqual({ principal: 'alice', expiresAtMs: exp * 1000, scope: ['kafka', 'other'] });
  });

  it.each([
    ['a signed token', unsecured({ sub: 'a', exp, scope: 'kafka' }, { alg: 'HS256' }), "'none' for an algorithm"],
    ['a signature', `${unsecured({ sub: 'a', exp, scope: 'kafka' })}c2ln`, 'must not contain a digital signature'],
    ['no sub', unsecured({ exp, scope: 'kafka' }), 'Required claim missing: sub'],
    ['no exp', unsecured({ sub: 'a', scope: 'kafka' }), 'Required claim missing: exp'],
    ['an expired token', unsecured({ sub: 'a', exp: NOW / 1000, scope: 'kafka' }), 'on or after the Expiration Time'],
    ['iat in the future', unsecured({ sub: 'a', exp, iat: NOW / 1000 + 1, scope: 'kafka' }), 'Issued At'],
    ['garbage', 'not-a-jws', '3 parts'],
    ['not JSON', 'eyJ.eyJ.', 'base64url-encoded JSON'],
  ])('refuses %s', async (_what, token, message) => {
    await expect(validate(token)).rejects.toMatchObject({
      status: 'invalid_token',
      message: expect.stringContaining(message),
    });
  });

  it('refuses a token without the required scope as insufficient_scope', async () => {
    await expect(validate(unsecured({ sub: 'a', exp, scope: 'other' }))).rejects.toMatchObject({
      status: 'insufficient_scope',
      scope: '[kafka]',
    });
  });

  it('honours the allowable clock skew and refuses a negative one', async () => {
    const skewed = unsecuredJwsValidator(
      unsecuredValidatorOptions(new Map([['unsecuredValidatorAllowableClockSkewMs', '5000']])),
      () => NOW,
    );
    await expect(skewed(unsecured({ sub: 'a', exp: NOW / 1000 - 2 }))).resolves.toMatchObject({ principal: 'a' });
    expect(() => unsecuredValidatorOptions(new Map([['unsecuredValidatorAllowableClockSkewMs', '-1']]))).toThrow();
  });
});

describe('OAUTHBEARER server exchange', () => {
  const validate = unsecuredJwsValidator({}, () => NOW);
  const good = unsecured({ sub: 'alice', exp: NOW / 1000 + 60 });

  it('completes with the token principal and expiry', async () => {
    const server = new OAuthBearerServer(validate);
    expect((await server.evaluate(oauthBearerClientFirst(good))).length).toBe(0);
    expect(server.complete).toBe(true);
    expect(server.authorizationId).toBe('alice');
    expect(server.credentialExpiresAtMs).toBe(NOW + 60_000);
  });

  it('answers a bad token with the JSON status, then fails with it once the client sends %x01', async () => {
    const reasons: string[] = [];
    const server = new OAuthBearerServer(validate, (r) => reasons.push(r));
    const client = new OAuthBearerClient(unsecured({ sub: 'alice', exp: NOW / 1000 - 1 }));
    const challenge = await server.evaluate(client.first());
    expect(challenge.toString()).toBe('{"status":"invalid_token"}');
    expect(server.complete).toBe(false);
    const ack = client.evaluate(challenge)!;
    expect([...ack]).toEqual([1]);
    await expect(server.evaluate(ack)).rejects.toThrow(new SaslAuthenticationError('{"status":"invalid_token"}'));
    expect(reasons[0]).toContain('Expiration Time');
  });

  it('refuses an authorization id other than the principal', async () => {
    const server = new OAuthBearerServer(validate);
    await expect(server.evaluate(Buffer.from(`n,a=bob,\x01auth=Bearer ${good}\x01\x01`))).rejects.toThrow(
      "that is different from the token's principal name (alice)",
    );
  });

  it('bounds the message size', async () => {
    const server = new OAuthBearerServer(validate);
    await expect(server.evaluate(Buffer.alloc(70_000, 0x61))).rejects.toThrow('more than');
  });
});

describe('JWT validator against a JWKS', () => {
  it('accepts a token signed by a key of the set and checks audience, issuer, expiry and the sub claim name', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const dir = mkdtempSync(join(tmpdir(), 'sluice-jwks-'));
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    const validate = jwtValidator({
      jwksUrl: pathToFileURL(file).href,
      expectedAudience: ['kafka'],
      expectedIssuer: 'https://idp.example',
      subClaimName: 'client_id',
      clockSkewSeconds: 0,
    });
    const sign = (claims: Record<string, unknown>, key = privateKey, exp: string | number = '1m') =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(key);
    const ok = await sign({ client_id: 'svc-a', aud: 'kafka', iss: 'https://idp.example', scope: 'a b' });
    const t = await validate(ok);
    expect(t.principal).toBe('svc-a');
    expect(t.scope).toEqual(['a', 'b']);
    expect(t.expiresAtMs).toBeGreaterThan(Date.now());
    for (const bad of [
      await sign({ client_id: 'svc-a', aud: 'other', iss: 'https://idp.example' }),
      await sign({ client_id: 'svc-a', aud: 'kafka', iss: 'https://evil.example' }),
      await sign({ client_id: 'svc-a', aud: 'kafka', iss: 'https://idp.example' }, other.privateKey),
      await sign(
        { client_id: 'svc-a', aud: 'kafka', iss: 'https://idp.example' },
        privateKey,
        Math.floor(Date.now() / 1000) - 10,
      ),
      await sign({ sub: 'svc-a', aud: 'kafka', iss: 'https://idp.example' }),
      unsecured({ client_id: 'svc-a', aud: 'kafka', iss: 'https://idp.example', exp: Date.now() / 1000 + 60 }),
    ]) {
      await expect(validate(bad)).rejects.toMatchObject({ status: 'invalid_token' });
    }
  });
});

describe("Kafka's unsecured login token (OAuthBearerUnsecuredLoginCallbackHandler options)", () => {
  it('makes a token the unsecured validator accepts, with string, number and list claims', async () => {
    const token = unsecuredLoginToken(
      new Map([
        ['unsecuredLoginStringClaim_sub', 'alice'],
        ['unsecuredLoginListClaim_scope', ',kafka,other'],
        ['unsecuredLoginNumberClaim_tier', '2'],
        ['unsecuredLoginLifetimeSeconds', '60'],
      ]),
      () => NOW,
    );
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims).toEqual({ sub: 'alice', scope: ['kafka', 'other'], tier: 2, iat: NOW / 1000, exp: NOW / 1000 + 60 });
    const validate = unsecuredJwsValidator({ requiredScope: ['kafka'] }, () => NOW);
    await expect(validate(token)).resolves.toEqual({
      principal: 'alice',
      expiresAtMs: NOW + 60_000,
      scope: ['kafka', 'other'],
    });
  });

  it('needs the principal claim and a positive lifetime', () => {
    expect(() => unsecuredLoginToken(new Map())).toThrow('unsecuredLoginStringClaim_sub is needed');
    expect(() =>
      unsecuredLoginToken(
        new Map([
          ['unsecuredLoginStringClaim_sub', 'a'],
          ['unsecuredLoginLifetimeSeconds', '-1'],
        ]),
      ),
    ).toThrow('unsecuredLoginLifetimeSeconds');
  });
});

describe('org.apache.kafka.sasl.oauthbearer.allowed.urls', () => {
  it('allows only URLs listed exactly (entries trimmed); nothing by default', () => {
    const url = 'https://idp.test/jwks';
    expect(() => checkOAuthBearerUrlAllowed('sasl.oauthbearer.jwks.endpoint.url', url, null)).toThrow(
      /^Invalid value https:\/\/idp.test\/jwks for configuration sasl.oauthbearer.jwks.endpoint.url: The URL cannot be accessed due to restrictions/,
    );
    for (const bad of ['', 'https://idp.test', 'https://idp.test/jwks/', 'HTTPS://idp.test/jwks', '*']) {
      expect(() => checkOAuthBearerUrlAllowed('x', url, bad), bad).toThrow(OAUTHBEARER_ALLOWED_URLS);
    }
    for (const good of [url, `file:/k.json, ${url} ,http://a`]) {
      expect(() => checkOAuthBearerUrlAllowed('x', url, good), good).not.toThrow();
    }
  });
});
