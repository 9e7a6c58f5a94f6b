// The @sluice/client latency load from several generator processes: one Node process cannot offer
// 130 k records/s of 1 KiB and time each record on a 2-core machine (its own queue becomes the latency).
// Each process offers rate/N on its own schedule; all connect first and start together (the start
// barrier of barrier.ts); their per-record latencies (raw samples, float64 ms) are merged into one distribution.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Measurement, runTogether, type SluiceGenConfig, sluiceClient } from './generators.js';
import { mergeLatencies } from './pacing.js';

const MiB = 1024 * 1024;

/**
 * Records per second one generator process is given at most: one process used ~0.5 core at 84 k/s on
 * the quiet machine and fell behind at 134 k/s (BENCHMARKS.md), so shares stay well below either.
 */
export const RATE_PER_PROCESS = 40_000;

/** Processes for an offered `rate`: enough that none is given more than RATE_PER_PROCESS. */
export function latencyProcesses(rate: number, perProcess = RATE_PER_PROCESS): number {
  return Math.max(1, Math.ceil(rate / perProcess));
}

/** Reads the raw samples a process wrote (float64, native byte order). */
export function readSamples(path: string): Float64Array {
  const b = readFileSync(path);
  if (b.length % 8 !== 0) throw new Error(`${path}: ${b.length} bytes is not a whole number of float64 samples`);
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/**
 * Several process' measurements of one load: their records summed, over the longest one's time, latency
 * percentiles from all samples together, CPU summed and the busiest process kept.
 */
export function mergeMeasurements(ms: readonly Measurement[], samples: readonly Float64Array[], size: number) {
  const records = ms.reduce((a, m) => a + m.records, 0);
  const seconds = Math.max(...ms.map((m) => m.seconds));
  const l = mergeLatencies(samples);
  const gens = ms.map((m) => m.generator).filter((g) => g !== undefined);
  const extraMax = (k: string) => Math.max(...ms.map((m) => m.extra?.[k] ?? Number.NaN));
  return {
    records,
    recordsPerSec: records / seconds,
    mibPerSec: (records * size) / seconds / MiB,
    seconds,
    latencyMs: { avg: l.avg, p50: l.p50, p99: l.p99, p999: l.p999, max: l.max },
    extra: {
      generatorProcesses: ms.length,
      generatorLoopMaxMs: extraMax('generatorLoopMaxMs'),
      generatorGcMs: extraMax('generatorGcMs'),
    },
    generator:
      gens.length === ms.length
        ? {
            cpuSec: gens.reduce((a, g) => a + g.cpuSec, 0),
            wallSec: Math.max(...gens.map((g) => g.wallSec)),
            processes: ms.length,
            maxCores: Math.max(...gens.map((g) => g.maxCores)),
          }
        : undefined,
  } satisfies Measurement;
}

/** The steady (fixed-rate) @sluice/client load from `processes` processes started together; see the top. */
export async function sluiceLatency(
  cfg: SluiceGenConfig,
  processes = latencyProcesses(cfg.rate ?? 0),
): Promise<Measurement> {
  const rate = cfg.rate ?? 0;
  if (!(rate > 0 && processes >= 1)) throw new Error(`latency load needs a rate and processes: ${rate}, ${processes}`);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-latency-gen-'));
  try {
    const samplesOf = (i: number) => join(dir, `${i}.f64`);
    const ms = await runTogether(
      processes,
      (i, records, barrier) =>
        sluiceClient({
          ...cfg,
          mode: 'steady',
          rate: rate / processes,
          records,
          barrier,
          samplesFile: samplesOf(i),
          trace: cfg.trace && processes > 1 ? `${cfg.trace}.${i}` : cfg.trace,
        }),
      cfg.records,
      { barrier: true },
    );
    const m = mergeMeasurements(
      ms,
      ms.map((_, i) => readSamples(samplesOf(i))),
      cfg.size,
    );
    if (m.records < cfg.records) throw new Error(`latency generator: ${m.records} of ${cfg.records} records`);
    return m;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
