import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientSecurityFromProperties } from './client-security.js';

const file = (lines: string[]) => {
  const f = join(mkdtempSync(join(tmpdir(), 'sluice-client-props-')), 'client.properties');
  writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
};

describe('--command-config with OAUTHBEARER', () => {
  it("turns Kafka's unsecured login options into a token per connection", async () => {
    const out = clientSecurityFromProperties(
      file([
        'security.protocol=SASL_PLAINTEXT',
        'sasl.mechanism=OAUTHBEARER',
        'sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";',
      ]),
    );
    expect(out.sasl?.mechanism).toBe('OAUTHBEARER');
    const token = await (out.sasl as { token: () => string }).token();
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sub).toBe('alice');
  });

  it('refuses a JAAS entry that makes no token', () => {
    expect(() =>
      clientSecurityFromProperties(
        file([
          'security.protocol=SASL_PLAINTEXT',
          'sasl.mechanism=OAUTHBEARER',
          'sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;',
        ]),
      ),
    ).toThrow('unsecuredLoginStringClaim_sub is needed');
  });
});

describe('--command-config with a delegation token', () => {
  it('tokenauth="true" in the ScramLoginModule entry logs in with the token', () => {
    const jaas = (extra: string) =>
      file([
        'security.protocol=SASL_SSL',
        'sasl.mechanism=SCRAM-SHA-512',
        `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="tok" password="aG1hYw=="${extra};`,
      ]);
    expect(clientSecurityFromProperties(jaas(' tokenauth="true"')).sasl).toEqual({
      mechanism: 'SCRAM-SHA-512',
      username: 'tok',
      password: 'aG1hYw==',
      tokenAuth: true,
    });
    expect(clientSecurityFromProperties(jaas('')).sasl).not.toHaveProperty('tokenAuth');
  });
});
