// TLS options for node:tls from Kafka's ssl.* config names, and the principal from a client certificate.

import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecureVersion, TlsOptions } from 'node:tls';

/** Reads a config by its Kafka name (already resolved for the listener), null when unset. */
export type SslConfigGetter = (name: string) => string | null;

export type SslClientAuth = 'none' | 'requested' | 'required';

export interface ServerTlsSettings {
  options: TlsOptions;
  clientAuth: SslClientAuth;
}

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const MAX_STORE_BYTES = 1 << 20;

function pemBlocks(text: string): { label: string; pem: string }[] {
  return [...text.matchAll(PEM_BLOCK_RE)].map((m) => ({ label: m[1]!, pem: m[0] }));
}

function readStore(path: string, what: string): Buffer {
  const data = readFileSync(path);
  if (data.length > MAX_STORE_BYTES) throw new Error(`${what} ${path} is larger than ${MAX_STORE_BYTES} bytes`);
  return data;
}

const PROTOCOLS: Record<string, SecureVersion> = { 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3' };

/**
 * The key and certificate chain: `ssl.keystore.type` PEM (a file at `ssl.keystore.location` with a
 * PKCS#8 key, encrypted with `ssl.key.password` or not, and the chain; or `ssl.keystore.key` and
 * `ssl.keystore.certificate.chain` inline) or PKCS12 (`ssl.keystore.password`). JKS needs Java.
 */
function keyStore(get: SslConfigGetter): Partial<TlsOptions> {
  const type = (get('ssl.keystore.type') ?? 'JKS').toUpperCase();
  const location = get('ssl.keystore.location');
  const inlineKey = get('ssl.keystore.key');
  const inlineChain = get('ssl.keystore.certificate.chain');
  const passphrase = get('ssl.key.password') ?? undefined;
  if (inlineKey !== null || inlineChain !== null) {
    if (inlineKey === null || inlineChain === null) {
      throw new Error('ssl.keystore.key and ssl.keystore.certificate.chain must be set together');
    }
    return { key: inlineKey, cert: inlineChain, passphrase };
  }
  if (location === null) throw new Error('an SSL listener needs ssl.keystore.location (or ssl.keystore.key)');
  if (type === 'PKCS12') {
    return { pfx: readStore(location, 'ssl.keystore.location'), passphrase: get('ssl.keystore.password') ?? undefined };
  }
  if (type !== 'PEM') {
    throw new Error(`ssl.keystore.type ${type} is not supported by Sluice (use PEM or PKCS12)`);
  }
  const blocks = pemBlocks(readStore(location, 'ssl.keystore.location').toString('utf8'));
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (keys.length !== 1) throw new Error(`ssl.keystore.location ${location} must hold one private key`);
  if (certs.length === 0) throw new Error(`ssl.keystore.location ${location} holds no certificate`);
  return { key: keys[0]!.pem, cert: certs.map((c) => c.pem).join('\n'), passphrase };
}

/** Trusted certificates: `ssl.truststore.location` (PEM) or `ssl.truststore.certificates`; none: the system's. */
function trustStore(get: SslConfigGetter): string[] | undefined {
  const inline = get('ssl.truststore.certificates');
  const location = get('ssl.truststore.location');
  let text: string;
  if (inline !== null) text = inline;
  else if (location !== null) {
    const type = (get('ssl.truststore.type') ?? 'JKS').toUpperCase();
    // A .pem file with Kafka's default type JKS is read as PEM too: the content says what it is.
    const data = readStore(location, 'ssl.truststore.location');
    text = data.toString('utf8');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      throw new Error(`ssl.truststore.type ${type} is not supported by Sluice (use a PEM trust store)`);
    }
  } else return undefined;
  const certs = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) throw new Error('the SSL trust store holds no certificate');
  return certs.map((c) => c.pem);
}

function protocolRange(get: SslConfigGetter): Pick<TlsOptions, 'minVersion' | 'maxVersion'> {
  const enabled = (get('ssl.enabled.protocols') ?? 'TLSv1.2,TLSv1.3')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const versions = enabled.map((p) => PROTOCOLS[p]).filter((v): v is SecureVersion => v !== undefined);
  if (versions.length === 0)
    throw new Error(`ssl.enabled.protocols ${enabled.join(',')}: Sluice supports TLSv1.2 and TLSv1.3`);
  versions.sort();
  return { minVersion: versions[0], maxVersion: versions[versions.length - 1] };
}

export function parseClientAuth(value: string | null): SslClientAuth {
  const v = (value ?? 'none').toLowerCase();
  if (v !== 'none' && v !== 'requested' && v !== 'required') {
    throw new Error(`Invalid value ${value} for configuration ssl.client.auth`);
  }
  return v;
}

/** The server side of an SSL or SASL_SSL listener. */
export function serverTlsSettings(get: SslConfigGetter): ServerTlsSettings {
  const clientAuth = parseClientAuth(get('ssl.client.auth'));
  const ca = trustStore(get);
  const options: TlsOptions = {
    ...keyStore(get),
    ...protocolRange(get),
    ca,
    requestCert: clientAuth !== 'none',
    // `requested`: a client without a certificate is let in (as ANONYMOUS); one with an untrusted
    // certificate is closed by the broker after the handshake (Kafka fails the handshake).
    rejectUnauthorized: clientAuth === 'required',
  };
  return { options, clientAuth };
}

/** The client side, from the same names as Kafka's clients (`ssl.truststore.location`, …). */
export function clientTlsOptions(get: SslConfigGetter): {
  ca?: string[];
  key?: string;
  cert?: string;
  pfx?: Buffer;
  passphrase?: string;
} {
  const out: { ca?: string[]; key?: string; cert?: string; pfx?: Buffer; passphrase?: string } = {};
  const ca = trustStore(get);
  if (ca) out.ca = ca;
  if (get('ssl.keystore.location') !== null || get('ssl.keystore.key') !== null) {
    Object.assign(out, keyStore(get));
  }
  return out;
}

const RFC2253_SPECIAL = /[,+"\\<>;]/g;

/**
 * A certificate subject as Java's X500Principal.getName() writes it (RFC 2253): the most specific
 * name first (`CN=alice,OU=eng,O=acme`), special characters escaped.
 */
export function subjectDn(cert: X509Certificate): string {
  // Node lists the RDNs in certificate order (C first), one per line.
  const rdns = cert.subject.split('\n').filter((s) => s !== '');
  return rdns
    .reverse()
    .map((rdn) => {
      const eq = rdn.indexOf('=');
      if (eq < 0) return rdn;
      let value = rdn.slice(eq + 1).replace(RFC2253_SPECIAL, (c) => `\\${c}`);
      if (value.startsWith(' ') || value.startsWith('#')) value = `\\${value}`;
      if (value.endsWith(' ')) value = `${value.slice(0, -1)}\\ `;
      return `${rdn.slice(0, eq)}=${value}`;
    })
    .join(',');
}

interface MappingRule {
  pattern: RegExp | null;
  replacement: string;
  toLower: boolean;
  toUpper: boolean;
}

const RULE_RE = /\s*(DEFAULT|RULE:((?:\\\/|[^/])*)\/((?:\\\/|[^/])*)\/([LU])?)\s*(,|$)/gy;
const MAX_RULES = 100;

/**
 * `ssl.principal.mapping.rules` as Kafka's SslPrincipalMapper applies them: the first rule whose
 * pattern matches the whole DN gives the name; DEFAULT keeps the DN.
 */
export function sslPrincipalMapper(rules: string | null): (dn: string) => string {
  const text = (rules ?? 'DEFAULT').trim();
  const parsed: MappingRule[] = [];
  RULE_RE.lastIndex = 0;
  while (RULE_RE.lastIndex < text.length) {
    const m = RULE_RE.exec(text);
    if (!m) throw new Error(`Invalid rule: ${text.slice(RULE_RE.lastIndex)}`);
    if (parsed.length >= MAX_RULES) throw new Error(`ssl.principal.mapping.rules has more than ${MAX_RULES} rules`);
    if (m[1] === 'DEFAULT') parsed.push({ pattern: null, replacement: '', toLower: false, toUpper: false });
    else {
      parsed.push({
        pattern: new RegExp(`^(?:${m[2]!.replace(/\\\//g, '/')})$`),
        replacement: m[3]!.replace(/\\\//g, '/'),
        toLower: m[4] === 'L',
        toUpper: m[4] === 'U',
      });
    }
    if (m[5] === '') break;
  }
  return (dn) => {
    for (const rule of parsed) {
      if (rule.pattern === null) return dn;
      const m = rule.pattern.exec(dn);
      if (!m) continue;
      // Java's Matcher.replaceAll: $1 … refer to groups.
      let name = rule.replacement.replace(/\$(\d)/g, (_, g: string) => m[Number(g)] ?? '');
      if (rule.toLower) name = name.toLowerCase();
      if (rule.toUpper) name = name.toUpperCase();
      return name;
    }
    throw new Error(`No rules apply to ${dn}, rules ${text}`);
  };
}
