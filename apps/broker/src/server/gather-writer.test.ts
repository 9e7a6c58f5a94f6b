import { FileRegion } from '@sluice/log';
import {
  FetchApi,
  type FetchResponse,
  type FetchResponsePartitionData,
  ResponseHeaderCodec,
  responseHeaderVersion,
  Writer,
  writeFrame,
} from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { GatherWriter } from './gather-writer.js';

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

function partition(index: number, records: Buffer | null, version: number): FetchResponsePartitionData {
  const flexible = version >= 12;
  return {
    partitionIndex: index,
    errorCode: index === 3 ? 1 : 0,
    highWatermark: 1000n + BigInt(index),
    lastStableOffset: 990n,
    logStartOffset: 5n,
    // Tagged fields exist from v12 only; they sit after the records and are sized by offset.
    divergingEpoch: flexible && index === 1 ? { epoch: 3, endOffset: 77n } : { epoch: -1, endOffset: -1n },
    currentLeader: flexible && index === 2 ? { leaderId: 1, leaderEpoch: 4 } : { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1n, epoch: -1 },
    abortedTransactions: index === 0 ? [{ producerId: 9n, firstOffset: 100n }] : index === 3 ? null : [],
    preferredReadReplica: version >= 11 ? 0 : -1,
    records,
  };
}

function response(version: number): FetchResponse {
  // Short fields are copied, long ones referenced; a mix of both, empty and null, in two topics.
  const sizes = [0, 100, 2047, 2048, 70_000, 3 << 20];
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: version >= 7 ? 42 : 0,
    responses: [
      {
        topic: version >= 13 ? '' : 'first',
        topicId: version >= 13 ? '3f2504e0-4f89-41d3-9a0c-0305e82c3301' : '00000000-0000-0000-0000-000000000000',
        partitions: sizes.map((n, i) => partition(i, bytes(n, 0x41 + i), version)),
      },
      {
        topic: version >= 13 ? '' : 'second',
        topicId: version >= 13 ? '6ba7b810-9dad-11d1-80b4-00c04fd430c8' : '00000000-0000-0000-0000-000000000000',
        partitions: [partition(0, null, version), partition(1, bytes(5000, 0x7a), version)],
      },
    ],
    nodeEndpoints: version >= 16 ? [{ nodeId: 1, host: 'localhost', port: 9092, rack: null }] : [],
  };
}

describe('GatherWriter', () => {
  it('frames every Fetch response version byte for byte as one copied frame, in fewer copied bytes', () => {
    const gather = new GatherWriter();
    // The versions the broker serves (v0-v3 need down-conversion, which it does not do).
    for (let version = 4; version <= FetchApi.maxVersion; version++) {
      const r = response(version);
      const headerVersion = responseHeaderVersion(FetchApi.apiKey, version);
      const plain = new Writer();
      writeFrame(plain, [
        (w) => ResponseHeaderCodec.encode(w, headerVersion, { correlationId: 7 }),
        (w) => FetchApi.response.encode(w, version, r),
      ]);
      const w = gather.beginFrame(1024);
      ResponseHeaderCodec.encode(w, headerVersion, { correlationId: 7 });
      FetchApi.response.encode(w, version, r);
      const parts = w.endFrame();
      expect(Buffer.concat(parts).equals(plain.finish()), `version ${version}`).toBe(true);
      // The long records are the caller's own Buffers, not copies.
      const long = r.responses[0].partitions[5].records!;
      expect(parts.some((p) => p.buffer === long.buffer && p.byteOffset === long.byteOffset)).toBe(true);
      expect(parts.reduce((n, p) => n + (p.buffer === long.buffer ? 0 : p.length), 0)).toBeLessThan(100_000);
    }
  });

  it('is reusable after a frame, and a frame without long fields is one Buffer', () => {
    const w = new GatherWriter();
    w.beginFrame();
    w.compactBytes(bytes(10_000, 1));
    expect(w.endFrame().length).toBe(2);
    w.beginFrame();
    w.int32(5);
    const parts = w.endFrame();
    expect(parts.length).toBe(1);
    expect(parts[0]).toEqual(Buffer.from([0, 0, 0, 4, 0, 0, 0, 5]));
  });

  it('passes a FileRegion (records sent from a file) on as a part of its own, counted in the frame size', () => {
    const w = new GatherWriter();
    w.beginFrame();
    // Even a short region is a part of its own: it has no bytes to copy.
    const short = new FileRegion(5, 100, 10);
    const long = new FileRegion(6, 0, 1 << 20);
    w.int8(1);
    w.compactBytes(short as unknown as Buffer);
    w.int8(2);
    w.compactBytes(long as unknown as Buffer);
    w.int8(3);
    const parts = w.endFrame() as Uint8Array[];
    expect(parts.filter((p) => p instanceof FileRegion)).toEqual([short, long]);
    expect(parts[1]).toBe(short);
    expect(parts[3]).toBe(long);
    // Size prefix: the written bytes (1 + varint 11 + 1 + varint 2^20+1 (3 bytes) + 1) and the regions'.
    expect(Buffer.from(parts[0]).readInt32BE(0)).toBe(1 + 1 + 10 + 1 + 3 + (1 << 20) + 1);
  });

  it('a plain Writer refuses a FileRegion (it has no bytes to copy)', () => {
    expect(() => new Writer().compactBytes(new FileRegion(5, 0, 10) as unknown as Buffer)).toThrow(/holds none/);
  });
});
