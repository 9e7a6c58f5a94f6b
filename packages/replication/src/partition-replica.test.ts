import type { PartitionRecord } from '@sluice/cluster/core';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { PartitionReplica, type ReplicaLog } from './partition-replica.js';

/** A log that is only offsets, with the high watermark clamped as PartitionLog does. */
class FakeLog implements ReplicaLog {
  logStartOffset = 0n;
  logEndOffset = 0n;
  private hw = 0n;
  get highWatermark(): bigint {
    return this.hw;
  }
  set highWatermark(v: bigint) {
    this.hw = v > this.logEndOffset ? this.logEndOffset : v;
  }
}

function record(over: Partial<PartitionRecord> = {}): PartitionRecord {
  return {
    topicId: 't',
    partition: 0,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leader: 1,
    leaderEpoch: 5,
    partitionEpoch: 7,
    addingReplicas: [],
    removingReplicas: [],
    ...over,
  };
}

function leader(over: Partial<PartitionRecord> = {}) {
  let now = 1_000;
  const log = new FakeLog();
  const replica = new PartitionReplica(1, log, () => now);
  replica.applyRecord(record(over));
  return { replica, log, advance: (ms: number) => (now += ms), at: () => now };
}

function codeOf(fn: () => void): number | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof KafkaError ? err.code : -999;
  }
}

describe('PartitionReplica: role from the metadata record', () => {
  it('leads when the record names this node, follows otherwise, and a new epoch is a new leadership', () => {
    const log = new FakeLog();
    const r = new PartitionReplica(2, log, () => 0);
    expect(r.applyRecord(record())).toBe('became-follower');
    expect(r.role).toBe('follower');
    expect(r.applyRecord(record({ partitionEpoch: 8, isr: [1, 2] }))).toBe('updated');
    expect(r.applyRecord(record({ leader: 2, leaderEpoch: 6, partitionEpoch: 9 }))).toBe('became-leader');
    expect(r.role).toBe('leader');
    expect(r.leaderEpoch).toBe(6);
    expect(r.applyRecord(record({ leader: 3, leaderEpoch: 7, partitionEpoch: 10 }))).toBe('became-follower');
  });

  it('ignores a record older than the one it has (events re-read after a reconnect)', () => {
    const { replica } = leader({ partitionEpoch: 9 });
    expect(replica.applyRecord(record({ partitionEpoch: 8, leader: 2, leaderEpoch: 4 }))).toBe('unchanged');
    expect(replica.role).toBe('leader');
  });
});

describe('PartitionReplica: high watermark', () => {
  it('is the smallest log end offset in the ISR and waits for followers that have not fetched', () => {
    const { replica, log } = leader();
    log.logEndOffset = 10n;
    expect(replica.maybeIncrementHighWatermark()).toBe(false);
    expect(log.highWatermark).toBe(0n);
    replica.updateFollowerFetchState(2, 10n, 0n);
    expect(log.highWatermark).toBe(0n); // 3 has not fetched yet
    expect(replica.updateFollowerFetchState(3, 4n, 0n)).toBe(true);
    expect(log.highWatermark).toBe(4n);
    replica.updateFollowerFetchState(3, 10n, 0n);
    expect(log.highWatermark).toBe(10n);
  });

  it('never goes backwards, even when a follower fetches from an older offset', () => {
    const { replica, log } = leader({ isr: [1, 2], replicas: [1, 2] });
    log.logEndOffset = 10n;
    replica.updateFollowerFetchState(2, 8n, 0n);
    expect(log.highWatermark).toBe(8n);
    replica.updateFollowerFetchState(2, 3n, 0n);
    expect(log.highWatermark).toBe(8n);
  });

  it('does not wait for a replica outside the ISR', () => {
    const { replica, log } = leader({ isr: [1, 2] });
    log.logEndOffset = 10n;
    replica.updateFollowerFetchState(2, 10n, 0n);
    expect(log.highWatermark).toBe(10n);
  });

  it('a new leader does not move the high watermark before its followers fetch', () => {
    const log = new FakeLog();
    log.logEndOffset = 20n;
    log.highWatermark = 12n;
    const r = new PartitionReplica(2, log, () => 0);
    r.applyRecord(record({ leader: 2 }));
    expect(log.highWatermark).toBe(12n);
  });
});

describe('PartitionReplica: ISR changes', () => {
  it('shrinks a follower that was not caught up for longer than replica.lag.time.max.ms', () => {
    const { replica, log, advance } = leader();
    log.logEndOffset = 10n;
    replica.updateFollowerFetchState(2, 10n, 0n);
    replica.updateFollowerFetchState(3, 10n, 0n);
    advance(100);
    log.logEndOffset = 15n;
    replica.updateFollowerFetchState(2, 15n, 0n);
    replica.updateFollowerFetchState(3, 12n, 0n); // behind, but it had all of offset 10 at its previous fetch
    expect(replica.isrChangeDue(30_000)).toBeNull();
    advance(30_001);
    replica.updateFollowerFetchState(2, 15n, 0n);
    expect(replica.isrChangeDue(30_000)).toEqual([1, 2]);
  });

  it('keeps a follower that fetches the log end, however long ago the records came', () => {
    const { replica, log, advance } = leader();
    log.logEndOffset = 10n;
    replica.updateFollowerFetchState(2, 10n, 0n);
    replica.updateFollowerFetchState(3, 10n, 0n);
    advance(60_000);
    expect(replica.isrChangeDue(30_000)).toBeNull(); // both have the leader's log end
  });

  it('a new leader gives ISR members one lag period before shrinking them', () => {
    const { replica, log, advance } = leader();
    log.logEndOffset = 10n;
    advance(29_000);
    expect(replica.isrChangeDue(30_000)).toBeNull();
    advance(2_000);
    expect(replica.isrChangeDue(30_000)).toEqual([1]);
  });

  it('a reassignment within the leader epoch adds new replicas as not yet heard from and drops removed ones', () => {
    const { replica } = leader();
    expect(replica.follower(2)?.lastCaughtUpTimeMs).toBe(1_000);
    replica.applyRecord(record({ replicas: [1, 2, 4], partitionEpoch: 8 }));
    expect(replica.follower(3)).toBeUndefined();
    expect(replica.follower(4)).toEqual({
      nodeId: 4,
      logEndOffset: -1n,
      logStartOffset: -1n,
      lastFetchTimeMs: 0,
      lastFetchLeaderLogEndOffset: -1n,
      lastCaughtUpTimeMs: 0,
    });
    expect(replica.follower(2)?.lastCaughtUpTimeMs).toBe(1_000);
  });

  it('expands once a follower reaches the high watermark within this leader epoch', () => {
    const log = new FakeLog();
    log.logEndOffset = 10n;
    const r = new PartitionReplica(1, log, () => 0);
    r.applyRecord(record({ isr: [1, 2] }));
    r.updateFollowerFetchState(2, 10n, 0n);
    expect(log.highWatermark).toBe(10n);
    r.updateFollowerFetchState(3, 9n, 0n);
    expect(r.isrChangeDue(30_000)).toBeNull();
    r.updateFollowerFetchState(3, 10n, 0n);
    expect(r.isrChangeDue(30_000, (id) => id !== 3)).toBeNull(); // not eligible (shutting down)
    expect(r.isrChangeDue(30_000)).toEqual([1, 2, 3]);
  });

  it('one proposal at a time; while an expansion is pending the high watermark waits for the joiner too', () => {
    const { replica, log } = leader({ isr: [1, 2] });
    log.logEndOffset = 10n;
    replica.updateFollowerFetchState(2, 10n, 0n);
    replica.updateFollowerFetchState(3, 10n, 0n);
    const update = replica.proposeIsr([1, 2, 3]);
    expect(update).toEqual({
      expectedPartitionEpoch: 7,
      next: expect.objectContaining({ isr: [1, 2, 3], partitionEpoch: 8 }),
    });
    expect(replica.isrChangeDue(0)).toBeNull();
    log.logEndOffset = 20n;
    replica.updateFollowerFetchState(2, 20n, 0n);
    expect(log.highWatermark).toBe(10n); // 3 is in the maximal ISR
    replica.applyRecord(update.next);
    expect(replica.isrChangePending).toBe(false);
    expect(replica.isr).toEqual([1, 2, 3]);
  });

  it('a failed proposal can be made again', () => {
    const { replica, log } = leader({ isr: [1, 2] });
    log.logEndOffset = 10n;
    replica.updateFollowerFetchState(2, 10n, 0n);
    replica.updateFollowerFetchState(3, 10n, 0n);
    replica.proposeIsr([1, 2, 3]);
    replica.isrChangeFailed();
    expect(replica.isrChangeDue(30_000)).toEqual([1, 2, 3]);
  });
});

describe('PartitionReplica: checks on requests', () => {
  it('current leader epoch: older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH, -1 or equal pass', () => {
    const { replica } = leader();
    expect(codeOf(() => replica.checkLeaderEpoch(-1))).toBeNull();
    expect(codeOf(() => replica.checkLeaderEpoch(5))).toBeNull();
    expect(codeOf(() => replica.checkLeaderEpoch(4))).toBe(ERROR_CODES.FENCED_LEADER_EPOCH);
    expect(codeOf(() => replica.checkLeaderEpoch(6))).toBe(ERROR_CODES.UNKNOWN_LEADER_EPOCH);
  });

  it('min.insync.replicas: NOT_ENOUGH_REPLICAS before the append when the ISR is smaller', () => {
    const { replica } = leader({ isr: [1] });
    expect(codeOf(() => replica.checkMinIsr(2, 't-0'))).toBe(ERROR_CODES.NOT_ENOUGH_REPLICAS);
    expect(codeOf(() => replica.checkMinIsr(1, 't-0'))).toBeNull();
  });

  it('min.insync.replicas above the replica count is capped at it (Kafka effectiveMinIsr): the whole ISR suffices', () => {
    const full = leader();
    expect(codeOf(() => full.replica.checkMinIsr(4, 't-0'))).toBeNull();
    full.log.logEndOffset = 3n;
    full.replica.updateFollowerFetchState(2, 3n, 0n);
    full.replica.updateFollowerFetchState(3, 3n, 0n);
    expect(full.replica.appendCompletion(3n, 4)).toBe(0);
    const single = leader({ replicas: [1], isr: [1] });
    expect(codeOf(() => single.replica.checkMinIsr(2, 't-0'))).toBeNull();
    // The cap is the replica count, not the ISR: two of three in sync is still short of 3.
    const shrunk = leader({ isr: [1, 2] });
    expect(codeOf(() => shrunk.replica.checkMinIsr(4, 't-0'))).toBe(ERROR_CODES.NOT_ENOUGH_REPLICAS);
  });

  it('an acks=all append completes at the high watermark; after the ISR shrank below min.isr it is NOT_ENOUGH_REPLICAS_AFTER_APPEND', () => {
    const { replica, log } = leader();
    log.logEndOffset = 10n;
    expect(replica.appendCompletion(10n, 2)).toBeNull();
    replica.updateFollowerFetchState(2, 10n, 0n);
    replica.updateFollowerFetchState(3, 10n, 0n);
    expect(replica.appendCompletion(10n, 2)).toBe(0);
    replica.applyRecord(record({ isr: [1], partitionEpoch: 8 }));
    expect(replica.appendCompletion(10n, 2)).toBe(ERROR_CODES.NOT_ENOUGH_REPLICAS_AFTER_APPEND);
    replica.applyRecord(record({ leader: 2, leaderEpoch: 6, partitionEpoch: 9 }));
    expect(replica.appendCompletion(10n, 2)).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
  });

  it('a follower fetch to a replica that does not lead, or from a non-replica, is NOT_LEADER_OR_FOLLOWER', () => {
    const { replica } = leader({ replicas: [1, 2], isr: [1, 2] });
    expect(codeOf(() => replica.updateFollowerFetchState(3, 0n, 0n))).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    replica.applyRecord(record({ leader: 2, leaderEpoch: 6, partitionEpoch: 9 }));
    expect(codeOf(() => replica.updateFollowerFetchState(2, 0n, 0n))).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
  });
});
