// `--command-config <file>`: a Kafka client properties file (as Kafka's tools take it) turned into
// @sluice/client's ssl and sasl options: security.protocol, sasl.mechanism, sasl.jaas.config
// (username and password; for OAUTHBEARER Kafka's unsecured login options), ssl.truststore.location /
// ssl.keystore.location (PEM), ssl.key.password.

import { readFileSync } from 'node:fs';
import type { ClientOptions } from '@sluice/client';
import { clientTlsOptions, parseJaasConfig, unsecuredLoginToken } from '@sluice/security';
import { parseProperties } from '../config/properties.js';
import { UsageError } from './common-errors.js';

const MAX_PROPERTIES_BYTES = 1 << 20;
const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;

export function clientSecurityFromProperties(file: string): Pick<ClientOptions, 'ssl' | 'sasl'> {
  const text = readFileSync(file);
  if (text.length > MAX_PROPERTIES_BYTES) throw new UsageError(`${file} is larger than ${MAX_PROPERTIES_BYTES} bytes`);
  const props = parseProperties(text.toString('utf8'));
  const get = (name: string) => props[name] ?? null;
  const protocol = (get('security.protocol') ?? 'PLAINTEXT').toUpperCase();
  if (!['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(protocol)) {
    throw new UsageError(
      `${file}: security.protocol ${protocol} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL`,
    );
  }
  const out: Pick<ClientOptions, 'ssl' | 'sasl'> = {};
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    try {
      const tls = clientTlsOptions(get);
      out.ssl = Object.keys(tls).length === 0 ? true : tls;
    } catch (err) {
      throw new UsageError(`${file}: ${(err as Error).message}`);
    }
  }
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    const mechanism = (get('sasl.mechanism') ?? 'GSSAPI').toUpperCase();
    if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new UsageError(
        `${file}: sasl.mechanism ${mechanism} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)`,
      );
    }
    const jaas = get('sasl.jaas.config');
    if (jaas === null) throw new UsageError(`${file}: sasl.jaas.config with username and password is needed`);
    let options: Map<string, string>;
    try {
      options = parseJaasConfig(jaas).options;
    } catch (err) {
      throw new UsageError(`${file}: ${(err as Error).message}`);
    }
    if (mechanism === 'OAUTHBEARER') {
      // Kafka's unsecured login (OAuthBearerLoginModule's unsecuredLogin* options): checked now, made per connection.
      try {
        unsecuredLoginToken(options);
      } catch (err) {
        throw new UsageError(`${file}: sasl.jaas.config: ${(err as Error).message}`);
      }
      out.sasl = { mechanism: 'OAUTHBEARER', token: () => unsecuredLoginToken(options) };
      return out;
    }
    const username = options.get('username');
    const password = options.get('password');
    if (username === undefined || password === undefined) {
      throw new UsageError(`${file}: sasl.jaas.config needs username and password`);
    }
    // ScramLoginModule's tokenauth="true": username and password are a delegation token's id and hmac.
    const tokenAuth = mechanism.startsWith('SCRAM-') && options.get('tokenauth')?.toLowerCase() === 'true';
    out.sasl = {
      mechanism: mechanism as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512',
      username,
      password,
      ...(tokenAuth ? { tokenAuth } : {}),
    };
  }
  return out;
}
