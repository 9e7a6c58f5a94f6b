import { describe, expect, it } from 'vitest';
import { arrive } from './barrier.js';
import { type Measurement, partitionsOf, RDKAFKA_BATCHING, together } from './generators.js';

const m = (records: number, seconds: number, cores: number): Measurement => ({
  records,
  recordsPerSec: records / seconds,
  mibPerSec: records / seconds / 1024,
  seconds,
  generator: { cpuSec: cores * seconds, wallSec: seconds, processes: 1, maxCores: cores },
});

describe('several generator processes at once (--producers N)', () => {
  it('split the records, rate over the longest, CPU summed, busiest process kept', async () => {
    const shares: number[] = [];
    const r = await together(
      3,
      async (i, records) => {
        shares.push(records);
        return m(records, [1, 2, 4][i], [0.5, 0.9, 0.7][i]);
      },
      30_000,
    );
    expect(shares).toEqual([10_000, 10_000, 10_000]);
    expect(r.records).toBe(30_000);
    expect(r.recordsPerSec).toBe(7_500);
    expect(r.generator).toEqual({ cpuSec: 0.5 + 1.8 + 2.8, wallSec: 4, processes: 3, maxCores: 0.9 });
  });

  it('processes that started apart are timed over the union of their windows', async () => {
    // Two processes of 1 s each, the second started 0.5 s after the first: 1.5 s of load, not 1 s.
    const r = await together(
      2,
      async (i, records) => ({ ...m(records, 1, 0.8), window: { startMs: 10_000 + i * 500, endMs: 11_000 + i * 500 } }),
      20_000,
    );
    expect(r.seconds).toBe(1.5);
    expect(r.recordsPerSec).toBeCloseTo(20_000 / 1.5);
    expect(r.generator).toEqual({ cpuSec: 1.6, wallSec: 1.5, processes: 2, maxCores: 0.8 });
  });

  it('with a start barrier, no process starts its load before the last one is ready', async () => {
    const arrived: number[] = [];
    const started: number[] = [];
    const r = await together(
      2,
      async (i, records, dir) => {
        expect(dir).toBeDefined();
        await new Promise((res) => setTimeout(res, i * 300)); // the second one's start-up is slower
        arrived[i] = performance.now();
        await arrive(dir!, String(i));
        started[i] = performance.now();
        return m(records, 1, 0.5);
      },
      100,
      { barrier: true },
    );
    expect(r.records).toBe(100);
    expect(Math.min(...started)).toBeGreaterThanOrEqual(Math.max(...arrived));
    // A process that fails before it arrives fails the load instead of leaving the others waiting.
    await expect(
      together(
        2,
        async (i, records, dir) => {
          if (i === 1) throw new Error('no broker');
          await arrive(dir!, '0', 5_000);
          return m(records, 1, 0.5);
        },
        100,
        { barrier: true },
      ),
    ).rejects.toThrow(/no broker/);
  });

  it('one process is passed through as it is', async () => {
    const one = m(100, 1, 0.2);
    expect(await together(1, async () => one, 100)).toBe(one);
  });
});

it('rdkafka_performance gets a linger far below its own 1000 ms', () => {
  expect(Number(RDKAFKA_BATCHING['linger.ms'])).toBeLessThan(100);
});

it('the raw fetch deals every partition to exactly one connection, none left empty', () => {
  expect(partitionsOf(6, 4)).toEqual([[0, 4], [1, 5], [2], [3]]);
  expect(partitionsOf(1, 4)).toEqual([[0]]);
  const many = partitionsOf(1000, 4);
  expect(many).toHaveLength(4);
  expect(many.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, p) => p));
});
