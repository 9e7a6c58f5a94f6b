import { describe, expect, it } from 'vitest';
import { jaasPlainUsers, parseJaasConfig } from './jaas.js';
import { PlainClient, PlainServer, plainUsers } from './plain.js';
import { sslPrincipalMapper } from './tls.js';

describe('PLAIN', () => {
  const users = plainUsers(new Map([['alice', 'alice-secret']]));
  it('accepts the right password and names the user', () => {
    const s = new PlainServer(users);
    expect(s.evaluate(new PlainClient('alice', 'alice-secret').first()).length).toBe(0);
    expect(s.authorizationId).toBe('alice');
  });
  it("refuses wrong passwords, malformed tokens and another authorization id with Kafka's messages", () => {
    expect(() => new PlainServer(users).evaluate(new PlainClient('alice', 'nope').first())).toThrow(
      'Authentication failed: Invalid username or password',
    );
    expect(() => new PlainServer(users).evaluate(Buffer.from('alice'))).toThrow('expected 3 tokens');
    expect(() => new PlainServer(users).evaluate(Buffer.from('a\0b\0c\0d'))).toThrow('expected 3 tokens');
    expect(() => new PlainServer(users).evaluate(Buffer.from('bob\0alice\0alice-secret'))).toThrow('authorization id');
  });
});

describe('JAAS config', () => {
  it("reads Kafka's PlainLoginModule entry with user_ options", () => {
    const entry = parseJaasConfig(
      'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a;b" user_admin="a;b" user_alice=secret;',
    );
    expect(entry.loginModule).toBe('org.apache.kafka.common.security.plain.PlainLoginModule');
    expect([...jaasPlainUsers(entry)]).toEqual([
      ['admin', 'a;b'],
      ['alice', 'secret'],
    ]);
    expect(() => parseJaasConfig('X required a="b"')).toThrow('end with ;');
    expect(() => parseJaasConfig('X maybe;')).toThrow('control flag');
  });
});

describe('ssl.principal.mapping.rules', () => {
  it('DEFAULT keeps the DN; RULE rewrites the first match, with L/U case', () => {
    expect(sslPrincipalMapper(null)('CN=alice,O=acme')).toBe('CN=alice,O=acme');
    const map = sslPrincipalMapper('RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,RULE:^CN=(.*?),O=(.*)$/$1@$2/,DEFAULT');
    expect(map('CN=Svc,OU=ServiceUsers,O=acme')).toBe('svc');
    expect(map('CN=bob,O=acme')).toBe('bob@acme');
    expect(map('OU=x')).toBe('OU=x');
    expect(() => sslPrincipalMapper('RULE:x')).toThrow();
  });
});
