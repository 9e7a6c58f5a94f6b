import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClusterImage, type MetadataChange } from '../image.js';
import { NO_LEADER, type PartitionRecord } from '../model.js';
import { planReconciliation } from './reconcile.js';

const TOPIC_ID = '00000000-0000-4000-8000-0000000000aa';

function imageWith(
  brokers: { id: number; shutdown?: boolean }[],
  partitions: Omit<PartitionRecord, 'topicId' | 'partition' | 'addingReplicas' | 'removingReplicas'>[],
) {
  const image = new ClusterImage('c');
  const out: MetadataChange[] = [];
  for (const b of brokers) {
    image.setBroker(
      b.id,
      {
        nodeId: b.id,
        incarnationId: 'x',
        listeners: [],
        rack: null,
        brokerEpoch: 1,
        inControlledShutdown: b.shutdown ?? false,
      },
      out,
    );
  }
  partitions.forEach((p, i) => {
    image.setPartition(
      TOPIC_ID,
      i,
      { ...p, topicId: TOPIC_ID, partition: i, addingReplicas: [], removingReplicas: [] },
      out,
    );
  });
  image.setTopic('t', { name: 't', topicId: TOPIC_ID, configs: {}, partitionCount: partitions.length }, out);
  return image;
}

function apply(image: ClusterImage, changes: PartitionRecord[]): void {
  for (const c of changes) image.setPartition(c.topicId, c.partition, c, []);
}

describe('planReconciliation', () => {
  it('moves leaderships off a broker that is gone, and back to a returning sole ISR member', () => {
    const image = imageWith(
      [{ id: 1 }, { id: 3 }],
      [
        { replicas: [2, 3, 1], isr: [2, 3, 1], leader: 2, leaderEpoch: 0, partitionEpoch: 0 },
        { replicas: [2], isr: [2], leader: 2, leaderEpoch: 0, partitionEpoch: 0 },
        { replicas: [1, 3], isr: [1, 3], leader: 1, leaderEpoch: 0, partitionEpoch: 0 },
      ],
    );
    const plan = planReconciliation(image, () => false);
    expect(plan.map((p) => [p.partition, p.leader, p.isr, p.leaderEpoch])).toEqual([
      [0, 3, [3, 1], 1],
      [1, NO_LEADER, [2], 1],
    ]);
    apply(image, plan);
    expect(planReconciliation(image, () => false)).toEqual([]);
    image.setBroker(
      2,
      { nodeId: 2, incarnationId: 'y', listeners: [], rack: null, brokerEpoch: 9, inControlledShutdown: false },
      [],
    );
    expect(planReconciliation(image, () => false).map((p) => [p.partition, p.leader, p.leaderEpoch])).toEqual([
      [1, 2, 2],
    ]);
  });

  it('treats a broker in controlled shutdown as unable to lead', () => {
    const image = imageWith(
      [{ id: 1, shutdown: true }, { id: 2 }],
      [{ replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 3, partitionEpoch: 3 }],
    );
    expect(planReconciliation(image, () => false)).toMatchObject([
      { leader: 2, isr: [2], leaderEpoch: 4, partitionEpoch: 4 },
    ]);
  });

  it('converges: after its plan is applied, nothing is left to do and every leader is live', () => {
    const partitionArb = fc
      .uniqueArray(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 })
      .chain((replicas) =>
        fc.record({
          replicas: fc.constant(replicas),
          isr: fc.subarray(replicas, { minLength: 1 }),
        }),
      );
    fc.assert(
      fc.property(
        fc.subarray([1, 2, 3, 4, 5]),
        fc.array(partitionArb, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (live, parts, unclean) => {
          const image = imageWith(
            live.map((id) => ({ id })),
            parts.map((p) => ({ ...p, leader: p.isr[0], leaderEpoch: 0, partitionEpoch: 0 })),
          );
          apply(
            image,
            planReconciliation(image, () => unclean),
          );
          expect(planReconciliation(image, () => unclean)).toEqual([]);
          for (const p of image.partitionsOf(TOPIC_ID)) {
            if (p.leader !== NO_LEADER) {
              expect(live).toContain(p.leader);
              expect(p.isr).toContain(p.leader);
            }
            expect(p.isr.length).toBeGreaterThan(0);
          }
        },
      ),
    );
  });
});
