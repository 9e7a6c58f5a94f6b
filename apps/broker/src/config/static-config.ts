// The broker's static configuration: the properties it was started with (file, environment,
// flags), parsed and validated once at start-up into typed values.

import { resolve } from 'node:path';
import {
  BROKER_CONFIGS,
  type BrokerConfigName,
  type BrokerValue,
  brokerConfigDef,
  type Listener,
  type LOG_LEVELS,
  parseListeners,
} from './broker-config.js';
import { ConfigException, type ConfigValue, parseConfigValue } from './types.js';

export type LogLevel = (typeof LOG_LEVELS)[number];

export interface BrokerConfig {
  /** node.id, else broker.id when ≥ 0, else 1. */
  readonly nodeId: number;
  /** cluster.id, or null: the broker generates one and keeps it in its data directory. */
  readonly clusterId: string | null;
  /** Where to bind. host '' means every interface; port 0 an ephemeral port. */
  readonly listeners: readonly Listener[];
  /** What to publish to clients: advertised.listeners, else the listeners. */
  readonly advertisedListeners: readonly Listener[];
  /** Absolute data directories: log.dirs, else log.dir. */
  readonly logDirs: readonly string[];
  /** The Prometheus endpoint, or null when metrics.port is 0 or -1. */
  readonly metrics: { readonly host: string; readonly port: number } | null;
  /** The web console served by the broker, or null when console.port is 0 or -1. */
  readonly console: { readonly host: string; readonly port: number } | null;
  readonly logLevel: LogLevel;
  readonly logIo: 'mmap' | 'fd';
  /** The static properties exactly as given, by Kafka name (DescribeConfigs' STATIC_BROKER_CONFIG). */
  readonly props: Readonly<Record<string, string>>;
  /** Names in props that Sluice does not know; Kafka ignores those with a warning, so does Sluice. */
  readonly unknown: readonly string[];
  /** Typed static value of any broker config (dynamic changes live in ConfigRegistry). */
  get<K extends BrokerConfigName>(name: K): BrokerValue<K>;
}

const MAX_PROPS = 10_000;

// `listener.name.<listener>.[<sasl mechanism>.]<config>`: Kafka's per-listener security settings.
const LISTENER_PREFIX_RE =
  /^listener\.name\.[a-z0-9_-]+\.(?:(?:plain|scram-sha-256|scram-sha-512|oauthbearer|gssapi)\.)?(.+)$/;

/** The StandardAuthorizer's own settings: Kafka passes them to the authorizer, not in its config table. */
const AUTHORIZER_PROPS: ReadonlySet<string> = new Set(['super.users', 'allow.everyone.if.no.acl.found']);

/** Kafka's JVM system properties that Sluice takes as broker properties. */
const SYSTEM_PROPS: ReadonlySet<string> = new Set(['org.apache.kafka.sasl.oauthbearer.allowed.urls']);

/** A known config under a listener (and mechanism) prefix, which Kafka accepts. */
function isListenerPrefixed(name: string): boolean {
  const m = LISTENER_PREFIX_RE.exec(name);
  return m !== null && brokerConfigDef(m[1]!) !== undefined;
}

/**
 * A security config for one listener, as Kafka resolves it: `listener.name.<l>.<name>` first, then
 * `<name>`, then Kafka's default. `mechanism` (lower case) for per-mechanism SASL settings.
 */
export function listenerConfig(
  config: BrokerConfig,
  listener: string,
  name: string,
  mechanism?: string,
): string | null {
  const prefix = `listener.name.${listener.toLowerCase()}.`;
  const props = config.props;
  if (mechanism !== undefined) {
    const v = props[`${prefix}${mechanism.toLowerCase()}.${name}`];
    if (v !== undefined) return v;
  }
  const v = props[`${prefix}${name}`] ?? props[name];
  if (v !== undefined) return v;
  return brokerConfigDef(name)?.default ?? null;
}

/**
 * Builds the static configuration from Kafka-named properties (values as strings, as in
 * server.properties). Throws ConfigException with Kafka's wording on the first invalid value.
 */
export function createBrokerConfig(props: Readonly<Record<string, string>> = {}): BrokerConfig {
  const names = Object.keys(props);
  if (names.length > MAX_PROPS) throw new ConfigException(`Too many properties (${names.length} > ${MAX_PROPS})`);
  const values = new Map<string, ConfigValue | null>();
  for (const [name, d] of Object.entries(BROKER_CONFIGS)) {
    const def = brokerConfigDef(name)!;
    const raw = Object.hasOwn(props, name) ? props[name]! : d.default;
    values.set(name, raw === null ? null : parseConfigValue(def, raw));
  }
  const unknown = names.filter(
    (n) =>
      brokerConfigDef(n) === undefined && !isListenerPrefixed(n) && !AUTHORIZER_PROPS.has(n) && !SYSTEM_PROPS.has(n),
  );
  const get = <K extends BrokerConfigName>(name: K) => values.get(name) as BrokerValue<K>;

  const nodeIdSetting = get('node.id');
  const brokerId = get('broker.id');
  if (nodeIdSetting !== null && brokerId >= 0 && nodeIdSetting !== brokerId) {
    throw new ConfigException(
      `If both node.id and broker.id are set they must be equal: node.id=${nodeIdSetting}, broker.id=${brokerId}`,
    );
  }
  const nodeId = nodeIdSetting ?? (brokerId >= 0 ? brokerId : 1);
  if (nodeId < 0)
    throw new ConfigException(`Invalid value ${nodeId} for configuration node.id: Value must be at least 0`);

  const protocolMap = get('listener.security.protocol.map');
  const listeners = parseListeners(get('listeners'), protocolMap, 'listeners');
  if (listeners.length === 0) throw new ConfigException('listeners must name at least one listener');
  const advertisedRaw = get('advertised.listeners');
  const advertisedListeners =
    advertisedRaw === null ? listeners : parseListeners(advertisedRaw, protocolMap, 'advertised.listeners');
  for (const a of advertisedListeners) {
    if (!listeners.some((l) => l.name === a.name)) {
      throw new ConfigException(`advertised.listeners listener name ${a.name} is not in listeners`);
    }
  }

  const dirs = get('log.dirs') ?? get('log.dir');
  const metricsPort = get('metrics.port');
  const consolePort = get('console.port');
  const clusterId = get('cluster.id');
  if (clusterId !== null && clusterId === '') throw new ConfigException('cluster.id must not be empty');

  return Object.freeze({
    nodeId,
    clusterId,
    listeners: Object.freeze(listeners),
    advertisedListeners: Object.freeze(advertisedListeners),
    logDirs: Object.freeze(dirs.map((d) => resolve(d))),
    metrics: metricsPort > 0 ? Object.freeze({ host: get('metrics.host'), port: metricsPort }) : null,
    console: consolePort > 0 ? Object.freeze({ host: get('console.host'), port: consolePort }) : null,
    logLevel: get('log.level') as LogLevel,
    logIo: get('log.io') as 'mmap' | 'fd',
    props: Object.freeze({ ...props }),
    unknown: Object.freeze(unknown),
    get,
  });
}
