// @sluice/mirror between Apache Kafka 4.4 and Sluice on loopback: Kafka -> Sluice with keyed records
// and headers on 6 partitions in every codec, a group's offsets translated onto Sluice, and Sluice ->
// Kafka back. MIRROR_RECORDS sets the Kafka -> Sluice count (default 100,000).
import { Admin, Consumer, type ConsumerRecord, Producer, topic } from '@sluice/client';
import { MirrorMaker, parseMirrorConfig } from '@sluice/mirror';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, startKafka, startSluice } from './brokers.js';

const RECORDS = Number(process.env.MIRROR_RECORDS ?? 100_000);
const PARTITIONS = 6;
const PER_PARTITION = Math.floor(RECORDS / PARTITIONS);
const BACK = 6_000;
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
const T0 = Date.now() - 600_000;

let kafka: BrokerUnderTest;
let sluice: BrokerUnderTest;

beforeAll(async () => {
  kafka = await startKafka();
  sluice = await startSluice();
});

afterAll(async () => {
  await sluice?.stop();
  await kafka?.stop();
});

async function produce(bootstrap: string, name: string, perPartition: number): Promise<void> {
  const t = topic(name);
  for (const [c, compression] of CODECS.entries()) {
    const producer = new Producer({ brokers: [bootstrap] }, { compression, lingerMs: 5, batchSize: 64 * 1024 });
    let sends: Promise<unknown>[] = [];
    for (let n = c; n < perPartition; n += CODECS.length) {
      for (let p = 0; p < PARTITIONS; p++) {
        sends.push(
          producer.send(t, {
            key: Buffer.from(`k-${p}-${n}`),
            value: Buffer.from(`v-${p}-${n}-${'y'.repeat(n % 80)}`),
            headers: { n: Buffer.from(String(n)), codec: Buffer.from(compression) },
            partition: p,
            timestamp: T0 + n,
          }),
        );
      }
      if (sends.length >= 10_000) {
        await Promise.all(sends);
        sends = [];
      }
    }
    await Promise.all(sends);
    await producer.close();
  }
}

async function ends(bootstrap: string, name: string): Promise<bigint[]> {
  const admin = new Admin({ brokers: [bootstrap] });
  try {
    if (!(await admin.listTopics({ includeInternal: true })).includes(name)) return [];
    const [info] = await admin.describeTopics([name]);
    const e = await admin.listOffsets(
      info.partitions.map((p) => ({ topic: name, partition: p.partition })),
      'latest',
    );
    return e.map((x) => x.offset);
  } finally {
    await admin.close();
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every record of a topic (up to its end offsets now), by partition; only what the checks need is kept. */
async function readAll(bootstrap: string, name: string): Promise<Map<number, ConsumerRecord<string, string>[]>> {
  const endOffsets = await ends(bootstrap, name);
  const out = new Map<number, ConsumerRecord<string, string>[]>();
  const left = new Map<number, bigint>();
  endOffsets.forEach((e, p) => {
    out.set(p, []);
    if (e > 0n) left.set(p, e);
  });
  const t = topic(name, {
    key: { serialize: () => null, deserialize: (b) => String(b) },
    value: { serialize: () => null, deserialize: (b) => String(b) },
  });
  const consumer = new Consumer({ brokers: [bootstrap] });
  await consumer.assign([...left.keys()].map((partition) => ({ topic: t, partition, offset: 'earliest' as const })));
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  if (left.size === 0) done();
  const timer = setTimeout(done, 120_000);
  const run = consumer.run(t, (records) => {
    for (const r of records) {
      const end = left.get(r.partition);
      if (end === undefined || r.offset >= end) continue;
      out.get(r.partition)?.push({ ...r, headers: { ...r.headers } });
      if (r.offset + 1n >= end) left.delete(r.partition);
    }
    if (left.size === 0) done();
  });
  await Promise.race([finished, run]);
  clearTimeout(timer);
  await consumer.close();
  expect(left.size, `${name}: partitions not read to the end`).toBe(0);
  return out;
}

function sameRecords(
  source: Map<number, ConsumerRecord<string, string>[]>,
  target: Map<number, ConsumerRecord<string, string>[]>,
): void {
  for (const [p, want] of source) {
    const got = target.get(p) ?? [];
    expect(got.length, `partition ${p}`).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      if (
        got[i].key !== want[i].key ||
        got[i].value !== want[i].value ||
        got[i].timestamp !== want[i].timestamp ||
        got[i].headers.n?.toString() !== want[i].headers.n?.toString() ||
        got[i].headers.codec?.toString() !== want[i].headers.codec?.toString()
      ) {
        throw new Error(`partition ${p} record ${i}: ${JSON.stringify(got[i].key)} where ${want[i].key} was expected`);
      }
    }
  }
}

describe('mirror between Apache Kafka and Sluice', () => {
  it(
    `Kafka -> Sluice: ${PER_PARTITION * PARTITIONS} records on ${PARTITIONS} partitions, every codec, and a group's offsets; Sluice -> Kafka back`,
    {
      timeout: 600_000,
    },
    async () => {
      const kafkaAdmin = new Admin({ brokers: [kafka.bootstrap] });
      const sluiceAdmin = new Admin({ brokers: [sluice.bootstrap] });
      await kafkaAdmin.createTopics([
        { name: 'orders', numPartitions: PARTITIONS, configs: { 'retention.ms': '604800000' } },
      ]);
      await sluiceAdmin.createTopics([{ name: 'native', numPartitions: PARTITIONS }]);
      const t0 = Date.now();
      await produce(kafka.bootstrap, 'orders', PER_PARTITION);
      await produce(sluice.bootstrap, 'native', BACK / PARTITIONS);
      console.log(`produced in ${Date.now() - t0} ms`);
      const half = BigInt(Math.floor(PER_PARTITION / 2));
      const group = new Consumer({ brokers: [kafka.bootstrap] }, { groupId: 'billing', autoCommit: false });
      await group.commitOffsets(
        [...Array(PARTITIONS).keys()].map((partition) => ({ topic: 'orders', partition, offset: half })),
      );
      await group.close();

      const mirror = new MirrorMaker(
        parseMirrorConfig({
          clusters: 'kafka, sluice',
          'kafka.bootstrap.servers': kafka.bootstrap,
          'sluice.bootstrap.servers': sluice.bootstrap,
          'kafka->sluice.enabled': 'true',
          'kafka->sluice.topics': 'orders',
          'sluice->kafka.enabled': 'true',
          'sluice->kafka.topics': 'native',
          'replication.factor': '1',
          'emit.checkpoints.interval.seconds': '1',
          'sync.group.offsets.enabled': 'true',
          'sync.group.offsets.interval.seconds': '1',
          'offset.flush.interval.ms': '1000',
        }),
        {
          logger: {
            info: (f, m) => process.env.MIRROR_DEBUG && console.log(m, f),
            warn: (f, m) => console.warn(m, f),
            error: (f, m) => console.error(m, f),
          },
        },
      );
      const started = Date.now();
      await mirror.start();
      try {
        const total = BigInt(PER_PARTITION * PARTITIONS);
        await waitFor(
          'orders on Sluice',
          async () => (await ends(sluice.bootstrap, 'kafka.orders')).reduce((x, y) => x + y, 0n) === total,
          300_000,
        );
        const ms = Date.now() - started;
        console.log(
          `Kafka -> Sluice: ${total} records in ${ms} ms (${Math.round(Number(total) / (ms / 1000))} records/s, start included)`,
        );
        await waitFor(
          'native on Kafka',
          async () => (await ends(kafka.bootstrap, 'sluice.native')).reduce((x, y) => x + y, 0n) === BigInt(BACK),
          120_000,
        );
        sameRecords(await readAll(kafka.bootstrap, 'orders'), await readAll(sluice.bootstrap, 'kafka.orders'));
        sameRecords(await readAll(sluice.bootstrap, 'native'), await readAll(kafka.bootstrap, 'sluice.native'));

        // The group's checkpoints on Sluice and its offsets committed there, never past where it was.
        await waitFor(
          'billing offsets on Sluice',
          async () =>
            (await sluiceAdmin.fetchGroupOffsets('billing')).filter((o) => o.topic === 'kafka.orders').length ===
            PARTITIONS,
          60_000,
        );
        const translated = await sluiceAdmin.fetchGroupOffsets('billing');
        console.log(`billing at ${half} on Kafka, on Sluice at ${translated.map((o) => o.offset).join(', ')}`);
        for (const o of translated) {
          // Never past where the group was (it would skip records); a sync every offset.lag.max records
          // keeps it close, coarser while the sync producer is busy.
          expect(o.offset <= half).toBe(true);
          expect(o.offset >= 0n).toBe(true);
        }
        const cps = (await readAll(sluice.bootstrap, 'kafka.checkpoints.internal')).get(0) ?? [];
        expect(cps.length).toBeGreaterThanOrEqual(PARTITIONS);
        // The offset syncs live on Kafka (the source), in MM2's topic.
        expect((await ends(kafka.bootstrap, 'mm2-offset-syncs.sluice.internal'))[0] > 0n).toBe(true);
      } finally {
        await mirror.stop();
        await kafkaAdmin.close();
        await sluiceAdmin.close();
      }
    },
  );

  it(
    'exactly-once into Kafka: a second mirror fences the first mid-copy; read_committed finds each record once',
    { timeout: 240_000 },
    async () => {
      const N = 6_000;
      const sluiceAdmin = new Admin({ brokers: [sluice.bootstrap] });
      await sluiceAdmin.createTopics([{ name: 'eos', numPartitions: PARTITIONS }]);
      await sluiceAdmin.close();
      const producer = new Producer({ brokers: [sluice.bootstrap] }, { lingerMs: 5 });
      await Promise.all(
        Array.from({ length: N }, (_, i) =>
          producer.send(topic('eos'), {
            key: Buffer.from(`e-${i}`),
            value: Buffer.alloc(200),
            partition: i % PARTITIONS,
          }),
        ),
      );
      await producer.close();
      const config = () =>
        parseMirrorConfig({
          clusters: 'eosrc, kafka',
          'eosrc.bootstrap.servers': sluice.bootstrap,
          'kafka.bootstrap.servers': kafka.bootstrap,
          'eosrc->kafka.enabled': 'true',
          'eosrc->kafka.topics': 'eos',
          'kafka.exactly.once.source.support': 'enabled',
          'offset.flush.interval.ms': '500',
          'producer.buffer.memory': '32768',
          'emit.checkpoints.enabled': 'false',
        });
      const first = new MirrorMaker(config());
      await first.start();
      const endTotal = async (isolation: 'read_committed' | 'read_uncommitted') => {
        const admin = new Admin({ brokers: [kafka.bootstrap] });
        try {
          if (!(await admin.listTopics()).includes('eosrc.eos')) return 0n;
          const tps = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'eosrc.eos', partition }));
          return (await admin.listOffsets(tps, 'latest', isolation)).reduce((n, e) => n + e.offset, 0n);
        } finally {
          await admin.close();
        }
      };
      // The first mirror is left running (a zombie) once part of the copy is on Kafka.
      await waitFor(
        'part of the copy on Kafka',
        async () => (await endTotal('read_uncommitted')) > BigInt(N / 4),
        60_000,
      );
      const second = new MirrorMaker(config());
      await second.start();
      await first.failed().catch(() => {});
      try {
        const seen = new Map<string, number>();
        const consumer = new Consumer({ brokers: [kafka.bootstrap] }, { isolationLevel: 'read_committed' });
        const t = topic('eosrc.eos', {
          key: { serialize: () => null, deserialize: (b) => String(b) },
          value: { serialize: () => null, deserialize: () => '' },
        });
        await consumer.assign(
          Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: t, partition, offset: 'earliest' as const })),
        );
        let done: () => void = () => {};
        const finished = new Promise<void>((r) => {
          done = r;
        });
        const timer = setTimeout(done, 120_000);
        const run = consumer.run(t, (records) => {
          for (const r of records) seen.set(r.key ?? '', (seen.get(r.key ?? '') ?? 0) + 1);
          if (seen.size >= N) setTimeout(done, 2000);
        });
        await Promise.race([finished, run]);
        clearTimeout(timer);
        await consumer.close();
        expect(seen.size).toBe(N);
        expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
        console.log(
          `exactly-once Sluice -> Kafka: ${N} records once each read_committed; ${await endTotal('read_uncommitted')} offsets written (aborted copies and markers included)`,
        );
      } finally {
        await Promise.allSettled([first.stop(), second.stop()]);
      }
    },
  );
});
