// Creating and reading back the small compacted topics the mirror keeps its state in.
import {
  Admin,
  type ClientOptions,
  Consumer,
  type ConsumerRecord,
  ERROR_CODES,
  KafkaError,
  topic,
} from '@sluice/client';

/** Creates a compacted topic unless it exists. */
export async function ensureCompactedTopic(
  admin: Admin,
  name: string,
  partitions: number,
  replicationFactor: number,
): Promise<void> {
  try {
    await admin.createTopics([
      { name, numPartitions: partitions, replicationFactor, configs: { 'cleanup.policy': 'compact' } },
    ]);
  } catch (err) {
    if (!(err instanceof KafkaError && err.code === ERROR_CODES.TOPIC_ALREADY_EXISTS)) throw err;
  }
}

/** How long reading an internal topic back may take before the mirror gives up starting. */
const READ_BACK_TIMEOUT_MS = 120_000;

/**
 * Reads every record of `name` up to its end offsets as they are when called, in offset order per
 * partition. A topic that does not exist reads as empty.
 */
export async function readToEnd(
  options: ClientOptions,
  name: string,
  onRecord: (r: ConsumerRecord<Buffer | null, Buffer | null>) => void,
  /** read_committed: only committed records, up to the last stable offset (exactly-once positions). */
  isolation: 'read_uncommitted' | 'read_committed' = 'read_uncommitted',
): Promise<void> {
  const admin = new Admin(options);
  let ends: Map<number, bigint>;
  try {
    const names = await admin.listTopics({ includeInternal: true });
    if (!names.includes(name)) return;
    const [info] = await admin.describeTopics([name]);
    const latest = await admin.listOffsets(
      info.partitions.map((p) => ({ topic: name, partition: p.partition })),
      'latest',
      isolation,
    );
    ends = new Map(latest.filter((e) => e.offset > 0n).map((e) => [e.partition, e.offset]));
  } finally {
    await admin.close();
  }
  if (ends.size === 0) return;
  const t = topic(name);
  const consumer = new Consumer(options, { autoOffsetReset: 'earliest', isolationLevel: isolation });
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  // A partition is read once its position reaches the end offset (checked after each chunk and on a
  // timer, for partitions whose last offsets hold no records any more).
  const check = () => {
    for (const [p, end] of ends) {
      const pos = consumer.position(name, p);
      if (pos !== undefined && pos >= end) ends.delete(p);
    }
    if (ends.size === 0) finish();
  };
  const timer = setInterval(check, 200);
  const deadline = setTimeout(finish, READ_BACK_TIMEOUT_MS);
  try {
    await consumer.assign([...ends.keys()].map((partition) => ({ topic: t, partition, offset: 'earliest' as const })));
    const run = consumer.run(t, (records) => {
      for (const r of records) {
        const end = ends.get(r.partition);
        if (end !== undefined && r.offset < end) onRecord(r);
      }
      check();
    });
    await Promise.race([finished, run]);
    if (ends.size > 0) {
      throw new KafkaError(
        ERROR_CODES.REQUEST_TIMED_OUT,
        `reading ${name} back: partitions ${[...ends.keys()].join(',')} not read to their end`,
      );
    }
  } finally {
    clearInterval(timer);
    clearTimeout(deadline);
    await consumer.close();
  }
}
