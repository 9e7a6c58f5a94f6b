import { ERROR_CODES as E } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { type CoordinatorRecord, GroupCoordinator, type TxnProducer } from './coordinator.js';
import { ManualScheduler } from './scheduler.js';

function setup() {
  const log: { partition: number; record: CoordinatorRecord }[] = [];
  const options = {
    config: { numPartitions: 1, groupInitialRebalanceDelayMs: 0 },
    scheduler: new ManualScheduler(),
    append: (partition: number, records: CoordinatorRecord[], txn?: TxnProducer) => {
      for (const r of records) log.push({ partition, record: { ...r, txnProducerId: txn?.producerId } });
    },
  };
  const c = new GroupCoordinator(options);
  const commit = (producerId: bigint, offset: bigint) =>
    c.commitTxnOffsets({
      groupId: 'g',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      producerId,
      producerEpoch: 0,
      topics: [
        {
          name: 't',
          partitions: [
            { partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null },
          ],
        },
      ],
    });
  const fetch = (requireStable: boolean) =>
    c.fetchOffsets('g', [{ name: 't', partitionIndexes: [0] }], requireStable).topics[0].partitions[0];
  return { c, log, options, commit, fetch };
}

describe('transactional offset commits', () => {
  it('become the committed offset only when the commit marker arrives', async () => {
    const { c, commit, fetch } = setup();
    expect((await commit(7n, 42n))[0].partitions[0].errorCode).toBe(E.NONE);
    expect(fetch(false)).toMatchObject({ committedOffset: -1n, errorCode: E.NONE });
    expect(fetch(true).errorCode).toBe(E.UNSTABLE_OFFSET_COMMIT);
    c.completeTxnOffsets(0, 7n, true);
    expect(fetch(true)).toMatchObject({ committedOffset: 42n, errorCode: E.NONE });
  });

  it('are dropped on abort', async () => {
    const { c, commit, fetch } = setup();
    await commit(7n, 42n);
    c.completeTxnOffsets(0, 7n, false);
    expect(fetch(true)).toMatchObject({ committedOffset: -1n, errorCode: E.NONE });
  });

  it('are replayed from the log in order: committed ones apply at their marker, aborted ones never', async () => {
    const { c, log, options, commit } = setup();
    await commit(7n, 10n);
    log.push({ partition: 0, record: { key: Buffer.alloc(0), value: null, txnProducerId: 7n, marker: 'commit' } });
    await commit(8n, 99n);
    log.push({ partition: 0, record: { key: Buffer.alloc(0), value: null, txnProducerId: 8n, marker: 'abort' } });
    await commit(9n, 20n);
    // The transaction of producer 9 is still open at the "restart".
    c.shutdown();
    const again = new GroupCoordinator(options);
    again.loadPartition(log.map((l) => l.record));
    const got = () => again.fetchOffsets('g', [{ name: 't', partitionIndexes: [0] }], true).topics[0].partitions[0];
    expect(got().errorCode).toBe(E.UNSTABLE_OFFSET_COMMIT);
    expect(
      again.fetchOffsets('g', [{ name: 't', partitionIndexes: [0] }]).topics[0].partitions[0].committedOffset,
    ).toBe(10n);
    again.completeTxnOffsets(0, 9n, true);
    expect(got()).toMatchObject({ committedOffset: 20n, errorCode: E.NONE });
  });

  it('check the member and generation when the producer sends them', async () => {
    const { c } = setup();
    const r = await c.commitTxnOffsets({
      groupId: 'g',
      generationId: 3,
      memberId: 'm',
      groupInstanceId: null,
      retentionTimeMs: -1,
      producerId: 1n,
      producerEpoch: 0,
      topics: [
        {
          name: 't',
          partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }],
        },
      ],
    });
    expect(r[0].partitions[0].errorCode).toBe(E.UNKNOWN_MEMBER_ID);
  });
});
