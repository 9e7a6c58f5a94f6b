import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartitionLog } from '@sluice/log';
import { buildRecordBatchSync, ERROR_CODES } from '@sluice/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Partition } from './partition.js';

const dirs: string[] = [];
function partition(name: string): Partition {
  const parent = mkdtempSync(join(tmpdir(), `sluice-partition-${name}-`));
  dirs.push(parent);
  return new Partition('t', 0, PartitionLog.open(join(parent, 't-0')));
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const batch = (baseSequence: number, values: string[]) =>
  buildRecordBatchSync({
    records: values.map((value) => ({ value })),
    producerId: 42n,
    producerEpoch: 0,
    baseSequence,
  });

describe('Partition as a follower', () => {
  it('keeps the producer state of what it replicates: a retry sent to it once it leads is a duplicate', () => {
    const leader = partition('leader');
    const follower = partition('follower');
    leader.appendFromClient(batch(0, ['a', 'b']));
    leader.appendFromClient(batch(2, ['c']));
    follower.appendAsFollower(Buffer.from(leader.log.read(0n, 1 << 20).records));
    expect(follower.log.logEndOffset).toBe(3n);
    // The producer did not hear back for its second batch and sends it again to the new leader.
    const retry = follower.appendFromClient(batch(2, ['c']));
    expect(retry.duplicate).toBe(true);
    expect(retry.firstOffset).toBe(2n);
    expect(follower.log.logEndOffset).toBe(3n);
  });

  it('skips batches it already has when a fetch returns them again, and rebuilds producer state after truncation', () => {
    const leader = partition('leader');
    const follower = partition('follower');
    leader.appendFromClient(batch(0, ['a']));
    leader.appendFromClient(batch(1, ['b']));
    const all = Buffer.from(leader.log.read(0n, 1 << 20).records);
    follower.appendAsFollower(all);
    follower.appendAsFollower(all);
    expect(follower.log.logEndOffset).toBe(2n);
    follower.truncateTo(1n);
    // Sequence 1 is gone with the tail: the producer's batch 1 is new again, not a duplicate.
    const again = follower.appendFromClient(batch(1, ['b']));
    expect(again.duplicate).toBe(false);
    expect(again.firstOffset).toBe(1n);
  });
});

describe('Partition transaction markers', () => {
  const txnBatch = (producerEpoch: number) =>
    buildRecordBatchSync({
      records: [{ value: 'v' }],
      producerId: 7n,
      producerEpoch,
      baseSequence: 0,
      isTransactional: true,
    });

  it('refuses a marker from a coordinator older than the last one (TRANSACTION_COORDINATOR_FENCED), also after a replay of the log', () => {
    const p = partition('fenced');
    p.appendFromClient(txnBatch(0));
    p.appendMarker({ producerId: 7n, producerEpoch: 0, coordinatorEpoch: 5, commit: true });
    const zombie = { producerId: 7n, producerEpoch: 0, coordinatorEpoch: 4, commit: false };
    expect(() => p.appendMarker(zombie)).toThrow(
      expect.objectContaining({ code: ERROR_CODES.TRANSACTION_COORDINATOR_FENCED }),
    );
    // A replica replaying the log learns the coordinator epoch from the marker's value.
    const follower = partition('fenced-follower');
    follower.appendAsFollower(Buffer.from(p.log.read(0n, 1 << 20).records));
    expect(() => follower.appendMarker(zombie)).toThrow(
      expect.objectContaining({ code: ERROR_CODES.TRANSACTION_COORDINATOR_FENCED }),
    );
    expect(p.appendMarker({ ...zombie, coordinatorEpoch: 6 }).firstOffset).toBe(2n);
  });
});
