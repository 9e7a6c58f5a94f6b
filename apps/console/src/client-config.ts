// How the console reaches the brokers, from Kafka's client settings as Kafka's command-line tools
// take them (`--command-config client.properties`): security.protocol; for SSL/SASL_SSL the trust
// store, key store (mutual TLS) and ssl.endpoint.identification.algorithm; for SASL the mechanism
// and sasl.jaas.config (PlainLoginModule or ScramLoginModule with username and password). Passwords
// stay in the file: never on the command line, where other users see them. A SASL listener without
// credentials in the file means each browser session logs in on the console's login page.
import type { SaslOptions, SslOptions } from '@sluice/client';
import { clientTlsOptions } from '@sluice/security';
import { MECHANISMS, type Mechanism } from './sessions.js';
import { InputError } from './validate.js';

const PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;

/** Java .properties lines (`key=value` or `key: value`, `#`/`!` comments); continuation lines are not used by these keys. */
export function parseClientProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (m === null) throw new InputError(`client properties: cannot read '${line.slice(0, 80)}'`);
    out[m[1]] = m[2];
  }
  return out;
}

function jaasOption(jaas: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*"((?:[^"\\\\]|\\\\.)*)"`).exec(jaas);
  return m === null ? undefined : m[1].replace(/\\(.)/g, '$1');
}

export interface ConsoleSecurity {
  /** TLS to the brokers (SSL, SASL_SSL). */
  ssl?: SslOptions;
  /** The console's one SASL identity (sasl.jaas.config given). */
  sasl?: SaslOptions;
  /** SASL without credentials (or --login): each browser session logs in. */
  login: boolean;
  /** sasl.mechanism, proposed on the login page. */
  mechanism?: Mechanism;
}

export interface SecurityFlags {
  securityProtocol?: string;
  saslMechanism?: string;
  /** Log in per browser session: implies SASL (PLAINTEXT → SASL_PLAINTEXT, SSL → SASL_SSL). */
  login?: boolean;
}

/** TLS settings by Kafka's client names, read by @sluice/security as the broker's tools read them. */
function sslFromProperties(props: Readonly<Record<string, string>>): SslOptions {
  const get = (name: string) => props[name] ?? null;
  let ssl: Exclude<SslOptions, true>;
  try {
    ssl = clientTlsOptions(get);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  const identification = (get('ssl.endpoint.identification.algorithm') ?? 'https').trim().toLowerCase();
  if (identification === '') {
    // As in Kafka: the chain is still verified, only the broker's name is not compared with its certificate.
    ssl.checkServerIdentity = () => undefined;
  } else if (identification !== 'https') {
    throw new InputError(`ssl.endpoint.identification.algorithm ${identification}: https or empty`);
  }
  return ssl;
}

/** The console's security from client properties; flags override the file's protocol and mechanism. */
export function securityFromProperties(
  props: Readonly<Record<string, string>>,
  flags: SecurityFlags = {},
): ConsoleSecurity {
  let protocol = (flags.securityProtocol ?? props['security.protocol'] ?? 'PLAINTEXT').trim().toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new InputError(`security.protocol ${protocol}: one of ${PROTOCOLS.join(', ')}`);
  }
  if (flags.login && !protocol.startsWith('SASL_')) protocol = `SASL_${protocol}`;
  const out: ConsoleSecurity = { login: false };
  if (protocol.endsWith('SSL')) out.ssl = sslFromProperties(props);
  if (!protocol.startsWith('SASL_')) return out;

  const mechanismSet = flags.saslMechanism ?? props['sasl.mechanism'];
  const mechanism = (mechanismSet ?? (flags.login ? 'PLAIN' : 'GSSAPI')).trim().toUpperCase();
  const jaas = props['sasl.jaas.config'];
  if (jaas === undefined || flags.login) {
    if (jaas !== undefined) {
      throw new InputError('--login: sasl.jaas.config is a fixed identity; leave it out to log in per session');
    }
    // No credentials: the login page asks each user for theirs.
    out.login = true;
    if ((MECHANISMS as readonly string[]).includes(mechanism)) out.mechanism = mechanism as Mechanism;
    else if (mechanismSet !== undefined)
      throw new InputError(`sasl.mechanism ${mechanism}: one of ${MECHANISMS.join(', ')}`);
    return out;
  }
  if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new InputError(`sasl.mechanism ${mechanism}: one of ${MECHANISMS.join(', ')}`);
  }
  const username = jaasOption(jaas, 'username');
  const password = jaasOption(jaas, 'password');
  if (username === undefined || password === undefined) {
    throw new InputError('sasl.jaas.config: needs username="…" and password="…"');
  }
  out.sasl = { mechanism: mechanism as Mechanism, username, password };
  return out;
}
