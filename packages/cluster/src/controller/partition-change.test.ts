import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_LEADER, type PartitionRecord } from '../model.js';
import {
  buildPartitionChange,
  changesForBrokerRemoval,
  changesForLeaderlessPartitions,
  electLeaders,
  initialPartitionRecords,
} from './partition-change.js';

const TOPIC = '00000000-0000-4000-8000-000000000001';

function record(fields: Partial<PartitionRecord>): PartitionRecord {
  return {
    topicId: TOPIC,
    partition: 0,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leader: 1,
    leaderEpoch: 5,
    partitionEpoch: 9,
    addingReplicas: [],
    removingReplicas: [],
    ...fields,
  };
}

const all = () => true;
const except =
  (...down: number[]) =>
  (id: number) =>
    !down.includes(id);

describe('buildPartitionChange', () => {
  it('is a no-op when nothing changes', () => {
    expect(buildPartitionChange(record({}), {}, all)).toBeNull();
  });

  it('keeps a valid leader (no needless epoch bump) when the ISR shrinks', () => {
    const next = buildPartitionChange(record({}), { targetIsr: [1, 2] }, all)!;
    expect(next).toMatchObject({ leader: 1, leaderEpoch: 5, isr: [1, 2], partitionEpoch: 10 });
  });

  it('elects the first live ISR member in replica order when the leader leaves the ISR', () => {
    const next = buildPartitionChange(record({ replicas: [1, 3, 2] }), { targetIsr: [2, 3] }, except(1))!;
    expect(next).toMatchObject({ leader: 3, leaderEpoch: 6, isr: [2, 3], partitionEpoch: 10 });
  });

  it('never elects outside the ISR without an unclean election', () => {
    const next = buildPartitionChange(record({ isr: [1], leader: 1 }), { targetIsr: [] }, except(1))!;
    // The last ISR member stays in the ISR (no ELR) and the partition has no leader.
    expect(next).toMatchObject({ leader: NO_LEADER, isr: [1], leaderEpoch: 6, partitionEpoch: 10 });
  });

  it('elects a live replica outside the ISR in an unclean election and sets the ISR to it alone', () => {
    const next = buildPartitionChange(
      record({ isr: [1], leader: 1 }),
      { targetIsr: [], election: 'unclean' },
      except(1),
    )!;
    expect(next).toMatchObject({ leader: 2, isr: [2], leaderEpoch: 6 });
  });

  it('bumps the leader epoch when a reassignment drops a replica', () => {
    const next = buildPartitionChange(record({}), { targetReplicas: [1, 2], targetIsr: [1, 2] }, all)!;
    expect(next).toMatchObject({ replicas: [1, 2], leader: 1, leaderEpoch: 6 });
  });

  it('completes a reassignment once the adding replicas are in the ISR', () => {
    const moving = record({ replicas: [4, 1, 2, 3], isr: [1, 2, 3], addingReplicas: [4], removingReplicas: [3] });
    expect(buildPartitionChange(moving, {}, all)).toBeNull();
    const next = buildPartitionChange(moving, { targetIsr: [1, 2, 3, 4] }, all)!;
    expect(next).toMatchObject({ replicas: [4, 1, 2], isr: [1, 2, 4], addingReplicas: [], removingReplicas: [] });
  });

  it('keeps the invariants for any change: leader in the ISR or none, ISR within replicas, epochs grow', () => {
    const ids = fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(
        ids,
        fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
        fc.integer({ min: 0, max: 31 }),
        fc.constantFrom('online', 'preferred', 'unclean'),
        (replicas, alive, isrMask, election) => {
          const isr = replicas.filter((_, i) => (isrMask >> i) & 1);
          fc.pre(isr.length > 0);
          const current = record({ replicas, isr, leader: isr[0] });
          const isActive = (id: number) => alive[id];
          const targetIsr = isr.filter(isActive);
          const next = buildPartitionChange(current, { targetIsr, election: election as 'online' }, isActive);
          if (next === null) return;
          expect(next.partitionEpoch).toBe(current.partitionEpoch + 1);
          expect(next.leaderEpoch).toBeGreaterThanOrEqual(current.leaderEpoch);
          if (next.leader !== current.leader) expect(next.leaderEpoch).toBe(current.leaderEpoch + 1);
          expect(next.isr.length).toBeGreaterThan(0);
          for (const id of next.isr) expect(next.replicas).toContain(id);
          if (next.leader !== NO_LEADER) {
            expect(next.isr).toContain(next.leader);
            expect(isActive(next.leader)).toBe(true);
            // A clean election picks from the old ISR only.
            if (election !== 'unclean') expect(isr).toContain(next.leader);
          }
        },
      ),
    );
  });
});

describe('changesForBrokerRemoval (fenced broker, controlled shutdown)', () => {
  it('moves the fenced broker out of every ISR and moves its leaderships to ISR members', () => {
    const partitions = [
      record({ partition: 0, leader: 1 }),
      record({ partition: 1, leader: 2, replicas: [2, 3, 1], isr: [2, 3, 1] }),
      record({ partition: 2, leader: 3, replicas: [3, 2, 1], isr: [3, 2] }),
      record({ partition: 3, leader: 1, replicas: [1], isr: [1] }),
    ];
    const changes = changesForBrokerRemoval(partitions, 1, all, () => false);
    expect(changes.map((c) => [c.partition, c.leader, c.isr])).toEqual([
      [0, 2, [2, 3]],
      [1, 2, [2, 3]],
      [3, NO_LEADER, [1]],
    ]);
    expect(changes[0].leaderEpoch).toBe(6);
    expect(changes[1].leaderEpoch).toBe(5);
  });

  it('elects a replica outside the ISR only where unclean.leader.election.enable is set', () => {
    const p = record({ leader: 1, isr: [1] });
    expect(changesForBrokerRemoval([p], 1, all, () => false)[0].leader).toBe(NO_LEADER);
    expect(changesForBrokerRemoval([p], 1, all, () => true)[0]).toMatchObject({ leader: 2, isr: [2] });
  });

  it('lets a leaderless partition elect its remaining ISR member when that broker returns', () => {
    const leaderless = record({ leader: NO_LEADER, isr: [1] });
    expect(changesForLeaderlessPartitions([leaderless], except(1), () => false)).toEqual([]);
    expect(changesForLeaderlessPartitions([leaderless], all, () => false)[0]).toMatchObject({
      leader: 1,
      leaderEpoch: 6,
    });
  });
});

describe('electLeaders', () => {
  it('moves leadership back to the preferred replica', () => {
    const result = electLeaders(record({ leader: 2 }), 'preferred', all);
    expect(result).toMatchObject({ next: { leader: 1, leaderEpoch: 6 } });
  });
  it('answers ELECTION_NOT_NEEDED and PREFERRED_LEADER_NOT_AVAILABLE as Kafka does', () => {
    expect(electLeaders(record({}), 'preferred', all)).toMatchObject({ errorCode: 84 });
    expect(electLeaders(record({ leader: 2, isr: [2, 3] }), 'preferred', all)).toMatchObject({ errorCode: 80 });
    expect(electLeaders(record({ leader: 2 }), 'preferred', except(1))).toMatchObject({ errorCode: 80 });
    expect(electLeaders(record({}), 'unclean', all)).toMatchObject({ errorCode: 84 });
    expect(electLeaders(record({ leader: NO_LEADER, isr: [1] }), 'unclean', except(1, 2, 3))).toMatchObject({
      errorCode: 83,
    });
    expect(electLeaders(record({ leader: NO_LEADER, isr: [1] }), 'unclean', except(1))).toMatchObject({
      next: { leader: 2, isr: [2] },
    });
  });
  it('a leaderless partition whose preferred replica is down gets another ISR member, as Kafka’s preferred election', () => {
    expect(electLeaders(record({ leader: NO_LEADER, isr: [1, 2] }), 'preferred', except(1))).toMatchObject({
      next: { leader: 2 },
    });
    expect(electLeaders(record({ leader: NO_LEADER, isr: [1] }), 'preferred', except(1))).toMatchObject({
      errorCode: 80,
      message: 'The preferred leader was not available.',
    });
  });
});

describe('initialPartitionRecords', () => {
  it('starts with the live replicas as ISR and the first of them leading', () => {
    const [p] = initialPartitionRecords(TOPIC, 4, [[3, 1, 2]], except(3));
    expect(p).toMatchObject({
      partition: 4,
      replicas: [3, 1, 2],
      isr: [1, 2],
      leader: 1,
      leaderEpoch: 0,
      partitionEpoch: 0,
    });
  });
  it('refuses partitions whose replicas are all down', () => {
    expect(() => initialPartitionRecords(TOPIC, 0, [[3]], except(3))).toThrow(
      expect.objectContaining({ errorName: 'INVALID_REPLICA_ASSIGNMENT' }),
    );
  });
});
