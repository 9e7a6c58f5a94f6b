// A tumbling-window count (suppressed until each window closes, with out-of-order and late records) and a
// stream–table join, run on the same input by Kafka Streams 4.4.0 (Java, scripts/reference-kafka/streams)
// and by @sluice/streams, against Apache Kafka 4.4.0: their outputs are compared record by record, and
// both with the results computed here.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, Producer, serde, topic } from '@sluice/client';
import { KafkaStreams, StreamsBuilder, TimeWindows } from '@sluice/streams';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, startKafka } from './brokers.js';

const APP = join(repoRoot, 'scripts', 'reference-kafka', 'streams', 'streams-app.sh');
let kafka: BrokerUnderTest;
let seq = 0;
const unique = (p: string) => `${p}-${process.pid}-${++seq}`;
const str = (name: string) => topic(name, { key: serde.string(), value: serde.nullable(serde.string()) });
const running: ChildProcess[] = [];

beforeAll(async () => {
  kafka = await startKafka({ 'group.initial.rebalance.delay.ms': '0' });
  // Resolves kafka-streams and compiles the app once (cached outside the repository).
  await new Promise<void>((resolve, reject) => {
    const p = spawn('bash', [APP, 'install'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr?.on('data', (d) => {
      err += String(d);
    });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`streams-app.sh install: ${code} ${err}`))));
  });
}, 400_000);
afterAll(async () => {
  for (const p of running) if (p.exitCode === null) p.kill('SIGKILL');
  await kafka?.stop();
});

/** Starts the Java app; resolves once Kafka Streams reports RUNNING. stop() closes it (SIGTERM) and waits. */
async function startJava(args: string[]): Promise<{ stop(): Promise<void> }> {
  const p = spawn('bash', [APP, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(p);
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  let err = '';
  p.stderr?.on('data', (d) => {
    err = (err + String(d)).slice(-4000);
    if (process.env.STREAMS_APP_DEBUG) process.stderr.write(d);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Kafka Streams did not start in 90 s: ${err}`)), 90_000);
    p.stdout?.on('data', (d) => {
      if (String(d).includes('RUNNING')) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Kafka Streams exited with ${code}: ${err}`));
    });
  });
  return {
    async stop() {
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Reads a topic from the start until `count` records and none more for 1 s (or 60 s): [partition, key, value]. */
async function readAll(name: string, count: number): Promise<Array<[number, string, string | null]>> {
  const c = new Consumer({ brokers: [kafka.bootstrap] }, { autoOffsetReset: 'earliest', maxWaitMs: 100 });
  const out: Array<[number, string, string | null]> = [];
  const deadline = Date.now() + 60_000;
  let lastAt = Date.now();
  const timer = setInterval(() => {
    if (Date.now() > deadline || (out.length >= count && Date.now() - lastAt > 1000)) c.close().catch(() => {});
  }, 50);
  try {
    await c.run(str(name), (records) => {
      for (const r of records) out.push([r.partition, r.key, r.value]);
      lastAt = Date.now();
    });
  } catch {
    // Closed by the timer.
  } finally {
    clearInterval(timer);
    await c.close();
  }
  return out;
}

/** Waits until each group has committed every partition of `name` up to its end. */
async function committedToEnd(admin: Admin, groups: string[], name: string, partitions: number): Promise<void> {
  const tps = Array.from({ length: partitions }, (_, partition) => ({ topic: name, partition }));
  const ends = await admin.listOffsets(tps);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const offsets = await Promise.all(groups.map((g) => admin.fetchGroupOffsets(g)));
    const done = offsets.every((o) =>
      ends.every(
        (e) => e.offset === 0n || o.find((c) => c.topic === name && c.partition === e.partition)?.offset === e.offset,
      ),
    );
    if (done) return;
    if (Date.now() > deadline) throw new Error(`groups ${groups.join(', ')} did not commit ${name} to its end`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function sluiceApp(b: StreamsBuilder, applicationId: string): KafkaStreams {
  return new KafkaStreams(b.build(), {
    brokers: [kafka.bootstrap],
    applicationId,
    stateDir: mkdtempSync(join(tmpdir(), 'streams-kafka-topologies-')),
    commitIntervalMs: 100,
    replicationFactor: 1,
  });
}

const SIZE = 10_000;
const GRACE = 5_000;
// Recent (a broker's retention would delete records from long ago), aligned to a window.
const BASE = Math.floor(Date.now() / SIZE) * SIZE - 1000 * SIZE;

it('tumbling-window count with grace, suppressed until the window closes: Kafka Streams and @sluice/streams agree', async () => {
  const brokers = [kafka.bootstrap];
  const input = unique('clicks');
  const [javaOut, sluiceOut] = [unique('windowed-java'), unique('windowed-sluice')];
  const admin = new Admin({ brokers });
  await admin.createTopics([input, javaOut, sluiceOut].map((name) => ({ name, numPartitions: 1 })));
  // Out of order (7 after 12, 9 after 20) and late (11 at stream time 31: [10,20) closed at 25); the last
  // record moves stream time past every window before it.
  const events: Array<[string, number]> = [
    ['a', 1],
    ['b', 2],
    ['a', 3],
    ['b', 12],
    ['a', 7],
    ['a', 20],
    ['b', 9],
    ['a', 14],
    ['b', 26],
    ['a', 31],
    ['b', 11],
    ['a', 45],
    ['b', 50],
    ['a', 70],
  ];
  const producer = new Producer({ brokers }, { lingerMs: 0 });
  for (const [key, s] of events) await producer.send(str(input), { key, value: `${s}`, timestamp: BASE + s * 1000 });
  await producer.close();

  // Kafka's rules, computed here: a record counts unless its window ended at or before stream time − grace;
  // a window's count is emitted once stream time reaches its end + grace, in window-end order.
  let streamTime = -1;
  const counts = new Map<string, { key: string; start: number; n: number }>();
  const expected: Array<[string, string]> = [];
  for (const [key, s] of events) {
    const t = BASE + s * 1000;
    streamTime = Math.max(streamTime, t);
    const start = t - (t % SIZE);
    if (start + SIZE > streamTime - GRACE) {
      const id = `${key}@${start}-${start + SIZE}`;
      const c = counts.get(id) ?? { key, start, n: 0 };
      c.n++;
      counts.set(id, c);
    }
    const closed = [...counts].filter(([, c]) => c.start + SIZE + GRACE <= streamTime);
    closed.sort(([ia, a], [ib, b]) => a.start - b.start || (ia < ib ? -1 : 1));
    for (const [id, c] of closed) {
      expected.push([id, String(c.n)]);
      counts.delete(id);
    }
  }

  const javaId = unique('windowed-java-app');
  const java = await startJava([
    'windowed',
    kafka.bootstrap,
    javaId,
    'at_least_once',
    '100',
    input,
    javaOut,
    `${SIZE}`,
    `${GRACE}`,
  ]);
  const b = new StreamsBuilder();
  b.stream(topic(input, { key: serde.string(), value: serde.string() }))
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE))
    .count()
    .suppressUntilWindowCloses()
    .toStream()
    .map((w, n): [string, string | null] => [`${w.key}@${w.start}-${w.end}`, n === null ? null : String(n)])
    .to(str(sluiceOut));
  const app = sluiceApp(b, unique('windowed-sluice-app'));
  await app.start();
  try {
    const [fromJava, fromSluice] = await Promise.all([
      readAll(javaOut, expected.length),
      readAll(sluiceOut, expected.length),
    ]);
    const records = (l: Array<[number, string, string | null]>) => l.map(([, k, v]) => [k, v]);
    expect(records(fromJava)).toEqual(expected);
    expect(records(fromSluice)).toEqual(records(fromJava));
  } finally {
    await Promise.all([java.stop(), app.close()]);
    await admin.close();
  }
}, 240_000);

it('stream–table join: each order enriched with the customer as of its arrival, Kafka Streams and @sluice/streams agree', async () => {
  const brokers = [kafka.bootstrap];
  const [orders, customers] = [unique('orders'), unique('customers')];
  const [javaOut, sluiceOut] = [unique('enriched-java'), unique('enriched-sluice')];
  const admin = new Admin({ brokers });
  await admin.createTopics([orders, customers, javaOut, sluiceOut].map((name) => ({ name, numPartitions: 2 })));
  const javaId = unique('join-java-app');
  const sluiceId = unique('join-sluice-app');
  const java = await startJava(['join', kafka.bootstrap, javaId, 'at_least_once', '100', orders, customers, javaOut]);
  const b = new StreamsBuilder();
  const table = b.table(str(customers));
  b.stream(str(orders))
    .join(table, (o, c) => `${o}|${c}`)
    .to(str(sluiceOut));
  const app = sluiceApp(b, sluiceId);
  await app.start();
  const producer = new Producer({ brokers }, { lingerMs: 0 });
  const send = async (name: string, rs: Array<[string, string | null]>) => {
    for (const [key, value] of rs) await producer.send(str(name), { key, value });
  };
  // Each phase is processed and committed by both applications before the next: the table is as
  // each order finds it, in both.
  const phase = async (name: string, rs: Array<[string, string | null]>) => {
    await send(name, rs);
    await committedToEnd(admin, [javaId, sluiceId], name, 2);
  };
  try {
    await phase(customers, [
      ['c1', 'Ada'],
      ['c2', 'Bob'],
      ['c4', 'Dee'],
    ]);
    await phase(orders, [
      ['c1', 'o1'],
      ['c2', 'o2'],
      ['c3', 'o3'], // no such customer: no output
      ['c4', 'o4'],
    ]);
    await phase(customers, [
      ['c1', 'Ada Lovelace'],
      ['c2', null], // deleted: later orders of c2 find nothing
      ['c3', 'Cyd'],
    ]);
    await phase(orders, [
      ['c1', 'o5'],
      ['c2', 'o6'],
      ['c3', 'o7'],
      ['c4', 'o8'],
    ]);
    const expected = new Map([
      ['c1', ['o1|Ada', 'o5|Ada Lovelace']],
      ['c2', ['o2|Bob']],
      ['c3', ['o7|Cyd']],
      ['c4', ['o4|Dee', 'o8|Dee']],
    ]);
    const byKey = (l: Array<[number, string, string | null]>) => {
      const m = new Map<string, Array<string | null>>();
      for (const [, k, v] of l) m.set(k, [...(m.get(k) ?? []), v]);
      return new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
    };
    const [fromJava, fromSluice] = await Promise.all([readAll(javaOut, 6), readAll(sluiceOut, 6)]);
    expect(byKey(fromJava)).toEqual(expected);
    expect(byKey(fromSluice)).toEqual(byKey(fromJava));
    // Same partition for each output record, too (both partition by the key's murmur2 hash).
    const where = (l: Array<[number, string, string | null]>) => l.map(([p, k, v]) => `${p}:${k}:${v}`).sort();
    expect(where(fromSluice)).toEqual(where(fromJava));
  } finally {
    await producer.close();
    await Promise.all([java.stop(), app.close()]);
    await admin.close();
  }
}, 240_000);
