// The message browser's reads: one page of records from a topic, through @sluice/client's
// consumer (assigned partitions, no group). Bounded three ways so a page never holds more than
// it shows: at most `limit` kept records, at most MAX_SCANNED looked at (a filter that matches
// nothing stops there), and a deadline.
import { Consumer, topic as rawTopic } from '@sluice/client';
import type { ClusterView } from './cluster.js';

export const MAX_LIMIT = 500;
export const MAX_SCANNED = 10_000;
export const BROWSE_DEADLINE_MS = 5_000;

export type StartFrom =
  | { kind: 'beginning' }
  | { kind: 'offset'; offset: bigint }
  | { kind: 'timestamp'; ms: number }
  | { kind: 'newest' };

export interface BrowseQuery {
  topic: string;
  /** One partition, or null for all. */
  partition: number | null;
  from: StartFrom;
  limit: number;
  /** Keep only records whose key (or value, or a header value) contains this text. */
  filter: string | null;
  filterField: 'any' | 'key' | 'value';
}

export interface BrowsedRecord {
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer | null]>;
}

export interface BrowseResult {
  records: BrowsedRecord[];
  scanned: number;
  /** Why reading stopped before every partition's end: 'limit', 'scan-bound', 'deadline', or null. */
  stoppedBy: 'limit' | 'scan-bound' | 'deadline' | null;
  /** Where the next page of a single partition starts, when there is more. */
  nextOffset: bigint | null;
}

function contains(buf: Buffer | null, needle: Buffer): boolean {
  return buf !== null && buf.indexOf(needle) >= 0;
}

function matches(r: BrowsedRecord, q: BrowseQuery, needle: Buffer | null): boolean {
  if (needle === null) return true;
  if (q.filterField === 'key') return contains(r.key, needle);
  if (q.filterField === 'value') return contains(r.value, needle);
  return contains(r.key, needle) || contains(r.value, needle) || r.headers.some(([, v]) => contains(v, needle));
}

export async function browse(cluster: ClusterView, q: BrowseQuery): Promise<BrowseResult> {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_LIMIT) {
    throw new RangeError(`limit must be 1..${MAX_LIMIT}`);
  }
  const info = await cluster.topic(q.topic);
  const partitions =
    q.partition === null
      ? info.partitions.map((p) => p.partition)
      : [q.partition].filter((p) => info.partitions.some((x) => x.partition === p));
  if (partitions.length === 0) throw new RangeError(`${q.topic} has no partition ${q.partition}`);
  const bounds = await cluster.offsets(q.topic, partitions);
  let starts: bigint[];
  if (q.from.kind === 'beginning') starts = bounds.map((b) => b.start);
  else if (q.from.kind === 'offset') {
    const o = q.from.offset;
    starts = bounds.map((b) => (o < b.start ? b.start : o > b.end ? b.end : o));
  } else if (q.from.kind === 'newest') {
    const n = BigInt(q.limit);
    starts = bounds.map((b) => (b.end - n > b.start ? b.end - n : b.start));
  } else {
    const found = await cluster.admin.listOffsets(
      partitions.map((partition) => ({ topic: q.topic, partition })),
      q.from.ms,
    );
    // No record at or after the time: nothing to read in that partition.
    starts = found.map((f, i) => (f.offset < 0n ? bounds[i].end : f.offset));
  }
  const pending = new Map<number, bigint>(); // partition → end offset still to reach
  partitions.forEach((p, i) => {
    if (starts[i] < bounds[i].end) pending.set(p, bounds[i].end);
  });
  const result: BrowseResult = { records: [], scanned: 0, stoppedBy: null, nextOffset: null };
  if (pending.size === 0) return result;

  const needle = q.filter ? Buffer.from(q.filter, 'utf8') : null;
  const newest = q.from.kind === 'newest';
  const consumer = new Consumer(cluster.clientOptions('sluice-console-browser'), {
    maxWaitMs: 200,
    maxPartitionBytes: 256 * 1024,
    maxBytes: 1024 * 1024,
    maxPrefetchBytes: 2 * 1024 * 1024,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void consumer.close();
  }, BROWSE_DEADLINE_MS);
  let lastOffset = -1n;
  try {
    await consumer.assign(
      [...pending.keys()].map((partition) => ({
        topic: q.topic,
        partition,
        offset: starts[partitions.indexOf(partition)],
      })),
    );
    for await (const r of consumer.records(rawTopic(q.topic))) {
      result.scanned++;
      const end = pending.get(r.partition);
      if (end === undefined || r.offset >= end) continue; // written after the page was asked for
      lastOffset = r.offset;
      if (r.offset + 1n >= end) pending.delete(r.partition);
      const rec: BrowsedRecord = {
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        // Repeated keys are shown each time, in record order.
        headers: (r.headerList ?? []).map((h) => [h.key, h.value]),
      };
      if (matches(rec, q, needle)) {
        result.records.push(rec);
        // The newest N over several partitions: keep the newest by timestamp, never more than 2N.
        if (newest && result.records.length > 2 * q.limit) trimNewest(result.records, q.limit);
      }
      if (!newest && result.records.length >= q.limit) {
        result.stoppedBy = pending.size > 0 ? 'limit' : null;
        break;
      }
      if (pending.size === 0) break;
      if (result.scanned >= MAX_SCANNED) {
        result.stoppedBy = 'scan-bound';
        break;
      }
    }
    if (timedOut && pending.size > 0) result.stoppedBy = 'deadline';
  } finally {
    clearTimeout(timer);
    await consumer.close();
  }
  if (newest) trimNewest(result.records, q.limit);
  result.records.sort((a, b) =>
    a.partition !== b.partition ? a.partition - b.partition : a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0,
  );
  if (q.partition !== null && !newest && pending.size > 0 && lastOffset >= 0n) result.nextOffset = lastOffset + 1n;
  return result;
}

function trimNewest(records: BrowsedRecord[], n: number): void {
  records.sort((a, b) =>
    a.timestamp > b.timestamp ? -1 : a.timestamp < b.timestamp ? 1 : a.offset > b.offset ? -1 : 1,
  );
  records.length = Math.min(records.length, n);
}
