import { Writer } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { groupPartition, javaStringHashCode } from './partitioner.js';
import {
  decodeGroupMetadataValue,
  decodeKey,
  decodeOffsetCommitValue,
  encodeGroupMetadataKey,
  encodeGroupMetadataValue,
  encodeOffsetCommitKey,
  encodeOffsetCommitValue,
} from './records.js';

describe('group partitioning', () => {
  it('matches Java String.hashCode and Kafka Utils.abs', () => {
    expect(javaStringHashCode('')).toBe(0);
    expect(javaStringHashCode('hello')).toBe(99162322);
    expect(javaStringHashCode('Aa')).toBe(javaStringHashCode('BB'));
    // A string whose hashCode is Integer.MIN_VALUE: Utils.abs maps it to 0.
    expect(javaStringHashCode('polygenelubricants')).toBe(-2147483648);
    expect(groupPartition('polygenelubricants', 50)).toBe(0);
    expect(groupPartition('hello', 50)).toBe(99162322 % 50);
    expect(groupPartition('x', 1)).toBe(0);
    expect(() => groupPartition('x', 0)).toThrow(RangeError);
  });
});

describe('__consumer_offsets records', () => {
  it('round-trips keys and the values as written', () => {
    expect(decodeKey(encodeOffsetCommitKey('g', 'topic', 5))).toEqual({
      type: 'offset',
      group: 'g',
      topic: 'topic',
      partition: 5,
    });
    expect(decodeKey(encodeGroupMetadataKey('g'))).toEqual({ type: 'group', group: 'g' });
    expect(encodeOffsetCommitKey('g', 't', 1).readInt16BE(0)).toBe(1);
    expect(encodeGroupMetadataKey('g').readInt16BE(0)).toBe(2);
    expect(decodeKey(Buffer.from([0, 3, 0, 0]))).toEqual({ type: 'other', version: 3 });
    const v = { offset: 10n, leaderEpoch: 2, metadata: 'meta', commitTimestamp: 1234, expireTimestamp: -1 };
    const enc = encodeOffsetCommitValue(v);
    expect(enc.readInt16BE(0)).toBe(3);
    expect(decodeOffsetCommitValue(enc)).toEqual(v);
    const withExpire = { ...v, leaderEpoch: -1, expireTimestamp: 9999 };
    expect(encodeOffsetCommitValue(withExpire).readInt16BE(0)).toBe(1);
    expect(decodeOffsetCommitValue(encodeOffsetCommitValue(withExpire))).toEqual(withExpire);
    const g = {
      protocolType: 'consumer',
      generation: 7,
      protocol: 'range',
      leader: 'm1',
      currentStateTimestamp: 555,
      members: [
        {
          memberId: 'm1',
          groupInstanceId: 'i1',
          clientId: 'c',
          clientHost: '/1.2.3.4',
          rebalanceTimeout: 300,
          sessionTimeout: 100,
          subscription: Buffer.from([1, 2]),
          assignment: Buffer.from([3]),
        },
      ],
    };
    const ge = encodeGroupMetadataValue(g);
    expect(ge.readInt16BE(0)).toBe(3);
    expect(decodeGroupMetadataValue(ge)).toEqual(g);
  });

  it('reads the older (v0) and flexible (v4) group values and v0 offset values', () => {
    const w = new Writer(64);
    w.int16(0).string('consumer').int32(1).nullableString('range').nullableString('m');
    w.arrayLength(1).string('m').string('c').string('h').int32(10).bytes(Buffer.from('s')).bytes(Buffer.from('a'));
    const v0 = decodeGroupMetadataValue(w.toBuffer());
    expect(v0.members[0]).toMatchObject({
      memberId: 'm',
      groupInstanceId: null,
      rebalanceTimeout: 10,
      sessionTimeout: 10,
    });
    expect(v0.currentStateTimestamp).toBe(-1);
    const f = new Writer(64);
    f.int16(4).compactString('consumer').int32(2).compactNullableString(null).compactNullableString(null).int64(5n);
    f.compactArrayLength(0).uvarint(0);
    expect(decodeGroupMetadataValue(f.toBuffer())).toMatchObject({ generation: 2, protocol: null, members: [] });
    const o = new Writer(32).int16(0).int64(5n).string('x').int64(77n).toBuffer();
    expect(decodeOffsetCommitValue(o)).toEqual({
      offset: 5n,
      leaderEpoch: -1,
      metadata: 'x',
      commitTimestamp: 77,
      expireTimestamp: -1,
    });
  });

  it('refuses unknown value versions and truncated input', () => {
    expect(() => decodeOffsetCommitValue(Buffer.from([0, 9]))).toThrow();
    expect(() => decodeGroupMetadataValue(Buffer.from([0, 3, 0]))).toThrow();
    const huge = new Writer(32)
      .int16(3)
      .string('c')
      .int32(1)
      .nullableString(null)
      .nullableString(null)
      .int64(0n)
      .int32(1_000_000)
      .toBuffer();
    expect(() => decodeGroupMetadataValue(huge)).toThrow();
  });
});
