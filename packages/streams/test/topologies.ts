import { serde, topic } from '@sluice/client';
import { StreamsBuilder } from '../src/index.js';

/** Kafka's WordCount: lines split into words, counted per word, each new count written to `output`. */
export function wordCountTopology(input: string, output: string) {
  const builder = new StreamsBuilder();
  const counts = builder
    .stream(topic(input, { key: serde.nullable(serde.string()), value: serde.string() }))
    .flatMapValues((line) =>
      line
        .toLowerCase()
        .split(/\W+/)
        .filter((w) => w.length > 0),
    )
    .groupBy((_key, word) => word, { key: serde.string(), value: serde.string() })
    .count({ name: 'counts' });
  counts.toStream().to(topic(output, { key: serde.string(), value: serde.json<number>() }));
  return { topology: builder.build(), counts };
}

/** Counts records per key (no repartition): one task per input partition, each with the store `counts`. */
export function countTopology(input: string, output: string) {
  const builder = new StreamsBuilder();
  const counts = builder
    .stream(topic(input, { key: serde.string(), value: serde.string() }))
    .groupByKey()
    .count({ name: 'counts' });
  counts.toStream().to(topic(output, { key: serde.string(), value: serde.json<number>() }));
  return { topology: builder.build(), counts };
}
