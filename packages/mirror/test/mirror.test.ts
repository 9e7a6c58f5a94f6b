// Sluice -> Sluice on loopback: two embedded brokers, the mirror in this process.
import type { RunningBroker } from '@sluice/broker';
import { Admin, ConfigResource, Consumer, Producer, topic } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMirrorConfig } from '../src/config.js';
import { MirrorMaker } from '../src/mirror.js';
import { decodeCheckpoint, decodeHeartbeat, decodeOffsetSync } from '../src/records.js';
import { collectingLogger, readAll, sluice, totalRecords, waitFor } from './helpers.js';

const PARTITIONS = 3;
const PER_PARTITION = 1000;
const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
// Recent, distinct timestamps (old ones would fall to retention.ms on the source).
const BASE_TS = Date.now() - 3_600_000;

let a: RunningBroker;
let b: RunningBroker;

beforeAll(async () => {
  [a, b] = await Promise.all([sluice(), sluice()]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

function config(extra: Record<string, string> = {}) {
  return parseMirrorConfig({
    clusters: 'A, B',
    'A.bootstrap.servers': a.bootstrap,
    'B.bootstrap.servers': b.bootstrap,
    'A->B.enabled': 'true',
    'A->B.topics': 'orders.*',
    'emit.checkpoints.interval.seconds': '1',
    'sync.group.offsets.enabled': 'true',
    'sync.group.offsets.interval.seconds': '1',
    'refresh.topics.interval.seconds': '1',
    'sync.topic.configs.interval.seconds': '1',
    'offset.flush.interval.ms': '200',
    'progress.interval.seconds': '1',
    ...extra,
  });
}

/** Keyed records with three headers each (one key repeated), to explicit partitions, in batches of each codec. */
async function produce(name: string, partitions: number[], count: number, from = 0): Promise<void> {
  const t = topic(name);
  for (const [i, compression] of COMPRESSIONS.entries()) {
    const producer = new Producer({ brokers: [a.bootstrap] }, { compression, lingerMs: 2 });
    const sends: Promise<unknown>[] = [];
    for (const p of partitions) {
      for (let n = from; n < from + count; n++) {
        if (n % COMPRESSIONS.length !== i) continue;
        sends.push(
          producer.send(t, {
            key: Buffer.from(`k-${p}-${n}`),
            value: n % 97 === 0 ? null : Buffer.from(`v-${p}-${n}-${'x'.repeat(n % 50)}`),
            headers: [
              { key: 'seq', value: Buffer.from(String(n)) },
              { key: 'part', value: Buffer.from(String(p)) },
              { key: 'seq', value: Buffer.from(`again-${n}`) },
            ],
            partition: p,
            timestamp: BASE_TS + n,
          }),
        );
      }
    }
    await Promise.all(sends);
    await producer.close();
  }
}

describe('sluice -> sluice', () => {
  it(
    'copies records with keys, headers, timestamps and partitions once and in order; syncs configs, partitions and group offsets',
    { timeout: 180_000 },
    async () => {
      const admin = new Admin({ brokers: [a.bootstrap] });
      const targetAdmin = new Admin({ brokers: [b.bootstrap] });
      await admin.createTopics([
        { name: 'orders', numPartitions: PARTITIONS, configs: { 'retention.ms': '86400000' } },
      ]);
      await admin.createTopics([{ name: 'ignored', numPartitions: 1 }]);
      // Records produced in codec-ordered rounds: a record's position in the partition is not its number.
      await produce('orders', [0, 1, 2], PER_PARTITION);
      // A group that consumed half of each partition on the source.
      const half = BigInt(PER_PARTITION / 2);
      const billing = new Consumer({ brokers: [a.bootstrap] }, { groupId: 'billing', autoCommit: false });
      await billing.commitOffsets([0, 1, 2].map((partition) => ({ topic: 'orders', partition, offset: half })));
      await billing.close();

      const logger = collectingLogger();
      const mirror = new MirrorMaker(config(), { logger });
      await mirror.start();
      try {
        await waitFor(
          'every record on the target',
          async () => (await totalRecords([b.bootstrap], 'A.orders')) === 3000n,
        );
        const source = await readAll([a.bootstrap], 'orders');
        const target = await readAll([b.bootstrap], 'A.orders');
        expect([...target.keys()].sort()).toEqual([0, 1, 2]);
        for (const p of [0, 1, 2]) {
          const want = source.get(p) ?? [];
          const got = target.get(p) ?? [];
          expect(got.length).toBe(PER_PARTITION);
          for (let i = 0; i < want.length; i++) {
            expect(got[i].key).toEqual(want[i].key);
            expect(got[i].value).toEqual(want[i].value);
            expect(got[i].timestamp).toBe(want[i].timestamp);
            expect(got[i].headerList).toEqual(want[i].headerList);
            expect(got[i].headerList?.length).toBe(3);
          }
        }
        expect((await targetAdmin.listTopics()).includes('A.ignored')).toBe(false);
        const configs = await targetAdmin.describeConfigs(ConfigResource.TOPIC, 'A.orders', ['retention.ms']);
        expect(configs[0].value).toBe('86400000');

        // Offset syncs on the source, heartbeats and checkpoints on the target, in MM2's formats.
        const syncs = await readAll([a.bootstrap], 'mm2-offset-syncs.B.internal');
        const decoded = (syncs.get(0) ?? []).map((r) => decodeOffsetSync(r.key, r.value));
        expect(decoded.some((s) => s.topic === 'orders' && s.partition === 2)).toBe(true);
        await waitFor('a heartbeat', async () => (await totalRecords([b.bootstrap], 'heartbeats')) > 0n);
        const hb = (await readAll([b.bootstrap], 'heartbeats')).get(0) ?? [];
        expect(decodeHeartbeat(hb[0].key, hb[0].value)).toMatchObject({
          sourceClusterAlias: 'A',
          targetClusterAlias: 'B',
        });

        await waitFor(
          'checkpoints of billing',
          async () => (await totalRecords([b.bootstrap], 'A.checkpoints.internal')) >= 3n,
        );
        const cps = ((await readAll([b.bootstrap], 'A.checkpoints.internal')).get(0) ?? []).map((r) =>
          decodeCheckpoint(r.key, r.value),
        );
        const billingCps = cps.filter((c) => c.group === 'billing');
        expect(new Set(billingCps.map((c) => `${c.topic}-${c.partition}`))).toEqual(
          new Set(['A.orders-0', 'A.orders-1', 'A.orders-2']),
        );
        for (const c of billingCps) {
          expect(c.upstreamOffset).toBe(half);
          // Never past the record the group is at; at most offset.lag.max (100) + 1 before it.
          expect(c.downstreamOffset <= half).toBe(true);
          expect(c.downstreamOffset >= half - 101n).toBe(true);
        }

        // The group, inactive on the target, got the translated offsets: it goes on from there on B
        // without skipping the record it was at on A.
        await waitFor('billing offsets on the target', async () => {
          const o = await targetAdmin.fetchGroupOffsets('billing');
          return o.filter((x) => x.topic === 'A.orders').length === 3;
        });
        const committed = await targetAdmin.fetchGroupOffsets('billing');
        for (const o of committed) {
          const c = billingCps.find((x) => x.partition === o.partition);
          expect(o.offset).toBe(c?.downstreamOffset);
          const nextOnSource = (source.get(o.partition) ?? [])[Number(half)];
          const fromTarget = (target.get(o.partition) ?? []).slice(Number(o.offset));
          expect(fromTarget.some((r) => r.key?.equals(nextOnSource.key as Buffer))).toBe(true);
        }

        // New partitions and config changes follow.
        await admin.createPartitions([{ topic: 'orders', count: 4 }]);
        await produce('orders', [3], 10);
        await admin.incrementalAlterConfigs(ConfigResource.TOPIC, 'orders', [
          { name: 'retention.ms', value: '3600000' },
        ]);
        await waitFor(
          'the new partition copied',
          async () => (await totalRecords([b.bootstrap], 'A.orders')) === 3010n,
        );
        expect((await targetAdmin.describeTopics(['A.orders']))[0].partitions.length).toBe(4);
        await waitFor('the config change synced', async () => {
          const c = await targetAdmin.describeConfigs(ConfigResource.TOPIC, 'A.orders', ['retention.ms']);
          return c[0].value === '3600000';
        });

        // Progress and lag in the log and the metrics.
        await waitFor('a progress line', () => logger.lines.some((l) => /orders copied \d+ records/.test(l.msg)));
        const metrics = await mirror.metrics.registry.metrics();
        expect(metrics).toMatch(/sluice_mirror_records_total\{source="A",target="B",topic="orders"\} 3010/);
        expect(metrics).toMatch(/sluice_mirror_lag_records\{source="A",target="B",topic="orders"\} \d+/);
      } finally {
        await mirror.stop();
        await admin.close();
        await targetAdmin.close();
      }

      // A clean restart resumes from the stored positions: new records only, no duplicates.
      await produce('orders', [0], 5, PER_PARTITION);
      const again = new MirrorMaker(config(), { logger: collectingLogger() });
      await again.start();
      try {
        await waitFor('the new records', async () => (await totalRecords([b.bootstrap], 'A.orders')) === 3015n);
        await new Promise((r) => setTimeout(r, 500));
        expect(await totalRecords([b.bootstrap], 'A.orders')).toBe(3015n);
      } finally {
        await again.stop();
      }
    },
  );

  it('IdentityReplicationPolicy keeps topic names', async () => {
    const admin = new Admin({ brokers: [a.bootstrap] });
    await admin.createTopics([{ name: 'orders-identity', numPartitions: 2 }]);
    await admin.close();
    await produce('orders-identity', [0, 1], 20);
    const mirror = new MirrorMaker(
      config({
        'A->B.topics': 'orders-identity',
        'replication.policy.class': 'org.apache.kafka.connect.mirror.IdentityReplicationPolicy',
      }),
      { logger: collectingLogger() },
    );
    await mirror.start();
    try {
      await waitFor(
        'records under the same name',
        async () => (await totalRecords([b.bootstrap], 'orders-identity')) === 40n,
      );
    } finally {
      await mirror.stop();
    }
  });
});
