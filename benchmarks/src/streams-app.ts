// @sluice/streams' WordCount as its own process, for the streams benchmark (the same topology as Kafka
// Streams' in scripts/reference-kafka/streams/SluiceStreamsApp.java): lines split into lower-case words,
// regrouped by word through the repartition topic `<appId>-counts-repartition`, counted, every new count
// written to the output. Prints RUNNING once its tasks run; SIGTERM closes it (committing).
// windowed: a tumbling-window count per key (size and grace from the arguments), suppressed until each
// window closes, output key "key@start-end".
//   node --conditions=sluice-source --import tsx/esm streams-app.ts <bootstrap> <appId> <commitMs> <input> <output> <stateDir> [windowed <sizeMs> <graceMs>]
import { serde, topic } from '@sluice/client';
import { KafkaStreams, StreamsBuilder, TimeWindows } from '@sluice/streams';

const [bootstrap, applicationId, commitMs, input, output, stateDir, mode, size, grace] = process.argv.slice(2);
const builder = new StreamsBuilder();
if (mode === 'windowed') {
  builder
    .stream(topic(input, { key: serde.string(), value: serde.string() }))
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(Number(size), Number(grace)))
    .count()
    .suppressUntilWindowCloses()
    .toStream()
    .map((w, n): [string, string | null] => [`${w.key}@${w.start}-${w.end}`, n === null ? null : String(n)])
    .to(topic(output, { key: serde.string(), value: serde.nullable(serde.string()) }));
} else
  builder
    .stream(topic(input, { key: serde.nullable(serde.string()), value: serde.string() }))
    .flatMapValues((line) =>
      line
        .toLowerCase()
        .split(/\W+/)
        .filter((w) => w.length > 0),
    )
    .groupBy((_key, word) => word, { key: serde.string(), value: serde.string() })
    .count({ name: 'counts' })
    .toStream()
    .to(topic(output, { key: serde.string(), value: serde.json<number>() }));
const app = new KafkaStreams(builder.build(), {
  brokers: [bootstrap],
  applicationId,
  stateDir,
  commitIntervalMs: Number(commitMs),
  replicationFactor: 1,
});
app.onError((err) => {
  console.error('streams failed', err);
  process.exit(3);
});
await app.start();
const poll = setInterval(() => {
  if (app.state === 'RUNNING') {
    clearInterval(poll);
    console.log('RUNNING');
  }
}, 10);
process.on('SIGTERM', async () => {
  await app.close();
  process.exit(0);
});
