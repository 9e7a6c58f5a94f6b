// The raw-protocol load generator, run as a child process by the harness: what a broker can take when
// the client costs next to nothing. Produce requests are encoded once (16 KiB batches, up to 16
// partitions a request) and sent again and again, `inflight` outstanding on each of `connections`;
// fetch reads the topic back from offset 0 with one Fetch outstanding per connection (partitions dealt
// out over the connections). Uses the broker bench's RawClient (apps/broker/bench/raw-client.ts).
//   tsx --conditions=sluice-source raw-gen.ts '{"mode":"produce","port":9092,"topic":"t","partitions":6,"size":1024,"bytes":67108864}'
// Prints one JSON line (a Measurement) on stdout.
import {
  ApiVersionsApi,
  buildRecordBatch,
  CompressionType,
  defaultFetchRequestFetchPartition,
  FetchApi,
  ProduceApi,
} from '@sluice/protocol';
import { body, RawClient } from '../../apps/broker/bench/raw-client.js';
import type { Measurement, RawGenConfig } from './generators.js';

const MiB = 1024 * 1024;
const BATCH_BYTES = 16 << 10;
const PARTITIONS_PER_REQUEST = 16;
const cfg = JSON.parse(process.argv[2] ?? '{}') as RawGenConfig;
if (!(cfg.partitions > 0 && cfg.size > 0 && cfg.port > 0 && cfg.bytes > 0 && cfg.topic))
  throw new Error(`bad config ${process.argv[2]}`);
const CONNECTIONS = Math.max(1, Math.min(64, cfg.connections ?? 4));
const IN_FLIGHT = Math.max(1, Math.min(256, cfg.inflight ?? 8));

async function open(): Promise<RawClient[]> {
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => RawClient.open(cfg.port)));
  for (const c of clients) await c.send(c.frame(ApiVersionsApi, 3, ApiVersionsApi.request.defaults()));
  return clients;
}

async function produce(): Promise<Measurement> {
  const perBatch = Math.max(1, Math.floor(BATCH_BYTES / cfg.size));
  // Random upper-case letters, as ProducerPerformance sends (so lz4 has realistic work).
  const pool = Array.from({ length: 64 }, () =>
    Buffer.from(Array.from({ length: cfg.size }, () => 65 + Math.floor(Math.random() * 26))),
  );
  const batch = await buildRecordBatch({
    records: Array.from({ length: perBatch }, (_, i) => ({ value: pool[i & 63] })),
    compression: cfg.codec === 'lz4' ? CompressionType.Lz4 : CompressionType.None,
  });
  const clients = await open();
  // One pre-encoded frame per group of partitions; the connections cycle through them.
  const groups: number[][] = [];
  for (let p = 0; p < cfg.partitions; p += PARTITIONS_PER_REQUEST)
    groups.push(Array.from({ length: Math.min(PARTITIONS_PER_REQUEST, cfg.partitions - p) }, (_, i) => p + i));
  const acks = cfg.acks === 'all' ? -1 : 1;
  const frames = clients.map((c) =>
    groups.map((g) =>
      c.frame(ProduceApi, 9, {
        ...ProduceApi.request.defaults(),
        acks,
        timeoutMs: 30_000,
        topicData: [
          {
            name: cfg.topic,
            topicId: '00000000-0000-0000-0000-000000000000',
            partitionData: g.map((index) => ({ index, records: batch })),
          },
        ],
      }),
    ),
  );
  const recordsPerGroup = groups.map((g) => g.length * perBatch);
  const target = Math.ceil(cfg.bytes / cfg.size);
  let issued = 0; // records in requests sent
  let acked = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, ci) => {
      let g = ci % groups.length;
      const inflight = new Set<Promise<void>>();
      while (issued < target) {
        const n = recordsPerGroup[g];
        issued += n;
        const p: Promise<void> = c.send(frames[ci][g]).then((resp) => {
          const r = body(resp, (rd) => ProduceApi.response.decode(rd, 9));
          for (const t of r.responses)
            for (const pr of t.partitionResponses)
              if (pr.errorCode !== 0) throw new Error(`produce error ${pr.errorCode} on partition ${pr.index}`);
          acked += n;
          inflight.delete(p);
        });
        inflight.add(p);
        g = (g + 1) % groups.length;
        if (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const c of clients) c.close();
  return {
    records: acked,
    recordsPerSec: acked / seconds,
    mibPerSec: (acked * cfg.size) / seconds / MiB,
    seconds,
    extra: { connections: CONNECTIONS, inflight: IN_FLIGHT, batchRecords: perBatch, batchBytes: batch.length },
  };
}

/** Reads every partition from offset 0 to the high watermark it learns; bounded by rounds. */
async function fetchAll(): Promise<Measurement> {
  const clients = await open();
  let records = 0;
  let bytes = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, ci) => {
      const mine = Array.from({ length: cfg.partitions }, (_, p) => p).filter((p) => p % CONNECTIONS === ci);
      if (mine.length === 0) return;
      const offsets = new Map(mine.map((p) => [p, 0n]));
      const ends = new Map(mine.map((p) => [p, -1n]));
      for (let round = 0; round < 1_000_000; round++) {
        const req = {
          ...FetchApi.request.defaults(),
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 1,
          maxBytes: 32 << 20,
          topics: [
            {
              topic: cfg.topic,
              topicId: '00000000-0000-0000-0000-000000000000',
              partitions: [...offsets]
                .filter(([p, o]) => o < (ends.get(p) ?? -1n) || ends.get(p) === -1n)
                .map(([partition, fetchOffset]) => ({
                  ...defaultFetchRequestFetchPartition(),
                  partition,
                  fetchOffset,
                  partitionMaxBytes: 1 << 20,
                })),
            },
          ],
          forgottenTopicsData: [],
        };
        const resp = body(await c.send(c.frame(FetchApi, 12, req)), (r) => FetchApi.response.decode(r, 12));
        let progressed = false;
        for (const p of resp.responses[0]?.partitions ?? []) {
          if (p.errorCode !== 0) throw new Error(`fetch error ${p.errorCode} on partition ${p.partitionIndex}`);
          ends.set(p.partitionIndex, p.highWatermark);
          const recs = p.records ?? Buffer.alloc(0);
          // Walk the batch headers (a trailing partial batch is skipped): next offset and record count.
          let at = 0;
          while (at + 61 <= recs.length) {
            const size = recs.readInt32BE(at + 8) + 12;
            if (size < 61 || at + size > recs.length) break;
            offsets.set(p.partitionIndex, recs.readBigInt64BE(at) + BigInt(recs.readInt32BE(at + 23)) + 1n);
            records += recs.readInt32BE(at + 57);
            bytes += size;
            progressed = true;
            at += size;
          }
        }
        if ([...offsets].every(([p, o]) => o >= (ends.get(p) ?? 0n))) return;
        if (!progressed) throw new Error(`fetch made no progress at round ${round}`);
      }
      throw new Error('fetch: round limit reached');
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const c of clients) c.close();
  return {
    records,
    recordsPerSec: records / seconds,
    mibPerSec: (records * cfg.size) / seconds / MiB,
    seconds,
    extra: { connections: CONNECTIONS, wireBytes: bytes },
  };
}

const cpu0 = process.cpuUsage();
const result = cfg.mode === 'fetch' ? await fetchAll() : await produce();
// This process's own CPU over the load (its start-up, tsx's compile, left out), for the bound check.
const cpu = process.cpuUsage(cpu0);
const cpuSec = (cpu.user + cpu.system) / 1e6;
result.generator = { cpuSec, wallSec: result.seconds, processes: 1, maxCores: cpuSec / result.seconds };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
