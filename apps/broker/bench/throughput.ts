// Produce and fetch throughput through a broker child process, next to raw loopback TCP between
// two Node processes measured in the same run, so the ratio says how close the broker comes to
// what this machine can move over a socket from Node.
//
//   npm run bench -w @sluice/broker            (after `npm run build`)
//   npm run bench -w @sluice/broker -- --mb 256 --trials 3
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ApiVersionsApi,
  buildRecordBatchSync,
  CreateTopicsApi,
  defaultFetchRequestFetchPartition,
  FetchApi,
  ProduceApi,
} from '@sluice/protocol';
import { startBroker, stopBroker } from './broker-child.js';
import { body, RawClient } from './raw-client.js';

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '256' },
    trials: { type: 'string', default: '3' },
    inflight: { type: 'string', default: '16' },
    // Writes a V8 CPU profile of each broker child into this directory (open it in Chrome DevTools).
    profile: { type: 'string' },
  },
});
const TOTAL_BYTES = Number(args.mb) * 1024 * 1024;
const TRIALS = Number(args.trials);
const IN_FLIGHT = Number(args.inflight);
const RECORD_BYTES = 1024;
const PARTITIONS = 6;
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** Raw loopback TCP from this process into a child process that discards what it reads. */
async function rawTcpMBps(bytes: number): Promise<number> {
  const sinkCode = `
    const s = require('node:net').createServer((c) => { c.on('data', () => {}); c.on('end', () => { c.end('done'); }); });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', sinkCode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) =>
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString()))),
  );
  const chunk = Buffer.alloc(1 << 20, 7);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      let sent = 0;
      const pump = () => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    s.on('data', () => resolve());
  });
  const seconds = (performance.now() - started) / 1000;
  child.kill();
  return bytes / seconds / 1e6;
}

async function produceRun(client: RawClient, topic: string, batchBytes: number, acks: number) {
  const recordsPerBatch = Math.max(1, Math.floor(batchBytes / RECORD_BYTES));
  const value = Buffer.alloc(RECORD_BYTES - 16, 'x');
  const batch = buildRecordBatchSync({
    records: Array.from({ length: recordsPerBatch }, (_, i) => ({ key: `key-${i}`.padEnd(16), value })),
  });
  // One request carries one batch for each partition.
  const request = {
    ...ProduceApi.request.defaults(),
    acks,
    timeoutMs: 30_000,
    topicData: [
      { name: topic, partitionData: Array.from({ length: PARTITIONS }, (_, index) => ({ index, records: batch })) },
    ],
  };
  const frame = client.frame(ProduceApi, 9, request);
  const perRequest = batch.length * PARTITIONS;
  const requests = Math.max(1, Math.ceil(TOTAL_BYTES / perRequest));
  const started = performance.now();
  let sent = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const next = () => {
      while (sent < requests && sent - done < IN_FLIGHT) {
        sent++;
        client.send(frame).then((resp) => {
          const r = body(resp, (rd) => ProduceApi.response.decode(rd, 9));
          const err = r.responses[0].partitionResponses.find((p) => p.errorCode !== 0);
          if (err) return reject(new Error(`produce error ${err.errorCode}`));
          if (++done === requests) resolve();
          else next();
        }, reject);
      }
    };
    next();
  });
  const seconds = (performance.now() - started) / 1000;
  const bytes = requests * perRequest;
  return { mbps: bytes / seconds / 1e6, recordsPerSec: (requests * recordsPerBatch * PARTITIONS) / seconds };
}

async function fetchRun(client: RawClient, topic: string) {
  const offsets = new Array<bigint>(PARTITIONS).fill(0n);
  const ends = new Array<bigint>(PARTITIONS).fill(-1n);
  let bytes = 0;
  const started = performance.now();
  // Bounded: each round reads up to the high watermark it learns, and stops once every partition is at its end.
  for (let round = 0; round < 1_000_000; round++) {
    const req = {
      ...FetchApi.request.defaults(),
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 32 << 20,
      topics: [
        {
          topic,
          topicId: '00000000-0000-0000-0000-000000000000',
          partitions: offsets.map((fetchOffset, partition) => ({
            ...defaultFetchRequestFetchPartition(),
            partition,
            fetchOffset,
            partitionMaxBytes: 8 << 20,
          })),
        },
      ],
      forgottenTopicsData: [],
    };
    const resp = body(await client.send(client.frame(FetchApi, 12, req)), (r) => FetchApi.response.decode(r, 12));
    let progressed = false;
    for (const p of resp.responses[0].partitions) {
      ends[p.partitionIndex] = p.highWatermark;
      const records = p.records ?? Buffer.alloc(0);
      bytes += records.length;
      // Walk the batch headers to find the next offset (a trailing partial batch is skipped).
      let at = 0;
      while (at + 61 <= records.length) {
        const size = records.readInt32BE(at + 8) + 12;
        if (at + size > records.length) break;
        offsets[p.partitionIndex] = records.readBigInt64BE(at) + BigInt(records.readInt32BE(at + 23)) + 1n;
        progressed = true;
        at += size;
      }
    }
    if (offsets.every((o, i) => o >= ends[i])) break;
    if (!progressed) throw new Error('fetch made no progress');
  }
  const seconds = (performance.now() - started) / 1000;
  return { mbps: bytes / seconds / 1e6 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const rows: { name: string; values: number[]; unit: string }[] = [];
  const add = (name: string, v: number, unit = 'MB/s') => {
    let row = rows.find((r) => r.name === name);
    if (!row) rows.push((row = { name, values: [], unit }));
    row.values.push(v);
  };
  for (let trial = 0; trial < TRIALS; trial++) {
    add('raw loopback TCP (Node → Node)', await rawTcpMBps(TOTAL_BYTES));
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
    const { child, port } = await startBroker({ cli: CLI, dataDir: dir, profileDir: args.profile });
    try {
      const client = await RawClient.open(port);
      await client.send(client.frame(ApiVersionsApi, 3, ApiVersionsApi.request.defaults()));
      for (const [label, batchBytes] of [
        ['16 KiB', 16 << 10],
        // 1000 records: just under the default max.message.bytes (1048588).
        ['1000-record', 1000 * RECORD_BYTES],
      ] as const) {
        for (const acks of [1, -1]) {
          const topic = `bench-${batchBytes}-${acks === -1 ? 'all' : acks}`;
          await client.send(
            client.frame(CreateTopicsApi, 7, {
              ...CreateTopicsApi.request.defaults(),
              topics: [{ name: topic, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }],
            }),
          );
          const p = await produceRun(client, topic, batchBytes, acks);
          add(`produce 1 KiB records, ${label} batches, acks=${acks === -1 ? 'all' : acks}`, p.mbps);
          if (acks === 1) add(`fetch 1 KiB records, written in ${label} batches`, (await fetchRun(client, topic)).mbps);
        }
      }
      client.close();
    } finally {
      await stopBroker(child);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const tcp = median(rows[0].values);
  console.log(
    `\n${TRIALS} trials of ${TOTAL_BYTES / 1048576} MiB each; medians (min–max); ${PARTITIONS} partitions, ${IN_FLIGHT} requests in flight\n`,
  );
  console.log('| scenario | MB/s | min–max | vs raw TCP |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    const m = median(r.values);
    console.log(
      `| ${r.name} | ${m.toFixed(0)} | ${Math.min(...r.values).toFixed(0)}–${Math.max(...r.values).toFixed(0)} | ${(m / tcp).toFixed(2)} |`,
    );
  }
}

await main();
