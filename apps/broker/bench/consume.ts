// Consume throughput and broker CPU per GiB consumed, for one or more broker builds measured
// side by side: the log is written once, then every trial starts each build in turn (alternating
// the order) on that same data directory and drains it twice, with raw Fetch requests shaped
// like the Java consumer's defaults and with the @sluice/client consumer.
//
//   npm run build && npx tsx apps/broker/bench/consume.ts --mb 1024 --trials 3 \
//     --variant before=/tmp/before/apps/broker/dist/cli.js --variant after=apps/broker/dist/cli.js
//   (add --profile DIR to write a V8 CPU profile of each broker child)
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, topic as topicOf } from '@sluice/client';
import {
  ApiVersionsApi,
  buildRecordBatchSync,
  CreateTopicsApi,
  defaultFetchRequestFetchPartition,
  FetchApi,
  ProduceApi,
} from '@sluice/protocol';
import { cpuSeconds, startBroker, stopBroker } from './broker-child.js';
import { body, RawClient } from './raw-client.js';

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '1024' },
    trials: { type: 'string', default: '3' },
    variant: { type: 'string', multiple: true },
    io: { type: 'string', default: 'mmap' },
    profile: { type: 'string' },
    skip: { type: 'string', default: '' },
  },
});
const TOTAL_BYTES = Number(args.mb) * 1024 * 1024;
const TRIALS = Number(args.trials);
const RECORD_BYTES = 1024;
const RECORDS_PER_BATCH = 15; // ~16 KiB batches, as ProducerPerformance's batch.size makes them
const PARTITIONS = 6;
const TOPIC = 'consume-bench';
const MiB = 1024 * 1024;
const SKIP = new Set(args.skip.split(',').filter(Boolean));
const variants = (args.variant ?? [`current=${fileURLToPath(new URL('../dist/cli.js', import.meta.url))}`]).map((v) => {
  const [name, cli] = v.split('=');
  return { name, cli: resolvePath(cli) };
});

const startBrokerFor = (cli: string, dataDir: string, tag: string) =>
  startBroker({ cli, dataDir, overrides: [`log.io=${args.io}`], profileDir: args.profile && join(args.profile, tag) });

async function produceAll(port: number): Promise<number> {
  const client = await RawClient.open(port);
  await client.send(client.frame(ApiVersionsApi, 3, ApiVersionsApi.request.defaults()));
  await client.send(
    client.frame(CreateTopicsApi, 7, {
      ...CreateTopicsApi.request.defaults(),
      topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }],
    }),
  );
  const value = Buffer.alloc(RECORD_BYTES - 16, 'x');
  const batch = buildRecordBatchSync({
    records: Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({ key: `key-${i}`.padEnd(16), value })),
  });
  const frame = client.frame(ProduceApi, 9, {
    ...ProduceApi.request.defaults(),
    acks: 1,
    timeoutMs: 30_000,
    topicData: [
      { name: TOPIC, partitionData: Array.from({ length: PARTITIONS }, (_, index) => ({ index, records: batch })) },
    ],
  });
  const requests = Math.ceil(TOTAL_BYTES / (RECORD_BYTES * RECORDS_PER_BATCH * PARTITIONS));
  let sent = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const next = () => {
      while (sent < requests && sent - done < 16) {
        sent++;
        client.send(frame).then((resp) => {
          const r = body(resp, (rd) => ProduceApi.response.decode(rd, 9));
          if (r.responses[0].partitionResponses.some((p) => p.errorCode !== 0)) return reject(new Error('produce'));
          if (++done === requests) resolve();
          else next();
        }, reject);
      }
    };
    next();
  });
  client.close();
  return requests * RECORDS_PER_BATCH * PARTITIONS;
}

/** Drains every partition with sequential Fetch v12 requests (Java consumer defaults: 50 MiB, 1 MiB a partition). */
async function rawDrain(port: number): Promise<{ records: number; bytes: number }> {
  const client = await RawClient.open(port);
  await client.send(client.frame(ApiVersionsApi, 3, ApiVersionsApi.request.defaults()));
  const offsets = new Array<bigint>(PARTITIONS).fill(0n);
  const ends = new Array<bigint>(PARTITIONS).fill(-1n);
  let bytes = 0;
  let records = 0;
  for (let round = 0; round < 10_000_000; round++) {
    const req = {
      ...FetchApi.request.defaults(),
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 50 << 20,
      topics: [
        {
          topic: TOPIC,
          topicId: '00000000-0000-0000-0000-000000000000',
          partitions: offsets.map((fetchOffset, partition) => ({
            ...defaultFetchRequestFetchPartition(),
            partition,
            fetchOffset,
            partitionMaxBytes: 1 << 20,
          })),
        },
      ],
      forgottenTopicsData: [],
    };
    const resp = body(await client.send(client.frame(FetchApi, 12, req)), (r) => FetchApi.response.decode(r, 12));
    for (const p of resp.responses[0].partitions) {
      ends[p.partitionIndex] = p.highWatermark;
      const recs = p.records ?? Buffer.alloc(0);
      let at = 0;
      while (at + 61 <= recs.length) {
        const size = recs.readInt32BE(at + 8) + 12;
        if (at + size > recs.length) break;
        offsets[p.partitionIndex] = recs.readBigInt64BE(at) + BigInt(recs.readInt32BE(at + 23)) + 1n;
        records += recs.readInt32BE(at + 57);
        bytes += size;
        at += size;
      }
    }
    if (offsets.every((o, i) => o >= ends[i])) break;
  }
  client.close();
  return { records, bytes };
}

async function clientDrain(port: number, total: number): Promise<{ records: number; bytes: number }> {
  const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'consume-bench' });
  const consumer = kafka.consumer({ autoOffsetReset: 'earliest', autoCommit: false });
  let count = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => {
    finish = r;
  });
  const running = consumer.run(topicOf(TOPIC), (batch) => {
    count += batch.length;
    if (count >= total) finish();
  });
  running.catch((e) => {
    console.error(e);
    process.exit(1);
  });
  await done;
  await Promise.race([consumer.close(), new Promise((r) => setTimeout(r, 5000))]);
  return { records: count, bytes: count * RECORD_BYTES };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-consume-bench-'));
  if (args.profile) for (const v of variants) mkdirSync(join(args.profile, v.name), { recursive: true });
  try {
    const w = await startBrokerFor(variants[0].cli, dir, '_produce');
    const total = await produceAll(w.port);
    await stopBroker(w.child);
    console.log(`wrote ${total} records of ${RECORD_BYTES} B in ${PARTITIONS} partitions`);
    type Row = { recordsPerSec: number[]; mibPerSec: number[]; cpuSecPerGiB: number[] };
    const rows = new Map<string, Row>();
    const add = (key: string, records: number, bytes: number, seconds: number, cpu: number) => {
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { recordsPerSec: [], mibPerSec: [], cpuSecPerGiB: [] }));
      row.recordsPerSec.push(records / seconds);
      row.mibPerSec.push(bytes / MiB / seconds);
      row.cpuSecPerGiB.push(cpu / (bytes / (1024 * MiB)));
      console.log(
        `  ${key}: ${(records / seconds).toFixed(0)} rec/s, ${(bytes / MiB / seconds).toFixed(1)} MiB/s, ${cpu.toFixed(2)} s CPU`,
      );
    };
    for (let trial = 0; trial < TRIALS; trial++) {
      const order = trial % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const { child, port } = await startBrokerFor(v.cli, dir, v.name);
        try {
          for (const [kind, drain] of [
            ['raw fetch v12', () => rawDrain(port)],
            ['@sluice/client', () => clientDrain(port, total)],
          ] as const) {
            if (SKIP.has(kind.split(' ')[0])) continue;
            const cpu0 = cpuSeconds(child.pid!);
            const t0 = performance.now();
            const r = await drain();
            const seconds = (performance.now() - t0) / 1000;
            add(`${kind} | ${v.name}`, r.records, r.bytes, seconds, cpuSeconds(child.pid!) - cpu0);
          }
        } finally {
          await stopBroker(child);
        }
      }
    }
    console.log(`\n${TRIALS} trials, ${args.mb} MiB, log.io=${args.io}; medians (min–max)\n`);
    console.log('| consumer | broker | records/s | MiB/s | broker CPU s/GiB |');
    console.log('|---|---|---:|---:|---:|');
    for (const [key, r] of rows) {
      const [kind, name] = key.split(' | ');
      const f = (xs: number[], d: number) =>
        `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
      console.log(`| ${kind} | ${name} | ${f(r.recordsPerSec, 0)} | ${f(r.mibPerSec, 1)} | ${f(r.cpuSecPerGiB, 2)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
