// Kafka Streams' PartitionGroup rules (KIP-695), without a broker: which record comes next across a
// task's partitions, and when the task waits for an empty one.
import { expect, it } from 'vitest';
import { PartitionGroup, TASK_IDLE_DISABLED } from '../src/partition-group.js';

const group = (idleMs: number, lags: Record<string, bigint | undefined>) =>
  new PartitionGroup<number>(
    ['a', 'b'],
    idleMs,
    (p) => lags[p],
    (ts) => ts,
  );

it('takes the head with the smallest timestamp across partitions', () => {
  const h = group(0, { a: 0n, b: 0n });
  h.add('a', [5, 7, 20]);
  h.add('b', [6, 8]);
  const order: Array<[string, number]> = [];
  for (;;) {
    const n = h.next();
    if (n === undefined) break;
    order.push([n.partition, n.record]);
  }
  expect(order).toEqual([
    ['a', 5],
    ['b', 6],
    ['a', 7],
    ['b', 8],
    ['a', 20],
  ]);
});

it('max.task.idle.ms 0: waits while an empty partition has records on the broker or an unknown lag, not once caught up', () => {
  const lags: Record<string, bigint | undefined> = { a: 0n, b: undefined };
  const g = group(0, lags);
  g.add('a', [10]);
  expect(g.readyToProcess(1000)).toBe(false); // b: nothing known yet
  lags.b = 3n;
  expect(g.readyToProcess(1000)).toBe(false); // b: 3 records not fetched yet
  lags.b = 0n;
  expect(g.readyToProcess(1000)).toBe(true); // b caught up: no idling at 0
  expect(g.enforcedProcessing).toBe(1);
});

it('max.task.idle.ms > 0: waits that long for a caught-up empty partition, from when it was first seen empty', () => {
  const lags: Record<string, bigint | undefined> = { a: 0n, b: 0n };
  const g = group(500, lags);
  g.add('a', [10]);
  expect(g.readyToProcess(1000)).toBe(false); // deadline 1500
  expect(g.readyToProcess(1499)).toBe(false);
  expect(g.readyToProcess(1500)).toBe(true);
  // Data on b ends the wait at once, and b's next empty spell starts a new deadline.
  g.add('b', [4]);
  expect(g.readyToProcess(1500)).toBe(true);
  expect(g.next()).toEqual({ partition: 'b', record: 4 });
  expect(g.readyToProcess(1600)).toBe(false); // deadline 2100 now
  expect(g.readyToProcess(2100)).toBe(true);
  // A lag seen meanwhile resets the wait: known records are always waited for.
  lags.b = 1n;
  expect(g.readyToProcess(5000)).toBe(false);
  lags.b = 0n;
  expect(g.readyToProcess(5000)).toBe(false);
  expect(g.readyToProcess(5500)).toBe(true);
});

it('max.task.idle.ms > 0: a partition that went empty long ago does not hold a new record back (as Kafka)', () => {
  const g = group(500, { a: 0n, b: 0n });
  // Nothing buffered: the looks start the idle times (one partition at a time, as Kafka's loop).
  expect(g.readyToProcess(0)).toBe(false); // a: until 500
  expect(g.readyToProcess(500)).toBe(false); // a past; b: until 1000
  g.add('a', [10]);
  expect(g.readyToProcess(1000)).toBe(true);
  expect(g.next()).toEqual({ partition: 'a', record: 10 });
  // a was not empty at 1000: its idle time starts again at the next look.
  g.add('b', [11]);
  expect(g.readyToProcess(1100)).toBe(false);
  expect(g.readyToProcess(1600)).toBe(true);
});

it('max.task.idle.ms -1: never waits for an empty partition, even with records on the broker', () => {
  const g = group(TASK_IDLE_DISABLED, { a: 0n, b: 5n });
  expect(g.readyToProcess(0)).toBe(false); // nothing buffered at all
  g.add('a', [10]);
  expect(g.readyToProcess(0)).toBe(true);
});

it('refuses an idle time below -1', () => {
  expect(() => group(-2, {})).toThrow(RangeError);
});
