// The chaos suite's end checks: every acknowledged record is in its partition exactly once at the
// offset it was acknowledged with (so in acknowledgement order), no value is stored twice, and every
// replica of a partition holds the same bytes up to the high watermark (read from its segment files).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka } from '@sluice/client';
import { listOffset, RawClient, readPartition, sleep } from '../../apps/broker/test/helpers.js';
import type { ChaosCluster } from './cluster.js';
import type { AckLog } from './workload.js';

/** Waits until every partition of `topic` has a leader and all its replicas in the ISR. */
export async function settle(cluster: ChaosCluster, topic: string, timeoutMs = 120_000): Promise<void> {
  const admin = cluster.kafka('chaos-settle').admin();
  const deadline = Date.now() + timeoutMs;
  let last = '';
  try {
    for (;;) {
      try {
        const [t] = await admin.describeTopics([topic]);
        last = JSON.stringify(t.partitions);
        if (t.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length)) return;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) {
        const views = await brokerViews(cluster, topic);
        throw new Error(
          `${topic} not fully in sync after ${timeoutMs} ms: ${last}\n${replicaStates(cluster, topic)}\n${views}`,
        );
      }
      await sleep(500);
    }
  } finally {
    await admin.close().catch(() => {});
  }
}

/** The partitions as each broker's own metadata has them (a broker whose image is behind shows here). */
async function brokerViews(cluster: ChaosCluster, topic: string): Promise<string> {
  const out: string[] = [];
  for (const n of cluster.nodes.values()) {
    const admin = new Kafka({ brokers: [`127.0.0.1:${n.clientPort}`], clientId: 'chaos-view', retries: 1 }).admin();
    try {
      const [t] = await admin.describeTopics([topic]);
      out.push(`broker ${n.nodeId} sees ${JSON.stringify(t.partitions)}`);
    } catch (err) {
      out.push(`broker ${n.nodeId}: ${(err as Error).message}`);
    } finally {
      await admin.close().catch(() => {});
    }
  }
  return out.join('\n');
}

/** Each replica's leader-epoch checkpoint and log end, for a report on a partition that does not heal. */
function replicaStates(cluster: ChaosCluster, topic: string): string {
  const out: string[] = [];
  for (const n of cluster.nodes.values()) {
    for (const d of readdirSync(n.dataDir).filter((x) => x.startsWith(`${topic}-`))) {
      let epochs = '';
      let end = -1n;
      try {
        epochs = readFileSync(join(n.dataDir, d, 'leader-epoch-checkpoint'), 'utf8')
          .trim()
          .split('\n')
          .slice(2)
          .join(' | ');
        end = replicaEnd(join(n.dataDir, d));
      } catch (err) {
        epochs ||= (err as Error).message;
      }
      out.push(`broker ${n.nodeId} ${d}: log end ${end}, epochs ${epochs}`);
    }
  }
  return out.join('\n');
}

/** The offset after a replica's last whole batch. */
function replicaEnd(dir: string): bigint {
  let next = 0n;
  for (const f of readdirSync(dir)
    .filter((x) => /^\d{20}\.log$/.test(x))
    .sort()) {
    const buf = readFileSync(join(dir, f));
    for (let pos = 0; pos + 61 <= buf.length; ) {
      const size = 12 + buf.readInt32BE(pos + 8);
      if (size < 61 || pos + size > buf.length) break;
      next = buf.readBigInt64BE(pos) + BigInt(buf.readInt32BE(pos + 23)) + 1n;
      pos += size;
    }
  }
  return next;
}

export interface PartitionContent {
  partition: number;
  leader: number;
  highWatermark: bigint;
  /** Values by offset, as the leader serves them to consumers. */
  values: Map<bigint, string>;
}

/** Each partition read from its leader up to the high watermark (plain Fetch, no group). */
export async function readTopic(cluster: ChaosCluster, topic: string): Promise<PartitionContent[]> {
  const admin = cluster.kafka('chaos-reader').admin();
  try {
    const [t] = await admin.describeTopics([topic]);
    const out: PartitionContent[] = [];
    for (const p of t.partitions) {
      const client = await RawClient.connect(cluster.node(p.leader).clientPort);
      try {
        const hw = (await listOffset(client, topic, p.partition, -1n)).offset;
        const values = new Map<bigint, string>();
        for (const r of await readPartition(client, topic, p.partition)) {
          values.set(r.offset, r.value?.toString('utf8') ?? '');
        }
        out.push({ partition: p.partition, leader: p.leader, highWatermark: hw, values });
      } finally {
        client.close();
      }
    }
    return out.sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.close().catch(() => {});
  }
}

export interface AckCheck {
  acked: number;
  lost: string[];
  duplicated: string[];
  /** Acknowledged at one offset but stored at another, or stored out of its producer's send order. */
  misplaced: string[];
}

/** Every acknowledged value at its acknowledged offset once; no stored value twice. */
export function checkAcks(log: AckLog, content: PartitionContent[]): AckCheck {
  const where = new Map<string, { partition: number; offset: bigint }[]>();
  for (const c of content) {
    for (const [offset, value] of c.values) {
      const list = where.get(value) ?? [];
      list.push({ partition: c.partition, offset });
      where.set(value, list);
    }
  }
  const duplicated = [...where]
    .filter(([, at]) => at.length > 1)
    .map(([v, at]) => `${v} at ${JSON.stringify(at, big)}`);
  const lost: string[] = [];
  const misplaced: string[] = [];
  for (const a of log.acks) {
    const at = where.get(a.value);
    if (!at) lost.push(`${a.value} (acked at ${a.partition}/${a.offset})`);
    else if (!at.some((x) => x.partition === a.partition && x.offset === a.offset)) {
      misplaced.push(`${a.value}: acked at ${a.partition}/${a.offset}, stored at ${JSON.stringify(at, big)}`);
    }
  }
  // Per producer and partition, records sent later (a higher number) must sit at higher offsets:
  // the order of sending, which for an idempotent producer is also the order of acknowledgement
  // (the application may see two acknowledgements' callbacks in either order, so that is not used).
  const byProducer = new Map<string, { n: number; offset: bigint }[]>();
  for (const a of log.acks) {
    const key = `${a.producer}/${a.partition}`;
    const list = byProducer.get(key) ?? [];
    list.push({ n: sendNumber(a.value), offset: a.offset });
    byProducer.set(key, list);
  }
  for (const [key, list] of byProducer) {
    list.sort((x, y) => x.n - y.n);
    for (let i = 1; i < list.length; i++) {
      if (list[i].offset <= list[i - 1].offset) {
        misplaced.push(
          `${key}: record ${list[i].n} at ${list[i].offset}, not after record ${list[i - 1].n} at ${list[i - 1].offset}`,
        );
      }
    }
  }
  return { acked: log.acks.length, lost, duplicated, misplaced };
}

/** The number a producer gave a record: the digits after the last ':' or '.' of its value. */
function sendNumber(value: string): number {
  const m = /[:.](\d+)$/.exec(value);
  if (!m) throw new Error(`value ${value} carries no record number`);
  return Number(m[1]);
}

/**
 * Values a consumer read that the final log does not hold: a read above what was committed (the
 * high watermark must keep consumers from records that can still be lost).
 */
export function phantomReads(consumed: Iterable<string>, content: PartitionContent[]): string[] {
  const stored = new Set<string>();
  for (const c of content) for (const v of c.values.values()) stored.add(v);
  return [...consumed].filter((v) => !stored.has(v));
}

function big(_k: string, v: unknown) {
  return typeof v === 'bigint' ? String(v) : v;
}

/**
 * The bytes of one replica's log below `hw`: its segment files in order, whole batches with a base
 * offset below `hw`. Every length read is checked against the file; a torn or short log is reported.
 */
export function replicaBytes(dataDir: string, topic: string, partition: number, hw: bigint): Buffer {
  const dir = join(dataDir, `${topic}-${partition}`);
  const files = readdirSync(dir)
    .filter((f) => /^\d{20}\.log$/.test(f))
    .sort();
  const parts: Buffer[] = [];
  let next = -1n;
  for (const f of files) {
    const buf = readFileSync(join(dir, f));
    let pos = 0;
    while (pos + 61 <= buf.length) {
      const baseOffset = buf.readBigInt64BE(pos);
      const size = 12 + buf.readInt32BE(pos + 8);
      if (size < 61 || pos + size > buf.length) break; // a tail still being written
      if (baseOffset >= hw) break;
      parts.push(buf.subarray(pos, pos + size));
      next = baseOffset + BigInt(buf.readInt32BE(pos + 23)) + 1n;
      pos += size;
    }
  }
  if (hw > 0n && next < hw) throw new Error(`replica in ${dataDir} ends at ${next}, below the high watermark ${hw}`);
  return Buffer.concat(parts);
}

export interface ReplicaCheck {
  partition: number;
  highWatermark: bigint;
  bytes: number;
  identical: boolean;
  detail: string;
}

/**
 * Compares each partition's replicas byte for byte up to the leader's high watermark, retrying while
 * a follower is still catching up (bounded by `timeoutMs`).
 */
export async function checkReplicas(
  cluster: ChaosCluster,
  topic: string,
  content: PartitionContent[],
  timeoutMs = 60_000,
): Promise<ReplicaCheck[]> {
  const out: ReplicaCheck[] = [];
  for (const c of content) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let detail = '';
      let reference: Buffer | null = null;
      let identical = true;
      for (const n of cluster.nodes.values()) {
        try {
          const bytes = replicaBytes(n.dataDir, topic, c.partition, c.highWatermark);
          if (reference === null) reference = bytes;
          else if (!reference.equals(bytes)) {
            identical = false;
            detail = `broker ${n.nodeId}'s ${bytes.length} bytes differ from the first replica's ${reference.length}`;
          }
        } catch (err) {
          identical = false;
          detail = (err as Error).message;
        }
      }
      if (identical || Date.now() > deadline) {
        out.push({
          partition: c.partition,
          highWatermark: c.highWatermark,
          bytes: reference?.length ?? 0,
          identical,
          detail,
        });
        break;
      }
      await sleep(500);
    }
  }
  return out;
}
