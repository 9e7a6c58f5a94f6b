// The chaos suite's checks themselves: each must catch the failure it is there for (a lost, a
// duplicated, a misplaced or reordered record; a replica that differs or stops short).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRecordBatchSync } from '@sluice/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { checkAcks, type PartitionContent, phantomReads, replicaBytes } from './verify.js';
import { AckLog } from './workload.js';

const stored = (partition: number, values: string[]): PartitionContent => ({
  partition,
  leader: 1,
  highWatermark: BigInt(values.length),
  values: new Map(values.map((v, i) => [BigInt(i), v])),
});

const logOf = (acks: [string, number, number][]) => {
  const log = new AckLog();
  for (const [value, partition, offset] of acks)
    log.ack({ producer: value.split(':')[0], value, partition, offset: BigInt(offset) });
  return log;
};

describe('checkAcks', () => {
  it('passes acknowledged records stored once at their offsets, unacknowledged extras allowed', () => {
    const r = checkAcks(
      logOf([
        ['p:0', 0, 0],
        ['p:1', 0, 1],
      ]),
      [stored(0, ['p:0', 'p:1', 'p:2'])],
    );
    expect(r).toEqual({ acked: 2, lost: [], duplicated: [], misplaced: [] });
  });

  it('finds a lost, a duplicated and a misplaced record', () => {
    const log = logOf([
      ['p:0', 0, 0],
      ['p:1', 0, 1],
      ['p:2', 0, 2],
      ['q:0', 1, 0],
    ]);
    const r = checkAcks(log, [stored(0, ['p:0', 'p:2', 'p:0']), stored(1, [])]);
    expect(r.lost.map((l) => l.split(' ')[0]).sort()).toEqual(['p:1', 'q:0']);
    expect(r.duplicated.map((d) => d.split(' ')[0])).toEqual(['p:0']);
    expect(r.misplaced).toEqual(['p:2: acked at 0/2, stored at [{"partition":0,"offset":"1"}]']);
  });

  it('finds records of one producer stored out of their send order', () => {
    const r = checkAcks(
      logOf([
        ['p:1', 0, 0],
        ['p:0', 0, 1],
      ]),
      [stored(0, ['p:1', 'p:0'])],
    );
    expect(r.lost).toEqual([]);
    expect(r.misplaced).toEqual(['p/0: record 1 at 0, not after record 0 at 1']);
  });
});

describe('phantomReads', () => {
  it('names what a consumer read that the final log does not hold', () => {
    expect(phantomReads(['p:0', 'p:1', 'q:0'], [stored(0, ['p:0']), stored(1, ['q:0'])])).toEqual(['p:1']);
  });
});

describe('replicaBytes', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const replica = (batches: Buffer[][]) => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-chaos-verify-'));
    dirs.push(dir);
    mkdirSync(join(dir, 't-0'));
    let base = 0;
    for (const segment of batches) {
      writeFileSync(join(dir, 't-0', `${String(base).padStart(20, '0')}.log`), Buffer.concat(segment));
      for (const b of segment) if (b.length >= 61) base = Number(b.readBigInt64BE(0)) + b.readInt32BE(23) + 1;
    }
    return dir;
  };
  const batch = (baseOffset: number, values: string[], epoch = 0) =>
    buildRecordBatchSync({
      baseOffset: BigInt(baseOffset),
      partitionLeaderEpoch: epoch,
      now: 1,
      records: values.map((value) => ({ value })),
    });

  it('reads whole batches below the high watermark across segments, ignoring a torn tail', () => {
    const a = batch(0, ['a', 'b']);
    const b = batch(2, ['c']);
    const c = batch(3, ['d']);
    const dir = replica([[a], [b, c, c.subarray(0, 20)]]);
    expect(replicaBytes(dir, 't', 0, 3n)).toEqual(Buffer.concat([a, b]));
    expect(replicaBytes(dir, 't', 0, 4n)).toEqual(Buffer.concat([a, b, c]));
  });

  it('tells replicas apart that differ below the high watermark, and refuses one that stops short', () => {
    const one = replica([[batch(0, ['a', 'b']), batch(2, ['c'])]]);
    const other = replica([[batch(0, ['a', 'b']), batch(2, ['c'], 1)]]);
    expect(replicaBytes(one, 't', 0, 3n).equals(replicaBytes(other, 't', 0, 3n))).toBe(false);
    expect(replicaBytes(one, 't', 0, 2n).equals(replicaBytes(other, 't', 0, 2n))).toBe(true);
    expect(() => replicaBytes(one, 't', 0, 5n)).toThrow(/ends at 3, below the high watermark 5/);
  });
});
