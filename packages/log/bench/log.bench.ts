// Partition log benchmark: append throughput against plain fs.writeSync of the same bytes, sequential
// read throughput, and append cost on a small vs a big log. `npm run bench -w @sluice/log`.
// The log checks each batch's CRC-32C on append; the "fs.writeSync + CRC-32C" row does the same
// write and checksum with nothing else, the ceiling for an append at this machine's CRC speed.
// Environment: LOG_BENCH_MS (per case, default 1500), LOG_BENCH_DIR (default os.tmpdir()), LOG_BENCH_BIG_MB (default 2048).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ATTRIBUTES_OFFSET, CRC_OFFSET } from '../src/batch.js';
import { crc32c } from '../src/crc.js';
import { PartitionLog } from '../src/partition-log.js';
import { makeValueBatch } from '../src/test-batch.js';

const CASE_MS = Number(process.env.LOG_BENCH_MS ?? 1500);
const BIG_MB = Number(process.env.LOG_BENCH_BIG_MB ?? 2048);
const root = fs.mkdtempSync(path.join(process.env.LOG_BENCH_DIR ?? os.tmpdir(), 'sluice-log-bench-'));
const quiet = { info() {}, warn() {}, error() {} };
const ios = ['fd', 'mmap'] as const;
const rows: string[][] = [];

function fresh(name: string): string {
  const d = path.join(root, name);
  fs.rmSync(d, { recursive: true, force: true });
  return d;
}

/** Bytes per second appending `batch` copies for CASE_MS, after a short warm-up. */
function timeLoop(step: () => void, bytesPerStep: number, ms = CASE_MS): number {
  for (let i = 0; i < 20; i++) step();
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let n = 0;
  let elapsed = 0n;
  // Bounded by time; checks the clock every 16 steps.
  do {
    for (let i = 0; i < 16; i++) step();
    n += 16;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return (n * bytesPerStep) / (Number(elapsed) / 1e9);
}

function baselineWrite(batch: Buffer, ms = CASE_MS, withCrc = false): number {
  const file = path.join(fresh('baseline'), 'plain.bin');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  let pos = 0;
  // Same bytes, one positional write each, to one growing file (wrapping to overwrite past 8 GiB).
  const rate = timeLoop(
    () => {
      if (withCrc && crc32c(batch.subarray(ATTRIBUTES_OFFSET)) !== batch.readUInt32BE(CRC_OFFSET)) {
        throw new Error('bench batch has a bad CRC');
      }
      fs.writeSync(fd, batch, 0, batch.length, pos);
      pos += batch.length;
      if (pos >= 8 * 2 ** 30) pos = 0;
    },
    batch.length,
    ms,
  );
  // Untimed: write back this case's dirty pages so they do not throttle the next case.
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.rmSync(file);
  return rate;
}

function appendRate(io: 'fd' | 'mmap', batch: Buffer, dir: string, ms = CASE_MS): { rate: number; log: PartitionLog } {
  const log = PartitionLog.open(dir, {
    io,
    logger: quiet,
    verifyCrcOnAppend: true,
    retentionMs: -1,
    maxMessageBytes: 2 << 20,
  });
  const rate = timeLoop(() => log.append(batch), batch.length, ms);
  log.flush(); // untimed, as for the baseline
  return { rate, log };
}

const gb = (bps: number) => (bps / 1e9).toFixed(2);

const ROUNDS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const batchKiB of [16, 1024]) {
  const batch = makeValueBatch(batchKiB, 1024 - 8);
  // Baseline and candidates alternate in rounds (the machine's load drifts); each reports its median.
  const rates: Record<string, number[]> = { base: [], crc: [], fd: [], mmap: [] };
  const logs: Partial<Record<(typeof ios)[number], PartitionLog>> = {};
  for (let round = 0; round < ROUNDS; round++) {
    rates.base.push(baselineWrite(batch, CASE_MS / ROUNDS));
    rates.crc.push(baselineWrite(batch, CASE_MS / ROUNDS, true));
    for (const io of ios) {
      // Closed before its directory is removed (fresh() reuses the name).
      logs[io]?.close();
      const dir = fresh(`append-${io}-${batchKiB}-0`);
      const { rate, log } = appendRate(io, batch, dir, CASE_MS / ROUNDS);
      logs[io] = log;
      rates[io].push(rate);
    }
  }
  const base = median(rates.base);
  rows.push([`append ${batchKiB} KiB batches`, 'fs.writeSync', `${gb(base)} GB/s`, '1.00']);
  const crcRate = median(rates.crc);
  rows.push([
    `append ${batchKiB} KiB batches`,
    'fs.writeSync + CRC-32C',
    `${gb(crcRate)} GB/s`,
    (crcRate / base).toFixed(2),
  ]);
  for (const io of ios) {
    const rate = median(rates[io]);
    rows.push([`append ${batchKiB} KiB batches`, io, `${gb(rate)} GB/s`, (rate / base).toFixed(2)]);
  }
  for (const io of ios) {
    const log = logs[io]!;
    if (batchKiB === 1024) {
      // Sequential read of what the last round wrote, whole log, 1 MiB per read.
      const total = log.size;
      const start = process.hrtime.bigint();
      let off = log.logStartOffset;
      let bytes = 0;
      for (let guard = 0; off < log.logEndOffset && guard < 10_000_000; guard++) {
        const r = log.read(off, 1 << 20);
        bytes += r.records.length;
        let at = 0;
        while (at < r.records.length) {
          off = r.records.readBigInt64BE(at) + BigInt(r.records.readInt32BE(at + 23)) + 1n;
          at += r.records.readInt32BE(at + 8) + 12;
        }
      }
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      rows.push([
        `sequential read (${(total / 2 ** 20).toFixed(0)} MiB, ${io === 'mmap' ? 'views, no copy' : 'copied'})`,
        io,
        `${gb(bytes / secs)} GB/s`,
        '',
      ]);
    }
    log.close();
    fs.rmSync(log.dir, { recursive: true, force: true });
  }
}

// Where an append's time goes: 16 KiB positional writes that extend a file (as every log append does)
// against the same writes over pages already in the file, wall and CPU time per write. On ext4 an
// extending write also updates the file size under the journal, and waits when the journal is busy
// (another process's fsync): that wait is wall time on the event loop with no CPU spent.
{
  const batch = Buffer.alloc(16 * 1024, 7);
  const writes = 4096; // 64 MiB per case
  const cases: Record<'extend' | 'overwrite', { wall: number[]; cpu: number[] }> = {
    extend: { wall: [], cpu: [] },
    overwrite: { wall: [], cpu: [] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ['extend', 'overwrite'] as const) {
      const file = path.join(fresh(`write-${kind}`), 'f.bin');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const fd = fs.openSync(file, 'w+');
      if (kind === 'overwrite')
        for (let i = 0; i < writes; i++) fs.writeSync(fd, batch, 0, batch.length, i * batch.length);
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < writes; i++) fs.writeSync(fd, batch, 0, batch.length, i * batch.length);
      const wallUs = Number(process.hrtime.bigint() - t0) / 1e3 / writes;
      const cpu = process.cpuUsage(cpu0);
      cases[kind].wall.push(wallUs);
      cases[kind].cpu.push((cpu.user + cpu.system) / writes);
      fs.fsyncSync(fd); // untimed: the next case starts without this one's dirty pages
      fs.closeSync(fd);
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  }
  for (const kind of ['extend', 'overwrite'] as const) {
    const wall = median(cases[kind].wall);
    const cpu = median(cases[kind].cpu);
    rows.push([
      `fs.writeSync 16 KiB, ${kind === 'extend' ? 'extending the file' : 'over written pages'}`,
      'fd',
      `${wall.toFixed(1)} µs wall, ${cpu.toFixed(1)} µs CPU per write`,
      (cpu / wall).toFixed(2),
    ]);
  }
}

// Append cost on a small log vs a big one: the big log is built by appending BIG_MB of 1 MiB
// batches first (segments of 1 GiB), then 16 KiB appends are timed on both.
{
  const small = makeValueBatch(16, 1024 - 8);
  const bulk = makeValueBatch(1024, 1024 - 8);
  for (const io of ios) {
    const smallDir = fresh(`small-${io}-0`);
    const a = appendRate(io, small, smallDir);
    a.log.close();
    fs.rmSync(smallDir, { recursive: true, force: true });
    const bigDir = fresh(`big-${io}-0`);
    const big = PartitionLog.open(bigDir, { io, logger: quiet, retentionMs: -1, maxMessageBytes: 2 << 20 });
    for (let i = 0; i < BIG_MB; i++) big.append(bulk);
    big.flush();
    const rate = timeLoop(() => big.append(small), small.length);
    rows.push([`append 16 KiB: small log`, io, `${gb(a.rate)} GB/s`, '1.00']);
    rows.push([
      `append 16 KiB: ${(big.size / 2 ** 30).toFixed(1)} GiB log, ${big.segmentCount} segments`,
      io,
      `${gb(rate)} GB/s`,
      (rate / a.rate).toFixed(2),
    ]);
    big.close();
    fs.rmSync(bigDir, { recursive: true, force: true });
  }
}

fs.rmSync(root, { recursive: true, force: true });
const header = ['case', 'io', 'throughput', 'ratio (CPU/wall for the write rows)'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
