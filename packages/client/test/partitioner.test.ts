import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, StickyPartitioner, toPositive } from '../src/partitioner.js';

/**
 * MurmurHash2 written straight from its definition with BigInt arithmetic modulo 2^32 (no
 * Math.imul, no int32 tricks), as Kafka's Utils.murmur2 specifies it: seed 0x9747b28c,
 * m = 0x5bd1e995, r = 24, little-endian words, tail bytes 2, 1, 0, final mix 13/15.
 */
function referenceMurmur2(data: Uint8Array): number {
  const M32 = 0xffffffffn;
  const m = 0x5bd1e995n;
  const mul = (a: bigint, b: bigint) => (a * b) & M32;
  let h = (0x9747b28cn ^ BigInt(data.length)) & M32;
  const n = Math.floor(data.length / 4);
  for (let i = 0; i < n; i++) {
    let k =
      BigInt(data[4 * i]) +
      (BigInt(data[4 * i + 1]) << 8n) +
      (BigInt(data[4 * i + 2]) << 16n) +
      (BigInt(data[4 * i + 3]) << 24n);
    k = mul(k, m);
    k ^= k >> 24n;
    k = mul(k, m);
    h = mul(h, m);
    h ^= k;
  }
  const t = n * 4;
  const rest = data.length % 4;
  if (rest === 3) h ^= BigInt(data[t + 2]) << 16n;
  if (rest >= 2) h ^= BigInt(data[t + 1]) << 8n;
  if (rest >= 1) {
    h ^= BigInt(data[t]);
    h = mul(h, m);
  }
  h ^= h >> 13n;
  h = mul(h, m);
  h ^= h >> 15n;
  // As a Java int.
  return Number(BigInt.asIntN(32, h));
}

const bytes = (s: string) => Buffer.from(s, 'utf8');

describe('murmur2 (Java client compatible)', () => {
  // Keys of every tail length (0..3 bytes past a word boundary), empty, and non-ASCII.
  const keys = [
    '',
    'a',
    'ab',
    'abc',
    'abcd',
    '21',
    'foobar',
    'a-little-bit-long-string',
    'a-little-bit-longer-string',
    'lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8',
    'order-1',
    'order-2',
    'customer:42',
    'ü€😀',
    '\u0000\u0000\u0000\u0000',
  ];

  it.each(keys)('hash of %j equals the reference computation', (k) => {
    expect(murmur2(bytes(k))).toBe(referenceMurmur2(bytes(k)));
  });

  it("matches the values in Kafka's own murmur2 test table", () => {
    // Published in Apache Kafka's UtilsTest (Java's Utils.murmur2 results).
    const table: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [k, v] of table) {
      expect(murmur2(bytes(k))).toBe(v);
      expect(referenceMurmur2(bytes(k))).toBe(v);
    }
  });

  it('property: agrees with the reference on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => murmur2(b) === referenceMurmur2(b)),
      { numRuns: 500 },
    );
  });

  it('partition = toPositive(murmur2) % n, with toPositive masking the sign bit (not abs)', () => {
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(0x7fffffff);
    for (const k of keys) {
      const h = referenceMurmur2(bytes(k));
      for (const n of [1, 3, 12, 50]) expect(partitionForKey(bytes(k), n)).toBe((h & 0x7fffffff) % n);
    }
    // A fixed table (from the definition): where keys land on 12 partitions.
    expect(['21', 'foobar', 'abc', 'order-1', 'order-2'].map((k) => partitionForKey(bytes(k), 12))).toEqual(
      ['21', 'foobar', 'abc', 'order-1', 'order-2'].map((k) => (referenceMurmur2(bytes(k)) & 0x7fffffff) % 12),
    );
  });
});

describe('StickyPartitioner (KIP-480)', () => {
  it('sticks to one partition until its batch closes, then moves to another', () => {
    const s = new StickyPartitioner();
    const first = s.partition('t', 6);
    for (let i = 0; i < 100; i++) expect(s.partition('t', 6)).toBe(first);
    s.onNewBatch('t', first, 6);
    const second = s.partition('t', 6);
    expect(second).not.toBe(first);
    // Closing a batch of a partition that is not the sticky one changes nothing.
    s.onNewBatch('t', (second + 1) % 6, 6);
    expect(s.partition('t', 6)).toBe(second);
  });

  it('spreads over all partitions as batches close', () => {
    const s = new StickyPartitioner();
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const p = s.partition('t', 4);
      seen.add(p);
      s.onNewBatch('t', p, 4);
    }
    expect(seen.size).toBe(4);
  });
});
