import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '@sluice/broker';
import { Kafka, serde, topic } from '@sluice/client';
import { KafkaStreams, StreamsBuilder } from '@sluice/streams';

const broker = await startBroker({ props: { 'log.level': 'warn' } });
const kafka = new Kafka({ brokers: [broker.bootstrap] });
const lines = topic('lines', { key: serde.nullable(serde.string()), value: serde.string() });
const wordCounts = topic('word-counts', { key: serde.string(), value: serde.json<number>() });
const admin = kafka.admin();
await admin.createTopics([
  { name: 'lines', numPartitions: 2 },
  { name: 'word-counts', numPartitions: 2 },
]);
await admin.close();

const builder = new StreamsBuilder();
const counts = builder
  .stream(lines)
  .flatMapValues((line) =>
    line
      .toLowerCase()
      .split(/\W+/)
      .filter((w) => w.length > 0),
  )
  .groupBy((_key, word) => word, { key: serde.string(), value: serde.string() }) // → wordcount-counts-repartition
  .count({ name: 'counts' }); // an LMDB store, logged to wordcount-counts-changelog
counts.toStream().to(wordCounts);
// counts.toStream().to(lines)   ← compile-time error: number values do not fit a topic of strings

const app = new KafkaStreams(builder.build(), {
  brokers: [broker.bootstrap],
  applicationId: 'wordcount',
  stateDir: mkdtempSync(join(tmpdir(), 'wordcount-')),
});
await app.start();

const producer = kafka.producer();
for (const line of ['the quick brown fox', 'the lazy dog', 'The fox']) await producer.send(lines, { value: line });
await producer.close();

// Interactive query of the local store, until all 9 words are counted.
const total = () =>
  app
    .query(counts)
    .all()
    .reduce((sum, [, n]) => sum + n, 0);
while (total() < 9) await new Promise((r) => setTimeout(r, 50));
const sorted = app
  .query(counts)
  .all()
  .sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
console.log(sorted.map(([word, n]) => `${word} ${n}`).join(', '));

await app.close(); // commits, writes checkpoints, leaves the group
await broker.stop();
