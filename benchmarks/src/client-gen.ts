// One Kafka client in its own process, for the clients phase (clients.ts): produces and consumes the rows it
// is given against one broker and prints one JSON line, per row its records, wall time, this process's CPU
// (user+system of all its threads, librdkafka's included) and the broker's CPU over the same interval.
//   tsx --conditions=sluice-source client-gen.ts '{"client":"kafkajs","port":9092,"brokerPid":123,"rows":[…]}'
// Every client is set up alike: not idempotent, at most 5 requests in flight per connection, linger 5 ms
// and batches of up to 1,000,000 bytes (librdkafka's default batch.size; @sluice/client's default is
// Java's 16 KiB, which with 5 requests in flight caps a 1 KiB producer at a few hundred KiB in flight)
// where the client has them, fetches of up to 50 MiB and 1 MiB per partition. kafkajs and
// @platformatic/kafka send lists: 5 loops each send 1,000 records and await them (5 requests in flight).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Consumer as PlatConsumer, Producer as PlatProducer } from '@platformatic/kafka';
import { Consumer, Producer, serde, topic } from '@sluice/client';
import { Kafka as KafkaJs, logLevel } from 'kafkajs';
import { cpuSeconds } from './proc.js';

export const CLIENTS = ['@sluice/client', 'kafkajs', '@platformatic/kafka', 'librdkafka'] as const;
export type ClientName = (typeof CLIENTS)[number];

export interface ClientRowSpec {
  op: 'produce' | 'consume';
  topic: string;
  size: number;
  records: number;
  /** produce only */
  acks?: '1' | 'all';
}

export interface ClientGenConfig {
  client: ClientName;
  port: number;
  brokerPid: number;
  rows: ClientRowSpec[];
}

export interface ClientRowResult {
  records: number;
  seconds: number;
  clientCpuSec: number;
  brokerCpuSec: number;
}

// biome-ignore lint/suspicious/noExplicitAny: node-rdkafka is loaded untyped from outside the workspace
type Any = any;
/** node-rdkafka is not a dependency (it compiles librdkafka): the harness builds it here for rdkafka_performance. */
export const RDKAFKA_MODULE_DIR = join(homedir(), '.cache/sluice/rdkafka');
export function rdkafkaAvailable(): boolean {
  return existsSync(join(RDKAFKA_MODULE_DIR, 'node_modules/node-rdkafka/build/Release/node-librdkafka.node'));
}

const LIST = 1000; // records per send() of the list-sending clients
const LOOPS = 5; // send() loops at once: 5 requests in flight
const TIMEOUT_MS = 300_000;

/** Polls until `ok()`; bounded by TIMEOUT_MS. */
async function until(what: string, ok: () => boolean): Promise<void> {
  const end = Date.now() + TIMEOUT_MS;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** `count` records sent as `LOOPS` loops of `send(n)` calls of at most LIST records each. */
async function inLoops(count: number, send: (n: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < count) {
      const n = Math.min(LIST, count - next);
      next += n;
      await send(n);
    }
  };
  await Promise.all(Array.from({ length: LOOPS }, loop));
}

/** Times `fn`, which may call `start()` to restart the clock (consumers: at the first record, so the group join is not counted). */
async function timed(brokerPid: number, fn: (start: () => void) => Promise<number>): Promise<ClientRowResult> {
  let cpu0 = process.cpuUsage();
  let b0 = cpuSeconds(brokerPid) ?? 0;
  let t0 = performance.now();
  const records = await fn(() => {
    cpu0 = process.cpuUsage();
    b0 = cpuSeconds(brokerPid) ?? 0;
    t0 = performance.now();
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    records,
    seconds,
    clientCpuSec: (cpu.user + cpu.system) / 1e6,
    brokerCpuSec: (cpuSeconds(brokerPid) ?? b0) - b0,
  };
}

type Runner = (row: ClientRowSpec, payload: Buffer) => Promise<ClientRowResult>;

function sluice(cfg: ClientGenConfig, brokers: string[]): Runner {
  return async (row, payload) => {
    const t = topic(row.topic, { value: serde.bytes() });
    if (row.op === 'produce') {
      const p = new Producer(
        { brokers, clientId: 'bench-sluice' },
        {
          acks: row.acks === 'all' ? -1 : 1,
          idempotent: false,
          maxInFlight: 5,
          lingerMs: 5,
          batchSize: 1_000_000,
          bufferMemory: 64 * 2 ** 20,
        },
      );
      try {
        await p.send(t, { value: payload }); // connection and metadata outside the timing
        return await timed(cfg.brokerPid, async () => {
          // Outstanding sends bounded, as the other clients' loops bound theirs.
          const WINDOW = 16_384;
          let pending: Promise<unknown>[] = [];
          for (let i = 0; i < row.records; i++) {
            pending.push(p.send(t, { value: payload }));
            if (pending.length >= WINDOW) {
              await Promise.all(pending);
              pending = [];
            }
          }
          await Promise.all(pending);
          return row.records;
        });
      } finally {
        await p.close();
      }
    }
    const c = new Consumer(
      { brokers, clientId: 'bench-sluice' },
      { groupId: `bench-sluice-${row.topic}-${process.pid}`, autoOffsetReset: 'earliest' },
    );
    let n = 0;
    return timed(cfg.brokerPid, async (start) => {
      await c.run(t, (records) => {
        if (n === 0) start();
        n += records.length;
        if (n >= row.records) void c.close();
      });
      return n;
    });
  };
}

function kafkajs(cfg: ClientGenConfig, brokers: string[]): Runner {
  const kafka = new KafkaJs({ brokers, clientId: 'bench-kafkajs', logLevel: logLevel.NOTHING });
  return async (row, payload) => {
    if (row.op === 'produce') {
      const p = kafka.producer({ allowAutoTopicCreation: false, idempotent: false, maxInFlightRequests: 5 });
      await p.connect();
      const acks = row.acks === 'all' ? -1 : 1;
      const list = (n: number) => Array.from({ length: n }, () => ({ value: payload }));
      try {
        await p.send({ topic: row.topic, acks, messages: list(1) });
        return await timed(cfg.brokerPid, async () => {
          await inLoops(row.records, (n) => p.send({ topic: row.topic, acks, messages: list(n) }));
          return row.records;
        });
      } finally {
        await p.disconnect();
      }
    }
    const c = kafka.consumer({
      groupId: `bench-kafkajs-${row.topic}-${process.pid}`,
      maxBytes: 50 * 2 ** 20,
      maxBytesPerPartition: 2 ** 20,
    });
    await c.connect();
    await c.subscribe({ topic: row.topic, fromBeginning: true });
    let n = 0;
    try {
      return await timed(cfg.brokerPid, async (start) => {
        await new Promise<void>((resolve, reject) => {
          c.run({
            eachBatch: async ({ batch }) => {
              if (n === 0) start();
              n += batch.messages.length;
              if (n >= row.records) resolve();
            },
          }).catch(reject);
        });
        return n;
      });
    } finally {
      await c.disconnect();
    }
  };
}

function platformatic(cfg: ClientGenConfig, brokers: string[]): Runner {
  return async (row, payload) => {
    if (row.op === 'produce') {
      const p = new PlatProducer({
        clientId: 'bench-platformatic',
        bootstrapBrokers: brokers,
        autocreateTopics: false,
        acks: row.acks === 'all' ? -1 : 1,
        idempotent: false,
        maxInflights: 5,
      });
      const list = (n: number) => Array.from({ length: n }, () => ({ topic: row.topic, value: payload }));
      try {
        await p.send({ messages: list(1) });
        return await timed(cfg.brokerPid, async () => {
          await inLoops(row.records, (n) => p.send({ messages: list(n) }));
          return row.records;
        });
      } finally {
        await p.close();
      }
    }
    const c = new PlatConsumer({
      groupId: `bench-platformatic-${row.topic}-${process.pid}`,
      clientId: 'bench-platformatic',
      bootstrapBrokers: brokers,
      maxWaitTime: 500,
      maxBytes: 50 * 2 ** 20,
    });
    let n = 0;
    try {
      return await timed(cfg.brokerPid, async (start) => {
        const stream = await c.consume({ topics: [row.topic], mode: 'earliest', autocommit: true });
        await new Promise<void>((resolve, reject) => {
          stream.on('data', () => {
            if (n === 0) start();
            if (++n === row.records) resolve();
          });
          stream.on('error', reject);
        });
        await stream.close();
        return n;
      });
    } finally {
      await c.close(true);
    }
  };
}

function librdkafka(cfg: ClientGenConfig, brokers: string[]): Runner {
  if (!rdkafkaAvailable()) throw new Error(`node-rdkafka is not built in ${RDKAFKA_MODULE_DIR}`);
  const rd: Any = createRequire(join(RDKAFKA_MODULE_DIR, 'package.json'))('node-rdkafka');
  const common = { 'metadata.broker.list': brokers.join(','), 'client.id': 'bench-rdkafka' };
  return async (row, payload) => {
    if (row.op === 'produce') {
      const p = new rd.Producer({
        ...common,
        dr_cb: true,
        acks: row.acks === 'all' ? -1 : 1,
        'enable.idempotence': false,
        'max.in.flight.requests.per.connection': 5,
        'linger.ms': 5,
        'batch.size': 1_000_000,
        'queue.buffering.max.messages': 2_000_000,
        'queue.buffering.max.kbytes': 2_000_000,
      });
      await new Promise<void>((resolve, reject) => p.connect({}, (err: unknown) => (err ? reject(err) : resolve())));
      p.setPollInterval(5);
      let delivered = 0;
      let failed = 0;
      p.on('delivery-report', (err: unknown) => {
        if (err) failed++;
        delivered++;
      });
      try {
        p.produce(row.topic, null, payload);
        await until('librdkafka first delivery', () => delivered >= 1);
        const r = await timed(cfg.brokerPid, async () => {
          const target = delivered + row.records;
          for (let i = 0; i < row.records; i++) p.produce(row.topic, null, payload);
          await until('librdkafka deliveries', () => delivered >= target);
          return row.records;
        });
        if (failed > 0) throw new Error(`librdkafka: ${failed} deliveries failed`);
        return r;
      } finally {
        await new Promise((r) => p.disconnect(r));
      }
    }
    const c = new rd.KafkaConsumer(
      {
        ...common,
        'group.id': `bench-rdkafka-${row.topic}-${process.pid}`,
        'enable.auto.commit': true,
        'fetch.max.bytes': 50 * 2 ** 20,
        'max.partition.fetch.bytes': 2 ** 20,
      },
      { 'auto.offset.reset': 'earliest' },
    );
    await new Promise<void>((resolve, reject) => c.connect({}, (err: unknown) => (err ? reject(err) : resolve())));
    c.subscribe([row.topic]);
    c.setDefaultConsumeTimeout(100);
    let n = 0;
    try {
      return await timed(cfg.brokerPid, async (start) => {
        const end = Date.now() + TIMEOUT_MS;
        while (n < row.records) {
          if (Date.now() > end) throw new Error(`librdkafka consumed ${n} of ${row.records}`);
          const got = await new Promise<unknown[]>((resolve, reject) =>
            c.consume(Math.min(10_000, row.records - n), (err: unknown, m: unknown[]) =>
              err ? reject(err) : resolve(m),
            ),
          );
          if (n === 0 && got.length > 0) start();
          n += got.length;
        }
        return n;
      });
    } finally {
      await new Promise((r) => c.disconnect(r));
    }
  };
}

const RUNNERS: Record<ClientName, (cfg: ClientGenConfig, brokers: string[]) => Runner> = {
  '@sluice/client': sluice,
  kafkajs,
  '@platformatic/kafka': platformatic,
  librdkafka,
};

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ClientGenConfig;
  if (!(cfg.port > 0 && cfg.brokerPid > 0 && RUNNERS[cfg.client] && Array.isArray(cfg.rows)))
    throw new Error(`bad config ${process.argv[2]}`);
  const runner = RUNNERS[cfg.client](cfg, [`127.0.0.1:${cfg.port}`]);
  const out: ClientRowResult[] = [];
  for (const row of cfg.rows) {
    const r = await runner(row, Buffer.alloc(row.size, 'x'));
    if (r.records < row.records)
      throw new Error(`${cfg.client} ${row.op} ${row.topic}: ${r.records} of ${row.records}`);
    out.push(r);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1]?.endsWith('client-gen.ts')) {
  await main();
  // Clients may hold timers (group heartbeats being torn down); the rows are written.
  process.exit(0);
}
