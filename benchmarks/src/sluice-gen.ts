// @sluice/client load generator, run as a child process by the harness:
//   tsx --conditions=sluice-source sluice-gen.ts '{"mode":"produce","port":9092,"topic":"t","records":1000,"size":100,"acks":"1","codec":"none"}'
//   (mode "steady" adds "rate" and "keys": keyed records at a fixed rate, for produce latency during compaction)
// Prints one JSON line (a Measurement) on stdout.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Kafka, topic } from '@sluice/client';
import { arrive } from './barrier.js';
import type { Measurement, SluiceGenConfig } from './generators.js';
import { mergeLatencies, paced, Schedule } from './pacing.js';
import { startTrace } from './sluice-gen-trace.js';
import { percentile } from './stats.js';

const MiB = 1024 * 1024;
const cfg = JSON.parse(process.argv[2] ?? '{}') as SluiceGenConfig;
if (!(cfg.records > 0 && cfg.size > 0 && cfg.port > 0 && cfg.topic)) throw new Error(`bad config ${process.argv[2]}`);
const kafka = new Kafka({ brokers: [`127.0.0.1:${cfg.port}`], clientId: 'sluice-bench' });
const t = topic(cfg.topic);

/** Tells the parent this process is connected, then waits for its go (one line on stdin). */
/** This process's GC pauses from now on (ms summed), to tell a generator stall from a broker one. */
function gcPauses(): { ms: () => number; stop: () => void } {
  let ms = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) ms += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  return { ms: () => ms, stop: () => obs.disconnect() };
}

async function produce(): Promise<Measurement> {
  const producer = kafka.producer({
    acks: cfg.acks === 'all' ? 'all' : 1,
    compression: cfg.codec ?? 'none',
    idempotent: false,
  });
  // Random upper-case letters like ProducerPerformance, from a small pool so generation costs nothing.
  const pool = Array.from({ length: 64 }, () =>
    Buffer.from(Array.from({ length: cfg.size }, () => 65 + Math.floor(Math.random() * 26))),
  );
  const latency = new Float64Array(cfg.records);
  const WINDOW = 16_384; // outstanding sends at most: bounds the promises held
  let pending: Promise<unknown>[] = [];
  if (cfg.barrier) await arrive(cfg.barrier, String(process.pid)); // with the other processes (--producers N)
  const t0 = performance.now();
  for (let i = 0; i < cfg.records; i++) {
    const s = performance.now();
    pending.push(
      producer.send(t, { value: pool[i & 63] }).then(() => {
        latency[i] = performance.now() - s;
      }),
    );
    if (pending.length >= WINDOW) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await producer.flush();
  const t1 = performance.now();
  const seconds = (t1 - t0) / 1000;
  await producer.close();
  latency.sort();
  let sum = 0;
  for (const v of latency) sum += v;
  const rps = cfg.records / seconds;
  return {
    records: cfg.records,
    recordsPerSec: rps,
    mibPerSec: (rps * cfg.size) / MiB,
    seconds,
    window: { startMs: performance.timeOrigin + t0, endMs: performance.timeOrigin + t1 },
    latencyMs: {
      avg: sum / cfg.records,
      p50: percentile(latency, 0.5),
      p99: percentile(latency, 0.99),
      p999: percentile(latency, 0.999),
      max: latency[latency.length - 1],
    },
  };
}

/**
 * A fixed offered load, as ProducerPerformance --throughput: sends are issued on schedule (not after the
 * previous ack), so a broker that stalls shows in the latency of every record sent during the stall.
 * Each record's latency runs from the time it was due on the schedule (pacing.ts) to its ack. The
 * producer is connected and has the topic's metadata before the clock starts (one record, not counted),
 * and the first `warmupSeconds` of the schedule are sent but not counted (the generator's JIT warms up).
 * With `barrier` (barrier.ts), the process waits there once connected: several processes, each offering
 * its share of the rate, then start together (latency-gen.ts).
 */
async function steady(): Promise<Measurement> {
  const rate = cfg.rate ?? 0;
  const keys = cfg.keys ?? 0;
  if (!(rate > 0 && keys > 0)) throw new Error(`steady needs rate and keys: ${process.argv[2]}`);
  // Batches up to 128 KiB (6 of them fit one 1 MiB request): what piles up behind a short stall goes in
  // the next request, instead of in 16 KiB batches of 15 records that take a request slot each.
  const producer = kafka.producer({
    acks: cfg.acks === 'all' ? 'all' : 1,
    idempotent: false,
    lingerMs: 0,
    batchSize: 128 * 1024,
  });
  const value = Buffer.alloc(cfg.size, 'v');
  // Keys made up front: no string or Buffer built per record on the timed path.
  const keyPool = Array.from({ length: Math.min(keys, 65_536) }, (_, k) => Buffer.from(`k${k}`));
  const key = (i: number) => (keys <= keyPool.length ? keyPool[i % keys] : Buffer.from(`k${i % keys}`));
  await producer.send(t, { key: keyPool[0], value });
  const warm = Math.round((cfg.warmupSeconds ?? 0) * rate);
  const schedule = new Schedule(rate, warm + cfg.records);
  const latency = new Float64Array(cfg.records);
  const trace = cfg.trace ? startTrace(producer, schedule.total) : undefined;
  if (cfg.barrier) await arrive(cfg.barrier, String(process.pid));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const gc = gcPauses();
  loop.enable();
  let acked = 0;
  let failed: unknown;
  let allAcked!: () => void;
  const done = new Promise<void>((r) => {
    allAcked = r;
  });
  let tMeasured = 0;
  await paced(schedule, (i, dueAt) => {
    if (i === warm) tMeasured = dueAt;
    if (trace) trace.call[i] = performance.now() - dueAt;
    producer.send(t, { key: key(i), value }).then(
      (m) => {
        const now = performance.now();
        if (i >= warm) latency[i - warm] = now - dueAt;
        if (trace) trace.done(i, dueAt, now, m.partition, Number(m.offset));
        if (++acked === schedule.total) allAcked();
      },
      (err: unknown) => {
        failed ??= err;
        if (++acked === schedule.total) allAcked();
      },
    );
  });
  await done;
  if (failed) throw failed;
  const seconds = (performance.now() - tMeasured) / 1000;
  loop.disable();
  gc.stop();
  await producer.close();
  if (trace && cfg.trace) trace.write(cfg.trace, warm);
  if (cfg.samplesFile) writeFileSync(cfg.samplesFile, new Uint8Array(latency.buffer));
  const s = mergeLatencies([latency]);
  return {
    records: cfg.records,
    recordsPerSec: cfg.records / seconds,
    mibPerSec: (cfg.records * cfg.size) / seconds / MiB,
    seconds,
    latencyMs: { avg: s.avg, p50: s.p50, p99: s.p99, p999: s.p999, max: s.max },
    extra: {
      generatorLoopMaxMs: loop.max / 1e6,
      generatorLoopP99Ms: loop.percentile(99) / 1e6,
      generatorGcMs: gc.ms(),
    },
  };
}

async function consume(): Promise<Measurement> {
  const consumer = kafka.consumer({ autoOffsetReset: 'earliest', autoCommit: false });
  let count = 0;
  let t0 = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => {
    finish = r;
  });
  const running = consumer.run(t, (batch) => {
    // The clock starts at the first fetched batch, like ConsumerPerformance's fetch.time.ms.
    if (t0 === 0) t0 = performance.now();
    count += batch.length;
    if (count >= cfg.records) finish();
  });
  running.catch((e) => {
    console.error(e);
    process.exit(1);
  });
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await Promise.race([consumer.close(), new Promise((r) => setTimeout(r, 5000))]);
  const rps = count / seconds;
  return { records: count, recordsPerSec: rps, mibPerSec: (rps * cfg.size) / MiB, seconds };
}

const cpu0 = process.cpuUsage();
const result = cfg.mode === 'consume' ? await consume() : cfg.mode === 'steady' ? await steady() : await produce();
// This process's own CPU over the load (start-up and connecting included, tsx's compile not), for the bound check.
const cpu = process.cpuUsage(cpu0);
const cpuSec = (cpu.user + cpu.system) / 1e6;
result.generator = { cpuSec, wallSec: result.seconds, processes: 1, maxCores: cpuSec / result.seconds };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
