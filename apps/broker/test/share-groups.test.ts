import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Kafka, type ShareConsumer, topic } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { builtCli, startInProcess, tempDir, until } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

const T = topic('queue');
const RECORDS = 300;
let broker: RunningBroker;
let dataDir: string;

beforeAll(async () => {
  dataDir = tempDir('sluice-share-');
  broker = await startInProcess({
    'log.dirs': dataDir,
    'offsets.topic.num.partitions': '3',
    'share.coordinator.state.topic.num.partitions': '3',
    'group.share.record.lock.duration.ms': '1000',
    'group.share.delivery.count.limit': '3',
  });
  const admin = new Kafka({ brokers: [broker.bootstrap] }).admin();
  await admin.createTopics([
    { name: 'queue', numPartitions: 1 },
    { name: 'redeliver', numPartitions: 1 },
  ]);
  await admin.close();
});

afterAll(async () => {
  await broker?.stop();
});

async function produce(name: string, n: number, from = 0): Promise<void> {
  const producer = new Kafka({ brokers: [broker.bootstrap] }).producer();
  const t = topic(name);
  for (let i = from; i < from + n; i += 50) {
    const chunk = Array.from({ length: Math.min(50, from + n - i) }, (_, j) => i + j);
    await Promise.all(chunk.map((v) => producer.send(t, { key: null, value: Buffer.from(String(v)) })));
  }
  await producer.close();
}

/** Waits until the share group has fetched the partition once (share.auto.offset.reset=latest starts there). */
async function initialized(group: string, topicName: string): Promise<void> {
  const shares = broker.context.groups.shareGroups;
  const topicId = broker.context.topics.get(topicName)?.topicId as string;
  await until(
    'share-partition initialized',
    () => shares?.coordinator.existingSharePartition(group, topicId, 0) !== undefined,
  );
}

describe('share groups (KIP-932) with @sluice/client share consumers', () => {
  it('five consumers on one partition each get records, and no record is held by two at once', async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap] });
    const consumers: ShareConsumer[] = Array.from({ length: 5 }, () =>
      kafka.shareConsumer({ groupId: 'five', maxRecords: 5, maxWaitMs: 200 }),
    );
    const holding = new Map<string, string>(); // offset -> member now holding it
    const delivered = new Map<string, number>(); // member -> records
    const done = new Set<string>();
    let overlap = 0;
    const loops = consumers.map(async (c) => {
      for await (const r of c.records(T)) {
        const key = r.offset.toString();
        if (holding.has(key)) overlap++;
        holding.set(key, c.memberId);
        delivered.set(c.memberId, (delivered.get(c.memberId) ?? 0) + 1);
        // Hold it a while so that others fetch meanwhile.
        await new Promise((res) => setTimeout(res, 5));
        holding.delete(key);
        done.add(key);
        r.ack();
        if (done.size >= RECORDS) break;
      }
    });
    await initialized('five', 'queue');
    await produce('queue', RECORDS);
    await until('every record consumed', () => done.size >= RECORDS, 30_000);
    await Promise.all(consumers.map((c) => c.close()));
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 2_000))]);
    expect(overlap).toBe(0);
    expect(done.size).toBe(RECORDS);
    expect([...delivered.keys()].length).toBe(5);
    for (const n of delivered.values()) expect(n).toBeGreaterThan(0);
    // Every record accepted: the share-partition start offset is past them all.
    const topicId = broker.context.topics.get('queue')?.topicId as string;
    const sp = broker.context.groups.shareGroups?.coordinator.existingSharePartition('five', topicId, 0);
    await until('start offset past the records', () => sp?.startOffset === BigInt(RECORDS));
  });

  it('released and timed-out records come back with a growing delivery count; rejected ones are archived', async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap] });
    const c = kafka.shareConsumer({ groupId: 'redo', maxRecords: 1, maxWaitMs: 200 });
    const counts = new Map<string, number[]>();
    const loop = (async () => {
      for await (const r of c.records(topic('redeliver'))) {
        const value = (r.value as Buffer).toString();
        counts.set(value, [...(counts.get(value) ?? []), r.deliveryCount]);
        if (value === '0')
          r.release(); // back at once, until the limit (3) archives it
        else if (value === '1')
          r.reject(); // archived now
        else if (value === '2' && r.deliveryCount === 1) {
          // Held past its lock (1 s): the broker takes it back and delivers it again.
          await new Promise((res) => setTimeout(res, 1_300));
          r.ack();
        } else r.ack();
      }
    })();
    await initialized('redo', 'redeliver');
    await produce('redeliver', 4);
    await until(
      'redeliveries',
      () => (counts.get('0')?.length ?? 0) >= 3 && (counts.get('2')?.length ?? 0) >= 2,
      20_000,
    );
    await new Promise((res) => setTimeout(res, 1_500));
    await c.close();
    await loop;
    expect(counts.get('0')).toEqual([1, 2, 3]);
    expect(counts.get('1')).toEqual([1]);
    expect(counts.get('2')).toEqual([1, 2]);
    expect(counts.get('3')).toEqual([1]);
  });

  it('sluice group describe shows a share group: members, epochs, start offsets and lag', async () => {
    builtCli();
    const kafka = new Kafka({ brokers: [broker.bootstrap] });
    const c = kafka.shareConsumer({ groupId: 'shown', maxWaitMs: 100, maxRecords: 3 });
    let seen = 0;
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const loop = (async () => {
      for await (const r of c.records(T)) {
        seen++;
        // Three accepted (sent with the next fetch: three records per fetch), then the fourth is held (and the
        // fifth, fetched with it) while the CLI describes.
        if (seen === 4) await gate;
        r.ack();
      }
    })();
    await initialized('shown', 'queue');
    const base = broker.context.topics.get('queue')?.partitions[0]?.log.highWatermark ?? 0n;
    await produce('queue', 5, 1000);
    await until('records seen', () => seen >= 4);
    // Not spawnSync: the broker answering it runs in this process.
    const out = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, 'group', 'describe', 'shown', '--bootstrap-server', broker.bootstrap],
        { timeout: 30_000 },
        (err, stdout, stderr) => resolve({ status: err ? 1 : 0, stdout, stderr }),
      );
    });
    open();
    await c.close();
    await loop;
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^Share group shown \(assignor simple\) is Stable at epoch 1 with 1 member\(s\)\./);
    expect(out.stdout).toContain(`${c.memberId}  `);
    expect(out.stdout).toMatch(/queue-0/);
    // Three accepted: the start offset moved past them; the two still held count as lag.
    expect(out.stdout).toMatch(new RegExp(`queue\\s+0\\s+${base + 3n}\\s+2\\n`));
  });

  it('share.isolation.level=read_committed: only committed records, none past the last stable offset', async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap] });
    const admin = kafka.admin();
    await admin.createTopics([{ name: 'txq', numPartitions: 1 }]);
    await admin.incrementalAlterConfigs(32, 'rc', [
      { name: 'share.isolation.level', value: 'read_committed' },
      { name: 'share.auto.offset.reset', value: 'earliest' },
    ]);
    await admin.close();
    const t = topic('txq');
    const producer = kafka.producer({ transactionalId: 'share-rc' });
    await producer.initTransactions();
    producer.beginTransaction();
    await producer.send(t, { key: null, value: Buffer.from('aborted-1') });
    await producer.send(t, { key: null, value: Buffer.from('aborted-2') });
    await producer.abortTransaction();
    await producer.transaction(async (p) => {
      await p.send(t, { key: null, value: Buffer.from('committed-1') });
      await p.send(t, { key: null, value: Buffer.from('committed-2') });
    });
    // A transaction left open: its record is past the last stable offset until the commit.
    producer.beginTransaction();
    await producer.send(t, { key: null, value: Buffer.from('open-1') });
    const seen: string[] = [];
    const c = kafka.shareConsumer({ groupId: 'rc', maxWaitMs: 100 });
    const loop = (async () => {
      for await (const r of c.records(t)) seen.push((r.value as Buffer).toString());
    })();
    await until('the committed records', () => seen.length >= 2);
    // Bounded wait for anything more: the open transaction must not show.
    const deadline = Date.now() + 500;
    await until('a quiet moment', () => Date.now() >= deadline);
    expect(seen).toEqual(['committed-1', 'committed-2']);
    await producer.commitTransaction();
    await until('the record of the committed transaction', () => seen.length >= 3);
    expect(seen).toEqual(['committed-1', 'committed-2', 'open-1']);
    await c.close();
    await loop;
    await producer.close();
  });

  it('lists and describes share groups as Kafka does, and keeps share state across a restart', async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap] });
    const c = kafka.shareConsumer({ groupId: 'listed', maxWaitMs: 100 });
    const loop = (async () => {
      for await (const r of c.records(T)) r.release();
    })();
    await initialized('listed', 'queue');
    const shares = broker.context.groups.shareGroups;
    const d = shares?.coordinator.describe(['listed'])[0];
    expect(d && 'members' in d ? d.members[0]?.assignment : null).toEqual([
      { topicId: broker.context.topics.get('queue')?.topicId, topicName: 'queue', partitions: [0] },
    ]);
    await c.close();
    await loop;
    // A group config, set through IncrementalAlterConfigs on the GROUP resource (type 32).
    const admin = kafka.admin();
    await admin.incrementalAlterConfigs(32, 'listed', [{ name: 'share.delivery.count.limit', value: '7' }]);
    await admin.close();
    await until('listed is empty', () => (shares?.coordinator.memberCount('listed') ?? 1) === 0);
    const before = shares?.coordinator.describe(['listed'])[0];
    const epochBefore = before && 'groupEpoch' in before ? before.groupEpoch : -1;
    expect(epochBefore).toBeGreaterThan(0);
    // The state of group 'five' as persisted: start offset past the 300 accepted records.
    await broker.stop();
    broker = await startInProcess({
      'log.dirs': dataDir,
      'offsets.topic.num.partitions': '3',
      'share.coordinator.state.topic.num.partitions': '3',
    });
    const topicId = broker.context.topics.get('queue')?.topicId as string;
    const sp = broker.context.groups.shareGroups?.coordinator.existingSharePartition('five', topicId, 0);
    expect(sp?.startOffset).toBe(BigInt(RECORDS));
    // The group itself (its ShareGroupMetadata record: existence and epoch) and its configs are back too.
    const after = broker.context.groups.shareGroups?.coordinator.describe(['listed'])[0];
    expect(after).toMatchObject({ groupId: 'listed', groupState: 'Empty', groupEpoch: epochBefore });
    expect(broker.context.groups.shareGroups?.groupConfigs.get('listed', 'share.delivery.count.limit')).toBe('7');
    expect(broker.context.groups.shareGroups?.coordinator.partitionConfig('listed').deliveryCountLimit).toBe(7);
  });
});
