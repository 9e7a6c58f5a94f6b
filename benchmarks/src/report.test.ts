import { describe, expect, it } from 'vitest';
import {
  boundOf,
  boundTables,
  clusterTable,
  coresOf,
  markdownTable,
  type Report,
  type Row,
  rowsWithoutNumbers,
  shortOfRate,
  trialCores,
} from './report.js';

const row = (id: string, kind: Row['kind'], sluice: number[], kafka: number[], extra: Partial<Row> = {}): Row => ({
  id,
  kind,
  label: id,
  unit: 'CPU s/GiB',
  higherIsBetter: false,
  sluice,
  kafka,
  details: { sluice: [], kafka: [] },
  ...extra,
});

const report = (rows: Row[]): Report => ({
  startedAt: '2026-01-01T00:00:00.000Z',
  seconds: 1,
  quick: true,
  trials: 3,
  machine: {},
  load: { before: [0, 0, 0], after: [0, 0, 0], uptime: '' },
  limits: {},
  rows,
  errors: [],
  notes: [],
});

describe('cluster rows', () => {
  const rows = [
    row('cost-cpu-produce', 'cost', [10], [20]),
    row('cluster/single/cpu', 'cluster', [10, 12, 8], []),
    row('cluster/rf3/cpu', 'cluster', [60, 50, 70], [], { baseline: 'cluster/single/cpu' }),
  ];

  it('sit in their own table, compared with their one-broker row, not in the Sluice/Kafka table', () => {
    const table = clusterTable(report(rows))!;
    expect(table).toContain('| cluster/rf3/cpu |  | 60.0 (50.0–70.0) CPU s/GiB | 6.00× |');
    expect(table).toContain('| cluster/single/cpu |  | 10.0 (8.00–12.0) CPU s/GiB | – |');
    const main = markdownTable(report(rows));
    expect(main.split('\n\n')[0]).not.toContain('cluster/');
    expect(main).toContain(table);
    expect(clusterTable(report(rows.slice(0, 1)))).toBeUndefined();
  });

  it('need only Sluice numbers to pass the smoke check', () => {
    expect(rowsWithoutNumbers(rows)).toEqual([]);
    const failed = [row('cluster/rf1/cpu', 'cluster', [Number.NaN], []), row('cost-rss-peak', 'cost', [1], [])];
    expect(rowsWithoutNumbers([...rows, ...failed]).map((r) => r.id)).toEqual(['cluster/rf1/cpu', 'cost-rss-peak']);
  });
});

describe('generator-bound rows', () => {
  const trial = (genCores: number, brokerCpuSec: number, seconds = 2) => ({
    seconds,
    cpuSec: brokerCpuSec,
    generator: { cpuSec: genCores * seconds, wallSec: seconds, processes: 1, maxCores: genCores },
  });
  const tp = (id: string, sluice: unknown[], kafka: unknown[]): Row => ({
    ...row(id, 'produce', [100, 100, 100], [50, 50, 50], { size: 1024, generator: 'sluice-client' }),
    details: { sluice, kafka },
  });

  it('are those where a generator used ≥ 90% of a core while the broker idled, in most trials', () => {
    // 0.95 core generator, broker 0.5 core (1 CPU s over 2 s): generator-bound.
    const gen = tp('g', [trial(0.95, 1), trial(0.97, 1)], [trial(0.99, 0.8)]);
    expect(boundOf(gen)).toBe('generator');
    // The broker at 0.95 core: the broker is the limit even though the generator is busy too.
    const busyBroker = tp('b', [trial(0.95, 1.9), trial(0.95, 1.9)], [trial(0.95, 1.9)]);
    expect(boundOf(busyBroker)).toBe('broker');
    // A light generator: broker-bound.
    expect(boundOf(tp('l', [trial(0.3, 0.5)], [trial(0.2, 0.4)]))).toBe('broker');
    // No CPU readings: no verdict.
    expect(boundOf(tp('n', [{}], [{}]))).toBeUndefined();
    expect(trialCores(trial(0.5, 1, 4))).toEqual({ generator: 0.5, generatorTotal: 0.5, broker: 0.25 });
  });

  it('one broker whose trials were mostly generator-bound makes the row generator-bound', () => {
    // Sluice's three trials at the generator's limit, Kafka's at its own: 3 of 6 overall, but the Sluice
    // figure is the generator's, so the ratio is too (the @sluice/client lz4 row of 2026-12-05).
    const r = tp(
      'one-side',
      [trial(1.0, 0.6), trial(1.0, 0.58), trial(0.99, 0.6)],
      [trial(0.89, 1), trial(0.85, 1.1), trial(0.92, 1.9)],
    );
    expect(boundOf(r)).toBe('generator');
    // One of three trials over the line on one side is not most of them.
    const once = tp('once', [trial(1.0, 0.6), trial(0.5, 0.6), trial(0.5, 0.6)], [trial(0.5, 1)]);
    expect(boundOf(once)).toBe('broker');
  });

  it('several generator processes, none of them at a core, still bind the row when they and an idle broker fill the machine', () => {
    const procs = (busiest: number, total: number, brokerCpuSec: number, seconds = 2) => ({
      seconds,
      cpuSec: brokerCpuSec,
      generator: { cpuSec: total * seconds, wallSec: seconds, processes: 2, maxCores: busiest },
    });
    // Two processes at 0.75 core each and the broker at 0.35 core: 1.85 of 2 cores, the broker idling.
    const full = tp('full', [procs(0.75, 1.5, 0.7), procs(0.76, 1.52, 0.7)], [procs(0.74, 1.48, 0.8)]);
    expect(boundOf(full, 2)).toBe('generator');
    // On a 4-core machine there was room: the broker had it and did not use it, so it was the limit.
    expect(boundOf(full, 4)).toBe('broker');
    // The broker at ≥ 0.9 core is the limit, full machine or not.
    const busy = tp('busy', [procs(0.5, 1.0, 1.9)], [procs(0.5, 1.0, 1.9)]);
    expect(boundOf(busy, 2)).toBe('broker');
    expect(coresOf(full.details.sluice)).toBe('0.76 (Σ 1.52) / 0.35');
    expect(coresOf([trial(0.5, 1)])).toBe('0.50 / 0.50');
    // The report applies it with the machine's recorded cores.
    const rep = { ...report([full]), machine: { nproc: 2 } };
    expect(boundTables(rep)).toContain('**Generator-bound');
    expect(boundTables({ ...rep, machine: { nproc: 4 } })).not.toContain('**Generator-bound');
  });

  it('sit in their own table, and the headline ratio comes from broker-bound rows only', () => {
    const gen = tp('produce/gen', [trial(0.95, 0.2)], [trial(0.95, 0.2)]);
    const brk = { ...tp('produce/brk', [trial(0.3, 1.9)], [trial(0.3, 1.9)]), sluice: [300], kafka: [100] };
    const tables = boundTables(report([gen, brk]))!;
    const [broker, generator] = tables.split('**Generator-bound');
    expect(broker).toContain('| produce/brk |');
    expect(broker).not.toContain('| produce/gen |');
    expect(generator).toContain('| produce/gen |');
    expect(broker).toContain('| 0.30 / 0.95 |');
  });
});

describe('latency rows short of their offered rate', () => {
  const lat = (gen: string, achievedSluice: number[], achievedKafka: number[]): Row => ({
    ...row(`latency/${gen}`, 'latency', [5, 6, 7], [10, 11, 12], {
      label: 'latency 1 KiB, 6 p, acks=all at 80% of max (134,219 rec/s) p99',
      generator: gen,
      percentile: 'p99',
      unit: 'ms',
    }),
    details: {
      sluice: achievedSluice.map((recordsPerSec) => ({ recordsPerSec })),
      kafka: achievedKafka.map((recordsPerSec) => ({ recordsPerSec })),
    },
  });

  it('are those where either broker got under 90% of the rate asked for (median over trials)', () => {
    expect(shortOfRate(lat('kafka-perf', [134_000, 133_500, 134_100], [133_900, 134_000, 134_200]))).toBe(false);
    // Kafka's median 110k of 134k: short, whichever broker it was.
    expect(shortOfRate(lat('kafka-perf', [134_000, 133_500, 134_100], [90_000, 110_000, 134_000]))).toBe(true);
    // Rows of other kinds, or without achieved rates, are never short.
    expect(shortOfRate({ ...lat('x', [], []), kind: 'produce' })).toBe(false);
    expect(shortOfRate(lat('x', [], []))).toBe(false);
  });
});
