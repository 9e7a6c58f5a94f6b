import { ERROR_CODES, type FetchRequest, type FetchResponse, type FetchResponsePartitionData } from '@sluice/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FollowedPartition,
  fetcherIdFor,
  type LeaderConnection,
  ReplicaFetcher,
  ReplicaFetcherManager,
} from './replica-fetcher.js';

/** A follower's log as a list of [offset, epoch] records; a batch is one record. */
class FakeFollower implements FollowedPartition {
  readonly topic = 't';
  readonly topicId = '11111111-1111-1111-1111-111111111111';
  readonly partition = 0;
  records: { offset: bigint; epoch: number }[] = [];
  start = 0n;
  hw = 0n;
  fullTruncations: bigint[] = [];
  readonly log: FollowedPartition['log'];
  constructor() {
    const f = this;
    this.log = {
      get logStartOffset() {
        return f.start;
      },
      get logEndOffset() {
        return f.end();
      },
      get highWatermark() {
        return f.hw;
      },
      set highWatermark(v: bigint) {
        f.hw = v > f.end() ? f.end() : v;
      },
      latestEpoch: () => (f.records.length === 0 ? -1 : f.records[f.records.length - 1].epoch),
      endOffsetFor: (epoch: number) => {
        const older = f.records.filter((r) => r.epoch <= epoch);
        if (older.length === 0) return { epoch: -1, endOffset: -1n };
        const e = older[older.length - 1].epoch;
        const next = f.records.find((r) => r.epoch > e);
        return { epoch: e, endOffset: next ? next.offset : f.end() };
      },
    };
  }
  end(): bigint {
    return this.records.length === 0 ? this.start : this.records[this.records.length - 1].offset + 1n;
  }
  append(records: Buffer): void {
    // The test's "batches": 9 bytes each, offset (8) and epoch (1).
    for (let at = 0; at < records.length; at += 9) {
      this.records.push({ offset: records.readBigInt64BE(at), epoch: records.readInt8(at + 8) });
    }
  }
  truncateTo(offset: bigint): void {
    this.records = this.records.filter((r) => r.offset < offset);
    if (this.hw > this.end()) this.hw = this.end();
  }
  truncateFullyAndStartAt(offset: bigint): void {
    this.records = [];
    this.start = offset;
    this.hw = offset;
    this.fullTruncations.push(offset);
  }
}

function batches(...recs: [number, number][]): Buffer {
  const b = Buffer.alloc(recs.length * 9);
  recs.forEach(([offset, epoch], i) => {
    b.writeBigInt64BE(BigInt(offset), i * 9);
    b.writeInt8(epoch, i * 9 + 8);
  });
  return b;
}

function answer(follower: FakeFollower, data: Partial<FetchResponsePartitionData>): FetchResponse {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    nodeEndpoints: [],
    responses: [
      {
        topic: '',
        topicId: follower.topicId,
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: -1n,
            lastStableOffset: -1n,
            logStartOffset: 0n,
            divergingEpoch: { epoch: -1, endOffset: -1n },
            currentLeader: { leaderId: -1, leaderEpoch: -1 },
            snapshotId: { endOffset: -1n, epoch: -1 },
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: Buffer.alloc(0),
            ...data,
          },
        ],
      },
    ],
  };
}

/** A leader that answers each fetch with the next scripted answer, then waits. */
function scriptedLeader(script: ((req: FetchRequest) => FetchResponse)[], leaderStart = 0n) {
  const requests: FetchRequest[] = [];
  const connection: LeaderConnection = {
    fetch: async (req) => {
      requests.push(req);
      const next = script.shift();
      if (!next) return new Promise<FetchResponse>(() => {});
      return next(req);
    },
    logStartOffset: async () => leaderStart,
    close: () => {},
  };
  return { connection, requests };
}

const fetchers: ReplicaFetcher[] = [];
function fetcher(connection: LeaderConnection) {
  const f = new ReplicaFetcher({
    nodeId: 2,
    maxWaitMs: 500,
    minBytes: 1,
    partitionMaxBytes: 1 << 20,
    responseMaxBytes: 10 << 20,
    backoffMs: 20,
    connect: async () => connection,
  });
  fetchers.push(f);
  return f;
}
afterEach(async () => {
  await Promise.all(fetchers.splice(0).map((f) => f.stop()));
});

async function until(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ReplicaFetcher', () => {
  it('fetches as a replica from its log end, appends the leader batches and learns the high watermark', async () => {
    const f = new FakeFollower();
    const { connection, requests } = scriptedLeader([
      () => answer(f, { records: batches([0, 3], [1, 3]), highWatermark: 1n }),
      () => answer(f, { records: batches([2, 4]), highWatermark: 3n }),
    ]);
    fetcher(connection).add(f, 4);
    await until(() => requests.length === 3);
    expect(f.records.map((r) => r.offset)).toEqual([0n, 1n, 2n]);
    expect(f.hw).toBe(3n);
    const [first, second, third] = requests;
    expect(first.replicaState.replicaId).toBe(2);
    expect(first.sessionEpoch).toBe(-1);
    expect(first.topics[0].partitions[0]).toMatchObject({
      fetchOffset: 0n,
      lastFetchedEpoch: -1,
      currentLeaderEpoch: 4,
    });
    expect(second.topics[0].partitions[0]).toMatchObject({ fetchOffset: 2n, lastFetchedEpoch: 3 });
    expect(third.topics[0].partitions[0]).toMatchObject({ fetchOffset: 3n, lastFetchedEpoch: 4 });
  });

  it('a diverging epoch (KIP-320) truncates to where both logs agree, and fetching goes on from there', async () => {
    const f = new FakeFollower();
    // Epoch 3 for offsets 0-4, then an epoch-4 tail 5-7 that the new leader never had.
    f.append(batches([0, 3], [1, 3], [2, 3], [3, 3], [4, 3], [5, 4], [6, 4], [7, 4]));
    const { connection, requests } = scriptedLeader([
      // The leader's epoch 4 ended at 6 (its epoch 5 started there).
      () => answer(f, { divergingEpoch: { epoch: 4, endOffset: 6n }, highWatermark: 5n }),
      () => answer(f, { records: batches([6, 5]), highWatermark: 7n }),
    ]);
    fetcher(connection).add(f, 5);
    await until(() => requests.length === 3);
    expect(requests[0].topics[0].partitions[0]).toMatchObject({ fetchOffset: 8n, lastFetchedEpoch: 4 });
    expect(requests[1].topics[0].partitions[0]).toMatchObject({ fetchOffset: 6n, lastFetchedEpoch: 4 });
    expect(f.records.map((r) => [r.offset, r.epoch])).toEqual([
      [0n, 3],
      [1n, 3],
      [2n, 3],
      [3n, 3],
      [4n, 3],
      [5n, 4],
      [6n, 5],
    ]);
  });

  it('an epoch the leader does not have at all narrows down over rounds', async () => {
    const f = new FakeFollower();
    f.append(batches([0, 1], [1, 1], [2, 2], [3, 2]));
    const { connection, requests } = scriptedLeader([
      // The leader never had epoch 2: its largest epoch below is 1, which ended at 1.
      () => answer(f, { divergingEpoch: { epoch: 1, endOffset: 1n } }),
    ]);
    fetcher(connection).add(f, 3);
    await until(() => requests.length === 2);
    expect(f.records.map((r) => r.offset)).toEqual([0n]);
  });

  it('below the leader log start (OFFSET_OUT_OF_RANGE) it restarts its log there', async () => {
    const f = new FakeFollower();
    const { connection, requests } = scriptedLeader(
      [() => answer(f, { errorCode: ERROR_CODES.OFFSET_OUT_OF_RANGE, highWatermark: -1n })],
      40n,
    );
    fetcher(connection).add(f, 1);
    await until(() => requests.length === 2);
    expect(f.fullTruncations).toEqual([40n]);
    expect(requests[1].topics[0].partitions[0].fetchOffset).toBe(40n);
  });

  it('a fenced epoch changes nothing and backs off', async () => {
    const f = new FakeFollower();
    f.append(batches([0, 1]));
    const { connection, requests } = scriptedLeader([
      () => answer(f, { errorCode: ERROR_CODES.FENCED_LEADER_EPOCH, records: batches([1, 1]) }),
    ]);
    fetcher(connection).add(f, 1);
    await until(() => requests.length === 2);
    expect(f.records.length).toBe(1);
  });
});

describe('ReplicaFetcherManager', () => {
  it('one fetcher per leader and fetcher id; a partition moves with its leader, an empty fetcher stops', async () => {
    const made: number[] = [];
    const m = new ReplicaFetcherManager(1, (leaderId) => {
      made.push(leaderId);
      return fetcher(scriptedLeader([]).connection);
    });
    const a = new FakeFollower();
    m.follow(a, 1, 0);
    expect(m.fetcherCount).toBe(1);
    m.follow(a, 3, 1);
    expect(made).toEqual([1, 3]);
    expect(m.fetcherCount).toBe(1);
    m.unfollow(a);
    expect(m.fetcherCount).toBe(0);
    await m.stop();
  });

  it('fetcher ids spread partitions over num.replica.fetchers', () => {
    const ids = new Set(Array.from({ length: 64 }, (_, p) => fetcherIdFor('orders', p, 4)));
    expect([...ids].sort()).toEqual([0, 1, 2, 3]);
  });
});
