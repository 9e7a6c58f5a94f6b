// Assembles the broker's static configuration from its sources. Precedence, highest first:
//   1. command-line flags (--host/--port/--data-dir, then --override key=value)
//   2. environment variables: SLUICE_<NAME> where NAME is the Kafka name upper-cased with
//      '.' → '_', '_' → '__' and '-' → '___' (SLUICE_LOG_DIRS → log.dirs,
//      SLUICE_LOG_RETENTION_HOURS → log.retention.hours); LOG_LEVEL is read as log.level
//      when SLUICE_LOG_LEVEL is not set
//   3. a server.properties file (java.util.Properties format, Kafka's key names)
//   4. the defaults (broker-config.ts)

import { readFileSync, statSync } from 'node:fs';
import { brokerConfigDef, parseListeners } from './broker-config.js';
import { MAX_PROPERTIES_CHARS, parseProperties } from './properties.js';
import { type BrokerConfig, createBrokerConfig } from './static-config.js';
import { ConfigException } from './types.js';

export const ENV_PREFIX = 'SLUICE_';

export type ConfigOrigin = 'file' | 'env' | 'flag';

export interface CommandLineFlags {
  host?: string;
  port?: number;
  dataDir?: string;
  /** `key=value` strings from --override, applied in order. */
  overrides?: readonly string[];
}

export interface LoadConfigOptions {
  /** Path to a server.properties file. */
  configFile?: string;
  /** Environment to read SLUICE_* from; default process.env. Pass {} to ignore the environment. */
  env?: Readonly<Record<string, string | undefined>>;
  flags?: CommandLineFlags;
}

export interface LoadedConfig {
  config: BrokerConfig;
  /** Where each explicitly given property came from. */
  origins: Record<string, ConfigOrigin>;
  /** Things worth one log line each: unknown property names, ignored variables. */
  warnings: string[];
}

/** SLUICE_LOG_DIRS → log.dirs; SLUICE_FOO__BAR → foo_bar; SLUICE_FOO___BAR → foo-bar. */
export function envNameToConfigName(envName: string): string | null {
  if (!envName.startsWith(ENV_PREFIX) || envName.length === ENV_PREFIX.length) return null;
  return envName
    .slice(ENV_PREFIX.length)
    .toLowerCase()
    .replace(/_{1,3}/g, (m) => (m.length === 3 ? '-' : m.length === 2 ? '_' : '.'));
}

/** The config properties given by the environment. Empty values are ignored. */
export function propsFromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  const level = env.LOG_LEVEL;
  if (level !== undefined && level !== '') out['log.level'] = level;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v === '') continue;
    const name = envNameToConfigName(k);
    if (name !== null) out[name] = v;
  }
  return out;
}

/** Reads a server.properties file (UTF-8; Java would read ISO-8859-1, which differs only past ASCII). */
export function readPropertiesFile(path: string): Record<string, string> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new ConfigException(`Cannot read config file ${path}: ${(e as Error).message}`);
  }
  if (size > MAX_PROPERTIES_CHARS) throw new ConfigException(`Config file ${path} is too large (${size} bytes)`);
  return parseProperties(readFileSync(path, 'utf8'));
}

/** Splits one `--override key=value`. */
export function parseOverride(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new ConfigException(`Invalid override '${s}': expected key=value`);
  return [s.slice(0, i).trim(), s.slice(i + 1)];
}

/** Builds the BrokerConfig from file, environment and flags (see the precedence above). */
export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const props: Record<string, string> = {};
  const origins: Record<string, ConfigOrigin> = {};
  const set = (k: string, v: string, origin: ConfigOrigin) => {
    props[k] = v;
    origins[k] = origin;
  };
  if (opts.configFile !== undefined) {
    for (const [k, v] of Object.entries(readPropertiesFile(opts.configFile))) set(k, v, 'file');
  }
  for (const [k, v] of Object.entries(propsFromEnv(opts.env ?? process.env))) set(k, v, 'env');

  const flags = opts.flags ?? {};
  for (const o of flags.overrides ?? []) {
    const [k, v] = parseOverride(o);
    set(k, v, 'flag');
  }
  if (flags.host !== undefined || flags.port !== undefined) {
    set('listeners', withHostPort(props, flags.host, flags.port), 'flag');
  }
  if (flags.dataDir !== undefined) set('log.dirs', flags.dataDir, 'flag');

  const config = createBrokerConfig(props);
  const warnings = config.unknown.map(
    (n) => `Unknown config '${n}' (from ${origins[n] ?? 'unknown source'}) is ignored`,
  );
  return { config, origins, warnings };
}

/** Replaces the host and/or port of the first listener; the others stay as they are. */
function withHostPort(props: Record<string, string>, host?: string, port?: number): string {
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new ConfigException(`Invalid port ${port}: expected 0..65535`);
  }
  const current = props.listeners ?? brokerConfigDef('listeners')!.default!;
  const map = props['listener.security.protocol.map'] ?? brokerConfigDef('listener.security.protocol.map')!.default!;
  const listeners = parseListeners(current, map);
  const first = listeners[0];
  if (!first) throw new ConfigException('listeners must name at least one listener');
  const h = host ?? first.host;
  const hostPart = h.includes(':') ? `[${h}]` : h;
  const rest = listeners.slice(1).map((l) => `${l.name}://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`);
  return [`${first.name}://${hostPart}:${port ?? first.port}`, ...rest].join(',');
}
