import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffsetSyncStore, thinnest } from './offset-sync-store.js';

const sync = (up: bigint, down: bigint) => ({ topic: 't', partition: 0, upstreamOffset: up, downstreamOffset: down });

describe('OffsetSyncStore', () => {
  it("translates as MM2: exact at a sync, the sync's downstream + 1 between syncs, nothing before the first", () => {
    const s = new OffsetSyncStore();
    s.add(sync(100n, 10n));
    s.add(sync(200n, 110n));
    expect(s.translate('t', 0, 99n)).toBeNull();
    expect(s.translate('t', 0, 100n)).toBe(10n);
    expect(s.translate('t', 0, 150n)).toBe(11n);
    expect(s.translate('t', 0, 200n)).toBe(110n);
    expect(s.translate('t', 0, 1000n)).toBe(111n);
    expect(s.translate('t', 1, 150n)).toBeNull();
    expect(s.translate('u', 0, 150n)).toBeNull();
  });

  it('a sync at or below the newest one replaces the newer ones (records copied again after a restart)', () => {
    const s = new OffsetSyncStore();
    s.add(sync(0n, 0n));
    s.add(sync(100n, 100n));
    s.add(sync(200n, 200n));
    s.add(sync(150n, 260n));
    expect(s.syncs('t', 0).map((x) => x.upstreamOffset)).toEqual([0n, 100n, 150n]);
    expect(s.translate('t', 0, 210n)).toBe(261n);
  });

  it('stays bounded and never translates past the true downstream offset', () => {
    // A model: upstream offsets map to downstream offsets with random gaps; syncs at random records.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.boolean()), {
          minLength: 1,
          maxLength: 400,
        }),
        fc.integer({ min: 2, max: 16 }),
        (steps, capacity) => {
          const s = new OffsetSyncStore(capacity);
          const truth = new Map<bigint, bigint>();
          let up = 0n;
          let down = 0n;
          for (const [du, dd, emit] of steps) {
            up += BigInt(du);
            down += BigInt(dd);
            truth.set(up, down);
            if (emit || truth.size === 1) s.add(sync(up, down));
            expect(s.syncs('t', 0).length).toBeLessThanOrEqual(capacity);
          }
          // Every translated offset is at or before where the record (or the next one) really is.
          for (const [u, d] of truth) {
            const t = s.translate('t', 0, u);
            if (t !== null) expect(t <= d).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('thins out the sync whose removal leaves the smallest gap, never the first nor (with three or more) the last', () => {
    const at = (...ups: bigint[]) => ups.map((u) => sync(u, u));
    expect(thinnest(at(0n, 10n, 11n, 30n))).toBe(1); // gaps without it: 11 (index 1), 20 (index 2)
    expect(thinnest(at(0n, 19n, 20n, 21n, 100n))).toBe(2); // 21, 2, 81
    expect(thinnest(at(0n, 1n, 2n))).toBe(1);
    expect(thinnest(at(0n, 1n))).toBe(1);
  });
});
