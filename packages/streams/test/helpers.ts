import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBroker, startBroker } from '@sluice/broker';
import { Admin, Consumer, type ConsumerRecord, Producer, type ProducerRecord, type Topic } from '@sluice/client';

/** An in-process Sluice broker with quiet logs. */
export function sluice(): Promise<RunningBroker> {
  return startBroker({
    props: {
      'log.level': 'warn',
      'group.initial.rebalance.delay.ms': '0',
      'transaction.state.log.replication.factor': '1',
    },
  });
}

let seq = 0;
/** A name unique within the test run. */
export function unique(prefix: string): string {
  seq++;
  return `${prefix}-${process.pid}-${seq}`;
}

export function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-streams-'));
}

export async function createTopics(brokers: string[], names: string[], partitions: number): Promise<void> {
  const admin = new Admin({ brokers });
  await admin.createTopics(names.map((name) => ({ name, numPartitions: partitions })));
  await admin.close();
}

/** Sends records in order (one idempotent producer keeps each partition's order). */
export async function produce<K, V>(brokers: string[], t: Topic<K, V>, records: ProducerRecord<K, V>[]): Promise<void> {
  const producer = new Producer({ brokers }, { lingerMs: 1 });
  await Promise.all(records.map((r) => producer.send(t, r)));
  await producer.close();
}

/**
 * Reads every partition of a topic from the start until `count` records arrived and no more for
 * `settleMs` (to catch extra ones), or `timeoutMs` passed; per partition in offset order.
 */
export async function readTopic<K, V>(
  brokers: string[],
  t: Topic<K, V>,
  count: number,
  options: { timeoutMs?: number; readCommitted?: boolean; settleMs?: number } = {},
): Promise<ConsumerRecord<K, V>[]> {
  const consumer = new Consumer(
    { brokers },
    {
      isolationLevel: options.readCommitted ? 'read_committed' : 'read_uncommitted',
      maxWaitMs: 50,
      autoOffsetReset: 'earliest',
    },
  );
  const out: ConsumerRecord<K, V>[] = [];
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastAt = Date.now();
  let stopped = false;
  const timer = setInterval(() => {
    // Enough records and none for settleMs: the rest would be extra ones.
    if (Date.now() > deadline || (out.length >= count && Date.now() - lastAt >= (options.settleMs ?? 300))) {
      stopped = true;
      consumer.close().catch(() => {});
    }
  }, 20);
  try {
    await consumer.run(t, (records) => {
      out.push(...records);
      lastAt = Date.now();
    });
  } catch (err) {
    // Closed by the timer while still starting: what was read is the answer.
    if (!stopped) throw err;
  } finally {
    clearInterval(timer);
    await consumer.close();
  }
  return out.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

/** Polls `check` until true or `timeoutMs` (then fails naming `what`). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type { RunningBroker };
