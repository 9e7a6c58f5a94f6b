// The broker's config state — static config plus dynamic broker, cluster-default and topic
// overrides — and the answers to DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
// Plain data in and out: no I/O; the caller persists snapshot() and maps results to responses.

import { KafkaError } from '@sluice/protocol';
import { brokerConfigDef, brokerConfigNames, brokerSynonyms } from './broker-config.js';
import type { BrokerConfig } from './static-config.js';
import {
  parseTopicConfig,
  TOPIC_CONFIGS,
  type TopicConfigValues,
  topicConfigDef,
  topicConfigForBrokerSynonym,
  topicConfigNames,
  validateTopicValues,
} from './topic-config.js';
import {
  AlterConfigOp,
  ConfigException,
  ConfigResourceType,
  ConfigSource,
  type ConfigSourceId,
  ConfigType,
  type ConfigValue,
  configValueToString,
  parseConfigValue,
} from './types.js';

// Error codes used here (the shared table in @sluice/protocol is still being filled in).
export const CONFIG_ERRORS = {
  NONE: 0,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  INVALID_TOPIC_EXCEPTION: 17,
  INVALID_CONFIG: 40,
  INVALID_REQUEST: 42,
} as const;

/** The dynamic part of the config, as JSON-able data to persist and restore. */
export interface ConfigRegistryState {
  /** Per-broker dynamic configs of this node (ConfigSource DYNAMIC_BROKER_CONFIG). */
  dynamicBroker: Record<string, string>;
  /** Cluster-wide dynamic defaults (DYNAMIC_DEFAULT_BROKER_CONFIG). */
  dynamicDefault: Record<string, string>;
  /** Topic overrides by topic name (DYNAMIC_TOPIC_CONFIG). */
  topics: Record<string, Record<string, string>>;
}

export interface DescribeConfigsResource {
  resourceType: number;
  resourceName: string;
  /** null or empty: every config. */
  configurationKeys: readonly string[] | null;
}

export interface DescribeConfigsSynonym {
  name: string;
  value: string | null;
  source: ConfigSourceId;
}

export interface DescribeConfigsEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  /** For v0: true when the source is DEFAULT_CONFIG. */
  isDefault: boolean;
  configSource: ConfigSourceId;
  isSensitive: boolean;
  /** Empty unless includeSynonyms. */
  synonyms: DescribeConfigsSynonym[];
  configType: number;
  /** null unless includeDocumentation. */
  documentation: string | null;
}

export interface DescribeConfigsResult {
  errorCode: number;
  errorMessage: string | null;
  resourceType: number;
  resourceName: string;
  configs: DescribeConfigsEntry[];
}

export interface AlterConfigsResource {
  resourceType: number;
  resourceName: string;
  configs: readonly { name: string; value: string | null }[];
}

export interface IncrementalAlterConfigsResource {
  resourceType: number;
  resourceName: string;
  configs: readonly { name: string; configOperation: number; value: string | null }[];
}

export interface AlterConfigsResult {
  errorCode: number;
  errorMessage: string | null;
  resourceType: number;
  resourceName: string;
}

export interface ConfigRequestOptions {
  /** Answers UNKNOWN_TOPIC_OR_PARTITION for topics it says do not exist; default: every topic exists. */
  topicExists?: (name: string) => boolean;
  /**
   * Kafka's Topic.validate: a message refuses a (non-empty) topic name with INVALID_TOPIC_EXCEPTION,
   * checked before whether the topic exists; default: every name is legal.
   */
  topicNameError?: (name: string) => string | null;
}

export interface DescribeOptions extends ConfigRequestOptions {
  includeSynonyms?: boolean;
  includeDocumentation?: boolean;
}

export interface AlterOptions extends ConfigRequestOptions {
  validateOnly?: boolean;
}

/** What changed after an applied alter (never for validateOnly). */
export interface ConfigChange {
  resourceType: number;
  resourceName: string;
}

/** An error for one resource (a KafkaError): the caller's response carries `code` and `message`. */
export class ConfigResourceError extends KafkaError {
  constructor(code: number, message: string) {
    super(code, message);
    this.name = 'ConfigResourceError';
  }
}

const MAX_CONFIGS_PER_RESOURCE = 1000;
const MAX_LIST_ELEMENTS = 1000;
const MAX_CACHED_TOPICS = 100_000;

type Props = Record<string, string>;

export class ConfigRegistry {
  readonly static: BrokerConfig;
  private dynamicBroker: Props;
  private dynamicDefault: Props;
  private topics: Map<string, Props>;
  private readonly staticDefaults: Props;
  private readonly listeners = new Set<(change: ConfigChange) => void>();
  /** A check of broker updates beyond the config table (that new TLS key stores load); throws the reason. */
  private brokerUpdateCheck: ((next: Props, perBroker: boolean) => void) | null = null;
  // Effective topic configs are read on hot paths (produce validation); computed once per change.
  private readonly cache = new Map<string, TopicConfigValues>();

  constructor(config: BrokerConfig, state?: ConfigRegistryState) {
    this.static = config;
    this.dynamicBroker = { ...(state?.dynamicBroker ?? {}) };
    this.dynamicDefault = { ...(state?.dynamicDefault ?? {}) };
    this.topics = new Map(Object.entries(state?.topics ?? {}).map(([t, p]) => [t, { ...p }]));
    this.staticDefaults = {};
    for (const name of brokerConfigNames()) {
      const d = brokerConfigDef(name)!.default;
      if (d !== null) this.staticDefaults[name] = d;
    }
  }

  /** The dynamic state to persist; restore with `new ConfigRegistry(config, state)`. */
  snapshot(): ConfigRegistryState {
    const topics: Record<string, Props> = {};
    for (const [t, p] of this.topics) topics[t] = { ...p };
    return { dynamicBroker: { ...this.dynamicBroker }, dynamicDefault: { ...this.dynamicDefault }, topics };
  }

  /** Sets the check every dynamic broker update (the whole next set of values) must pass. */
  setBrokerUpdateCheck(check: (next: Readonly<Props>, perBroker: boolean) => void): void {
    this.brokerUpdateCheck = check;
  }

  /** The dynamic values of this broker's own resource. */
  dynamicBrokerProps(): Readonly<Props> {
    return { ...this.dynamicBroker };
  }

  /** Called after every applied alter; returns an unsubscribe function. */
  onChange(listener: (change: ConfigChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- broker values ----

  /** The current string value of a broker config: dynamic broker > dynamic default > static > default. */
  brokerValueString(name: string): string | null {
    for (const tier of [this.dynamicBroker, this.dynamicDefault, this.static.props, this.staticDefaults]) {
      if (Object.hasOwn(tier, name)) return tier[name]!;
    }
    return null;
  }

  /** The current typed value of a broker config (null when unset and without default). */
  brokerValue(name: string): ConfigValue | null {
    const def = brokerConfigDef(name);
    if (!def) throw new ConfigException(`Unknown broker config name: ${name}`);
    const raw = this.brokerValueString(name);
    return raw === null ? null : parseConfigValue(def, raw);
  }

  // ---- topics ----

  /** Topic overrides as given (strings), or an empty object. */
  topicOverrides(topic: string): Props {
    return { ...(this.topics.get(topic) ?? {}) };
  }

  /**
   * Validates overrides for a new topic (CreateTopics): unknown names and bad values throw
   * ConfigResourceError(INVALID_CONFIG) with Kafka's message.
   */
  validateNewTopic(configs: readonly { name: string; value: string | null }[]): Props {
    const props = toProps(configs, (n) => `Null value not supported for topic configs: ${n}`);
    this.withTopicError(() => this.effectiveTopicConfig(props));
    return props;
  }

  /** Sets the overrides of a new topic (after validateNewTopic) — no change event. */
  setTopicOverrides(topic: string, overrides: Props): void {
    this.withTopicError(() => this.effectiveTopicConfig(overrides));
    if (Object.keys(overrides).length === 0) this.topics.delete(topic);
    else this.topics.set(topic, { ...overrides });
    this.cache.delete(topic);
  }

  /**
   * Takes the dynamic broker configs the metadata store holds (another broker may have written
   * them) — no change event: the store has them already.
   */
  setStoredBrokerConfigs(scope: 'broker' | 'default', props: Props): void {
    if (scope === 'broker') this.dynamicBroker = { ...props };
    else this.dynamicDefault = { ...props };
    // Topic values fall back on broker values.
    this.cache.clear();
  }

  /** Forgets a deleted topic's overrides. */
  deleteTopic(topic: string): void {
    this.topics.delete(topic);
    this.cache.delete(topic);
  }

  /** Effective typed config of a topic: override, else the first broker synonym set, else Kafka's default. */
  topicConfig(topic: string): TopicConfigValues {
    let values = this.cache.get(topic);
    if (values === undefined) {
      const computed = this.effectiveTopicConfig(this.topics.get(topic) ?? {});
      for (const v of Object.values(computed)) if (Array.isArray(v)) Object.freeze(v);
      values = Object.freeze(computed);
      // Bounded: entries exist only for topics asked about; deleteTopic and alters drop them.
      if (this.cache.size >= MAX_CACHED_TOPICS) this.cache.clear();
      this.cache.set(topic, values);
    }
    return values;
  }

  private effectiveTopicConfig(overrides: Props): TopicConfigValues {
    const out: Record<string, ConfigValue> = {};
    for (const name of Object.keys(overrides)) parseTopicConfig(name, overrides[name]!);
    for (const name of topicConfigNames()) out[name] = this.topicValue(name, overrides);
    const values = out as TopicConfigValues;
    validateTopicValues(values);
    return values;
  }

  private topicValue(name: string, overrides: Props): ConfigValue {
    const def = topicConfigDef(name)!;
    if (Object.hasOwn(overrides, name)) return parseTopicConfig(name, overrides[name]!);
    for (const syn of def.synonyms) {
      const v = this.brokerValue(syn.name);
      if (v === null) continue;
      if (def.type === 'LONG' && typeof v === 'number') return BigInt(v) * BigInt(syn.multiplier ?? 1);
      if (def.type === 'LONG' && typeof v === 'bigint') return v * BigInt(syn.multiplier ?? 1);
      return v;
    }
    return parseConfigValue(def, def.default!);
  }

  // ---- DescribeConfigs ----

  describeConfigs(resources: readonly DescribeConfigsResource[], opts: DescribeOptions = {}): DescribeConfigsResult[] {
    return resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      try {
        const configs = this.describeResource(r, opts);
        return { errorCode: 0, errorMessage: null, ...base, configs };
      } catch (e) {
        const { code, message } = asResourceError(e);
        return { errorCode: code, errorMessage: message, ...base, configs: [] };
      }
    });
  }

  private describeResource(r: DescribeConfigsResource, opts: DescribeOptions): DescribeConfigsEntry[] {
    const keys = r.configurationKeys && r.configurationKeys.length > 0 ? new Set(r.configurationKeys) : null;
    if (r.resourceType === ConfigResourceType.TOPIC) {
      this.checkTopic(r.resourceName, opts);
      const overrides = this.topics.get(r.resourceName) ?? {};
      const values = this.withTopicError(() => this.effectiveTopicConfig(overrides));
      const names = topicConfigNames().filter((n) => keys === null || keys.has(n));
      return names.map((n) => this.topicEntry(n, (values as Record<string, ConfigValue>)[n]!, overrides, opts));
    }
    if (r.resourceType === ConfigResourceType.BROKER) {
      const perBroker = this.brokerResource(r.resourceName, false);
      const names = perBroker
        ? brokerConfigNames()
        : Object.keys(this.dynamicDefault).filter((n) => brokerConfigDef(n) !== undefined);
      return names.filter((n) => keys === null || keys.has(n)).map((n) => this.brokerEntry(n, perBroker, opts));
    }
    throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, `Unsupported resource type: ${r.resourceType}`);
  }

  private topicEntry(name: string, value: ConfigValue, overrides: Props, opts: DescribeOptions): DescribeConfigsEntry {
    const def = topicConfigDef(name)!;
    const sensitive = def.type === 'PASSWORD';
    const valueString = sensitive ? null : configValueToString(def.type, value);
    const primary = def.synonyms[0]?.name;
    const all: DescribeConfigsSynonym[] = primary
      ? this.configSynonyms(primary, brokerSynonyms(primary), sensitive)
      : [];
    if (Object.hasOwn(overrides, name))
      all.unshift({ name, value: valueString, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
    const source = all[0]?.source ?? ConfigSource.DEFAULT_CONFIG;
    return {
      name,
      value: valueString,
      readOnly: false,
      isDefault: source === ConfigSource.DEFAULT_CONFIG,
      configSource: source,
      isSensitive: sensitive,
      synonyms: opts.includeSynonyms ? all : [],
      configType: ConfigType[def.type],
      documentation: opts.includeDocumentation ? def.doc : null,
    };
  }

  private brokerEntry(name: string, perBroker: boolean, opts: DescribeOptions): DescribeConfigsEntry {
    const def = brokerConfigDef(name)!;
    const sensitive = def.type === 'PASSWORD';
    const raw = perBroker ? this.brokerValueString(name) : (this.dynamicDefault[name] ?? null);
    const value = sensitive || raw === null ? null : configValueToString(def.type, parseConfigValue(def, raw));
    const all = this.configSynonyms(name, brokerSynonyms(name), sensitive).filter(
      (s) => perBroker || s.source === ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
    );
    const source = all[0]?.source ?? ConfigSource.DEFAULT_CONFIG;
    return {
      name,
      value,
      readOnly: def.dynamic === 'read-only',
      isDefault: source === ConfigSource.DEFAULT_CONFIG,
      configSource: source,
      isSensitive: sensitive,
      synonyms: opts.includeSynonyms ? all : [],
      configType: ConfigType[def.type],
      documentation: opts.includeDocumentation ? def.doc : null,
    };
  }

  /**
   * Kafka's order: each tier (dynamic broker, dynamic default, static, default) in turn, and in
   * each tier the synonyms in priority order; then, like Kafka, everything before the first entry
   * named `name` is dropped (so retention.ms shows no log.retention.hours synonym, as in Kafka).
   */
  private configSynonyms(name: string, synonyms: string[], sensitive: boolean): DescribeConfigsSynonym[] {
    const tiers: [Props | Readonly<Props>, ConfigSourceId][] = [
      [this.dynamicBroker, ConfigSource.DYNAMIC_BROKER_CONFIG],
      [this.dynamicDefault, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG],
      [this.static.props, ConfigSource.STATIC_BROKER_CONFIG],
      [this.staticDefaults, ConfigSource.DEFAULT_CONFIG],
    ];
    const all: DescribeConfigsSynonym[] = [];
    for (const [props, source] of tiers) {
      for (const s of synonyms) {
        if (Object.hasOwn(props, s)) all.push({ name: s, value: sensitive ? null : props[s]!, source });
      }
    }
    const first = all.findIndex((s) => s.name === name);
    return first < 0 ? [] : all.slice(first);
  }

  // ---- AlterConfigs / IncrementalAlterConfigs ----

  /** AlterConfigs: each resource's dynamic configs are replaced by the given set. */
  alterConfigs(resources: readonly AlterConfigsResource[], opts: AlterOptions = {}): AlterConfigsResult[] {
    return resources.map((r) =>
      this.applyToResource(r.resourceType, r.resourceName, opts, () => {
        const isTopic = r.resourceType === ConfigResourceType.TOPIC;
        return toProps(r.configs, (n) =>
          isTopic ? `Null value not supported for topic configs: ${n}` : `Null value not supported for : ${n}`,
        );
      }),
    );
  }

  /** IncrementalAlterConfigs: SET, DELETE, and APPEND/SUBTRACT for LIST configs, applied in order. */
  incrementalAlterConfigs(
    resources: readonly IncrementalAlterConfigsResource[],
    opts: AlterOptions = {},
  ): AlterConfigsResult[] {
    return resources.map((r) =>
      this.applyToResource(r.resourceType, r.resourceName, opts, (current) => this.incremental(r, current)),
    );
  }

  private incremental(r: IncrementalAlterConfigsResource, current: Props): Props {
    if (r.configs.length > MAX_CONFIGS_PER_RESOURCE) {
      throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, `Too many configs (${r.configs.length})`);
    }
    const names = new Set(r.configs.map((c) => c.name));
    if (names.size !== r.configs.length) {
      throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, 'Error due to duplicate config keys');
    }
    const isTopic = r.resourceType === ConfigResourceType.TOPIC;
    const props: Props = { ...current };
    for (const c of r.configs) {
      const def = isTopic ? topicConfigDef(c.name) : brokerConfigDef(c.name);
      switch (c.configOperation) {
        case AlterConfigOp.SET:
          if (c.value === null) {
            throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, `Null value not supported for : ${c.name}`);
          }
          props[c.name] = c.value;
          break;
        case AlterConfigOp.DELETE:
          delete props[c.name];
          break;
        case AlterConfigOp.APPEND:
        case AlterConfigOp.SUBTRACT: {
          if (!def) throw unknownName(isTopic, c.name);
          if (def.type !== 'LIST') {
            throw new ConfigResourceError(
              CONFIG_ERRORS.INVALID_CONFIG,
              `Can't ${c.configOperation === AlterConfigOp.APPEND ? 'APPEND' : 'SUBTRACT'} to key ${c.name} because its type is not LIST.`,
            );
          }
          const base = props[c.name] ?? def.default ?? '';
          const list = splitList(base);
          const change = splitList(c.value ?? '');
          const next =
            c.configOperation === AlterConfigOp.APPEND
              ? [...list, ...change.filter((v) => !list.includes(v))]
              : list.filter((v) => !change.includes(v));
          if (next.length > MAX_LIST_ELEMENTS) {
            throw new ConfigResourceError(CONFIG_ERRORS.INVALID_CONFIG, `Too many elements in ${c.name}`);
          }
          props[c.name] = next.join(',');
          break;
        }
        default:
          throw new ConfigResourceError(
            CONFIG_ERRORS.INVALID_REQUEST,
            `Unknown config operation type ${c.configOperation}`,
          );
      }
    }
    return props;
  }

  private applyToResource(
    resourceType: number,
    resourceName: string,
    opts: AlterOptions,
    compute: (current: Props) => Props,
  ): AlterConfigsResult {
    const base = { resourceType, resourceName };
    try {
      if (resourceType === ConfigResourceType.TOPIC) {
        this.checkTopic(resourceName, opts);
        const next = compute(this.topics.get(resourceName) ?? {});
        this.withTopicError(() => this.effectiveTopicConfig(next));
        if (!opts.validateOnly) {
          if (Object.keys(next).length === 0) this.topics.delete(resourceName);
          else this.topics.set(resourceName, next);
          this.cache.delete(resourceName);
          this.emit(base);
        }
      } else if (resourceType === ConfigResourceType.BROKER) {
        const perBroker = this.brokerResource(resourceName, true);
        const next = compute(perBroker ? this.dynamicBroker : this.dynamicDefault);
        this.validateBrokerProps(resourceName, next, perBroker);
        if (!opts.validateOnly) {
          if (perBroker) this.dynamicBroker = next;
          else this.dynamicDefault = next;
          this.cache.clear();
          this.emit(base);
        }
      } else {
        throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, `Unsupported resource type: ${resourceType}`);
      }
      return { errorCode: 0, errorMessage: null, ...base };
    } catch (e) {
      const { code, message } = asResourceError(e);
      return { errorCode: code, errorMessage: message, ...base };
    }
  }

  private validateBrokerProps(resourceName: string, props: Props, perBroker: boolean): void {
    const fail = (why: string) =>
      new ConfigResourceError(
        CONFIG_ERRORS.INVALID_REQUEST,
        `Invalid config value for resource ConfigResource(type=BROKER, name='${resourceName}'): ${why}`,
      );
    const names = Object.keys(props);
    if (names.length > MAX_CONFIGS_PER_RESOURCE) throw fail(`Too many configs (${names.length})`);
    // Kafka stores broker config names it does not define (custom configs, e.g. of plugins) unchecked.
    const known = names.filter((n) => brokerConfigDef(n) !== undefined);
    // Kafka 4.4's wording (a Java set), and INVALID_REQUEST for every refused broker value.
    const refuse = (why: string) => new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, why);
    const readOnly = known.filter((n) => brokerConfigDef(n)!.dynamic === 'read-only');
    if (readOnly.length > 0) throw refuse(`Cannot update these configs dynamically: [${readOnly.join(', ')}]`);
    if (!perBroker) {
      const onlyPerBroker = known.filter((n) => brokerConfigDef(n)!.dynamic === 'per-broker');
      if (onlyPerBroker.length > 0) {
        throw refuse(
          `Cannot update these configs at default cluster level, broker id must be specified: [${onlyPerBroker.join(', ')}]`,
        );
      }
    }
    for (const n of known) {
      try {
        parseConfigValue(brokerConfigDef(n)!, props[n]!);
        // A broker default for a topic config must also be a valid topic value (Kafka checks LogConfig too).
        const topicName = topicConfigForBrokerSynonym(n);
        const topicDef = topicName ? topicConfigDef(topicName) : undefined;
        if (topicDef && topicDef.synonyms[0]?.name === n && topicDef.type === brokerConfigDef(n)!.type) {
          parseConfigValue({ ...topicDef, name: n }, props[n]!);
        }
      } catch (e) {
        if (e instanceof ConfigException) throw refuse(e.message);
        throw e;
      }
    }
    if (this.brokerUpdateCheck !== null) {
      try {
        this.brokerUpdateCheck(props, perBroker);
      } catch (e) {
        throw refuse((e as Error).message);
      }
    }
  }

  /** '' is the cluster default; otherwise it must be this node's id. Returns true for per-broker. */
  private brokerResource(name: string, forAlter: boolean): boolean {
    if (name === '') return false;
    if (!/^-?\d+$/.test(name)) {
      throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, `Broker id must be an integer, but it is: ${name}`);
    }
    if (Number(name) !== this.static.nodeId) {
      throw new ConfigResourceError(
        CONFIG_ERRORS.INVALID_REQUEST,
        forAlter
          ? `Unexpected broker id, expected ${this.static.nodeId}, but received ${name}`
          : `Unexpected broker id, expected ${this.static.nodeId} or empty string, but received ${name}`,
      );
    }
    return true;
  }

  private checkTopic(name: string, opts: ConfigRequestOptions): void {
    if (name === '')
      throw new ConfigResourceError(CONFIG_ERRORS.INVALID_TOPIC_EXCEPTION, 'Topic name can not be empty');
    const invalid = opts.topicNameError?.(name) ?? null;
    if (invalid !== null) throw new ConfigResourceError(CONFIG_ERRORS.INVALID_TOPIC_EXCEPTION, invalid);
    if (opts.topicExists && !opts.topicExists(name)) {
      throw new ConfigResourceError(CONFIG_ERRORS.UNKNOWN_TOPIC_OR_PARTITION, `The topic '${name}' does not exist.`);
    }
  }

  private withTopicError<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof ConfigException) throw new ConfigResourceError(CONFIG_ERRORS.INVALID_CONFIG, e.message);
      throw e;
    }
  }

  private emit(change: ConfigChange): void {
    for (const l of this.listeners) l(change);
  }
}

function toProps(
  configs: readonly { name: string; value: string | null }[],
  nullMessage: (n: string) => string,
): Props {
  if (configs.length > MAX_CONFIGS_PER_RESOURCE) {
    throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, `Too many configs (${configs.length})`);
  }
  const props: Props = {};
  for (const c of configs) {
    if (Object.hasOwn(props, c.name)) {
      throw new ConfigResourceError(CONFIG_ERRORS.INVALID_REQUEST, 'Error due to duplicate config keys');
    }
    if (c.value === null) throw new ConfigResourceError(CONFIG_ERRORS.INVALID_CONFIG, nullMessage(c.name));
    props[c.name] = c.value;
  }
  return props;
}

function splitList(s: string): string[] {
  const t = s.trim();
  return t === '' ? [] : t.split(/\s*,\s*/);
}

function unknownName(isTopic: boolean, name: string): ConfigResourceError {
  return new ConfigResourceError(
    CONFIG_ERRORS.INVALID_CONFIG,
    isTopic ? `Unknown topic config name: ${name}` : `Unknown broker config name: ${name}`,
  );
}

function asResourceError(e: unknown): { code: number; message: string } {
  if (e instanceof ConfigResourceError) return { code: e.code, message: e.message };
  if (e instanceof ConfigException) return { code: CONFIG_ERRORS.INVALID_CONFIG, message: e.message };
  throw e;
}

/** Every topic config name with its Kafka default, for documentation and tests. */
export const TOPIC_CONFIG_DEFAULTS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(TOPIC_CONFIGS).map(([n, d]) => [n, d.default]),
);
