// The streams benchmark's windowed count (1-minute tumbling windows, 5 s grace, suppressed; word keys, events
// 10 ms apart) in one process with an in-process broker, for profiling (`node --cpu-prof`) and for comparing
// two builds of @sluice/streams side by side: each module path given is run in turn, alternating, `trials`
// times over the same prefilled input, each on a fresh application id; prints records/s per run and medians.
//   node --conditions=sluice-source --import tsx/esm packages/streams/bench/windowed-count.ts [records] [trials] [module ...]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startBroker } from '@sluice/broker';
import { Admin, Producer, serde, topic } from '@sluice/client';

const records = Number(process.argv[2] ?? 50_000);
const trials = Number(process.argv[3] ?? 1);
const modules =
  process.argv.length > 4 ? process.argv.slice(4) : [new URL('../src/index.ts', import.meta.url).pathname];
const PARTITIONS = 4;
const WORDS = Array.from({ length: 1000 }, (_, i) => `w${i.toString(36)}`);

type StreamsModule = typeof import('../src/index.js');

const broker = await startBroker({
  props: { 'log.level': 'warn', 'group.initial.rebalance.delay.ms': '0' },
});
const brokers = [broker.bootstrap];
const admin = new Admin({ brokers });
await admin.createTopics([
  { name: 'events', numPartitions: PARTITIONS },
  { name: 'windowed-out', numPartitions: PARTITIONS },
]);
const producer = new Producer({ brokers }, { lingerMs: 5 });
const events = topic('events', { key: serde.string(), value: serde.string() });
let seed = 1;
const start = Date.now() - records * 10;
for (let i = 0; i < records; i += 5000) {
  const sends: Promise<unknown>[] = [];
  for (let j = i; j < Math.min(records, i + 5000); j++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    sends.push(producer.send(events, { key: WORDS[seed % WORDS.length], value: 'x', timestamp: start + j * 10 }));
  }
  await Promise.all(sends);
}
await producer.close();

async function once(mod: StreamsModule, run: number): Promise<number> {
  const { KafkaStreams, StreamsBuilder, TimeWindows } = mod;
  const builder = new StreamsBuilder();
  // Timed from the first record into the topology to the last (start-up and the group join left out).
  let seen = 0;
  let t0 = 0;
  let t1 = 0;
  builder
    .stream(events)
    .peek(() => {
      seen++;
      if (seen === 1) t0 = performance.now();
      if (seen === records) t1 = performance.now();
    })
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 5_000))
    .count()
    .suppressUntilWindowCloses()
    .toStream()
    .map((w, n): [string, string | null] => [`${w.key}@${w.start}-${w.end}`, n === null ? null : String(n)])
    .to(topic('windowed-out', { key: serde.string(), value: serde.nullable(serde.string()) }));
  const app = new KafkaStreams(builder.build(), {
    brokers,
    applicationId: `windowed-${run}`,
    stateDir: mkdtempSync(join(tmpdir(), 'windowed-bench-')),
    commitIntervalMs: 1000,
  });
  await app.start();
  const deadline = Date.now() + 600_000;
  while (seen < records) {
    if (Date.now() > deadline) throw new Error(`only ${seen} of ${records} processed`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const s = (t1 - t0) / 1000;
  await app.close();
  return (records - 1) / s;
}

const loaded = await Promise.all(
  modules.map(async (m) => (await import(pathToFileURL(resolve(m)).href)) as StreamsModule),
);
const rates: number[][] = modules.map(() => []);
let run = 0;
for (let t = 0; t < trials; t++) {
  for (let i = 0; i < loaded.length; i++) {
    const r = await once(loaded[i], run++);
    rates[i].push(r);
    console.log(`trial ${t + 1} ${modules[i]}: ${Math.round(r).toLocaleString('en-US')} records/s`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (let i = 0; i < modules.length; i++)
  console.log(`median ${modules[i]}: ${Math.round(median(rates[i])).toLocaleString('en-US')} records/s`);
await admin.close();
await broker.stop();
