// Fetch request cost with many partitions and little data (consumers at the log end): broker CPU
// per Fetch for one or more broker builds side by side, sessionless and with an incremental session.
//
//   npm run build && npx tsx apps/broker/bench/fetch-partitions.ts --partitions 1000 --fetches 3000 \
//     --variant before=/tmp/before/apps/broker/dist/cli.js --variant after=apps/broker/dist/cli.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
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
import { cpuSeconds, startBroker, stopBroker } from './broker-child.js';
import { RawClient } from './raw-client.js';

const { values: args } = parseArgs({
  options: {
    partitions: { type: 'string', default: '1000' },
    fetches: { type: 'string', default: '3000' },
    trials: { type: 'string', default: '3' },
    variant: { type: 'string', multiple: true },
    io: { type: 'string', default: 'mmap' },
    // Writes a V8 CPU profile of each broker child into DIR/<variant>.
    profile: { type: 'string' },
  },
});
const PARTITIONS = Number(args.partitions);
const FETCHES = Number(args.fetches);
const TRIALS = Number(args.trials);
const TOPIC = 'many';
const variants = (args.variant ?? [`current=${fileURLToPath(new URL('../dist/cli.js', import.meta.url))}`]).map((v) => {
  const [name, cli] = v.split('=');
  return { name, cli: resolvePath(cli) };
});

const startBrokerFor = (cli: string, dataDir: string, tag: string) =>
  startBroker({ cli, dataDir, overrides: [`log.io=${args.io}`], profileDir: args.profile && join(args.profile, tag) });

// Up to one frame per fetch is built up front: a writer smaller than the 1 MiB default to start.
const FRAME_CAPACITY = 1 << 16;

/** The end offset every partition got: 10 batches of 10 small records each. */
const END = 100n;

async function fill(port: number): Promise<void> {
  const c = await RawClient.open(port, FRAME_CAPACITY);
  await c.send(c.frame(ApiVersionsApi, 3, ApiVersionsApi.request.defaults()));
  await c.send(
    c.frame(CreateTopicsApi, 7, {
      ...CreateTopicsApi.request.defaults(),
      topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }],
    }),
  );
  const batch = buildRecordBatchSync({ records: Array.from({ length: 10 }, () => ({ value: Buffer.alloc(100, 1) })) });
  for (let b = 0; b < Number(END / 10n); b++) {
    await c.send(
      c.frame(ProduceApi, 9, {
        ...ProduceApi.request.defaults(),
        acks: 1,
        timeoutMs: 30_000,
        topicData: [
          { name: TOPIC, partitionData: Array.from({ length: PARTITIONS }, (_, index) => ({ index, records: batch })) },
        ],
      }),
    );
  }
  c.close();
}

function request(sessionId: number, sessionEpoch: number, fetchOffset: bigint, withPartitions: boolean) {
  return {
    ...FetchApi.request.defaults(),
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 50 << 20,
    sessionId,
    sessionEpoch,
    topics: withPartitions
      ? [
          {
            topic: TOPIC,
            topicId: '00000000-0000-0000-0000-000000000000',
            partitions: Array.from({ length: PARTITIONS }, (_, partition) => ({
              ...defaultFetchRequestFetchPartition(),
              partition,
              fetchOffset,
              partitionMaxBytes: 1 << 20,
            })),
          },
        ]
      : [],
    forgottenTopicsData: [],
  };
}

async function run(port: number, pid: number, kind: string): Promise<number> {
  const c = await RawClient.open(port, FRAME_CAPACITY);
  await c.send(c.frame(ApiVersionsApi, 3, ApiVersionsApi.request.defaults()));
  let frames: Buffer[];
  if (kind === 'sessionless, at the end') frames = [c.frame(FetchApi, 12, request(0, -1, END, true))];
  else if (kind === 'sessionless, 1 batch each') frames = [c.frame(FetchApi, 12, request(0, -1, END - 10n, true))];
  else {
    // A full request opens the session; then incremental ones name no partition.
    const first = await c.send(c.frame(FetchApi, 12, request(0, 0, END, true)));
    const sessionId = first.readInt32BE(4 + 1 + 4 + 2);
    frames = [];
    for (let e = 1; e <= FETCHES; e++) frames.push(c.frame(FetchApi, 12, request(sessionId, e, END, false)));
  }
  const cpu0 = cpuSeconds(pid);
  for (let i = 0; i < FETCHES; i++) await c.send(frames[frames.length === 1 ? 0 : i]);
  const cpu = cpuSeconds(pid) - cpu0;
  c.close();
  return (cpu / FETCHES) * 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-fetch-partitions-'));
  try {
    const w = await startBrokerFor(variants[0].cli, dir, '_fill');
    await fill(w.port);
    await stopBroker(w.child);
    const results = new Map<string, number[]>();
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const v of trial % 2 === 0 ? variants : [...variants].reverse()) {
        const { child, port } = await startBrokerFor(v.cli, dir, v.name);
        try {
          for (const kind of [
            'sessionless, at the end',
            'sessionless, 1 batch each',
            'incremental session, at the end',
          ]) {
            const us = await run(port, child.pid!, kind);
            const key = `${kind} | ${v.name}`;
            results.set(key, [...(results.get(key) ?? []), us]);
          }
        } finally {
          await stopBroker(child);
        }
      }
    }
    console.log(
      `\n${PARTITIONS} partitions, ${FETCHES} fetches a run, ${TRIALS} trials, log.io=${args.io}: broker CPU µs per Fetch, median (min–max)\n`,
    );
    console.log('| fetch | broker | µs/fetch |');
    console.log('|---|---|---:|');
    for (const [key, xs] of results) {
      const [kind, name] = key.split(' | ');
      console.log(
        `| ${kind} | ${name} | ${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}) |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
