import { makeBatch } from './test-batch.js';

/** The batch the crash child writes at `offset`: content is a function of the offset alone. */
export function expectedBatch(offset: bigint): Buffer {
  const o = Number(offset % 100_000n);
  const count = 1 + (o % 5);
  const value = Buffer.alloc(50 + (o % 700), o % 251);
  return makeBatch(
    Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`key-${(o + i) % 17}`), value, timestampDelta: i })),
    { baseOffset: offset, baseTimestamp: BigInt(1_700_000_000_000 + o) },
  );
}
