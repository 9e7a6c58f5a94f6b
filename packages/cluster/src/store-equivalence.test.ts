import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialPartitionRecords } from './controller/partition-change.js';
import { EmbeddedMetadataStore } from './embedded-store.js';
import { EtcdMetadataStore } from './etcd/etcd-store.js';
import { LocalEtcd } from './etcd/local-etcd.js';
import type { MetadataImage } from './image.js';
import type { MetadataStore, WriteFence } from './store.js';

// The same random sequence of writes against the embedded store and the etcd store: every write
// must succeed or fail the same way on both, and both must end with the same metadata.

type Op =
  | { kind: 'create'; topic: number; partitions: number }
  | { kind: 'delete'; topic: number }
  | { kind: 'alter'; topic: number; partition: number; stale: boolean }
  | { kind: 'grow'; topic: number; by: number }
  | { kind: 'topicConfig'; topic: number; value: string }
  | { kind: 'brokerConfig'; target: 1 | 'default'; value: string }
  | { kind: 'producerIds' };

const topicArb = fc.integer({ min: 0, max: 1 });
// Weighted so that sequences create topics early and then change them (and stale writers show up).
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      topic: topicArb,
      partitions: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), topic: topicArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('alter' as const),
      topic: topicArb,
      partition: fc.integer({ min: 0, max: 2 }),
      stale: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('grow' as const), topic: topicArb, by: fc.integer({ min: 1, max: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('topicConfig' as const),
      topic: topicArb,
      value: fc.constantFrom('1', '2', ''),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('brokerConfig' as const),
      target: fc.constantFrom(1 as const, 'default' as const),
      value: fc.constantFrom('a', 'b', ''),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('producerIds' as const) }) },
);

function topicIdFor(run: number, step: number): string {
  return `00000000-0000-4000-8000-${(run * 1000 + step).toString(16).padStart(12, '0')}`;
}

async function applyOp(
  store: MetadataStore,
  fence: WriteFence,
  brokerEpoch: number,
  op: Op,
  topicId: string,
): Promise<string> {
  const name = `t${'topic' in op ? op.topic : 0}`;
  const existing = store.image.topics.get(name);
  try {
    switch (op.kind) {
      case 'create': {
        const records = initialPartitionRecords(
          topicId,
          0,
          Array.from({ length: op.partitions }, () => [1]),
          () => true,
        );
        await store.createTopic({ name, topicId, configs: {}, partitionCount: op.partitions }, records, fence);
        break;
      }
      case 'delete':
        await store.deleteTopic(name, existing?.topicId ?? topicId, fence);
        break;
      case 'alter': {
        const id = existing?.topicId ?? topicId;
        // A partition that does not exist gets a placeholder record: both stores must refuse it.
        const p = store.image.partition(id, op.partition) ?? {
          ...initialPartitionRecords(id, op.partition, [[1]], () => true)[0],
        };
        const expected = op.stale ? p.partitionEpoch + 3 : p.partitionEpoch;
        await store.alterPartitions(
          [
            {
              expectedPartitionEpoch: expected,
              next: { ...p, leaderEpoch: p.leaderEpoch + 1, partitionEpoch: expected + 1 },
            },
          ],
          fence,
        );
        break;
      }
      case 'grow': {
        const id = existing?.topicId ?? topicId;
        const from = existing?.partitionCount ?? 0;
        await store.addPartitions(
          name,
          id,
          initialPartitionRecords(
            id,
            from,
            Array.from({ length: op.by }, () => [1]),
            () => true,
          ),
          fence,
        );
        break;
      }
      case 'topicConfig':
        await store.setTopicConfigs(
          name,
          existing?.topicId ?? topicId,
          op.value ? { 'retention.ms': op.value } : {},
          fence,
        );
        break;
      case 'brokerConfig':
        await store.setBrokerConfigs(op.target, op.value ? { 'log.retention.ms': op.value } : {});
        break;
      case 'producerIds':
        return `ok ${(await store.allocateProducerIds(1, brokerEpoch)).firstProducerId}`;
    }
    return 'ok';
  } catch (err) {
    return (err as { errorName?: string }).errorName ?? (err as Error).message;
  }
}

function snapshot(image: MetadataImage) {
  const topics = [...image.topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  return {
    topics,
    partitions: topics.map((t) => image.partitionsOf(t.topicId)),
    broker1: image.brokerConfigs(1),
    defaults: image.brokerConfigs('default'),
    nextProducerId: image.nextProducerId,
  };
}

describe('the embedded and the etcd store', () => {
  let etcd: LocalEtcd;
  beforeAll(async () => {
    etcd = await LocalEtcd.start();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('accept and refuse the same writes and end with the same metadata', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops) => {
        run++;
        const dir = mkdtempSync(join(tmpdir(), 'sluice-equiv-'));
        const embedded = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
        const onEtcd = await EtcdMetadataStore.open({
          endpoints: etcd.endpoints,
          clusterId: `equiv-${Date.now()}-${run}`,
          leaseTtlSeconds: 5,
        });
        try {
          const stores = [embedded, onEtcd];
          const setups = [];
          for (const s of stores) {
            const reg = await s.registerBroker({ nodeId: 1, incarnationId: 'i', listeners: [], rack: null });
            const c = await s.campaign(1);
            setups.push({
              fence: { kind: 'controller', nodeId: 1, controllerEpoch: c.controllerEpoch } as WriteFence,
              epoch: reg.brokerEpoch,
            });
          }
          for (let step = 0; step < ops.length; step++) {
            const outcomes = [];
            for (let i = 0; i < 2; i++)
              outcomes.push(
                await applyOp(stores[i], setups[i].fence, setups[i].epoch, ops[step], topicIdFor(run, step)),
              );
            expect({ step, op: ops[step], outcome: outcomes[1] }).toEqual({
              step,
              op: ops[step],
              outcome: outcomes[0],
            });
          }
          expect(snapshot(onEtcd.image)).toEqual(snapshot(embedded.image));
        } finally {
          await onEtcd.close();
          await embedded.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 15 },
    );
  });
});
