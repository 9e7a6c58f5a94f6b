import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateProducerIdBlock } from './producer-ids.js';

describe('allocateProducerIdBlock', () => {
  it('hands out consecutive, non-overlapping blocks whoever asks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 5000 })), { maxLength: 50 }),
        (asks) => {
          let next = 0n;
          const seen: [bigint, bigint][] = [];
          for (const [broker, size] of asks) {
            const r = allocateProducerIdBlock(next, broker, size);
            expect(r.block).toEqual({ assignedBrokerId: broker, firstProducerId: next, size });
            for (const [a, b] of seen)
              expect(r.block.firstProducerId >= b || r.block.firstProducerId + BigInt(size) <= a).toBe(true);
            seen.push([r.block.firstProducerId, r.nextProducerId]);
            next = r.nextProducerId;
          }
        },
      ),
    );
  });
  it('refuses a block past the int64 range', () => {
    expect(() => allocateProducerIdBlock((1n << 63n) - 10n, 1)).toThrow(/Exhausted all producerIds/);
    expect(allocateProducerIdBlock((1n << 63n) - 1000n, 1).nextProducerId).toBe(1n << 63n);
  });
});
