// What each listener asks of a connection before it is served: TLS (SSL, SASL_SSL) and SASL
// (SASL_PLAINTEXT, SASL_SSL), from Kafka's config names, resolved per listener.

import type { TLSSocket } from 'node:tls';
import {
  checkOAuthBearerUrlAllowed,
  jaasPlainUsers,
  jwtValidator,
  OAUTHBEARER_ALLOWED_URLS,
  type OAuthBearerValidator,
  type PlainPasswordCheck,
  parseJaasConfig,
  plainUsers,
  SASL_MECHANISMS,
  type SaslMechanismName,
  type ScramCredentialLookup,
  type ScramTokenLookup,
  type ServerTlsSettings,
  serverTlsSettings,
  sslPrincipalMapper,
  subjectDn,
  unsecuredJwsValidator,
  unsecuredValidatorOptions,
} from '@sluice/security';
import type { BrokerConfig, Listener } from '../config/index.js';
import { listenerConfig } from '../config/index.js';
import { ConfigException } from '../config/types.js';
import type { SaslListenerSettings } from './sasl-session.js';

export const ANONYMOUS = 'User:ANONYMOUS';

export interface ListenerSecurity {
  readonly name: string;
  readonly protocol: string;
  readonly tls?: ServerTlsSettings;
  readonly sasl?: SaslListenerSettings;
  /**
   * The principal of a TLS client from its certificate (ANONYMOUS without one); null when no
   * ssl.principal.mapping.rules rule applies (the connection is refused, as Kafka does).
   */
  principalOf(socket: TLSSocket): string | null;
}

function saslSettings(
  config: BrokerConfig,
  listener: string,
  scramLookup: ScramCredentialLookup,
  onOAuthRefusal?: (listener: string, reason: string) => void,
  tokenLookup?: ScramTokenLookup,
): SaslListenerSettings {
  const enabled = (listenerConfig(config, listener, 'sasl.enabled.mechanisms') ?? '')
    .split(',')
    .map((m) => m.trim().toUpperCase())
    .filter((m) => m !== '');
  for (const m of enabled) {
    if (!(SASL_MECHANISMS as readonly string[]).includes(m)) {
      throw new ConfigException(
        m === 'GSSAPI'
          ? `Listener ${listener}: SASL mechanism GSSAPI (Kerberos) is not supported by Sluice; set sasl.enabled.mechanisms to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`
          : `Listener ${listener}: SASL mechanism ${m} is not supported by Sluice (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)`,
      );
    }
  }
  if (enabled.length === 0) throw new ConfigException(`Listener ${listener}: sasl.enabled.mechanisms is empty`);
  let plain: PlainPasswordCheck | undefined;
  if (enabled.includes('PLAIN')) {
    // Kafka's PLAIN users: `user_<name>="<password>"` in listener.name.<l>.plain.sasl.jaas.config.
    const jaas = listenerConfig(config, listener, 'sasl.jaas.config', 'plain');
    if (jaas === null) {
      throw new ConfigException(
        `Listener ${listener}: PLAIN needs listener.name.${listener.toLowerCase()}.plain.sasl.jaas.config with user_<name> entries`,
      );
    }
    let users: Map<string, string>;
    try {
      users = jaasPlainUsers(parseJaasConfig(jaas));
    } catch (err) {
      throw new ConfigException(`Listener ${listener}: ${(err as Error).message}`);
    }
    plain = plainUsers(users);
  }
  const oauthValidator = enabled.includes('OAUTHBEARER') ? oauthBearerValidator(config, listener) : undefined;
  const reauth = Number(listenerConfig(config, listener, 'connections.max.reauth.ms') ?? '0');
  const maxReceive = Number(listenerConfig(config, listener, 'sasl.server.max.receive.size') ?? '524288');
  return {
    mechanisms: enabled as SaslMechanismName[],
    plainCheck: () => plain ?? (() => false),
    scramLookup,
    tokenLookup,
    oauthValidator,
    onOAuthRefusal: onOAuthRefusal === undefined ? undefined : (reason) => onOAuthRefusal(listener, reason),
    maxReauthMs: Number.isFinite(reauth) && reauth > 0 ? reauth : 0,
    maxReceiveBytes: Number.isInteger(maxReceive) && maxReceive > 0 ? maxReceive : 524288,
  };
}

/**
 * OAUTHBEARER's validator, chosen as Kafka chooses its server callback handler: JWT verification
 * against a JWKS when sasl.oauthbearer.jwks.endpoint.url is set (Kafka's
 * OAuthBearerValidatorCallbackHandler), else the unsecured JWS validator with the
 * `unsecuredValidator*` options of listener.name.<l>.oauthbearer.sasl.jaas.config.
 */
function oauthBearerValidator(config: BrokerConfig, listener: string): OAuthBearerValidator {
  const get = (key: string) => listenerConfig(config, listener, key, 'oauthbearer');
  const jwksUrl = get('sasl.oauthbearer.jwks.endpoint.url');
  const fail = (msg: string): never => {
    throw new ConfigException(`Listener ${listener}: ${msg}`);
  };
  if (jwksUrl !== null && jwksUrl.trim() !== '') {
    // Kafka 4: the URL must be in org.apache.kafka.sasl.oauthbearer.allowed.urls (empty by default).
    try {
      checkOAuthBearerUrlAllowed(
        'sasl.oauthbearer.jwks.endpoint.url',
        jwksUrl.trim(),
        config.props[OAUTHBEARER_ALLOWED_URLS] ?? null,
      );
    } catch (err) {
      fail((err as Error).message);
    }
    const audience = (get('sasl.oauthbearer.expected.audience') ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    const issuer = get('sasl.oauthbearer.expected.issuer');
    // Kafka 4.4 asks for both unless the operator opts out explicitly.
    if (audience.length === 0 && get('sasl.oauthbearer.allow.unverified.audience') !== 'true') {
      fail(
        'sasl.oauthbearer.expected.audience is required with sasl.oauthbearer.jwks.endpoint.url (or set sasl.oauthbearer.allow.unverified.audience=true)',
      );
    }
    if ((issuer === null || issuer === '') && get('sasl.oauthbearer.allow.unverified.issuer') !== 'true') {
      fail(
        'sasl.oauthbearer.expected.issuer is required with sasl.oauthbearer.jwks.endpoint.url (or set sasl.oauthbearer.allow.unverified.issuer=true)',
      );
    }
    const skew = Number(get('sasl.oauthbearer.clock.skew.seconds') ?? '30');
    const refresh = Number(get('sasl.oauthbearer.jwks.endpoint.refresh.ms') ?? '3600000');
    try {
      return jwtValidator({
        jwksUrl: jwksUrl.trim(),
        expectedAudience: audience,
        expectedIssuer: issuer === '' ? null : issuer,
        subClaimName: get('sasl.oauthbearer.sub.claim.name') ?? 'sub',
        scopeClaimName: get('sasl.oauthbearer.scope.claim.name') ?? 'scope',
        clockSkewSeconds: Number.isFinite(skew) && skew >= 0 ? skew : 30,
        refreshMs: Number.isFinite(refresh) && refresh > 0 ? refresh : 3_600_000,
      });
    } catch (err) {
      return fail(`sasl.oauthbearer.jwks.endpoint.url: ${(err as Error).message}`);
    }
  }
  const jaas = get('sasl.jaas.config');
  try {
    return unsecuredJwsValidator(jaas === null ? {} : unsecuredValidatorOptions(parseJaasConfig(jaas).options));
  } catch (err) {
    return fail(`OAUTHBEARER: ${(err as Error).message}`);
  }
}

/** The security of one listener; throws ConfigException for settings Sluice cannot honour. */
export function listenerSecurity(
  config: BrokerConfig,
  listener: Listener,
  scramLookup: ScramCredentialLookup,
  onOAuthRefusal?: (listener: string, reason: string) => void,
  tokenLookup?: ScramTokenLookup,
): ListenerSecurity {
  const { name, securityProtocol: protocol } = listener;
  const get = (key: string) => listenerConfig(config, name, key);
  let tls: ServerTlsSettings | undefined;
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    try {
      tls = serverTlsSettings(get);
    } catch (err) {
      throw new ConfigException(`Listener ${name}: ${(err as Error).message}`);
    }
  }
  const sasl =
    protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL'
      ? saslSettings(config, name, scramLookup, onOAuthRefusal, tokenLookup)
      : undefined;
  let mapper: (dn: string) => string;
  try {
    mapper = sslPrincipalMapper(get('ssl.principal.mapping.rules'));
  } catch (err) {
    throw new ConfigException(`ssl.principal.mapping.rules: ${(err as Error).message}`);
  }
  return {
    name,
    protocol,
    tls,
    sasl,
    principalOf(socket) {
      if (!socket.authorized) return ANONYMOUS;
      const cert = socket.getPeerX509Certificate();
      if (!cert) return ANONYMOUS;
      try {
        return `User:${mapper(subjectDn(cert))}`;
      } catch {
        return null;
      }
    },
  };
}
