import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { placeReplicas, resolveReplicationFactor, type UsableBroker, validateAssignments } from './placement.js';

/** A repeatable random source for fast-check's seeds. */
function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const brokersArb = fc
  .uniqueArray(
    fc.record({
      id: fc.integer({ min: 0, max: 50 }),
      rack: fc.constantFrom(null, 'a', 'b', 'c', 'd'),
      fenced: fc.boolean(),
    }),
    {
      minLength: 1,
      maxLength: 12,
      selector: (b) => b.id,
    },
  )
  .filter((bs) => bs.some((b) => !b.fenced));

describe('placeReplicas', () => {
  it('gives every partition RF distinct registered brokers with an unfenced leader', () => {
    fc.assert(
      fc.property(
        brokersArb,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer(),
        (brokers, n, rf, seed) => {
          fc.pre(rf <= brokers.length);
          const placed = placeReplicas(n, rf, brokers, seeded(seed));
          expect(placed).toHaveLength(n);
          const byId = new Map(brokers.map((b) => [b.id, b]));
          for (const replicas of placed) {
            expect(replicas).toHaveLength(rf);
            expect(new Set(replicas).size).toBe(rf);
            for (const id of replicas) expect(byId.has(id)).toBe(true);
            expect(byId.get(replicas[0])!.fenced).toBe(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('spreads each partition over as many racks as it can when brokers are unfenced', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        (racks, perRack, rf, seed) => {
          const brokers: UsableBroker[] = [];
          for (let r = 0; r < racks; r++)
            for (let i = 0; i < perRack; i++) brokers.push({ id: r * 10 + i, rack: `r${r}`, fenced: false });
          fc.pre(rf <= brokers.length);
          for (const replicas of placeReplicas(24, rf, brokers, seeded(seed))) {
            const distinctRacks = new Set(replicas.map((id) => Math.floor(id / 10))).size;
            expect(distinctRacks).toBe(Math.min(rf, racks));
          }
        },
      ),
    );
  });

  it('spreads leaders evenly over brokers, one per rack or all in none', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        fc.integer(),
        (n, k, racks, seed) => {
          const brokers = Array.from({ length: n }, (_, i) => ({
            id: i + 1,
            rack: racks ? `r${i}` : null,
            fenced: false,
          }));
          const counts = new Map<number, number>();
          for (const r of placeReplicas(n * k, 1, brokers, seeded(seed))) counts.set(r[0], (counts.get(r[0]) ?? 0) + 1);
          expect([...counts.values()]).toEqual(Array(n).fill(k));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('spreads leaders evenly over unfenced brokers without racks', () => {
    const brokers = [1, 2, 3].map((id) => ({ id, rack: null, fenced: false }));
    const placed = placeReplicas(12, 3, brokers, seeded(7));
    const leaders = new Map<number, number>();
    for (const r of placed) leaders.set(r[0], (leaders.get(r[0]) ?? 0) + 1);
    expect([...leaders.values()]).toEqual([4, 4, 4]);
  });

  it('refuses a replication factor above the registered brokers, non-positive, or with every broker fenced', () => {
    const two = [
      { id: 1, rack: null, fenced: false },
      { id: 2, rack: null, fenced: false },
    ];
    expect(() => placeReplicas(1, 3, two)).toThrow(
      expect.objectContaining({ errorName: 'INVALID_REPLICATION_FACTOR' }),
    );
    expect(() => placeReplicas(1, 3, two)).toThrow(/only 2 broker\(s\) are registered/);
    expect(() => placeReplicas(1, 0, two)).toThrow(
      expect.objectContaining({ errorName: 'INVALID_REPLICATION_FACTOR' }),
    );
    expect(() => placeReplicas(1, 1, [{ id: 1, rack: null, fenced: true }])).toThrow(
      /All brokers are currently fenced/,
    );
  });

  it('resolves -1 to default.replication.factor', () => {
    expect(resolveReplicationFactor(-1, 3)).toBe(3);
    expect(resolveReplicationFactor(2, 3)).toBe(2);
  });
});

describe('validateAssignments', () => {
  const registered = new Set([1, 2, 3]);
  it('accepts consistent assignments of registered brokers', () => {
    expect(() =>
      validateAssignments(
        [
          [1, 2],
          [2, 3],
          [3, 1],
        ],
        registered,
      ),
    ).not.toThrow();
  });
  it.each([
    [[[1, 2], [3]], /not consistent with previous partitions/],
    [[[1, 1]], /includes the broker 1 more than once/],
    [[[1, 4]], /broker 4, but no such broker is registered/],
    [[[]], /empty replica list/],
    // Checked in broker id order, as Kafka: the duplicate 2 comes before the unknown 4.
    [[[4, 2, 2]], /includes the broker 2 more than once/],
  ])('refuses %j with INVALID_REPLICA_ASSIGNMENT', (assignment, message) => {
    expect(() => validateAssignments(assignment, registered)).toThrow(message);
    expect(() => validateAssignments(assignment, registered)).toThrow(
      expect.objectContaining({ errorName: 'INVALID_REPLICA_ASSIGNMENT' }),
    );
  });
  it("holds new partitions to the topic's replication factor when given (CreatePartitions)", () => {
    expect(() => validateAssignments([[1]], registered, 1)).not.toThrow();
    expect(() => validateAssignments([[1, 2]], registered, 1)).toThrow(
      'includes a partition with 2 replica(s), but this is not consistent with previous partitions, which have 1 replica(s)',
    );
  });
});
