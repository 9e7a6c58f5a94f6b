import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Measurement } from './generators.js';
import { latencyProcesses, mergeMeasurements, readSamples } from './latency-gen.js';

const measurement = (records: number, seconds: number, cpuSec: number, p99: number): Measurement => ({
  records,
  seconds,
  recordsPerSec: records / seconds,
  mibPerSec: 0,
  latencyMs: { p99 },
  generator: { cpuSec, wallSec: seconds, processes: 1, maxCores: cpuSec / seconds },
  extra: { generatorLoopMaxMs: cpuSec * 10, generatorGcMs: cpuSec },
});

describe('multi-process latency generator', () => {
  it('gives each process at most its share of the rate', () => {
    expect(latencyProcesses(16_777)).toBe(1);
    expect(latencyProcesses(83_887)).toBe(3);
    expect(latencyProcesses(134_219)).toBe(4);
    expect(latencyProcesses(134_219, 70_000)).toBe(2);
  });

  it('merges the processes: records over the longest time, percentiles over all samples, CPU summed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'latency-gen-test-'));
    try {
      // Two processes' raw samples, written and read back as the generator does.
      const a = Float64Array.from({ length: 1000 }, (_, i) => (i < 8 ? 50.25 : 1));
      const b = Float64Array.from({ length: 500 }, (_, i) => (i < 8 ? 80 : 2));
      writeFileSync(join(dir, 'a'), new Uint8Array(a.buffer));
      writeFileSync(join(dir, 'b'), new Uint8Array(b.buffer));
      const samples = [readSamples(join(dir, 'a')), readSamples(join(dir, 'b'))];
      expect(samples[0]).toEqual(a);
      const m = mergeMeasurements([measurement(1000, 2, 1, 1), measurement(500, 2.5, 0.5, 80)], samples, 1024);
      expect(m.records).toBe(1500);
      expect(m.seconds).toBe(2.5);
      expect(m.recordsPerSec).toBe(600);
      expect(m.latencyMs.p99).toBe(50.25);
      expect(m.latencyMs.max).toBe(80);
      expect(m.generator?.cpuSec).toBe(1.5);
      expect(m.generator?.processes).toBe(2);
      expect(m.generator?.maxCores).toBe(0.5);
      expect(m.extra.generatorProcesses).toBe(2);
      expect(m.extra.generatorLoopMaxMs).toBe(10);
      writeFileSync(join(dir, 'c'), Buffer.alloc(12));
      expect(() => readSamples(join(dir, 'c'))).toThrow(/float64/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
