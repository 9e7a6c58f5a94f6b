import * as zlib from 'node:zlib';
import * as fc from 'fast-check';
import { compressFrameSync } from 'lz4-napi';
import { compressSync as snappyRawCompress } from 'snappy';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../error-codes.js';
import { DecodeError, KafkaError } from '../errors.js';
import { CompressionType, codecFor, compress, decompress, hasSyncCodec, isXerial, XERIAL_BLOCK_SIZE } from './index.js';
import { lz4DecodeFramesJs } from './lz4.js';

const TYPES = [
  CompressionType.None,
  CompressionType.Gzip,
  CompressionType.Snappy,
  CompressionType.Lz4,
  CompressionType.Zstd,
];
const COMPRESSED = TYPES.filter((t) => t !== CompressionType.None);
const MiB = 1 << 20;

/** Runs `fn` and returns what it threw (sync or async), failing if it did not throw. */
async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

async function expectCorrupt(fn: () => unknown): Promise<DecodeError> {
  const e = await thrown(fn);
  expect(e).toBeInstanceOf(DecodeError);
  expect((e as DecodeError).code).toBe(ERROR_CODES.CORRUPT_MESSAGE);
  return e as DecodeError;
}

/** Compressible but not trivial: runs of repeated words with random bytes between. */
const payload = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom('kafka ', 'sluice ', '0000000000').map((s) => Buffer.from(s.repeat(20))),
    ),
    {
      maxLength: 40,
    },
  )
  .map((parts) => Buffer.concat(parts.map((p) => Buffer.from(p))));

describe('codecs round-trip', () => {
  for (const type of TYPES) {
    it(`${codecFor(type).name}: decompress(compress(x)) = x`, async () => {
      await fc.assert(
        fc.asyncProperty(payload, async (data) => {
          const c = await compress(type, data);
          expect(Buffer.compare(await decompress(type, c, data.length), data)).toBe(0);
          const codec = codecFor(type);
          if (hasSyncCodec(type)) {
            const cs = codec.compressSync!(data);
            expect(Buffer.compare(codec.decompressSync!(cs, data.length), data)).toBe(0);
          }
        }),
        { numRuns: 40 },
      );
    });
  }

  it('round-trips a buffer larger than one block for every codec', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251 < 40 ? i & 0xff : 0x61;
    for (const type of TYPES) {
      const c = await compress(type, data);
      expect(Buffer.compare(await decompress(type, c, data.length), data)).toBe(0);
      // One byte less than the real size is refused.
      await expectCorrupt(() => decompress(type, c, data.length - 1));
    }
  });

  it('the sync variants exist for all but zstd', () => {
    for (const type of TYPES) expect(typeof codecFor(type).decompressSync === 'function').toBe(hasSyncCodec(type));
  });

  it('unknown codec ids are UNSUPPORTED_COMPRESSION_TYPE', () => {
    const e = (() => {
      try {
        codecFor(5);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(KafkaError);
    expect((e as KafkaError).code).toBe(ERROR_CODES.UNSUPPORTED_COMPRESSION_TYPE);
  });
});

describe('snappy framing', () => {
  it('writes xerial framing as Java does: header, then 32 KiB blocks with int32 lengths', () => {
    const data = Buffer.alloc(XERIAL_BLOCK_SIZE * 2 + 10, 0x41);
    const c = codecFor(CompressionType.Snappy).compressSync!(data);
    expect(c.subarray(0, 16).toString('hex')).toBe('82534e41505059000000000100000001');
    expect(isXerial(c)).toBe(true);
    let pos = 16;
    const sizes: number[] = [];
    while (pos < c.length) {
      const len = c.readInt32BE(pos);
      const block = c.subarray(pos + 4, pos + 4 + len);
      sizes.push(codecFor(CompressionType.Snappy).decompressSync!(block, 1 << 20).length);
      pos += 4 + len;
    }
    expect(pos).toBe(c.length);
    expect(sizes).toEqual([XERIAL_BLOCK_SIZE, XERIAL_BLOCK_SIZE, 10]);
  });

  it('accepts plain raw snappy', () => {
    const data = Buffer.from('hello hello hello hello snappy');
    const raw = snappyRawCompress(data);
    expect(isXerial(raw)).toBe(false);
    expect(codecFor(CompressionType.Snappy).decompressSync!(raw, 100).toString()).toBe(data.toString());
  });

  it('refuses xerial block lengths past the end, negative or zero', async () => {
    const c = Buffer.from(codecFor(CompressionType.Snappy).compressSync!(Buffer.alloc(1000, 1)));
    for (const len of [c.length, -5, 0, 0x7fffffff]) {
      const bad = Buffer.from(c);
      bad.writeInt32BE(len, 16);
      const e = await expectCorrupt(() => decompress(CompressionType.Snappy, bad, MiB));
      expect(e.offset).toBe(16);
    }
  });
});

describe('decompression bombs are refused without allocating their output', () => {
  const zeros = Buffer.alloc(32 * MiB);

  it('gzip', async () => {
    const c = zlib.gzipSync(zeros);
    expect(c.length).toBeLessThan(100_000);
    await expectCorrupt(() => decompress(CompressionType.Gzip, c, MiB));
    await expectCorrupt(() => codecFor(CompressionType.Gzip).decompressSync!(c, MiB));
  });

  it('snappy (raw and xerial): declared sizes are summed before decompressing', async () => {
    const raw = snappyRawCompress(Buffer.alloc(4 * MiB));
    await expectCorrupt(() => decompress(CompressionType.Snappy, raw, MiB));
    // A block that claims 2^32-1 bytes.
    const claim = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    await expectCorrupt(() => decompress(CompressionType.Snappy, claim, MiB));
    const xerial = await compress(CompressionType.Snappy, zeros.subarray(0, 4 * MiB));
    await expectCorrupt(() => decompress(CompressionType.Snappy, xerial, MiB));
  });

  it('lz4 (native frame with large blocks goes through the exact bounded decoder)', async () => {
    const c = compressFrameSync(zeros);
    expect(c.length).toBeLessThan(200_000);
    await expectCorrupt(() => decompress(CompressionType.Lz4, c, MiB));
  });

  it('zstd (bounded from block headers before the native decoder runs)', async () => {
    const c = await compress(CompressionType.Zstd, zeros);
    const e = await expectCorrupt(() => decompress(CompressionType.Zstd, c, MiB));
    expect(e.message).toMatch(/exceeds the limit/);
  });

  it('zstd with a huge declared content size', async () => {
    // Magic, FHD with an 8-byte content size, single segment, FCS = 2^40, then one empty raw last block.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]);
    await expectCorrupt(() => decompress(CompressionType.Zstd, frame, MiB));
  });
});

describe('hostile input gives DecodeError only', () => {
  for (const type of COMPRESSED) {
    it(`${codecFor(type).name}: truncated, flipped and random input`, async () => {
      const data = Buffer.from('a reasonably compressible payload '.repeat(200));
      const good = await compress(type, data);
      const check = async (bad: Buffer) => {
        try {
          const out = await decompress(type, bad, 64 * 1024);
          expect(out.length).toBeLessThanOrEqual(64 * 1024);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
          expect((e as DecodeError).code).toBe(ERROR_CODES.CORRUPT_MESSAGE);
        }
      };
      for (let cut = 0; cut < good.length; cut += Math.max(1, good.length >> 5)) await check(good.subarray(0, cut));
      await fc.assert(
        fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (at, x) => {
          const bad = Buffer.from(good);
          bad[at % bad.length] ^= x;
          await check(bad);
        }),
        { numRuns: 150 },
      );
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), (u) => check(Buffer.from(u))),
        { numRuns: 100 },
      );
    });
  }
});

describe('lz4 exact decoder', () => {
  it('agrees with the native decoder, with and without checksums', () => {
    fc.assert(
      fc.property(payload, fc.boolean(), fc.boolean(), (data, blockChecksums, contentChecksum) => {
        const frame = compressFrameSync(data, { blockChecksums, contentChecksum });
        expect(Buffer.compare(lz4DecodeFramesJs(frame, data.length), data)).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('verifies checksums', async () => {
    const data = Buffer.from('checksummed '.repeat(100));
    const frame = Buffer.from(compressFrameSync(data, { contentChecksum: true }));
    frame[frame.length - 1] ^= 1;
    await expectCorrupt(() => lz4DecodeFramesJs(frame, MiB));
  });
});
