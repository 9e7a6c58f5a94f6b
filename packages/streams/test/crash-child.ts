// A counting application as its own process, for the crash tests: counts records per key of the input
// into a persistent store and writes each count to the output; prints its task metrics every 100 ms;
// SIGTERM closes it cleanly. Usage: crash-child.ts <bootstrap> <appId> <input> <output> <guarantee> <stateDir> <instanceId>
import { serde, topic } from '@sluice/client';
import { KafkaStreams, StreamsBuilder } from '../src/index.js';

const [bootstrap, applicationId, input, output, guarantee, stateDir, instanceId] = process.argv.slice(2);
const builder = new StreamsBuilder();
builder
  .stream(topic(input, { key: serde.string(), value: serde.string() }))
  .groupByKey()
  .count({ name: 'counts' })
  .toStream()
  .to(topic(output, { key: serde.string(), value: serde.json<number>() }));
const app = new KafkaStreams(builder.build(), {
  brokers: [bootstrap],
  applicationId,
  stateDir,
  instanceId,
  groupInstanceId: instanceId,
  processingGuarantee: guarantee as 'at_least_once' | 'exactly_once_v2',
  // Long enough that a kill finds work processed and not yet committed.
  commitIntervalMs: 1000,
  // Small fetches: many batches between commits, so a kill lands among them.
  maxPartitionFetchBytes: 8192,
});
app.onError((err) => {
  console.error('streams failed', err);
  process.exit(3);
});
await app.start();
const timer = setInterval(async () => {
  console.log(`METRICS ${JSON.stringify(await app.metrics().catch(() => []))}`);
}, 20);
process.on('SIGTERM', async () => {
  clearInterval(timer);
  await app.close();
  process.exit(0);
});
