// The console's SASL identity from Kafka's client settings, as Kafka's command-line tools take them
// (`--command-config client.properties`): security.protocol, sasl.mechanism and sasl.jaas.config
// (PlainLoginModule or ScramLoginModule with username and password). The password stays in the file:
// never on the command line, where other users see it.
import type { SaslOptions } from '@sluice/client';
import { InputError } from './validate.js';

const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

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

/**
 * SASL options from client properties (flags override the file's security.protocol and
 * sasl.mechanism); undefined for PLAINTEXT. SSL protocols are refused: the console has no TLS settings yet.
 */
export function saslFromProperties(
  props: Readonly<Record<string, string>>,
  flags: { securityProtocol?: string; saslMechanism?: string } = {},
): SaslOptions | undefined {
  const protocol = (flags.securityProtocol ?? props['security.protocol'] ?? 'PLAINTEXT').trim().toUpperCase();
  if (protocol === 'PLAINTEXT') return undefined;
  if (protocol !== 'SASL_PLAINTEXT') {
    throw new InputError(`security.protocol ${protocol}: the console speaks PLAINTEXT or SASL_PLAINTEXT`);
  }
  const mechanism = (flags.saslMechanism ?? props['sasl.mechanism'] ?? 'GSSAPI').trim().toUpperCase();
  if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new InputError(`sasl.mechanism ${mechanism}: one of ${MECHANISMS.join(', ')}`);
  }
  const jaas = props['sasl.jaas.config'];
  if (jaas === undefined) throw new InputError('sasl.jaas.config: missing (a LoginModule with username and password)');
  const username = jaasOption(jaas, 'username');
  const password = jaasOption(jaas, 'password');
  if (username === undefined || password === undefined) {
    throw new InputError('sasl.jaas.config: needs username="…" and password="…"');
  }
  return { mechanism: mechanism as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', username, password };
}
