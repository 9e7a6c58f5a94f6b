import { iterateBatches, RecordBatch } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { ProducerBatch } from '../src/producer/batch.js';

function batchOf(n: number): ProducerBatch {
  const b = new ProducerBatch('t', 0, Date.now() + 60_000);
  for (let i = 0; i < n; i++)
    b.add(
      null,
      Buffer.from(`v${i}`),
      undefined,
      30,
      () => {},
      () => {},
      1000 + i,
    );
  return b;
}

function header(buf: Buffer) {
  const [rb] = [...iterateBatches(buf)];
  rb.validate();
  return { producerId: rb.producerId, producerEpoch: rb.producerEpoch, baseSequence: rb.baseSequence };
}

describe('ProducerBatch stamps', () => {
  it('built with the stamp it is sent with: stamp() leaves the bytes as they are', async () => {
    const b = batchOf(5);
    await b.build(0, { producerId: 7n, producerEpoch: 2, baseSequence: 40 });
    const before = Buffer.from(b.encoded as Buffer);
    expect(header(before)).toEqual({ producerId: 7n, producerEpoch: 2, baseSequence: 40 });
    b.stamp(7n, 2, 40);
    expect(b.baseSequence).toBe(40);
    expect((b.encoded as Buffer).equals(before)).toBe(true);
  });

  it('a wrong prediction is rewritten, with a valid CRC', async () => {
    for (const [pid, epoch, seq] of [
      [8n, 2, 40],
      [7n, 3, 40],
      [7n, 2, 45],
    ] as const) {
      const b = batchOf(3);
      await b.build(0, { producerId: 7n, producerEpoch: 2, baseSequence: 40 });
      b.stamp(pid, epoch, seq);
      expect(header(b.encoded as Buffer)).toEqual({ producerId: pid, producerEpoch: epoch, baseSequence: seq });
      expect(b.baseSequence).toBe(seq);
    }
  });

  it('without a prediction, stamp() writes the ids and the CRC', async () => {
    const b = batchOf(2);
    await b.build(0);
    expect(header(b.encoded as Buffer)).toEqual({ producerId: -1n, producerEpoch: -1, baseSequence: -1 });
    b.stamp(3n, 0, 0);
    expect(header(b.encoded as Buffer)).toEqual({ producerId: 3n, producerEpoch: 0, baseSequence: 0 });
    expect(new RecordBatch(b.encoded as Buffer).isValid()).toBe(true);
  });
});

describe('ProducerBatch completion', () => {
  it('resolves each record with its exact offset, below and above 2^53, and -1 without one', async () => {
    for (const base of [0n, 5n, 2n ** 53n - 3n, 2n ** 62n]) {
      const offsets: bigint[] = [];
      const b = new ProducerBatch('t', 1, Date.now() + 60_000);
      for (let i = 0; i < 5; i++)
        b.add(
          null,
          Buffer.from('v'),
          undefined,
          30,
          (m) => offsets.push(m.offset),
          () => {},
          1000 + i,
        );
      b.complete(base);
      expect(offsets).toEqual([0n, 1n, 2n, 3n, 4n].map((i) => base + i));
    }
    const metas: Array<{ offset: bigint; timestamp: number; partition: number }> = [];
    const b = new ProducerBatch('t', 2, Date.now() + 60_000);
    b.add(
      null,
      null,
      undefined,
      30,
      (m) => metas.push(m),
      () => {},
      1234,
    );
    b.complete(-1n);
    expect(metas).toEqual([{ topic: 't', partition: 2, offset: -1n, timestamp: 1234 }]);
  });
});

describe('ProducerBatch sizing', () => {
  it('a batch sized for many records holds, encodes and fails exactly the ones added', async () => {
    const b = new ProducerBatch('t', 0, Date.now() + 60_000, 1000);
    const failed: unknown[] = [];
    for (let i = 0; i < 3; i++)
      b.add(
        null,
        Buffer.from(`v${i}`),
        undefined,
        30,
        () => {},
        (e) => failed.push(e),
        1000 + i,
      );
    await b.build(0);
    const [rb] = [...iterateBatches(b.encoded as Buffer)];
    expect(rb.recordCount).toBe(3);
    expect(
      rb
        .records()
        .toArray()
        .map((r) => r.value?.toString()),
    ).toEqual(['v0', 'v1', 'v2']);
    b.fail(new Error('x'));
    expect(failed).toHaveLength(3);
  });
});

describe('ProducerBatch buffers', () => {
  it('gives its spare buffer back once built elsewhere, or once acknowledged when the batch is in it', async () => {
    const spare = Buffer.allocUnsafeSlow(61 + 4096);
    // Full enough to stay in the spare buffer: handed back only when acknowledged.
    const full = new ProducerBatch('t', 0, Date.now() + 60_000, 40, 4096, spare);
    for (let i = 0; i < 30; i++)
      full.add(
        null,
        Buffer.alloc(100, i),
        undefined,
        130,
        () => {},
        () => {},
        1000,
      );
    await full.build(0);
    expect((full.encoded as Buffer).buffer).toBe(spare.buffer);
    expect(full.spareBuffer(false)).toBeNull();
    expect(full.spareBuffer(true)).toBe(spare);
    expect(full.spareBuffer(true)).toBeNull();
    // Less than half full: copied out at build, so the spare buffer is free at once.
    const small = new ProducerBatch('t', 0, Date.now() + 60_000, 40, 4096, spare);
    expect(small.spareBuffer(true)).toBeNull(); // not built yet
    small.add(
      null,
      Buffer.from('v'),
      undefined,
      30,
      () => {},
      () => {},
      1000,
    );
    await small.build(0);
    expect((small.encoded as Buffer).buffer).not.toBe(spare.buffer);
    expect(small.spareBuffer(false)).toBe(spare);
    expect(new RecordBatch(small.encoded as Buffer).isValid()).toBe(true);
  });
});
