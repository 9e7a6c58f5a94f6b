import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogConfig } from './config.js';
import { PartitionLog } from './partition-log.js';
import { applyRetention } from './retention.js';
import { makeBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';

/** The model: the batches the log should hold, in order, with their assigned offsets. */
interface ModelBatch {
  base: bigint;
  last: bigint;
  maxTs: bigint;
  bytes: Buffer;
}

type Op =
  | { kind: 'append'; count: number; valueBytes: number; ts: number; fill: number }
  | { kind: 'read'; at: number; maxBytes: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'roll' }
  | { kind: 'reopen'; clean: boolean }
  | { kind: 'deleteRecords'; at: number }
  | { kind: 'timestamp'; ts: number; existing: number; nudge: number }
  | { kind: 'retentionBytes'; bytes: number }
  | { kind: 'truncateFully'; delta: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 6 }),
      valueBytes: fc.integer({ min: 0, max: 300 }),
      ts: fc.integer({ min: 0, max: 10_000 }),
      fill: fc.integer({ min: 0, max: 255 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      maxBytes: fc.integer({ min: 1, max: 3000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('roll' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), clean: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('deleteRecords' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('timestamp' as const),
      ts: fc.integer({ min: 0, max: 11_000 }),
      existing: fc.double({ min: -1, max: 1, noNaN: true }),
      nudge: fc.integer({ min: -1, max: 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('retentionBytes' as const), bytes: fc.integer({ min: 0, max: 6000 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('truncateFully' as const), delta: fc.integer({ min: 0, max: 5 }) }),
  },
);

const quiet = { info() {}, warn() {}, error() {} };
afterAll(() => {
  removeTestRoots();
});

function pick(lo: bigint, hi: bigint, f: number): bigint {
  // A value in [lo, hi).
  if (hi <= lo) return lo;
  const v = lo + BigInt(Math.floor(Number(hi - lo) * f));
  return v >= hi ? hi - 1n : v;
}

function run(io: 'fd' | 'mmap', ops: Op[]): void {
  const root = testRoot('model');
  const dir = path.join(root, 'model-topic-3');
  const config: Partial<LogConfig> = {
    io,
    segmentBytes: 2048,
    segmentIndexBytes: 48,
    indexIntervalBytes: 256,
    logger: quiet,
    retentionMs: -1,
    maxMessageBytes: 4000,
  };
  let log = PartitionLog.open(dir, config);
  let batches: ModelBatch[] = [];
  let start = 0n;
  let leo = 0n;
  const check = () => {
    expect(log.logEndOffset).toBe(leo);
    expect(log.logStartOffset).toBe(start);
  };
  const readAll = (): Buffer => {
    const parts: Buffer[] = [];
    let off = start;
    for (let guard = 0; off < leo && guard < 10_000; guard++) {
      const r = log.read(off, 1 << 20);
      if (r.records.length === 0) break;
      parts.push(Buffer.from(r.records));
      const b = r.records;
      let at = 0;
      let last = off;
      while (at < b.length) {
        last = b.readBigInt64BE(at) + BigInt(b.readInt32BE(at + 23));
        at += b.readInt32BE(at + 8) + 12;
      }
      off = last + 1n;
    }
    return Buffer.concat(parts);
  };
  try {
    for (const op of ops) {
      switch (op.kind) {
        case 'append': {
          const records = Array.from({ length: op.count }, (_, i) => ({
            key: Buffer.from(`k${i}`),
            value: Buffer.alloc(op.valueBytes, op.fill),
            timestampDelta: i,
          }));
          const b = makeBatch(records, { baseTimestamp: BigInt(op.ts) });
          const r = log.append(b);
          expect(r.firstOffset).toBe(leo);
          expect(r.lastOffset).toBe(leo + BigInt(op.count - 1));
          batches.push({ base: leo, last: r.lastOffset, maxTs: BigInt(op.ts + op.count - 1), bytes: Buffer.from(b) });
          leo = r.lastOffset + 1n;
          break;
        }
        case 'read': {
          const off = pick(start, leo + 1n, op.at);
          const r = log.read(off, op.maxBytes);
          const i = batches.findIndex((b) => b.last >= off);
          if (i < 0) {
            expect(r.records.length).toBe(0);
            break;
          }
          expect(r.firstBatchOffset).toBe(batches[i].base);
          let k = 0;
          let size = 0;
          while (size < r.records.length) size += batches[i + k++].bytes.length;
          expect(size).toBe(r.records.length);
          expect(k === 1 || size <= op.maxBytes).toBe(true);
          expect(Buffer.from(r.records).equals(Buffer.concat(batches.slice(i, i + k).map((b) => b.bytes)))).toBe(true);
          break;
        }
        case 'truncate': {
          const t = pick(start, leo, op.at);
          if (t >= leo) break;
          log.truncateTo(t);
          const i = batches.findIndex((b) => b.last >= t);
          if (i >= 0) {
            leo = batches[i].base < t ? batches[i].base : t;
            batches = batches.slice(0, i);
          } else leo = t;
          if (start > leo) start = leo;
          break;
        }
        case 'roll':
          log.roll();
          break;
        case 'reopen':
          if (op.clean) {
            log.highWatermark = log.logEndOffset;
            log.close();
            log = PartitionLog.open(dir, config, { hadCleanShutdown: true, logStartOffset: start });
          } else {
            // An unclean stop: files are left open and unflushed; the page cache keeps the bytes.
            log = PartitionLog.open(dir, config, { logStartOffset: start });
          }
          expect(readAll().equals(Buffer.concat(batches.filter((b) => b.last >= start).map((b) => b.bytes)))).toBe(
            true,
          );
          break;
        case 'deleteRecords': {
          log.highWatermark = log.logEndOffset;
          const t = pick(start, leo + 1n, op.at);
          start = log.deleteRecords(t);
          expect(start).toBe(t > start ? t : start);
          if (leo > start) expect(() => log.read(start - 1n, 100)).toThrow(start > 0n ? /outside/ : /./);
          break;
        }
        case 'timestamp': {
          // Half the time aim at (or next to) a timestamp the log holds.
          const near =
            op.existing >= 0 && batches.length > 0 ? batches[Math.floor(op.existing * (batches.length - 1))] : null;
          const ts = near !== null ? near.maxTs + BigInt(op.nudge) : BigInt(op.ts);
          if (ts < 0n) break;
          const hit = batches.find((b) => b.last >= start && b.maxTs >= ts);
          const r = log.offsetForTimestamp(ts);
          if (hit === undefined) expect(r).toBeNull();
          else expect(r?.offset).toBe(hit.base < start ? start : hit.base);
          break;
        }
        case 'retentionBytes': {
          (log.config as LogConfig).retentionBytes = op.bytes;
          applyRetention(log);
          (log.config as LogConfig).retentionBytes = -1;
          start = log.logStartOffset;
          break;
        }
        case 'truncateFully': {
          const at = leo + BigInt(op.delta);
          log.truncateFullyAndStartAt(at);
          batches = [];
          start = leo = at;
          break;
        }
      }
      check();
    }
    expect(readAll().equals(Buffer.concat(batches.filter((b) => b.last >= start).map((b) => b.bytes)))).toBe(true);
  } finally {
    log.close();
  }
}

for (const io of ['fd', 'mmap'] as const) {
  describe(`PartitionLog against a model (${io})`, () => {
    it('append/read/truncate/roll/reopen/deleteRecords/retention agree with the model', () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => run(io, ops)),
        { numRuns: Number(process.env.LOG_MODEL_RUNS ?? 60) },
      );
    });
  });
}
