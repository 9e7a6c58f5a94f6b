import { describe, expect, it } from 'vitest';
import { MirrorConfigError, parseMirrorConfig } from './config.js';

const base = {
  clusters: 'A, B',
  'A.bootstrap.servers': '127.0.0.1:9092',
  'B.bootstrap.servers': '127.0.0.1:9093,127.0.0.1:9094',
  'A->B.enabled': 'true',
};

describe('parseMirrorConfig', () => {
  it("reads MM2's names with MM2's defaults", () => {
    const c = parseMirrorConfig(base);
    expect(c.clusters.map((x) => x.alias)).toEqual(['A', 'B']);
    expect(c.flows).toHaveLength(1);
    const f = c.flows[0];
    expect(f.source.alias).toBe('A');
    expect(f.target.bootstrapServers).toEqual(['127.0.0.1:9093', '127.0.0.1:9094']);
    expect(f.policy.name).toBe('default');
    expect(f.emitCheckpointsIntervalMs).toBe(60_000);
    expect(f.emitHeartbeatsIntervalMs).toBe(1000);
    expect(f.refreshTopicsIntervalMs).toBe(600_000);
    expect(f.syncGroupOffsets).toBe(false);
    expect(f.offsetLagMax).toBe(100);
    expect(f.replicationFactor).toBe(-1);
    // topics = .* but the default excludes hold internal topics back.
    expect(f.topics.some((r) => r.test('orders'))).toBe(true);
    expect(f.topicsExclude.some((r) => r.test('mm2-offset-syncs.B.internal'))).toBe(true);
    expect(f.topicsExclude.some((r) => r.test('__consumer_offsets'))).toBe(true);
    expect(f.groupsExclude.some((r) => r.test('console-consumer-123'))).toBe(true);
  });

  it('lets A->B.<name> override <name>, regexes match whole names', () => {
    const c = parseMirrorConfig({
      ...base,
      topics: 'nothing',
      'A->B.topics': 'orders-.*, payments',
      'topics.exclude': 'orders-internal',
      'replication.policy.class': 'org.apache.kafka.connect.mirror.IdentityReplicationPolicy',
      'A->B.emit.checkpoints.interval.seconds': '5',
      'sync.group.offsets.enabled': 'true',
      'replication.factor': '3',
      'sync.topic.configs.enabled': 'false',
      'refresh.topics.interval.seconds': '2',
    });
    const f = c.flows[0];
    const matches = (t: string) => f.topics.some((r) => r.test(t)) && !f.topicsExclude.some((r) => r.test(t));
    expect(matches('orders-eu')).toBe(true);
    expect(matches('payments')).toBe(true);
    expect(matches('payments-2')).toBe(false);
    expect(matches('nothing')).toBe(false);
    expect(matches('orders-internal')).toBe(false);
    expect(f.policy.name).toBe('identity');
    expect(f.emitCheckpointsIntervalMs).toBe(5000);
    expect(f.syncGroupOffsets).toBe(true);
    expect(f.replicationFactor).toBe(3);
    expect(f.syncTopicConfigs).toBe(false);
    expect(f.refreshTopicsIntervalMs).toBe(2000);
  });

  it('runs every enabled flow, both ways', () => {
    const c = parseMirrorConfig({ ...base, 'B->A.enabled': 'true', 'A->B.enabled': 'false' });
    expect(c.flows.map((f) => `${f.source.alias}->${f.target.alias}`)).toEqual(['B->A']);
    const both = parseMirrorConfig({ ...base, 'B->A.enabled': 'true' });
    expect(both.flows).toHaveLength(2);
  });

  it("reads exactly-once from MM2's exactly.once.source.support of the target cluster", () => {
    expect(parseMirrorConfig(base).flows[0].exactlyOnce).toBe(false);
    expect(parseMirrorConfig({ ...base, 'B.exactly.once.source.support': 'enabled' }).flows[0].exactlyOnce).toBe(true);
    // Set for the source cluster only: the flow writes to B, so it stays at least once.
    expect(parseMirrorConfig({ ...base, 'A.exactly.once.source.support': 'enabled' }).flows[0].exactlyOnce).toBe(false);
    expect(parseMirrorConfig({ ...base, 'exactly.once.source.support': 'enabled' }).flows[0].exactlyOnce).toBe(true);
    expect(
      parseMirrorConfig({
        ...base,
        'B.exactly.once.source.support': 'enabled',
        'A->B.exactly.once.source.support': 'preparing',
      }).flows[0].exactlyOnce,
    ).toBe(false);
    expect(() => parseMirrorConfig({ ...base, 'exactly.once.source.support': 'yes' })).toThrow(
      /exactly.once.source.support: expected enabled, preparing or disabled/,
    );
  });

  it('names what is wrong', () => {
    expect(() => parseMirrorConfig({})).toThrow(/clusters: missing/);
    expect(() => parseMirrorConfig({ ...base, 'B.bootstrap.servers': '' })).toThrow(/B.bootstrap.servers: missing/);
    expect(() => parseMirrorConfig({ ...base, 'A->B.enabled': 'false' })).toThrow(/no flow is enabled/);
    expect(() => parseMirrorConfig({ ...base, 'A->C.enabled': 'true' })).toThrow(/C is not one of clusters/);
    expect(() => parseMirrorConfig({ ...base, topics: '(' })).toThrow(/topics: '\(' is not a regular expression/);
    expect(() => parseMirrorConfig({ ...base, 'offset.lag.max': 'x' })).toThrow(/offset.lag.max: expected an integer/);
    expect(() => parseMirrorConfig({ ...base, 'replication.policy.class': 'com.example.Mine' })).toThrow(
      MirrorConfigError,
    );
    expect(() => parseMirrorConfig({ ...base, 'A.bootstrap.servers': 'nohost' })).toThrow(/expected host:port/);
  });
});
