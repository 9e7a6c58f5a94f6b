// Kafka's dynamic SSL update: `listener.name.<l>.ssl.keystore.location` (and the other
// reconfigurable ssl.* names) set per broker through IncrementalAlterConfigs re-reads the PEM or
// PKCS12 files, and connections accepted from then on get the new certificate; open ones keep
// theirs. As Kafka's DynamicBrokerConfig and SslFactory: only with the listener prefix and per
// broker, and the new key store must load and keep the certificate's subject and SANs (unless
// ssl.allow.dn.changes / ssl.allow.san.changes).

import { X509Certificate } from 'node:crypto';
import type { TlsOptions, Server as TlsServer } from 'node:tls';
import { serverTlsSettings } from '@sluice/security';
import type { BrokerConfig } from '../config/index.js';
import { listenerConfig } from '../config/index.js';

/** Kafka's SslConfigs.RECONFIGURABLE_CONFIGS. */
export const RECONFIGURABLE_SSL_CONFIGS: readonly string[] = [
  'ssl.keystore.type',
  'ssl.keystore.location',
  'ssl.keystore.password',
  'ssl.key.password',
  'ssl.truststore.type',
  'ssl.truststore.location',
  'ssl.truststore.password',
  'ssl.keystore.key',
  'ssl.keystore.certificate.chain',
  'ssl.truststore.certificates',
];

const LISTENER_SSL = /^listener\.name\.([a-z0-9_-]+)\.(ssl\.[a-z.]+)$/;

type Props = Readonly<Record<string, string>>;

interface TlsListener {
  readonly name: string;
  readonly server: TlsServer;
  options: TlsOptions;
  /** Whether dynamic values were last applied (so removing them goes back to the static stores). */
  updated: boolean;
}

/** The leaf certificate of PEM options, or null (a PKCS12 store is not inspected). */
function leafOf(options: TlsOptions): X509Certificate | null {
  const cert = options.cert;
  const pem = Array.isArray(cert) ? cert[0] : cert;
  if (pem === undefined || pem === null) return null;
  return new X509Certificate(typeof pem === 'string' ? pem : Buffer.from(pem as Uint8Array));
}

const sans = (cert: X509Certificate) =>
  (cert.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

export class TlsReloader {
  private readonly listeners: TlsListener[] = [];

  constructor(
    private readonly config: BrokerConfig,
    private readonly onReload: (listener: string, err?: Error) => void = () => {},
  ) {}

  add(name: string, server: TlsServer, options: TlsOptions): void {
    this.listeners.push({ name, server, options, updated: false });
  }

  /** A listener's TLS options with the dynamic values over the static ones. */
  private optionsFor(name: string, dynamic: Props): TlsOptions {
    const prefix = `listener.name.${name.toLowerCase()}.`;
    return serverTlsSettings((key) => dynamic[prefix + key] ?? listenerConfig(this.config, name, key)).options;
  }

  /**
   * Checks the broker's next dynamic configs (the whole set, as stored); throws with Kafka's wording
   * when they may not be taken. `perBroker`: the resource is this broker, not the cluster default.
   */
  check(next: Props, perBroker: boolean): void {
    const names = Object.keys(next);
    const base = names.filter((n) => RECONFIGURABLE_SSL_CONFIGS.includes(n));
    if (base.length > 0) {
      throw new Error(
        `These security configs can be dynamically updated only per-listener using the listener prefix: [${base.join(', ')}]`,
      );
    }
    const prefixed = names.filter((n) => {
      const m = LISTENER_SSL.exec(n);
      return m !== null && RECONFIGURABLE_SSL_CONFIGS.includes(m[2]!);
    });
    if (prefixed.length === 0) return;
    if (!perBroker) {
      throw new Error(
        `Cannot update these configs at default cluster level, broker id must be specified: [${prefixed.join(', ')}]`,
      );
    }
    for (const l of this.listeners) {
      if (!prefixed.some((n) => n.startsWith(`listener.name.${l.name.toLowerCase()}.`))) continue;
      let options: TlsOptions;
      try {
        options = this.optionsFor(l.name, next);
      } catch (err) {
        throw new Error(`Validation of dynamic config update of SSLFactory failed: ${(err as Error).message}`);
      }
      this.ensureCompatible(l, options, next);
    }
  }

  private ensureCompatible(l: TlsListener, options: TlsOptions, next: Props): void {
    const allowed = (key: string) =>
      (next[`listener.name.${l.name.toLowerCase()}.${key}`] ?? listenerConfig(this.config, l.name, key)) === 'true';
    let before: X509Certificate | null;
    let after: X509Certificate | null;
    try {
      before = leafOf(l.options);
      after = leafOf(options);
    } catch (err) {
      throw new Error(`Validation of dynamic config update of SSLFactory failed: ${(err as Error).message}`);
    }
    if (before === null || after === null) return;
    if (!allowed('ssl.allow.dn.changes') && before.subject !== after.subject) {
      throw new Error(
        `Keystore DistinguishedName does not match:  existing={DN=${before.subject.replace(/\n/g, ',')}}, new={DN=${after.subject.replace(/\n/g, ',')}}`,
      );
    }
    const newSans = new Set(sans(after));
    if (!allowed('ssl.allow.san.changes') && !sans(before).every((s) => newSans.has(s))) {
      throw new Error(
        `Keystore SubjectAltNames do not match:  existing={SAN=[${sans(before).join(', ')}]}, new={SAN=[${[...newSans].join(', ')}]}`,
      );
    }
  }

  /**
   * Re-reads every TLS listener's stores with the current dynamic configs and hands new connections
   * the result. A store that no longer loads (changed on disk since the check) keeps the old context.
   */
  apply(dynamic: Props): void {
    for (const l of this.listeners) {
      const prefix = `listener.name.${l.name.toLowerCase()}.ssl.`;
      const dynamicSsl = Object.keys(dynamic).some((k) => k.startsWith(prefix));
      // Listeners never updated keep the stores they started with.
      if (!dynamicSsl && !l.updated) continue;
      l.updated = dynamicSsl;
      try {
        const options = this.optionsFor(l.name, dynamic);
        l.server.setSecureContext(options);
        l.options = options;
        this.onReload(l.name);
      } catch (err) {
        this.onReload(l.name, err as Error);
      }
    }
  }
}
