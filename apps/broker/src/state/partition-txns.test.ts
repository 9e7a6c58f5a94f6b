import { describe, expect, it } from 'vitest';
import { PartitionTxns } from './partition-txns.js';

describe('PartitionTxns', () => {
  it('holds the LSO at the first open transaction and releases it at the marker', () => {
    const t = new PartitionTxns();
    t.onData(1n, 5n);
    t.onData(2n, 7n);
    t.onData(1n, 9n); // a later batch of the same transaction
    expect(t.lastStableOffset(20n)).toBe(5n);
    t.onMarker(1n, true, 10n);
    expect(t.lastStableOffset(20n)).toBe(7n);
    t.onMarker(2n, false, 11n);
    expect(t.lastStableOffset(20n)).toBe(20n);
    // Never above the high watermark.
    expect(t.lastStableOffset(3n)).toBe(3n);
  });

  it('keeps a completed transaction unstable until the high watermark passes its marker', () => {
    const t = new PartitionTxns();
    t.onData(1n, 5n);
    t.onMarker(1n, true, 8n);
    expect(t.lastStableOffset(8n)).toBe(5n);
    expect(t.lastStableOffset(9n)).toBe(9n);
  });

  it("lists the aborted transactions overlapping a fetch, as Kafka's collectAbortedTxns", () => {
    const t = new PartitionTxns();
    t.onData(1n, 0n);
    t.onMarker(1n, false, 2n);
    t.onData(2n, 3n);
    t.onMarker(2n, false, 6n);
    t.onData(3n, 7n);
    t.onMarker(3n, false, 9n);
    const ids = (from: bigint, to: bigint) => t.abortedBetween(from, to).map((a) => a.producerId);
    expect(ids(0n, 10n)).toEqual([1n, 2n, 3n]);
    expect(ids(3n, 7n)).toEqual([2n]);
    expect(ids(7n, 8n)).toEqual([3n]);
    expect(ids(10n, 20n)).toEqual([]);
    t.dropBefore(3n);
    expect(ids(0n, 10n)).toEqual([2n, 3n]);
  });

  it('round-trips its snapshot of open transactions and refuses a malformed one', () => {
    const t = new PartitionTxns();
    t.onData(1n, 0n);
    t.onMarker(1n, false, 2n);
    t.onData(4n, 3n);
    const u = new PartitionTxns();
    u.load(JSON.parse(JSON.stringify(t.toJSON())));
    expect(u.lastStableOffset(10n)).toBe(3n);
    // Aborted transactions are not in the snapshot: the .txnindex files hold them.
    expect(u.abortedBetween(0n, 10n)).toEqual([]);
    expect(() => u.load({ ongoing: 'x', aborted: [] })).toThrow(/malformed/);
    expect(() => u.load({ ongoing: [], aborted: [['1', '2']] })).toThrow(/bad aborted/);
  });
});
