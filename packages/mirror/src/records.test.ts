import { describe, expect, it } from 'vitest';
import {
  decodeCheckpoint,
  decodeHeartbeat,
  decodeOffsetSync,
  decodeSourcePosition,
  encodeCheckpoint,
  encodeHeartbeat,
  encodeOffsetSync,
  encodeSourcePosition,
  RecordFormatError,
} from './records.js';

// Expected bytes written out by hand from MM2's schemas (Kafka Struct: STRING = int16 length + UTF-8).
describe("MM2's record formats", () => {
  it('OffsetSync: key (topic, partition), value (upstreamOffset, offset)', () => {
    const { key, value } = encodeOffsetSync({ topic: 'ab', partition: 3, upstreamOffset: 10n, downstreamOffset: 7n });
    expect(key.toString('hex')).toBe('0002616200000003');
    expect(value.toString('hex')).toBe('000000000000000a0000000000000007');
    expect(decodeOffsetSync(key, value)).toEqual({
      topic: 'ab',
      partition: 3,
      upstreamOffset: 10n,
      downstreamOffset: 7n,
    });
  });

  it('Checkpoint: key (group, topic, partition), value version 0 + (upstreamOffset, offset, metadata)', () => {
    const c = { group: 'g', topic: 'A.t', partition: 1, upstreamOffset: 5n, downstreamOffset: 4n, metadata: '' };
    const { key, value } = encodeCheckpoint(c);
    expect(key).toEqual(Buffer.from([0, 1, 0x67, 0, 3, 0x41, 0x2e, 0x74, 0, 0, 0, 1]));
    expect(value).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]));
    expect(decodeCheckpoint(key, value)).toEqual(c);
  });

  it('Heartbeat: key (source, target), value version 0 + timestamp', () => {
    const { key, value } = encodeHeartbeat({ sourceClusterAlias: 'A', targetClusterAlias: 'B', timestamp: 258n });
    expect(key).toEqual(Buffer.from([0, 1, 0x41, 0, 1, 0x42]));
    expect(value).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
    expect(decodeHeartbeat(key, value)).toEqual({ sourceClusterAlias: 'A', targetClusterAlias: 'B', timestamp: 258n });
  });

  it('refuses truncated, oversized and unknown-version records with what and where', () => {
    expect(() => decodeOffsetSync(Buffer.from([0, 5, 0x61]), Buffer.alloc(16))).toThrow(
      /OffsetSync key: topic needs 5 bytes at byte 2, 1 left/,
    );
    expect(() => decodeOffsetSync(Buffer.from([0xff, 0xff]), Buffer.alloc(16))).toThrow(/negative length/);
    const { key, value } = encodeCheckpoint({
      group: 'g',
      topic: 't',
      partition: 0,
      upstreamOffset: 0n,
      downstreamOffset: 0n,
      metadata: '',
    });
    const v1 = Buffer.from(value);
    v1.writeInt16BE(1, 0);
    expect(() => decodeCheckpoint(key, v1)).toThrow(/version 1 is not supported/);
    expect(() => decodeHeartbeat(null, Buffer.alloc(10))).toThrow(RecordFormatError);
  });

  it("source positions are Kafka Connect's JSON records of MirrorSourceConnector", () => {
    const { key, value } = encodeSourcePosition({ cluster: 'A', topic: 'orders', partition: 2, offset: 2n ** 60n });
    expect(JSON.parse(key.toString())).toEqual([
      'MirrorSourceConnector',
      { cluster: 'A', partition: 2, topic: 'orders' },
    ]);
    expect(value.toString()).toBe('{"offset":1152921504606846976}');
    expect(decodeSourcePosition(key, value)).toEqual({
      cluster: 'A',
      topic: 'orders',
      partition: 2,
      offset: 2n ** 60n,
    });
    expect(decodeSourcePosition(Buffer.from('["OtherConnector",{}]'), value)).toBeNull();
    expect(decodeSourcePosition(key, null)).toBeNull();
    expect(() => decodeSourcePosition(key, Buffer.from('{"offset":"x"}'))).toThrow(/expected \{"offset"/);
    expect(() => decodeSourcePosition(Buffer.from('not json'), value)).toThrow(/not JSON/);
  });
});
