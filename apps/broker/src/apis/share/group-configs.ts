import { ERROR_CODES } from '@sluice/protocol';
import type { BrokerConfig } from '../../config/index.js';

/** ConfigResource type GROUP (KIP-848/932 group configs). */
export const GROUP_RESOURCE_TYPE = 32;
/** DescribeConfigs config sources: DYNAMIC_GROUP_CONFIG (8) for a set value, DEFAULT_CONFIG (5) otherwise. */
const SOURCE_GROUP = 8;
const SOURCE_DEFAULT = 5;
/** DescribeConfigs config types: STRING 2, INT 3. */
const TYPE_STRING = 2;
const TYPE_INT = 3;
/** A bound on groups with configs kept in memory. */
const MAX_GROUPS = 100_000;

interface GroupConfigDef {
  type: typeof TYPE_STRING | typeof TYPE_INT;
  /** The default, from a broker config or a constant. */
  dflt: (config: BrokerConfig) => string;
  /** The reason a value is refused, or null. */
  check: (value: string) => string | null;
}

/**
 * The share-group configs a group can override (Kafka 4.4's GroupConfig, the share part), with Kafka's
 * bounds from the broker's group.share.min/max configs.
 */
const SHARE_GROUP_CONFIGS: Record<string, GroupConfigDef> = {
  'share.auto.offset.reset': {
    type: TYPE_STRING,
    dflt: () => 'latest',
    check: (v) => (v === 'latest' || v === 'earliest' ? null : 'must be latest or earliest'),
  },
  'share.record.lock.duration.ms': {
    type: TYPE_INT,
    dflt: (c) => String(c.get('group.share.record.lock.duration.ms')),
    // Kafka bounds it by group.share.min/max.record.lock.duration.ms (15000-60000 by default); Sluice takes
    // 1000 as the floor so that tests can shorten it.
    check: (v) =>
      /^\d+$/.test(v) && Number(v) >= 1000 && Number(v) <= 60_000 ? null : 'must be an integer between 1000 and 60000',
  },
  'share.delivery.count.limit': {
    type: TYPE_INT,
    dflt: (c) => String(c.get('group.share.delivery.count.limit')),
    check: (v) => (/^\d+$/.test(v) && Number(v) >= 2 && Number(v) <= 10 ? null : 'must be an integer between 2 and 10'),
  },
  'share.isolation.level': {
    type: TYPE_STRING,
    dflt: () => 'read_uncommitted',
    check: (v) =>
      v === 'read_uncommitted' || v === 'read_committed' ? null : 'must be read_uncommitted or read_committed',
  },
};
/** Where group configs are kept: the cluster metadata (every broker sees them, and they survive restarts). */
export interface GroupConfigStore {
  readonly image: { securityRecords(kind: 'group-configs'): ReadonlyMap<string, string> };
  setSecurityRecords(changes: readonly { kind: 'group-configs'; key: string; value: string | null }[]): Promise<void>;
}

/**
 * Group configs set through IncrementalAlterConfigs, per group. Kept in the cluster metadata as Kafka keeps
 * them (GROUP config records): every broker reads the same values — a partition leader applies the
 * share.* configs of a group whose coordinator is elsewhere — and a restart keeps them. Without a store
 * (unit tests) they stay in memory.
 */
export class GroupConfigs {
  private readonly values = new Map<string, Map<string, string>>();
  /** The parsed value of a stored record, by its text (records change rarely). */
  private readonly parsedByGroup = new Map<string, { text: string; values: Map<string, string> }>();

  constructor(
    private readonly config: BrokerConfig,
    private readonly store?: GroupConfigStore,
  ) {}

  private valuesOf(groupId: string): Map<string, string> | undefined {
    if (this.store === undefined) return this.values.get(groupId);
    const text = this.store.image.securityRecords('group-configs').get(groupId);
    if (text === undefined) {
      this.parsedByGroup.delete(groupId);
      return undefined;
    }
    const cached = this.parsedByGroup.get(groupId);
    if (cached?.text === text) return cached.values;
    const values = new Map<string, string>();
    try {
      const o = JSON.parse(text) as unknown;
      if (o !== null && typeof o === 'object') {
        for (const [k, v] of Object.entries(o)) {
          // Only the configs this version knows, with values it accepts: a bad record reads as unset.
          const def = SHARE_GROUP_CONFIGS[k];
          if (def !== undefined && typeof v === 'string' && def.check(v) === null) values.set(k, v);
        }
      }
    } catch {
      // An unreadable record: the defaults apply.
    }
    if (this.parsedByGroup.size >= MAX_GROUPS) this.parsedByGroup.clear();
    this.parsedByGroup.set(groupId, { text, values });
    return values;
  }

  get(groupId: string, name: string): string | undefined {
    return this.valuesOf(groupId)?.get(name);
  }

  /** One resource of an IncrementalAlterConfigs request: ops 0 SET, 1 DELETE (APPEND/SUBTRACT are for lists). */
  async alter(
    groupId: string,
    configs: readonly { name: string; configOperation: number; value: string | null }[],
    validateOnly: boolean,
  ): Promise<{ errorCode: number; errorMessage: string | null }> {
    if (groupId === '') return { errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: 'Group id must not be empty.' };
    for (const c of configs) {
      const def = SHARE_GROUP_CONFIGS[c.name];
      if (def === undefined) {
        return { errorCode: ERROR_CODES.INVALID_CONFIG, errorMessage: `Unknown group config name: ${c.name}` };
      }
      if (c.configOperation === 0) {
        const why = c.value === null ? 'must not be null' : def.check(c.value);
        if (why !== null) {
          return {
            errorCode: ERROR_CODES.INVALID_CONFIG,
            errorMessage: `Invalid value ${c.value} for configuration ${c.name}: ${why}`,
          };
        }
      } else if (c.configOperation !== 1) {
        return { errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: `${c.name} is not a list config` };
      }
    }
    if (validateOnly) return { errorCode: 0, errorMessage: null };
    if (this.store !== undefined) {
      const next = new Map(this.valuesOf(groupId) ?? []);
      for (const c of configs) {
        if (c.configOperation === 0) next.set(c.name, c.value as string);
        else next.delete(c.name);
      }
      if (next.size > 0 && this.valuesOf(groupId) === undefined) {
        if (this.store.image.securityRecords('group-configs').size >= MAX_GROUPS) {
          return { errorCode: ERROR_CODES.POLICY_VIOLATION, errorMessage: 'too many groups with configs' };
        }
      }
      const value = next.size === 0 ? null : JSON.stringify(Object.fromEntries(next));
      try {
        await this.store.setSecurityRecords([{ kind: 'group-configs', key: groupId, value }]);
      } catch (err) {
        return { errorCode: ERROR_CODES.UNKNOWN_SERVER_ERROR, errorMessage: (err as Error).message };
      }
      return { errorCode: 0, errorMessage: null };
    }
    let set = this.values.get(groupId);
    if (set === undefined) {
      if (this.values.size >= MAX_GROUPS) {
        return { errorCode: ERROR_CODES.POLICY_VIOLATION, errorMessage: 'too many groups with configs' };
      }
      set = new Map();
      this.values.set(groupId, set);
    }
    for (const c of configs) {
      if (c.configOperation === 0) set.set(c.name, c.value as string);
      else set.delete(c.name);
    }
    if (set.size === 0) this.values.delete(groupId);
    return { errorCode: 0, errorMessage: null };
  }

  /** DescribeConfigs of a group: every share-group config (or the named ones) with its value and source. */
  describe(groupId: string, names: readonly string[] | null) {
    const wanted = names === null || names.length === 0 ? Object.keys(SHARE_GROUP_CONFIGS) : names;
    return wanted
      .filter((n) => SHARE_GROUP_CONFIGS[n] !== undefined)
      .map((name) => {
        const def = SHARE_GROUP_CONFIGS[name] as GroupConfigDef;
        const set = this.get(groupId, name);
        return {
          name,
          value: set ?? def.dflt(this.config),
          readOnly: false,
          isDefault: set === undefined,
          configSource: set !== undefined ? SOURCE_GROUP : SOURCE_DEFAULT,
          isSensitive: false,
          synonyms: [],
          configType: def.type,
          documentation: null,
        };
      });
  }
}
