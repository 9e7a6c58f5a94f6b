import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { ACK_TYPE, RECORD_STATE, SharePartition } from './share-partition.js';

const config = { lockDurationMs: 1_000, deliveryCountLimit: 3, maxRecordLocks: 100 };
const batch = (base: number, last: number, isControl = false) => ({
  baseOffset: BigInt(base),
  lastOffset: BigInt(last),
  isControl,
});

function codeOf(fn: () => void): number | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof KafkaError ? err.code : -1;
  }
}

describe('SharePartition', () => {
  it('acquires new records for one member at a time, with delivery count 1', () => {
    const sp = new SharePartition(0n, config);
    expect(sp.acquire('a', [batch(0, 9)], 4, 0)).toEqual([{ firstOffset: 0n, lastOffset: 3n, deliveryCount: 1 }]);
    // The next member gets the next records, never the ones locked by 'a'.
    expect(sp.acquire('b', [batch(0, 9)], 100, 0)).toEqual([{ firstOffset: 4n, lastOffset: 9n, deliveryCount: 1 }]);
    expect(sp.acquire('c', [batch(0, 9)], 100, 0)).toEqual([]);
    expect(sp.stateOf(2n, 0)).toEqual({ state: RECORD_STATE.ACQUIRED, deliveryCount: 1, owner: 'a' });
    expect(sp.endOffset).toBe(10n);
    expect(sp.acquiredCount(0)).toBe(10);
  });

  it('accepting moves the start offset past the acknowledged records', () => {
    const sp = new SharePartition(5n, config);
    sp.acquire('a', [batch(5, 9)], 10, 0);
    sp.acknowledge('a', 5n, 7n, [ACK_TYPE.ACCEPT], 10);
    expect(sp.startOffset).toBe(8n);
    expect(sp.nextFetchOffset(10)).toBe(10n);
  });

  it('a lock that times out makes the record available again and redelivers it with a growing count', () => {
    const sp = new SharePartition(0n, config);
    expect(sp.acquire('a', [batch(0, 1)], 10, 0)).toEqual([{ firstOffset: 0n, lastOffset: 1n, deliveryCount: 1 }]);
    expect(sp.stateOf(0n, 999)?.state).toBe(RECORD_STATE.ACQUIRED);
    expect(sp.stateOf(0n, 1_000)?.state).toBe(RECORD_STATE.AVAILABLE);
    expect(sp.nextFetchOffset(1_000)).toBe(0n);
    expect(sp.acquire('b', [batch(0, 1)], 10, 1_000)).toEqual([{ firstOffset: 0n, lastOffset: 1n, deliveryCount: 2 }]);
    // The old holder's acknowledgement comes too late.
    expect(codeOf(() => sp.acknowledge('a', 0n, 1n, [ACK_TYPE.ACCEPT], 1_001))).toBe(ERROR_CODES.INVALID_RECORD_STATE);
    // Third timeout reaches the delivery count limit (3): archived, and the start offset moves past them.
    expect(sp.acquire('c', [batch(0, 1)], 10, 2_500)).toEqual([{ firstOffset: 0n, lastOffset: 1n, deliveryCount: 3 }]);
    expect(sp.stateOf(0n, 3_500)).toBeNull();
    expect(sp.startOffset).toBe(2n);
    expect(sp.acquire('d', [batch(0, 1)], 10, 3_500)).toEqual([]);
  });

  it('release redelivers, reject archives, and the count limit archives a released record', () => {
    const sp = new SharePartition(0n, config);
    sp.acquire('a', [batch(0, 2)], 10, 0);
    sp.acknowledge('a', 0n, 2n, [ACK_TYPE.RELEASE, ACK_TYPE.REJECT, ACK_TYPE.ACCEPT], 1);
    expect(sp.stateOf(0n, 1)?.state).toBe(RECORD_STATE.AVAILABLE);
    expect(sp.stateOf(1n, 1)?.state).toBe(RECORD_STATE.ARCHIVED);
    expect(sp.stateOf(2n, 1)?.state).toBe(RECORD_STATE.ACKNOWLEDGED);
    for (let delivery = 2; delivery <= 3; delivery++) {
      expect(sp.acquire('a', [batch(0, 2)], 10, 2)).toEqual([
        { firstOffset: 0n, lastOffset: 0n, deliveryCount: delivery },
      ]);
      sp.acknowledge('a', 0n, 0n, [ACK_TYPE.RELEASE], 3);
    }
    // Released at the limit: archived, so everything is done and the start offset is past it all.
    expect(sp.startOffset).toBe(3n);
    expect(sp.acquire('a', [batch(0, 2)], 10, 4)).toEqual([]);
  });

  it('renew extends the lock; acknowledging records of another member or out of range fails', () => {
    const sp = new SharePartition(0n, config);
    sp.acquire('a', [batch(0, 0)], 10, 0);
    sp.acknowledge('a', 0n, 0n, [ACK_TYPE.RENEW], 900);
    expect(sp.stateOf(0n, 1_800)?.state).toBe(RECORD_STATE.ACQUIRED);
    expect(codeOf(() => sp.acknowledge('b', 0n, 0n, [ACK_TYPE.ACCEPT], 1_800))).toBe(ERROR_CODES.INVALID_RECORD_STATE);
    expect(codeOf(() => sp.acknowledge('a', 0n, 5n, [ACK_TYPE.ACCEPT], 1_800))).toBe(ERROR_CODES.INVALID_RECORD_STATE);
    expect(codeOf(() => sp.acknowledge('a', 0n, 0n, [9], 1_800))).toBe(ERROR_CODES.INVALID_REQUEST);
    expect(codeOf(() => sp.acknowledge('a', 0n, 1n, [1, 1, 1], 1_800))).toBe(ERROR_CODES.INVALID_REQUEST);
    expect(sp.stateOf(0n, 1_800)?.state).toBe(RECORD_STATE.ACQUIRED);
    expect(sp.stateOf(0n, 1_900)?.state).toBe(RECORD_STATE.AVAILABLE);
  });

  it('bounds the in-flight span by max record locks and archives control batches', () => {
    const sp = new SharePartition(0n, { ...config, maxRecordLocks: 5 });
    const got = sp.acquire('a', [batch(0, 1, true), batch(2, 20)], 100, 0);
    expect(got).toEqual([{ firstOffset: 2n, lastOffset: 6n, deliveryCount: 1 }]);
    expect(sp.startOffset).toBe(2n);
    expect(sp.endOffset).toBe(7n);
    expect(sp.acquire('b', [batch(7, 20)], 100, 0)).toEqual([]);
  });

  it('releasing a member makes its records available; a snapshot restores without the locks', () => {
    const sp = new SharePartition(0n, config);
    sp.acquire('a', [batch(0, 3)], 2, 0);
    sp.acquire('b', [batch(0, 3)], 2, 0);
    sp.acknowledge('b', 2n, 2n, [ACK_TYPE.ACCEPT], 0);
    expect(sp.releaseMember('a', 0)).toBe(2);
    const restored = SharePartition.restore(sp.snapshot(), config);
    expect(restored.startOffset).toBe(0n);
    expect(restored.stateOf(0n, 0)).toEqual({ state: RECORD_STATE.AVAILABLE, deliveryCount: 1, owner: null });
    expect(restored.stateOf(2n, 0)?.state).toBe(RECORD_STATE.ACKNOWLEDGED);
    // 'b' held offset 3 when the snapshot was taken: it comes back available.
    expect(restored.stateOf(3n, 0)?.state).toBe(RECORD_STATE.AVAILABLE);
    expect(restored.acquire('c', [batch(0, 3)], 10, 0)).toEqual([
      { firstOffset: 0n, lastOffset: 1n, deliveryCount: 2 },
      { firstOffset: 3n, lastOffset: 3n, deliveryCount: 2 },
    ]);
  });
});
