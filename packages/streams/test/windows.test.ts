// Windowed counts with out-of-order and late records, each checked record by record: tumbling with
// grace, hopping, sessions, sliding, and suppression until the window closes.
import { serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  KafkaStreams,
  SessionWindows,
  SlidingWindows,
  StreamsBuilder,
  TimeWindows,
  type WindowedKTable,
} from '../src/index.js';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

interface Click {
  user: string;
  t: number;
}
const clicks = (name: string) => topic(name, { key: serde.string(), value: serde.json<Click>() });
const results = (name: string) => topic(name, { key: serde.string(), value: serde.nullable(serde.json<number>()) });

/** Runs `build` over `input` (one partition, so stream time is one sequence) and returns the output records as [key, value]. */
async function run(
  input: Click[],
  build: (b: StreamsBuilder, inTopic: ReturnType<typeof clicks>) => WindowedKTable<string, number>,
  expectedCount: number,
): Promise<{ out: Array<[string, number | null]>; dropped: number }> {
  const brokers = [broker.bootstrap];
  const inName = unique('clicks');
  const outName = unique('windowed');
  await createTopics(brokers, [inName, outName], 1);
  const b = new StreamsBuilder();
  build(b, clicks(inName))
    .toStream()
    .map((w, n): [string, number | null] => [`${w.key}@${w.start}-${w.end}`, n])
    .to(results(outName));
  const app = new KafkaStreams(b.build(), {
    brokers,
    applicationId: unique('win'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await produce(
    brokers,
    clicks(inName),
    input.map((c) => ({ key: c.user, value: c })),
  );
  await app.start();
  await waitFor('all input processed', async () => (await app.metrics()).some((m) => m.processed >= input.length));
  const out = (await readTopic(brokers, results(outName), expectedCount)).map((r): [string, number | null] => [
    r.key,
    r.value,
  ]);
  const dropped = (await app.metrics()).reduce((a, m) => a + m.droppedLate, 0);
  await app.close();
  return { out, dropped };
}

const byEventTime = { timestampExtractor: (r: { value: Click }) => r.value.t };

it('tumbling windows with grace: out-of-order records counted, late ones dropped and counted', async () => {
  // size 10, grace 5: a window [s, s+10) closes when stream time reaches s+15.
  const input: Click[] = [1, 3, 12, 7, 20, 9, 14, 26, 11].map((t) => ({ user: 'u', t }));
  const { out, dropped } = await run(
    input,
    (b, t) => b.stream(t, byEventTime).groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(10, 5)).count(),
    7,
  );
  expect(out).toEqual([
    ['u@0-10', 1], // t=1
    ['u@0-10', 2], // t=3
    ['u@10-20', 1], // t=12
    ['u@0-10', 3], // t=7: out of order, stream time 12, [0,10) open until 15
    ['u@20-30', 1], // t=20
    // t=9 dropped: stream time 20 ≥ 10 + 5
    ['u@10-20', 2], // t=14
    ['u@20-30', 2], // t=26
    // t=11 dropped: stream time 26 ≥ 20 + 5
  ]);
  expect(dropped).toBe(2);
});

it('hopping windows: each record counted in every window that holds it', async () => {
  const times = [2, 6, 11, 4, 17];
  const input = times.map((t) => ({ user: 'h', t }));
  // size 10, advance 5, grace large enough that nothing is late: expected computed per window.
  const expected: Array<[string, number]> = [];
  const counts = new Map<number, number>();
  for (const t of times) {
    for (let s = Math.max(0, Math.floor((t - 10 + 5) / 5) * 5); s <= t; s += 5) {
      if (t < s || t >= s + 10) continue;
      counts.set(s, (counts.get(s) ?? 0) + 1);
      expected.push([`h@${s}-${s + 10}`, counts.get(s) as number]);
    }
  }
  const { out } = await run(
    input,
    (b, t) =>
      b.stream(t, byEventTime).groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(10, 100).advanceBy(5)).count(),
    expected.length,
  );
  expect(out).toEqual(expected);
});

it('session windows: sessions merge when a record bridges them; merged-away sessions get tombstones', async () => {
  const input = [0, 3, 20, 10, 15].map((t) => ({ user: 's', t }));
  const { out } = await run(
    input,
    (b, t) => b.stream(t, byEventTime).groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(5, 100)).count(),
    8,
  );
  expect(out).toEqual([
    ['s@0-0', 1],
    ['s@0-0', null], // merged into [0,3]
    ['s@0-3', 2],
    ['s@20-20', 1],
    ['s@10-10', 1],
    ['s@10-10', null], // 15 bridges [10,10] and [20,20]
    ['s@20-20', null],
    ['s@10-20', 3],
  ]);
});

it('sliding windows: the windows ending at and starting after each record, with their counts', async () => {
  const input = [10, 14, 30].map((t) => ({ user: 'w', t }));
  const { out } = await run(
    input,
    (b, t) => b.stream(t, byEventTime).groupByKey().windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(5, 100)).count(),
    4,
  );
  expect(out).toEqual([
    ['w@5-10', 1], // left window of 10
    ['w@9-14', 2], // left window of 14 holds 10 and 14
    ['w@11-16', 1], // right window of 10 now holds 14
    ['w@25-30', 1], // left window of 30
  ]);
});

it('suppression until the window closes: one final count per window, after stream time passes end + grace', async () => {
  const input: Click[] = [1, 3, 12, 7, 20, 9, 14, 26, 31, 45].map((t) => ({ user: 'f', t }));
  const { out, dropped } = await run(
    input,
    (b, t) =>
      b
        .stream(t, byEventTime)
        .groupByKey()
        .windowedBy(TimeWindows.ofSizeAndGrace(10, 5))
        .count()
        .suppressUntilWindowCloses() as WindowedKTable<string, number>,
    4,
  );
  expect(out).toEqual([
    ['f@0-10', 3], // closed at stream time 20 (≥ 15)
    ['f@10-20', 2], // closed at 26 (≥ 25)
    ['f@20-30', 2], // closed at 45 (≥ 35)
    ['f@30-40', 1], // closed at 45 too (≥ 40 + 5); [40,50) still open
  ]);
  expect(dropped).toBe(1);
});
