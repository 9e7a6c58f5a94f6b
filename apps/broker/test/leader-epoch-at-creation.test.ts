// A single-replica partition records its leader epoch when it becomes leader (Kafka's makeLeader),
// not inside its first Produce: that write fsyncs leader-epoch-checkpoint, and on the broker's one
// event loop an fsync behind a busy disk's writeback held every connection (20–150 ms each, measured
// under the bench's load).

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { buildRecordBatchSync, CreateTopicsApi, OffsetForLeaderEpochApi, ProduceApi } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, startInProcess, tempDir } from './helpers.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const TOPIC = 'epoch-at-creation';

let broker: RunningBroker;
let raw: RawClient;
const dataDir = tempDir('sluice-epoch-');

beforeAll(async () => {
  broker = await startInProcess({ 'log.dirs': dataDir });
  raw = await RawClient.connect(broker.port);
  const created = await raw.send(CreateTopicsApi, 7, {
    topics: [{ name: TOPIC, numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(created.topics[0].errorCode).toBe(0);
});

afterAll(async () => {
  raw?.close();
  await broker?.stop();
});

const checkpointOf = (partition: number) => join(dataDir, `${TOPIC}-${partition}`, 'leader-epoch-checkpoint');

describe('leader epoch of a new single-replica partition', () => {
  it('OffsetForLeaderEpoch answers epoch 0 ending at the log end before anything is produced, as Kafka', async () => {
    const res = await raw.send(OffsetForLeaderEpochApi, 4, {
      replicaId: -1,
      topics: [{ topic: TOPIC, partitions: [{ partition: 1, currentLeaderEpoch: -1, leaderEpoch: 0 }] }],
    });
    const p = res.topics[0].partitions[0];
    expect({ errorCode: p.errorCode, leaderEpoch: p.leaderEpoch, endOffset: p.endOffset }).toEqual({
      errorCode: 0,
      leaderEpoch: 0,
      endOffset: 0n,
    });
  });

  it('the first Produce does not write leader-epoch-checkpoint (it was written at creation)', async () => {
    const before = statSync(checkpointOf(0), { throwIfNoEntry: false });
    expect(before, 'checkpoint written when the partition became leader').toBeDefined();
    const res = await raw.send(ProduceApi, 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [
        {
          name: TOPIC,
          topicId: ZERO_UUID,
          partitionData: [{ index: 0, records: buildRecordBatchSync({ records: [{ value: Buffer.from('a') }] }) }],
        },
      ],
    });
    expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
    // The checkpoint is replaced by rename when rewritten: the same inode means no write.
    const after = statSync(checkpointOf(0));
    expect(after.ino).toBe(before!.ino);
    expect(broker.context.topics.get(TOPIC)?.partitions[0]?.log.leaderEpochCache.all()).toEqual([
      { epoch: 0, startOffset: 0n },
    ]);
  });
});
