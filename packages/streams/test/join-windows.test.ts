// Asymmetric JoinWindows (Kafka's ofTimeDifference…().before(b).after(a)): a left record at t joins right
// records in [t - before, t + after], a right record at t' joins left ones in [t' - after, t' + before];
// unjoined left records wait `after` + grace past their time, right ones `before` + grace. Each bound is
// checked on both sides (one millisecond in, one out), processing from either side.
import { Producer, serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { JoinWindows, KafkaStreams, type KStream, StreamsBuilder } from '../src/index.js';
import { createTopics, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

const str = (name: string) => topic(name, { key: serde.string(), value: serde.nullable(serde.string()) });
// Timestamps near now: the broker's retention would delete records from 1970 while the test runs.
const T0 = Date.now();

type Step = [side: 'L' | 'R', key: string, at: number];

/** Sends each record once the previous one is processed, so both sides meet in the order given. */
async function run(app: KafkaStreams, lName: string, rName: string, steps: Step[]): Promise<void> {
  const producer = new Producer({ brokers: [broker.bootstrap] }, { lingerMs: 1 });
  try {
    let n = 0;
    for (const [side, key, at] of steps) {
      await producer.send(str(side === 'L' ? lName : rName), { key, value: `${side}${at}`, timestamp: T0 + at });
      n++;
      await waitFor(`${n} records processed`, async () => {
        return (await app.metrics()).reduce((a, m) => a + m.processed, 0) >= n;
      });
    }
  } finally {
    await producer.close();
  }
}

const read = async (name: string, count: number) =>
  (await readTopic([broker.bootstrap], str(name), count)).map((r) => [r.key, r.value, Number(r.timestamp) - T0]);

it('inner join: before 10, after 20 — the bounds hold from the left side and from the right side', async () => {
  const brokers = [broker.bootstrap];
  const [lName, rName, outName] = ['l', 'r', 'out'].map(unique);
  await createTopics(brokers, [lName, rName, outName], 1);
  const b = new StreamsBuilder();
  const left: KStream<string, string | null> = b.stream(str(lName));
  const windows = JoinWindows.ofTimeDifferenceAndGrace(0, 1000).before(10).after(20);
  left.join(b.stream(str(rName)), (l, r) => `${l}/${r}`, windows).to(str(outName));
  const app = new KafkaStreams(b.build(), {
    brokers,
    applicationId: unique('jw-inner'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();
  try {
    await run(app, lName, rName, [
      // Key a: the left record first; right ones join it from the right side ([t' - 20, t' + 10]).
      ['L', 'a', 1000],
      ['R', 'a', 989], // 1000 > 989 + 10: no
      ['R', 'a', 990], // yes
      ['R', 'a', 1020], // yes
      ['R', 'a', 1021], // 1000 < 1021 - 20: no
      // Key b: right records first; the left one joins them from the left side ([t - 10, t + 20]).
      ['R', 'b', 1989],
      ['R', 'b', 1990],
      ['R', 'b', 2020],
      ['R', 'b', 2021],
      ['L', 'b', 2000],
    ]);
    expect(await read(outName, 4)).toEqual([
      ['a', 'L1000/R990', 1000],
      ['a', 'L1000/R1020', 1020],
      ['b', 'L2000/R1990', 2000],
      ['b', 'L2000/R2020', 2020],
    ]);
  } finally {
    await app.close();
  }
}, 180_000);

it('left and outer joins: a left record waits `after` + grace, a right one `before` + grace; past that, at once', async () => {
  const brokers = [broker.bootstrap];
  const [lName, rName, leftOut, outerOut] = ['l', 'r', 'left-out', 'outer-out'].map(unique);
  await createTopics(brokers, [lName, rName, leftOut, outerOut], 1);
  const b = new StreamsBuilder();
  const left: KStream<string, string | null> = b.stream(str(lName));
  const right = b.stream(str(rName));
  const windows = JoinWindows.ofTimeDifferenceWithNoGrace(0).before(10).after(20);
  left.leftJoin(right, (l, r) => `${l}/${r ?? 'null'}`, windows).to(str(leftOut));
  left.outerJoin(right, (l, r) => `${l ?? 'null'}/${r ?? 'null'}`, windows).to(str(outerOut));
  const app = new KafkaStreams(b.build(), {
    brokers,
    applicationId: unique('jw-outer'),
    stateDir: stateDir(),
    commitIntervalMs: 100,
  });
  await app.start();
  try {
    await run(app, lName, rName, [
      ['L', 'a', 1000], // waits until stream time passes 1000 + 20
      ['R', 'z', 1020], // stream time 1020: a still waits; z (outer) waits until past 1020 + 10
      ['R', 'z2', 1021], // 1021: a comes out
      ['L', 'y', 1030], // 1030: z still waits
      ['L', 'y2', 1031], // 1031: z comes out (z2 and y wait on)
      // Out of order at stream time 1031, not late (retention 30): out at once when the window is past.
      ['L', 'x', 1010], // 1010 + 20 < 1031: at once
      ['L', 'w', 1011], // 1011 + 20 = 1031: waits
      ['R', 'v', 1020], // 1020 + 10 < 1031: at once (outer)
      ['R', 'u', 1021], // 1021 + 10 = 1031: waits
    ]);
    expect(await read(leftOut, 2)).toEqual([
      ['a', 'L1000/null', 1000],
      ['x', 'L1010/null', 1010],
    ]);
    expect(await read(outerOut, 4)).toEqual([
      ['a', 'L1000/null', 1000],
      ['z', 'null/R1020', 1020],
      ['x', 'L1010/null', 1010],
      ['v', 'null/R1020', 1020],
    ]);
    expect((await app.metrics()).reduce((a, m) => a + m.droppedLate, 0)).toBe(0);
  } finally {
    await app.close();
  }
}, 180_000);

it('JoinWindows: before and after may be negative while their sum is not; grace not below 0', () => {
  const w = JoinWindows.ofTimeDifferenceWithNoGrace(5).before(-3).after(10);
  expect([w.beforeMs, w.afterMs, w.graceMs, w.sizeMs]).toEqual([-3, 10, 0, 7]);
  expect(() => JoinWindows.ofTimeDifferenceWithNoGrace(5).before(-6)).toThrow(RangeError);
  expect(() => JoinWindows.ofTimeDifferenceAndGrace(5, -1)).toThrow(RangeError);
});
