import { describe, expect, it } from 'vitest';
import { CONFIG_ERRORS, ConfigRegistry, type DescribeConfigsEntry } from './config-registry.js';
import { createBrokerConfig } from './static-config.js';
import { AlterConfigOp, ConfigResourceType, ConfigSource, ConfigType, LONG_MAX } from './types.js';

const TOPIC = ConfigResourceType.TOPIC;
const BROKER = ConfigResourceType.BROKER;

function registry(props: Record<string, string> = {}) {
  return new ConfigRegistry(createBrokerConfig({ 'node.id': '1', ...props }));
}

function describeTopic(
  r: ConfigRegistry,
  topic: string,
  keys: string[] | null = null,
): Map<string, DescribeConfigsEntry> {
  const [res] = r.describeConfigs([{ resourceType: TOPIC, resourceName: topic, configurationKeys: keys }], {
    includeSynonyms: true,
    includeDocumentation: true,
  });
  expect(res!.errorCode).toBe(0);
  return new Map(res!.configs.map((c) => [c.name, c]));
}

describe('effective topic config', () => {
  it('falls back through the broker synonyms in Kafka order, converting units', () => {
    expect(registry().topicConfig('t')['retention.ms']).toBe(604800000n);
    expect(registry({ 'log.retention.hours': '1' }).topicConfig('t')['retention.ms']).toBe(3600000n);
    expect(
      registry({ 'log.retention.hours': '1', 'log.retention.minutes': '2' }).topicConfig('t')['retention.ms'],
    ).toBe(120000n);
    expect(
      registry({ 'log.retention.hours': '1', 'log.retention.minutes': '2', 'log.retention.ms': '5' }).topicConfig('t')[
        'retention.ms'
      ],
    ).toBe(5n);
    expect(registry({ 'log.roll.hours': '2' }).topicConfig('t')['segment.ms']).toBe(7200000n);
    expect(registry({ 'message.max.bytes': '2000' }).topicConfig('t')['max.message.bytes']).toBe(2000);
    expect(registry().topicConfig('t')['flush.ms']).toBe(LONG_MAX);
    expect(registry().topicConfig('t')['cleanup.policy']).toEqual(['delete']);
  });

  it('topic overrides win', () => {
    const r = registry({ 'log.retention.ms': '5' });
    r.setTopicOverrides('t', { 'retention.ms': '99', 'cleanup.policy': 'compact,delete' });
    expect(r.topicConfig('t')['retention.ms']).toBe(99n);
    expect(r.topicConfig('t')['cleanup.policy']).toEqual(['compact', 'delete']);
    expect(r.topicConfig('other')['retention.ms']).toBe(5n);
  });
});

describe('validation of topic configs (CreateTopics)', () => {
  it('uses Kafka messages and INVALID_CONFIG', () => {
    const r = registry();
    const err = (configs: { name: string; value: string | null }[]) => {
      try {
        r.validateNewTopic(configs);
      } catch (e) {
        return e as { code: number; message: string };
      }
      throw new Error('expected an error');
    };
    expect(err([{ name: 'x', value: '1' }])).toMatchObject({
      code: CONFIG_ERRORS.INVALID_CONFIG,
      message: 'Unknown topic config name: x',
    });
    expect(err([{ name: 'retention.ms', value: 'x' }]).message).toBe(
      'Invalid value x for configuration retention.ms: Not a number of type LONG',
    );
    expect(err([{ name: 'retention.ms', value: '-2' }]).message).toBe(
      'Invalid value -2 for configuration retention.ms: Value must be at least -1',
    );
    expect(err([{ name: 'segment.bytes', value: '1000' }]).message).toMatch(/Value must be at least 1048576/);
    expect(err([{ name: 'min.cleanable.dirty.ratio', value: '1.5' }]).message).toMatch(/no more than 1/);
    expect(err([{ name: 'message.timestamp.type', value: 'Now' }]).message).toMatch(
      /String must be one of: CreateTime, LogAppendTime/,
    );
    expect(err([{ name: 'compression.type', value: 'brotli' }]).code).toBe(CONFIG_ERRORS.INVALID_CONFIG);
    expect(err([{ name: 'retention.ms', value: null }]).message).toBe(
      'Null value not supported for topic configs: retention.ms',
    );
    expect(
      err([
        { name: 'min.compaction.lag.ms', value: '10' },
        { name: 'max.compaction.lag.ms', value: '5' },
      ]).message,
    ).toBe('conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)');
    expect(err([{ name: 'remote.storage.enable', value: 'true' }]).message).toMatch(/Value must be one of: false/);
    expect(
      r.validateNewTopic([
        { name: 'retention.ms', value: ' 100 ' },
        { name: 'preallocate', value: 'TRUE' },
      ]),
    ).toEqual({ 'retention.ms': ' 100 ', preallocate: 'TRUE' });
  });
});

describe('DescribeConfigs for a topic', () => {
  it('reports defaults with Kafka types, sources and docs', () => {
    const d = describeTopic(registry(), 't');
    const seg = d.get('segment.bytes')!;
    expect(seg).toMatchObject({
      value: '1073741824',
      configSource: ConfigSource.DEFAULT_CONFIG,
      isDefault: true,
      readOnly: false,
      isSensitive: false,
      configType: ConfigType.INT,
      synonyms: [{ name: 'log.segment.bytes', value: '1073741824', source: ConfigSource.DEFAULT_CONFIG }],
    });
    expect(seg.documentation).toBeTypeOf('string');
    expect(d.get('min.cleanable.dirty.ratio')!.value).toBe('0.5');
    expect(d.get('min.cleanable.dirty.ratio')!.configType).toBe(ConfigType.DOUBLE);
    expect(d.get('flush.messages')!.value).toBe('9223372036854775807');
    expect(d.get('cleanup.policy')!.configType).toBe(ConfigType.LIST);
    // Kafka 4.x: future timestamps are refused beyond one hour by default; the tiered-storage switches of 3.9.
    expect(d.get('message.timestamp.after.max.ms')).toMatchObject({
      value: '3600000',
      synonyms: [{ name: 'log.message.timestamp.after.max.ms', value: '3600000', source: ConfigSource.DEFAULT_CONFIG }],
    });
    for (const name of ['remote.log.copy.disable', 'remote.log.delete.on.disable']) {
      expect(d.get(name)).toMatchObject({ value: 'false', configType: ConfigType.BOOLEAN, synonyms: [] });
    }
    // Like Kafka: log.retention.ms has no default, and the synonyms before it are dropped.
    expect(d.get('retention.ms')).toMatchObject({
      value: '604800000',
      configSource: ConfigSource.DEFAULT_CONFIG,
      synonyms: [],
    });
  });

  it('lists synonyms in Kafka order: topic, dynamic broker, dynamic default, static, default', () => {
    const r = registry({ 'log.segment.bytes': '2097152', 'log.retention.ms': '1000', 'log.retention.hours': '2' });
    const alter = r.incrementalAlterConfigs([
      {
        resourceType: BROKER,
        resourceName: '',
        configs: [{ name: 'log.segment.bytes', configOperation: AlterConfigOp.SET, value: '3145728' }],
      },
      {
        resourceType: BROKER,
        resourceName: '1',
        configs: [
          { name: 'log.segment.bytes', configOperation: AlterConfigOp.SET, value: '4194304' },
          { name: 'log.retention.ms', configOperation: AlterConfigOp.SET, value: '2000' },
        ],
      },
      {
        resourceType: TOPIC,
        resourceName: 't',
        configs: [{ name: 'segment.bytes', configOperation: AlterConfigOp.SET, value: '5242880' }],
      },
    ]);
    expect(alter.map((a) => a.errorCode)).toEqual([0, 0, 0]);
    const d = describeTopic(r, 't', ['segment.bytes', 'retention.ms']);
    expect([...d.keys()].sort()).toEqual(['retention.ms', 'segment.bytes']);
    expect(d.get('segment.bytes')).toMatchObject({
      value: '5242880',
      configSource: ConfigSource.DYNAMIC_TOPIC_CONFIG,
      isDefault: false,
      synonyms: [
        { name: 'segment.bytes', value: '5242880', source: ConfigSource.DYNAMIC_TOPIC_CONFIG },
        { name: 'log.segment.bytes', value: '4194304', source: ConfigSource.DYNAMIC_BROKER_CONFIG },
        { name: 'log.segment.bytes', value: '3145728', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG },
        { name: 'log.segment.bytes', value: '2097152', source: ConfigSource.STATIC_BROKER_CONFIG },
        { name: 'log.segment.bytes', value: '1073741824', source: ConfigSource.DEFAULT_CONFIG },
      ],
    });
    expect(d.get('retention.ms')).toMatchObject({
      value: '2000',
      configSource: ConfigSource.DYNAMIC_BROKER_CONFIG,
      synonyms: [
        { name: 'log.retention.ms', value: '2000', source: ConfigSource.DYNAMIC_BROKER_CONFIG },
        { name: 'log.retention.ms', value: '1000', source: ConfigSource.STATIC_BROKER_CONFIG },
        { name: 'log.retention.hours', value: '2', source: ConfigSource.STATIC_BROKER_CONFIG },
        { name: 'log.retention.hours', value: '168', source: ConfigSource.DEFAULT_CONFIG },
      ],
    });
    // Without includeSynonyms, the source still says where the value came from.
    const [plain] = r.describeConfigs([
      { resourceType: TOPIC, resourceName: 't', configurationKeys: ['segment.bytes'] },
    ]);
    expect(plain!.configs[0]).toMatchObject({ synonyms: [], documentation: null, configSource: 1 });
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for a missing topic and INVALID_TOPIC_EXCEPTION for an empty name', () => {
    const r = registry();
    const res = r.describeConfigs(
      [
        { resourceType: TOPIC, resourceName: 'missing', configurationKeys: null },
        { resourceType: TOPIC, resourceName: '', configurationKeys: null },
        { resourceType: 99, resourceName: 'x', configurationKeys: null },
      ],
      { topicExists: (n) => n !== 'missing' },
    );
    expect(res.map((x) => x.errorCode)).toEqual([
      CONFIG_ERRORS.UNKNOWN_TOPIC_OR_PARTITION,
      CONFIG_ERRORS.INVALID_TOPIC_EXCEPTION,
      CONFIG_ERRORS.INVALID_REQUEST,
    ]);
    expect(res[0]!.configs).toEqual([]);
  });
});

describe('DescribeConfigs for a broker', () => {
  it('per-broker lists every config with read-only flags; default resource lists only dynamic defaults', () => {
    const r = registry({ 'num.partitions': '3' });
    r.alterConfigs([
      { resourceType: BROKER, resourceName: '', configs: [{ name: 'message.max.bytes', value: '2000' }] },
    ]);
    const [b] = r.describeConfigs([{ resourceType: BROKER, resourceName: '1', configurationKeys: null }], {
      includeSynonyms: true,
    });
    const byName = new Map(b!.configs.map((c) => [c.name, c]));
    expect(byName.get('num.partitions')).toMatchObject({
      value: '3',
      readOnly: true,
      configSource: ConfigSource.STATIC_BROKER_CONFIG,
      synonyms: [
        { name: 'num.partitions', value: '3', source: ConfigSource.STATIC_BROKER_CONFIG },
        { name: 'num.partitions', value: '1', source: ConfigSource.DEFAULT_CONFIG },
      ],
    });
    expect(byName.get('message.max.bytes')).toMatchObject({
      value: '2000',
      readOnly: false,
      configSource: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
    });
    expect(byName.get('log.retention.ms')).toMatchObject({ value: null, configSource: ConfigSource.DEFAULT_CONFIG });

    const [def] = r.describeConfigs([{ resourceType: BROKER, resourceName: '', configurationKeys: null }], {
      includeSynonyms: true,
    });
    expect(def!.configs).toEqual([
      expect.objectContaining({
        name: 'message.max.bytes',
        value: '2000',
        configSource: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        synonyms: [{ name: 'message.max.bytes', value: '2000', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG }],
      }),
    ]);
    const [other] = r.describeConfigs([{ resourceType: BROKER, resourceName: '2', configurationKeys: null }]);
    expect(other!.errorCode).toBe(CONFIG_ERRORS.INVALID_REQUEST);
    expect(other!.errorMessage).toBe('Unexpected broker id, expected 1 or empty string, but received 2');
  });

  it('dynamic broker values feed the effective topic config', () => {
    const r = registry();
    expect(r.topicConfig('t')['retention.ms']).toBe(604800000n);
    expect(Object.isFrozen(r.topicConfig('t')['cleanup.policy'])).toBe(true);
    r.incrementalAlterConfigs([
      {
        resourceType: BROKER,
        resourceName: '',
        configs: [{ name: 'log.retention.ms', configOperation: 0, value: '777' }],
      },
    ]);
    expect(r.topicConfig('t')['retention.ms']).toBe(777n);
  });
});

describe('AlterConfigs (replace all dynamic configs)', () => {
  it('replaces the whole set of topic overrides and fires onChange', () => {
    const r = registry();
    const changes: unknown[] = [];
    r.onChange((c) => changes.push(c));
    r.setTopicOverrides('t', { 'retention.ms': '1', 'segment.ms': '2' });
    const res = r.alterConfigs([
      { resourceType: TOPIC, resourceName: 't', configs: [{ name: 'segment.bytes', value: '2097152' }] },
    ]);
    expect(res).toEqual([{ errorCode: 0, errorMessage: null, resourceType: TOPIC, resourceName: 't' }]);
    expect(r.topicOverrides('t')).toEqual({ 'segment.bytes': '2097152' });
    expect(changes).toEqual([{ resourceType: TOPIC, resourceName: 't' }]);
  });

  it('validateOnly checks but does not apply; a bad resource does not stop the others', () => {
    const r = registry();
    const res = r.alterConfigs(
      [
        { resourceType: TOPIC, resourceName: 'a', configs: [{ name: 'retention.ms', value: '5' }] },
        { resourceType: TOPIC, resourceName: 'b', configs: [{ name: 'retention.ms', value: 'soon' }] },
      ],
      { validateOnly: true },
    );
    expect(res.map((x) => x.errorCode)).toEqual([0, CONFIG_ERRORS.INVALID_CONFIG]);
    expect(res[1]!.errorMessage).toBe('Invalid value soon for configuration retention.ms: Not a number of type LONG');
    expect(r.topicOverrides('a')).toEqual({});
    const applied = r.alterConfigs([
      { resourceType: TOPIC, resourceName: 'a', configs: [{ name: 'retention.ms', value: '5' }] },
      { resourceType: TOPIC, resourceName: 'b', configs: [{ name: 'nope', value: '1' }] },
    ]);
    expect(applied[1]!.errorMessage).toBe('Unknown topic config name: nope');
    expect(r.topicOverrides('a')).toEqual({ 'retention.ms': '5' });
    expect(r.topicOverrides('b')).toEqual({});
  });

  it('refuses read-only broker configs, unknown names and bad values', () => {
    const r = registry();
    const res = r.alterConfigs([
      { resourceType: BROKER, resourceName: '1', configs: [{ name: 'num.partitions', value: '4' }] },
      { resourceType: BROKER, resourceName: '', configs: [{ name: 'made.up', value: '4' }] },
      { resourceType: BROKER, resourceName: '', configs: [{ name: 'log.segment.bytes', value: '10' }] },
      { resourceType: BROKER, resourceName: '', configs: [{ name: 'log.retention.ms', value: '-7' }] },
      { resourceType: BROKER, resourceName: 'x', configs: [] },
    ]);
    // Kafka 4.4: INVALID_REQUEST for every refused broker value; a name it does not define is stored.
    expect(res.map((x) => x.errorCode)).toEqual([
      CONFIG_ERRORS.INVALID_REQUEST,
      CONFIG_ERRORS.NONE,
      CONFIG_ERRORS.INVALID_REQUEST,
      CONFIG_ERRORS.INVALID_REQUEST,
      CONFIG_ERRORS.INVALID_REQUEST,
    ]);
    expect(res[0]!.errorMessage).toBe('Cannot update these configs dynamically: [num.partitions]');
    expect(res[3]!.errorMessage).toMatch(/Value must be at least -1/);
    expect(r.snapshot()).toEqual({ dynamicBroker: {}, dynamicDefault: { 'made.up': '4' }, topics: {} });
  });
});

describe('IncrementalAlterConfigs', () => {
  it('SET and DELETE touch only the named keys', () => {
    const r = registry();
    r.setTopicOverrides('t', { 'retention.ms': '1', 'segment.ms': '2' });
    const res = r.incrementalAlterConfigs([
      {
        resourceType: TOPIC,
        resourceName: 't',
        configs: [
          { name: 'segment.ms', configOperation: AlterConfigOp.DELETE, value: null },
          { name: 'max.message.bytes', configOperation: AlterConfigOp.SET, value: '500' },
        ],
      },
    ]);
    expect(res[0]!.errorCode).toBe(0);
    expect(r.topicOverrides('t')).toEqual({ 'retention.ms': '1', 'max.message.bytes': '500' });
  });

  it('APPEND and SUBTRACT work on LIST configs, starting from the default', () => {
    const r = registry();
    const op = (configOperation: number, value: string) =>
      r.incrementalAlterConfigs([
        { resourceType: TOPIC, resourceName: 't', configs: [{ name: 'cleanup.policy', configOperation, value }] },
      ])[0]!;
    expect(op(AlterConfigOp.APPEND, 'compact').errorCode).toBe(0);
    expect(r.topicOverrides('t')['cleanup.policy']).toBe('delete,compact');
    expect(op(AlterConfigOp.APPEND, 'compact').errorCode).toBe(0); // no duplicates
    expect(r.topicConfig('t')['cleanup.policy']).toEqual(['delete', 'compact']);
    expect(op(AlterConfigOp.SUBTRACT, 'delete').errorCode).toBe(0);
    expect(r.topicConfig('t')['cleanup.policy']).toEqual(['compact']);
    const bad = op(AlterConfigOp.APPEND, 'shred');
    expect(bad.errorCode).toBe(CONFIG_ERRORS.INVALID_CONFIG);
    expect(bad.errorMessage).toMatch(/String must be one of: compact, delete/);
    expect(r.topicConfig('t')['cleanup.policy']).toEqual(['compact']);
  });

  it('APPEND/SUBTRACT on non-LIST configs, duplicate keys and unknown operations are refused', () => {
    const r = registry();
    const [a, b, c, d] = r.incrementalAlterConfigs([
      {
        resourceType: TOPIC,
        resourceName: 't',
        configs: [{ name: 'retention.ms', configOperation: AlterConfigOp.APPEND, value: '1' }],
      },
      {
        resourceType: TOPIC,
        resourceName: 't',
        configs: [
          { name: 'retention.ms', configOperation: AlterConfigOp.SET, value: '1' },
          { name: 'retention.ms', configOperation: AlterConfigOp.DELETE, value: null },
        ],
      },
      {
        resourceType: TOPIC,
        resourceName: 't',
        configs: [{ name: 'retention.ms', configOperation: 7, value: '1' }],
      },
      {
        resourceType: TOPIC,
        resourceName: 't',
        configs: [{ name: 'segment.ms', configOperation: AlterConfigOp.SUBTRACT, value: '1' }],
      },
    ]);
    expect(a).toMatchObject({
      errorCode: CONFIG_ERRORS.INVALID_CONFIG,
      errorMessage: "Can't APPEND to key retention.ms because its type is not LIST.",
    });
    expect(b).toMatchObject({
      errorCode: CONFIG_ERRORS.INVALID_REQUEST,
      errorMessage: 'Error due to duplicate config keys',
    });
    expect(c!.errorCode).toBe(CONFIG_ERRORS.INVALID_REQUEST);
    // Kafka's wording, "to" included.
    expect(d).toMatchObject({
      errorCode: CONFIG_ERRORS.INVALID_CONFIG,
      errorMessage: "Can't SUBTRACT to key segment.ms because its type is not LIST.",
    });
    expect(r.topicOverrides('t')).toEqual({});
  });

  it('broker LIST configs take APPEND against the broker default', () => {
    const r = registry();
    const [res] = r.incrementalAlterConfigs([
      {
        resourceType: BROKER,
        resourceName: '1',
        configs: [{ name: 'log.cleanup.policy', configOperation: AlterConfigOp.APPEND, value: 'compact' }],
      },
    ]);
    expect(res!.errorCode).toBe(0);
    expect(r.brokerValue('log.cleanup.policy')).toEqual(['delete', 'compact']);
    expect(r.topicConfig('t')['cleanup.policy']).toEqual(['delete', 'compact']);
  });

  it('state survives snapshot and restore', () => {
    const r = registry();
    r.incrementalAlterConfigs([
      { resourceType: TOPIC, resourceName: 't', configs: [{ name: 'retention.ms', configOperation: 0, value: '42' }] },
      {
        resourceType: BROKER,
        resourceName: '',
        configs: [{ name: 'message.max.bytes', configOperation: 0, value: '9' }],
      },
    ]);
    const again = new ConfigRegistry(r.static, JSON.parse(JSON.stringify(r.snapshot())));
    expect(again.topicConfig('t')['retention.ms']).toBe(42n);
    expect(again.topicConfig('u')['max.message.bytes']).toBe(9);
    again.deleteTopic('t');
    expect(again.topicConfig('t')['retention.ms']).toBe(604800000n);
  });
});

describe("broker configs Kafka defines and Sluice does not act on (the generated table of Kafka's)", () => {
  const alter = (r: ConfigRegistry, resourceName: string, name: string, value: string) =>
    r.incrementalAlterConfigs([
      { resourceType: BROKER, resourceName, configs: [{ name, configOperation: AlterConfigOp.SET, value }] },
    ])[0]!;
  const describeBroker = (r: ConfigRegistry, keys: string[]) =>
    new Map(
      r
        .describeConfigs([{ resourceType: BROKER, resourceName: '1', configurationKeys: keys }], {
          includeSynonyms: true,
        })[0]!
        .configs.map((c) => [c.name, c]),
    );

  it("are listed with Kafka's default, type and read-only flag", () => {
    const d = describeBroker(registry(), ['sasl.kerberos.min.time.before.relogin', 'replica.fetch.max.bytes']);
    expect(d.get('sasl.kerberos.min.time.before.relogin')).toMatchObject({
      value: '60000',
      configSource: ConfigSource.DEFAULT_CONFIG,
      readOnly: false,
      configType: ConfigType.LONG,
    });
    expect(d.get('replica.fetch.max.bytes')).toMatchObject({ value: '1048576', readOnly: true });
  });

  it('a dynamic one is accepted, stored and described as set; a read-only one is refused as Kafka refuses it', () => {
    const r = registry();
    expect(alter(r, '1', 'sasl.kerberos.min.time.before.relogin', '120000')).toMatchObject({ errorCode: 0 });
    expect(r.snapshot().dynamicBroker).toEqual({ 'sasl.kerberos.min.time.before.relogin': '120000' });
    expect(
      describeBroker(r, ['sasl.kerberos.min.time.before.relogin']).get('sasl.kerberos.min.time.before.relogin'),
    ).toMatchObject({ value: '120000', configSource: ConfigSource.DYNAMIC_BROKER_CONFIG });
    // Cluster-wide ones also at the cluster default.
    expect(alter(r, '', 'background.threads', '4')).toMatchObject({ errorCode: 0 });
    // Per-broker ones not at the cluster default, read-only ones nowhere, bad values never.
    expect(alter(r, '', 'sasl.kerberos.min.time.before.relogin', '1')).toMatchObject({
      errorCode: CONFIG_ERRORS.INVALID_REQUEST,
    });
    const readOnly = alter(r, '1', 'replica.fetch.max.bytes', '2048');
    expect(readOnly.errorCode).toBe(CONFIG_ERRORS.INVALID_REQUEST);
    expect(readOnly.errorMessage).toContain('Cannot update these configs dynamically');
    expect(alter(r, '1', 'sasl.kerberos.min.time.before.relogin', 'soon').errorCode).toBe(
      CONFIG_ERRORS.INVALID_REQUEST,
    );
    // As Kafka 4.4: a name it does not define is stored unchecked (custom configs of plugins).
    expect(alter(r, '1', 'no.such.config', '1').errorCode).toBe(CONFIG_ERRORS.NONE);
  });
});
