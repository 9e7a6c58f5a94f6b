// Fetch responses carry the log's record batches by reference (views of mapped segments, or the
// fd read's own Buffer) until the socket has sent them. A slow reader keeps such a response in
// the broker's write queue while its segments are deleted (DeleteRecords, topic deletion) and
// replaced by other data under the same names: the reader must still get every batch whole and
// unchanged, and the broker must keep serving.

import fs from 'node:fs';
import { ViewLease } from '@sluice/log';
import {
  buildRecordBatchSync,
  CreateTopicsApi,
  DeleteRecordsApi,
  DeleteTopicsApi,
  FetchApi,
  type FetchResponse,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import {
  type BrokerProcess,
  decodeRecords,
  fetchRequest,
  RawClient,
  sleep,
  spawnBroker,
  startInProcess,
} from './helpers.js';

const PARTITIONS = 6;
const RECORDS_PER_BATCH = 50;
const BATCHES_PER_PARTITION = 120; // ~6 MiB a partition, in two segments
const SEGMENT_BYTES = 4 << 20; // a fetch reads one segment: ~24 MiB a response, more than socket buffers hold
const VALUE_BYTES = 1000;

/** The value of the record at `offset`, distinct per generation so stale or overwritten bytes show. */
function producedValue(generation: number, partition: number, offset: number): Buffer {
  const v = Buffer.alloc(VALUE_BYTES, (offset * 7 + partition + generation * 13) % 251);
  v.write(`g${generation} p${partition} o${offset}`);
  return v;
}

async function createAndFill(client: RawClient, topic: string, generation: number): Promise<void> {
  const created = await client.send(CreateTopicsApi, 7, {
    topics: [
      {
        name: topic,
        numPartitions: PARTITIONS,
        replicationFactor: 1,
        assignments: [],
        configs: [{ name: 'segment.bytes', value: String(SEGMENT_BYTES) }],
      },
    ],
    timeoutMs: 10_000,
  });
  expect(created.topics[0].errorCode).toBe(0);
  for (let b = 0; b < BATCHES_PER_PARTITION; b++) {
    const partitionData = Array.from({ length: PARTITIONS }, (_, index) => ({
      index,
      records: buildRecordBatchSync({
        records: Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({
          value: producedValue(generation, index, b * RECORDS_PER_BATCH + i),
        })),
      }),
    }));
    const res = await client.send(ProduceApi, 9, {
      acks: 1,
      timeoutMs: 10_000,
      topicData: [{ name: topic, topicId: ZERO_UUID, partitionData }],
    });
    for (const p of res.responses[0].partitionResponses) expect(p.errorCode).toBe(0);
  }
}

/**
 * Every partition answers batches from offset 0 as produced: with `wholeSegment`, the whole first
 * segment it had; else as many as the fetch took, at least one batch.
 */
async function expectGenerationFrom0(res: FetchResponse, generation: number, wholeSegment = false): Promise<void> {
  expect(res.errorCode).toBe(0);
  const partitions = res.responses[0].partitions;
  expect(partitions.length).toBe(PARTITIONS);
  for (const p of partitions) {
    expect(p.errorCode).toBe(0);
    if (wholeSegment) expect(p.records!.length).toBeGreaterThan(SEGMENT_BYTES - 128 * 1024);
    // decodeRecords checks every batch's CRC.
    const records = await decodeRecords(p.partitionIndex, p.records);
    expect(records.length % RECORDS_PER_BATCH).toBe(0);
    expect(records.length).toBeGreaterThanOrEqual(RECORDS_PER_BATCH);
    records.forEach((r, i) => {
      if (r.offset !== BigInt(i) || !r.value!.equals(producedValue(generation, p.partitionIndex, i))) {
        throw new Error(`partition ${p.partitionIndex} record ${i} (offset ${r.offset}) is not the one produced`);
      }
    });
  }
}

/** Every partition answers the whole first segment it had, batch for batch as produced. */
const expectWholeGeneration = (res: FetchResponse, generation: number) => expectGenerationFrom0(res, generation, true);

/** Mappings of deleted files under the broker's data dir, from /proc/PID/maps (Linux; [] elsewhere). */
function deletedMappings(broker: BrokerProcess): string[] {
  if (process.platform !== 'linux') return [];
  return fs
    .readFileSync(`/proc/${broker.child.pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l.includes(broker.dataDir) && l.endsWith('(deleted)'));
}

/** Deleted files under the broker's data dir it still holds open, from /proc/PID/fd (Linux; [] elsewhere). */
function deletedOpenFiles(broker: BrokerProcess): string[] {
  if (process.platform !== 'linux') return [];
  const out: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${broker.child.pid}/fd`)) {
    try {
      const target = fs.readlinkSync(`/proc/${broker.child.pid}/fd/${fd}`);
      if (target.includes(broker.dataDir) && target.endsWith('(deleted)')) out.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Waits (bounded) for the broker to hold no mapping or descriptor of a deleted file; returns those left. */
async function deletedMappingsGone(broker: BrokerProcess, withinMs = 5000): Promise<string[]> {
  const until = Date.now() + withinMs;
  const held = () => [...deletedMappings(broker), ...deletedOpenFiles(broker)];
  let left = held();
  while (left.length > 0 && Date.now() < until) {
    await sleep(50);
    left = held();
  }
  return left;
}

// fd with sendfile (the default) sends records straight from the segment files, whose descriptors
// the response keeps open; fd without it and mmap hold read copies or mapped views instead.
const MODES = [
  { io: 'mmap', sendfile: false },
  { io: 'fd', sendfile: true },
  { io: 'fd', sendfile: false },
] as const;

for (const { io, sendfile } of MODES) {
  describe(`a Fetch response still being written when its segments go away (log.io=${io}, sendfile ${sendfile ? 'on' : 'off'})`, () => {
    let broker: BrokerProcess;
    beforeAll(async () => {
      broker = await spawnBroker({ overrides: { 'log.io': io, 'log.io.sendfile': String(sendfile) } });
    }, 60_000);
    afterAll(async () => {
      await broker?.kill();
    });

    it('reaches a slow reader whole and unchanged; the broker keeps serving', async () => {
      const admin = await RawClient.connect(broker.port);
      const topic = 'zero-copy';
      await createAndFill(admin, topic, 1);

      const slow = await RawClient.connect(broker.port);
      const all = Array.from({ length: PARTITIONS }, (_, partition) => ({
        partition,
        fetchOffset: 0n,
        partitionMaxBytes: 64 << 20,
      }));
      const response = slow.send(FetchApi, 12, fetchRequest(topic, all));
      slow.socket.pause();
      // The broker answers at once; most of the ~24 MiB then waits in its write queue.
      await sleep(300);

      const deleted = await admin.send(DeleteRecordsApi, 2, {
        topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: -1n }] }],
        timeoutMs: 10_000,
      });
      expect(deleted.topics[0].partitions[0].errorCode).toBe(0);
      const gone = await admin.send(DeleteTopicsApi, 6, {
        topics: [{ name: topic, topicId: '00000000-0000-0000-0000-000000000000' }],
        timeoutMs: 10_000,
      });
      expect(gone.responses[0].errorCode).toBe(0);
      // The response in flight holds the deleted segments' mappings (and their disk space) ...
      // (the files go once the deletion has run: wait for it, bounded, rather than a fixed time).
      // (with sendfile: the deleted files' descriptors, which the response still sends from.)
      if ((io === 'mmap' || sendfile) && process.platform === 'linux') {
        const held = () => (io === 'mmap' ? deletedMappings(broker) : deletedOpenFiles(broker));
        const until = Date.now() + 10_000;
        while (held().length === 0 && Date.now() < until) await sleep(50);
        expect(held().length).toBeGreaterThan(0);
      }
      // The same names again, with other bytes: files (and freed pages) are reused.
      await createAndFill(admin, topic, 2);

      slow.socket.resume();
      await expectWholeGeneration(await response, 1);
      // ... until it has been written: then they go at once, not at the collector's leisure.
      expect(await deletedMappingsGone(broker)).toEqual([]);

      // The broker is alive and serves the new data.
      expect(broker.child.exitCode).toBeNull();
      const again = await admin.send(FetchApi, 12, fetchRequest(topic, all));
      await expectWholeGeneration(again, 2);
      slow.close();
      admin.close();
    }, 120_000);

    // fd reads under 1 MiB land in pooled slabs, taken back when the response has been written:
    // one still in the write queue must keep its bytes while other fetches read into slabs.
    it('keeps the bytes of a response in the write queue while other fetches read', async () => {
      const admin = await RawClient.connect(broker.port);
      await createAndFill(admin, 'held', 4);
      await createAndFill(admin, 'busy', 5);
      const slow = await RawClient.connect(broker.port);
      const from0 = Array.from({ length: PARTITIONS }, (_, partition) => ({
        partition,
        fetchOffset: 0n,
        partitionMaxBytes: 1 << 20,
      }));
      // Up to the bound, 4 of the 6 partitions' 4 MiB: more than loopback's socket buffers take (≤ ~10 MiB).
      const whole = from0.map((p) => ({ ...p, partitionMaxBytes: 4 << 20 }));
      const response = slow.send(FetchApi, 12, fetchRequest('held', whole));
      slow.socket.pause();
      // ~6 MiB: more than the socket buffers take, the rest waits in the broker's write queue.
      await sleep(300);
      for (let i = 0; i < 8; i++)
        await expectGenerationFrom0(await admin.send(FetchApi, 12, fetchRequest('busy', from0)), 5);
      slow.socket.resume();
      await expectGenerationFrom0(await response, 4);
      slow.close();
      admin.close();
    }, 120_000);

    it('frees the mappings of a deleted topic with no fetch in flight', async () => {
      const admin = await RawClient.connect(broker.port);
      const topic = 'deleted-while-idle';
      await createAndFill(admin, topic, 3);
      const all = Array.from({ length: PARTITIONS }, (_, partition) => ({
        partition,
        fetchOffset: 0n,
        partitionMaxBytes: 64 << 20,
      }));
      await expectWholeGeneration(await admin.send(FetchApi, 12, fetchRequest(topic, all)), 3);
      // Let the mappings age past young-generation collections, as on a broker that has run a while.
      await sleep(1000);
      const gone = await admin.send(DeleteTopicsApi, 6, {
        topics: [{ name: topic, topicId: '00000000-0000-0000-0000-000000000000' }],
        timeoutMs: 10_000,
      });
      expect(gone.responses[0].errorCode).toBe(0);
      expect(await deletedMappingsGone(broker)).toEqual([]);
      admin.close();
    }, 120_000);
  });
}

// With log.io=fd a response holds what it read until the socket has taken it: broker memory of its
// own. log.io.read.max.bytes bounds it across the broker. In process, so that the test can hold read
// memory itself (what responses a paused reader does not take would hold: loopback's socket buffers
// take tens of MiB here, so a paused socket does not reliably keep a response in the broker).
describe('Fetch responses not yet written hold at most log.io.read.max.bytes (log.io=fd)', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startInProcess({ 'log.io': 'fd', 'log.io.read.max.bytes': String(8 << 20) });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
  });

  it('past the bound a Fetch gets its first batch only; once the memory is given back, all of it again', async () => {
    const admin = await RawClient.connect(broker.port);
    await createAndFill(admin, 'other', 7);
    const from0 = Array.from({ length: PARTITIONS }, (_, partition) => ({
      partition,
      fetchOffset: 0n,
      partitionMaxBytes: 1 << 20,
    }));
    const bytes = (res: FetchResponse) => res.responses[0].partitions.reduce((n, p) => n + (p.records?.length ?? 0), 0);
    // Nothing held: every partition's 1 MiB.
    await expectGenerationFrom0(await admin.send(FetchApi, 12, fetchRequest('other', from0)), 7);

    // Responses not yet written holding 8 MiB of reads, as a lease holds them.
    const held = new ViewLease();
    for (let i = 0; i < 8; i++) held.borrow(1 << 20);
    const squeezed = await admin.send(FetchApi, 12, fetchRequest('other', from0));
    // Its first batch (KIP-74: a fetcher always moves on), and nothing more.
    const parts = squeezed.responses[0].partitions;
    expect(squeezed.errorCode).toBe(0);
    expect((await decodeRecords(0, parts[0].records)).length).toBe(RECORDS_PER_BATCH);
    for (const p of parts.slice(1)) {
      expect(p.errorCode).toBe(0);
      expect(p.records?.length ?? 0).toBe(0);
    }

    held.release();
    expect(bytes(await admin.send(FetchApi, 12, fetchRequest('other', from0)))).toBeGreaterThan(5 << 20);
    admin.close();
  }, 120_000);
});
