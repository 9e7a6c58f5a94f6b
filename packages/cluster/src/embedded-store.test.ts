import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initialPartitionRecords } from './controller/partition-change.js';
import { EmbeddedMetadataStore, METADATA_FILE } from './embedded-store.js';
import { MetadataConflictError } from './errors.js';
import type { MetadataChange } from './image.js';
import type { WriteFence } from './store.js';

const TOPIC_ID = '6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b';

/** A metadata file exactly as the broker wrote it before @sluice/cluster existed. */
const LEGACY_FILE = {
  version: 1,
  clusterId: 'q1Sh-9_ISia_zwGINzRvyQ',
  topics: [{ name: 'orders', topicId: TOPIC_ID, partitions: 3 }],
  configs: {
    dynamicBroker: { 'log.cleaner.threads': '2' },
    dynamicDefault: { 'message.max.bytes': '2000000' },
    topics: { orders: { 'retention.ms': '1000' } },
  },
  nextProducerId: '2000',
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-embedded-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function openAsController(nodeId = 1) {
  const store = EmbeddedMetadataStore.open({ dir, nodeId, clusterId: null });
  const reg = await store.registerBroker({ nodeId, incarnationId: 'i1', listeners: [], rack: null });
  const controller = await store.campaign(nodeId);
  const fence: WriteFence = { kind: 'controller', nodeId, controllerEpoch: controller.controllerEpoch };
  return { store, reg, fence };
}

describe('EmbeddedMetadataStore', () => {
  it('reads a metadata file in the format the broker has always written', () => {
    writeFileSync(join(dir, METADATA_FILE), JSON.stringify(LEGACY_FILE, null, 1));
    const store = EmbeddedMetadataStore.open({ dir, nodeId: 7, clusterId: null });
    const image = store.image;
    expect(image.clusterId).toBe('q1Sh-9_ISia_zwGINzRvyQ');
    expect(image.topics.get('orders')).toEqual({
      name: 'orders',
      topicId: TOPIC_ID,
      configs: { 'retention.ms': '1000' },
      partitionCount: 3,
    });
    expect(image.partitionsOf(TOPIC_ID).map((p) => [p.partition, p.leader, p.replicas, p.isr, p.leaderEpoch])).toEqual([
      [0, 7, [7], [7], 0],
      [1, 7, [7], [7], 0],
      [2, 7, [7], [7], 0],
    ]);
    expect(image.brokerConfigs(7)).toEqual({ 'log.cleaner.threads': '2' });
    expect(image.brokerConfigs('default')).toEqual({ 'message.max.bytes': '2000000' });
    expect(image.nextProducerId).toBe(2000n);
  });

  it('writes a file the version-1 reader still accepts, and reads back what it wrote', async () => {
    writeFileSync(join(dir, METADATA_FILE), JSON.stringify(LEGACY_FILE));
    const { store, fence } = await openAsController(7);
    const p0 = store.image.partition(TOPIC_ID, 0)!;
    await store.alterPartitions(
      [{ expectedPartitionEpoch: 0, next: { ...p0, leaderEpoch: 1, partitionEpoch: 1 } }],
      fence,
    );
    await store.setBrokerConfigs(7, { 'log.cleaner.threads': '4' });
    const written = JSON.parse(readFileSync(join(dir, METADATA_FILE), 'utf8'));
    // What the broker's own reader checks, and the fields it reads.
    expect(written).toMatchObject({ version: 1, clusterId: LEGACY_FILE.clusterId, nextProducerId: '2000' });
    expect(written.topics[0]).toMatchObject({ name: 'orders', topicId: TOPIC_ID, partitions: 3 });
    expect(written.configs).toEqual({ ...LEGACY_FILE.configs, dynamicBroker: { 'log.cleaner.threads': '4' } });

    const reopened = EmbeddedMetadataStore.open({ dir, nodeId: 7, clusterId: null });
    expect(reopened.image.partition(TOPIC_ID, 0)).toMatchObject({ leaderEpoch: 1, partitionEpoch: 1 });
    expect(reopened.image.topics.get('orders')).toEqual(store.image.topics.get('orders'));
  });

  it('creates, grows, reconfigures and deletes topics, telling listeners', async () => {
    const { store, fence } = await openAsController();
    const seen: MetadataChange['type'][] = [];
    store.onChange((changes) => seen.push(...changes.map((c) => c.type)));
    const parts = initialPartitionRecords(TOPIC_ID, 0, [[1], [1]], () => true);
    await store.createTopic({ name: 't', topicId: TOPIC_ID, configs: {}, partitionCount: 2 }, parts, fence);
    expect(seen).toEqual(['partition', 'partition', 'topic']);
    await store.addPartitions(
      't',
      TOPIC_ID,
      initialPartitionRecords(TOPIC_ID, 2, [[1]], () => true),
      fence,
    );
    await store.setTopicConfigs('t', TOPIC_ID, { 'cleanup.policy': 'compact' }, fence);
    expect(store.image.topics.get('t')).toMatchObject({ partitionCount: 3, configs: { 'cleanup.policy': 'compact' } });
    await expect(
      store.createTopic({ name: 't', topicId: TOPIC_ID, configs: {}, partitionCount: 2 }, parts, fence),
    ).rejects.toMatchObject({
      errorName: 'TOPIC_ALREADY_EXISTS',
    });
    await store.deleteTopic('t', TOPIC_ID, fence);
    expect(store.image.topics.size).toBe(0);
    expect(store.image.partition(TOPIC_ID, 0)).toBeUndefined();
    expect(EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null }).image.topics.size).toBe(0);
  });

  it('refuses a stale partition epoch, a stale controller and a stale broker epoch, leaving state unchanged', async () => {
    const { store, reg, fence } = await openAsController();
    await store.createTopic(
      { name: 't', topicId: TOPIC_ID, configs: {}, partitionCount: 1 },
      initialPartitionRecords(TOPIC_ID, 0, [[1]], () => true),
      fence,
    );
    const p = store.image.partition(TOPIC_ID, 0)!;
    await store.alterPartitions(
      [{ expectedPartitionEpoch: 0, next: { ...p, leaderEpoch: 1, partitionEpoch: 1 } }],
      fence,
    );
    const stale = { expectedPartitionEpoch: 0, next: { ...p, leaderEpoch: 7, partitionEpoch: 1 } };
    await expect(store.alterPartitions([stale], fence)).rejects.toMatchObject({ errorName: 'INVALID_UPDATE_VERSION' });
    await expect(
      store.alterPartitions([stale], {
        ...fence,
        controllerEpoch: fence.kind === 'controller' ? fence.controllerEpoch - 1 : 0,
      }),
    ).rejects.toMatchObject({
      errorName: 'NOT_CONTROLLER',
    });
    const fresh = { expectedPartitionEpoch: 1, next: { ...p, leaderEpoch: 2, partitionEpoch: 2 } };
    await expect(
      store.alterPartitions([fresh], { kind: 'broker', nodeId: 1, brokerEpoch: reg.brokerEpoch + 1 }),
    ).rejects.toMatchObject({
      errorName: 'STALE_BROKER_EPOCH',
    });
    expect(store.image.partition(TOPIC_ID, 0)).toMatchObject({ leaderEpoch: 1, partitionEpoch: 1 });
    await store.alterPartitions([fresh], { kind: 'broker', nodeId: 1, brokerEpoch: reg.brokerEpoch });
    expect(store.image.partition(TOPIC_ID, 0)).toMatchObject({ leaderEpoch: 2, partitionEpoch: 2 });
  });

  it('lets a live broker write topics with its broker fence, and refuses a stale one', async () => {
    const { store, reg } = await openAsController();
    const records = initialPartitionRecords(TOPIC_ID, 0, [[1]], () => true);
    const topic = { name: 'b', topicId: TOPIC_ID, configs: {}, partitionCount: 1 };
    await expect(
      store.createTopic(topic, records, { kind: 'broker', nodeId: 1, brokerEpoch: reg.brokerEpoch - 1 }),
    ).rejects.toMatchObject({
      errorName: 'STALE_BROKER_EPOCH',
    });
    await store.createTopic(topic, records, { kind: 'broker', nodeId: 1, brokerEpoch: reg.brokerEpoch });
    expect(store.image.topics.has('b')).toBe(true);
  });

  it('grows the broker epoch across restarts and never reuses a producer id', async () => {
    const first = await openAsController();
    const a = await first.store.allocateProducerIds(1, first.reg.brokerEpoch);
    const second = await openAsController();
    expect(second.reg.brokerEpoch).toBeGreaterThan(first.reg.brokerEpoch);
    const b = await second.store.allocateProducerIds(1, second.reg.brokerEpoch);
    expect(b.firstProducerId).toBe(a.firstProducerId + BigInt(a.size));
  });

  it('names the file and field of a corrupt metadata file', () => {
    writeFileSync(
      join(dir, METADATA_FILE),
      JSON.stringify({ ...LEGACY_FILE, topics: [{ name: 'x', topicId: 'nope', partitions: 1 }] }),
    );
    expect(() => EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null })).toThrow(
      /topics\[0\].*field topicId: expected a UUID/,
    );
    writeFileSync(join(dir, METADATA_FILE), '{"version":1,');
    expect(() => EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null })).toThrow(/not valid JSON/);
  });

  it('refuses a configured cluster.id that differs from the directory', () => {
    writeFileSync(join(dir, METADATA_FILE), JSON.stringify(LEGACY_FILE));
    expect(() => EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: 'other' })).toThrow(
      /does not match the configured cluster.id other/,
    );
  });
  it('keeps security records (ACLs, SCRAM credentials) across a restart and tells listeners', async () => {
    const store = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
    const changes: MetadataChange[] = [];
    store.onChange((c) => changes.push(...c));
    await store.setSecurityRecords([
      { kind: 'acls', key: 'a/1', value: '{"x":1}' },
      { kind: 'scram', key: 'alice/SCRAM-SHA-512', value: '{"iterations":4096}' },
    ]);
    await store.setSecurityRecords([{ kind: 'acls', key: 'a/1', value: null }]);
    expect(changes.map((c) => c.type === 'security' && `${c.kind}:${c.key}:${c.after ?? '-'}`)).toEqual([
      'acls:a/1:{"x":1}',
      'scram:alice/SCRAM-SHA-512:{"iterations":4096}',
      'acls:a/1:-',
    ]);
    await store.close();
    const again = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
    expect([...again.image.securityRecords('scram')]).toEqual([['alice/SCRAM-SHA-512', '{"iterations":4096}']]);
    expect(again.image.securityRecords('acls').size).toBe(0);
    await again.close();
  });
  it('compares security records before writing them (delegation tokens)', async () => {
    const store = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
    await store.setSecurityRecords([{ kind: 'tokens', key: 't1', value: 'v1', expected: null }]);
    await expect(
      store.setSecurityRecords([{ kind: 'tokens', key: 't1', value: 'v2', expected: null }]),
    ).rejects.toThrow(MetadataConflictError);
    await store.setSecurityRecords([{ kind: 'tokens', key: 't1', value: null, expected: 'v1' }]);
    await expect(
      store.setSecurityRecords([{ kind: 'tokens', key: 't1', value: 'v3', expected: 'v1' }]),
    ).rejects.toThrow(MetadataConflictError);
    expect(store.image.securityRecords('tokens').size).toBe(0);
    await store.close();
    const again = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
    expect(again.image.securityRecords('tokens').size).toBe(0);
    await again.close();
  });
});
