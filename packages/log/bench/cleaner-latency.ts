// Append latency while the cleaner compacts another log in the same process, beside the same
// appends with the cleaner idle. An append is scheduled APPEND_EVERY_MS after the last one; its
// latency is from when it was due to when it returned, so whatever holds the event loop (a cleaner slice, an
// fsync, a GC the cleaner's garbage causes) shows as it would in a broker's Produce.
// Run: npm run bench:cleaner -w @sluice/log
// Environment: CLEAN_BENCH_MB (data to compact, default 64), CLEAN_BENCH_KEYS (distinct keys,
// default 100000), CLEAN_BENCH_DIR (default os.tmpdir()), CLEAN_BENCH_RUNS (default 3; medians).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanLog } from '../src/cleaner.js';
import { PartitionLog } from '../src/partition-log.js';
import { makeBatch, makeValueBatch } from '../src/test-batch.js';

const MB = Number(process.env.CLEAN_BENCH_MB ?? 64);
const KEYS = Number(process.env.CLEAN_BENCH_KEYS ?? 100_000);
const RUNS = Number(process.env.CLEAN_BENCH_RUNS ?? 3);
const VALUE_BYTES = 300;
const RECORDS_PER_BATCH = 50;
const APPEND_EVERY_MS = 1;
const root = fs.mkdtempSync(path.join(process.env.CLEAN_BENCH_DIR ?? os.tmpdir(), 'sluice-clean-bench-'));
const quiet = { info() {}, warn() {}, error() {} };

function fillCompacted(dir: string): PartitionLog {
  const log = PartitionLog.open(dir, {
    logger: quiet,
    cleanupPolicy: 'compact',
    segmentBytes: 16 << 20,
    minCleanableDirtyRatio: 0,
  });
  const batches = Math.ceil((MB << 20) / (RECORDS_PER_BATCH * (VALUE_BYTES + 20)));
  let key = 0;
  for (let b = 0; b < batches; b++) {
    log.append(
      makeBatch(
        Array.from({ length: RECORDS_PER_BATCH }, () => ({
          key: Buffer.from(`key-${key++ % KEYS}`),
          value: Buffer.alloc(VALUE_BYTES, 0x61 + (b % 26)),
        })),
      ),
    );
  }
  log.flush();
  return log;
}

/** Appends on `log` every APPEND_EVERY_MS until `done` settles; returns each append's latency (ms). */
async function appendLatencies(log: PartitionLog, done: Promise<unknown>): Promise<number[]> {
  const batch = makeValueBatch(5, 200);
  const out: number[] = [];
  let finished = false;
  done.then(() => {
    finished = true;
  });
  // Bounded by `done` (the cleaner's pass, or a fixed idle time).
  while (!finished) {
    const due = performance.now() + APPEND_EVERY_MS;
    await new Promise((r) => setTimeout(r, APPEND_EVERY_MS));
    log.append(Buffer.from(batch));
    // Late by however long something else held the event loop, plus the append itself.
    out.push(Math.max(0, performance.now() - due));
  }
  return out;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs: number[]) => pct(xs, 50);

const idleP99: number[] = [];
const cleanP99: number[] = [];
const cleanMax: number[] = [];
const cleanMs: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const compacted = fillCompacted(path.join(root, `c${run}-0`));
  const produced = PartitionLog.open(path.join(root, `p${run}-0`), { logger: quiet });
  const started = performance.now();
  const pass = cleanLog(compacted);
  const during = await appendLatencies(produced, pass);
  const took = performance.now() - started;
  const idle = await appendLatencies(produced, new Promise((r) => setTimeout(r, Math.min(took, 3000))));
  idleP99.push(pct(idle, 99));
  cleanP99.push(pct(during, 99));
  cleanMax.push(Math.max(...during));
  cleanMs.push(took);
  compacted.close();
  produced.close();
}
fs.rmSync(root, { recursive: true, force: true });
console.log(`compacting ${MB} MB (${KEYS} keys), median of ${RUNS} runs:`);
console.log(`  cleaning pass           ${median(cleanMs).toFixed(0)} ms`);
console.log(`  append p99, cleaner idle ${median(idleP99).toFixed(2)} ms`);
console.log(`  append p99, cleaning     ${median(cleanP99).toFixed(2)} ms (max ${median(cleanMax).toFixed(1)} ms)`);
