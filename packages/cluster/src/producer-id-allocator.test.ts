import { describe, expect, it } from 'vitest';
import { allocateProducerIdBlock } from './controller/producer-ids.js';
import type { ProducerIdBlock } from './model.js';
import { ProducerIdAllocator } from './producer-id-allocator.js';

/** A shared store of blocks, as the metadata store is for every broker. */
function blockSource(size: number) {
  let next = 0n;
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    allocate: async (brokerId: number): Promise<ProducerIdBlock> => {
      calls++;
      await new Promise((r) => setTimeout(r, 1));
      const r = allocateProducerIdBlock(next, brokerId, size);
      next = r.nextProducerId;
      return r.block;
    },
  };
}

describe('ProducerIdAllocator', () => {
  it('hands out unique ids across brokers and prefetches the next block before the current one runs out', async () => {
    const source = blockSource(10);
    const a = new ProducerIdAllocator(() => source.allocate(1));
    const b = new ProducerIdAllocator(() => source.allocate(2));
    await Promise.all([a.ready(), b.ready()]);
    const ids: bigint[] = [];
    for (let i = 0; i < 100; i++) {
      for (const alloc of [a, b]) {
        const id = alloc.nextId();
        // With the prefetch done in time, no caller ever waits.
        expect(id).not.toBeNull();
        ids.push(id!);
      }
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(new Set(ids).size).toBe(200);
    expect(source.calls).toBeLessThanOrEqual(22);
  });

  it('answers null (COORDINATOR_LOAD_IN_PROGRESS) while no block is at hand, then goes on', async () => {
    const source = blockSource(2);
    const a = new ProducerIdAllocator(() => source.allocate(1), { prefetchAt: 1 });
    expect(a.nextId()).toBeNull();
    await new Promise((r) => setTimeout(r, 10));
    expect(a.nextId()).toBe(0n);
    expect(a.nextId()).toBe(1n);
    expect(a.nextId()).toBeNull();
    await new Promise((r) => setTimeout(r, 10));
    expect(a.nextId()).toBe(2n);
  });

  it('reports a failed fetch and tries again on the next call', async () => {
    let fail = true;
    const errors: Error[] = [];
    const source = blockSource(5);
    const a = new ProducerIdAllocator(
      async () => {
        if (fail) throw new Error('etcd down');
        return source.allocate(1);
      },
      { onError: (e) => errors.push(e) },
    );
    await expect(a.ready()).rejects.toThrow('etcd down');
    expect(a.nextId()).toBeNull();
    await new Promise((r) => setTimeout(r, 5));
    expect(errors.length).toBe(2);
    fail = false;
    await a.ready();
    expect(a.nextId()).toBe(0n);
  });
});
