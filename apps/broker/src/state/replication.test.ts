import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedMetadataStore, type PartitionRecord } from '@sluice/cluster/core';
import { PartitionLog } from '@sluice/log';
import { buildRecordBatchSync } from '@sluice/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { AppendNotifier } from './append-notifier.js';
import { Partition } from './partition.js';
import { HIGH_WATERMARK_CHECKPOINT, ReplicationService } from './replication.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setUp(replicas: number[]) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-replication-'));
  dirs.push(dir);
  const store = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
  const reg = await store.registerBroker({ nodeId: 1, incarnationId: 'i', listeners: [], rack: null });
  const fence = { kind: 'broker' as const, nodeId: 1, brokerEpoch: reg.brokerEpoch };
  const record: PartitionRecord = {
    topicId: 'tid',
    partition: 0,
    replicas,
    isr: replicas,
    leader: 1,
    leaderEpoch: 0,
    partitionEpoch: 0,
    addingReplicas: [],
    removingReplicas: [],
  };
  await store.createTopic({ name: 't', topicId: 'tid', configs: {}, partitionCount: 1 }, [record], fence);
  const service = () =>
    new ReplicationService({
      nodeId: 1,
      store,
      notifier: new AppendNotifier(),
      fence: () => fence,
      lagMaxMs: 30_000,
      logger: createLogger('silent'),
      dataDir: dir,
      checkpointIntervalMs: 60_000,
    });
  const open = () => new Partition('t', 0, PartitionLog.open(join(dir, 't-0')));
  return { dir, service, open };
}

const batch = (n: number) =>
  buildRecordBatchSync({ records: Array.from({ length: n }, (_, i) => ({ value: `v${i}` })) });

describe('ReplicationService: the high watermark across restarts', () => {
  it('a replicated partition comes back with its checkpointed high watermark, not its log end', async () => {
    const { service, open } = await setUp([1, 2]);
    const first = service();
    const p = open();
    first.attach(p);
    p.appendFromClient(batch(5));
    expect(p.log.highWatermark).toBe(0n); // follower 2 has nothing yet
    first.onFollowerFetch(p, 2, 3n, 0n);
    expect(p.log.highWatermark).toBe(3n);
    first.close();
    p.log.close();

    const again = open();
    expect(again.log.highWatermark).toBe(5n); // what the log alone would say
    service().attach(again);
    expect(again.log.highWatermark).toBe(3n);
    again.log.close();
  });

  it('a single replica keeps its high watermark at the log end and writes no checkpoint', async () => {
    const { dir, service, open } = await setUp([1]);
    const s = service();
    const p = open();
    s.attach(p);
    p.appendFromClient(batch(4));
    expect(p.log.highWatermark).toBe(4n);
    s.close();
    p.log.close();
    expect(existsSync(join(dir, HIGH_WATERMARK_CHECKPOINT))).toBe(false);
  });
});
