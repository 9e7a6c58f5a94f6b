// How the console reaches the brokers, from Kafka's client settings as Kafka's command-line tools
// take them (`--command-config client.properties`): security.protocol; for SSL/SASL_SSL the trust
// store, key store (mutual TLS) and ssl.endpoint.identification.algorithm; for SASL the mechanism
// and sasl.jaas.config (PlainLoginModule or ScramLoginModule with username and password). Passwords
// stay in the file: never on the command line, where other users see them. A SASL listener without
// credentials in the file means each browser session logs in on the console's login page.
import { readFileSync } from 'node:fs';
import type { SaslOptions, SslOptions } from '@sluice/client';
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

/** Reads a file named by a setting, naming the setting when it cannot. */
function readSetting(props: Readonly<Record<string, string>>, key: string): Buffer {
  try {
    return readFileSync(props[key]);
  } catch (err) {
    throw new InputError(`${key} ${props[key]}: ${(err as Error).message}`);
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function pemBlocks(text: string): Array<{ label: string; pem: string }> {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], pem: `${m[0]}\n` }));
}

/**
 * A store's type: as set, else PEM when the file holds PEM text (Kafka would assume JKS, which
 * the console cannot read: only PEM and PKCS12 are).
 */
function storeType(props: Readonly<Record<string, string>>, prefix: string, file: Buffer): string {
  const set = props[`${prefix}.type`]?.trim().toUpperCase();
  if (set) return set;
  return file.toString('latin1').includes('-----BEGIN ') ? 'PEM' : 'JKS';
}

function sslFromProperties(props: Readonly<Record<string, string>>): SslOptions {
  const ssl: Exclude<SslOptions, true> = {};
  if (props['ssl.truststore.location']) {
    const file = readSetting(props, 'ssl.truststore.location');
    const type = storeType(props, 'ssl.truststore', file);
    if (type !== 'PEM') {
      throw new InputError(`ssl.truststore.type ${type}: the console reads PEM trust stores (ssl.truststore.type=PEM)`);
    }
    const certs = pemBlocks(file.toString('utf8')).filter((b) => b.label === 'CERTIFICATE');
    if (certs.length === 0)
      throw new InputError(`ssl.truststore.location ${props['ssl.truststore.location']}: no certificate in it`);
    ssl.ca = certs.map((b) => b.pem);
  }
  if (props['ssl.keystore.location']) {
    const file = readSetting(props, 'ssl.keystore.location');
    const type = storeType(props, 'ssl.keystore', file);
    if (type === 'PEM') {
      // Kafka's PEM key store: the private key (PKCS#8, maybe encrypted with ssl.key.password) and its certificate chain.
      const blocks = pemBlocks(file.toString('utf8'));
      const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
      const chain = blocks.filter((b) => b.label === 'CERTIFICATE');
      if (keys.length !== 1 || chain.length === 0) {
        throw new InputError(
          `ssl.keystore.location ${props['ssl.keystore.location']}: a PEM key store holds one private key and its certificates (found ${keys.length} key(s), ${chain.length} certificate(s))`,
        );
      }
      ssl.key = keys[0].pem;
      ssl.cert = chain.map((b) => b.pem).join('');
      if (props['ssl.key.password']) ssl.passphrase = props['ssl.key.password'];
    } else if (type === 'PKCS12') {
      ssl.pfx = file;
      if (props['ssl.keystore.password']) ssl.passphrase = props['ssl.keystore.password'];
    } else {
      throw new InputError(`ssl.keystore.type ${type}: the console reads PEM or PKCS12 key stores`);
    }
  }
  const identification = (props['ssl.endpoint.identification.algorithm'] ?? 'https').trim().toLowerCase();
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
