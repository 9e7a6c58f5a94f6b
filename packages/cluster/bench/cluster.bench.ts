// Metadata write latency (embedded file vs etcd, side by side, medians) and controller takeover
// time after the holder dies (lease TTL 2 s), on loopback. Run: npm run bench -w @sluice/cluster
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EmbeddedMetadataStore,
  EtcdMetadataStore,
  initialPartitionRecords,
  LocalEtcd,
  type MetadataStore,
  type WriteFence,
} from '../src/index.js';

const WRITES = 200;
const TAKEOVERS = 3;
const TTL_S = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function writeLatencies(store: MetadataStore, nodeId: number): Promise<number[]> {
  await store.registerBroker({ nodeId, incarnationId: randomUUID(), listeners: [], rack: null });
  const c = await store.campaign(nodeId);
  const fence: WriteFence = { kind: 'controller', nodeId, controllerEpoch: c.controllerEpoch };
  const topicId = randomUUID();
  await store.createTopic(
    { name: `bench-${topicId}`, topicId, configs: {}, partitionCount: 1 },
    initialPartitionRecords(topicId, 0, [[nodeId]], () => true),
    fence,
  );
  const out: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const p = store.image.partition(topicId, 0)!;
    const t0 = process.hrtime.bigint();
    await store.alterPartitions(
      [
        {
          expectedPartitionEpoch: p.partitionEpoch,
          next: { ...p, leaderEpoch: p.leaderEpoch + 1, partitionEpoch: p.partitionEpoch + 1 },
        },
      ],
      fence,
    );
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

const etcd = await LocalEtcd.start();
const dir = mkdtempSync(join(tmpdir(), 'sluice-cluster-bench-'));
try {
  const embedded = EmbeddedMetadataStore.open({ dir, nodeId: 1, clusterId: null });
  const onEtcd = await EtcdMetadataStore.open({
    endpoints: etcd.endpoints,
    clusterId: `bench-${Date.now()}`,
    leaseTtlSeconds: TTL_S,
  });
  const e = median(await writeLatencies(embedded, 1));
  const x = median(await writeLatencies(onEtcd, 1));
  console.log(
    `partition write (CAS, visible in the cache), median of ${WRITES}: embedded ${e.toFixed(2)} ms, etcd ${x.toFixed(2)} ms (${(x / e).toFixed(2)}x)`,
  );
  await onEtcd.close();

  const takeovers: number[] = [];
  for (let i = 0; i < TAKEOVERS; i++) {
    const cluster = `takeover-${Date.now()}-${i}`;
    const a = await EtcdMetadataStore.open({ endpoints: etcd.endpoints, clusterId: cluster, leaseTtlSeconds: TTL_S });
    const b = await EtcdMetadataStore.open({ endpoints: etcd.endpoints, clusterId: cluster, leaseTtlSeconds: TTL_S });
    await a.registerBroker({ nodeId: 1, incarnationId: randomUUID(), listeners: [], rack: null });
    await b.registerBroker({ nodeId: 2, incarnationId: randomUUID(), listeners: [], rack: null });
    await a.campaign(1);
    const won = b.campaign(2);
    await a.close(); // dies: no resignation
    const t0 = Date.now();
    await won;
    takeovers.push(Date.now() - t0);
    await b.close();
  }
  console.log(
    `controller takeover after the holder died (lease TTL ${TTL_S} s), median of ${TAKEOVERS}: ${median(takeovers)} ms`,
  );
} finally {
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
