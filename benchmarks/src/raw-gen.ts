// The raw-protocol load generator, run as a child process by the harness: what a broker can take when
// the client costs next to nothing. Produce requests are encoded once (16 KiB batches, up to 16
// partitions a request) and sent again and again, `inflight` outstanding on each of `connections`;
// with `seconds`, for at least that long; fetch reads the topic back from offset 0 with one Fetch
// outstanding per connection (partitions dealt out over the connections), once or for `seconds`, its responses read in place and only their batch
// headers walked. Produce uses the broker bench's RawClient (apps/broker/bench/raw-client.ts).
//   tsx --conditions=sluice-source raw-gen.ts '{"mode":"produce","port":9092,"topic":"t","partitions":6,"size":1024,"bytes":67108864}'
// Prints one JSON line (a Measurement) on stdout.
import { connect, type Socket } from 'node:net';
import {
  ApiVersionsApi,
  buildRecordBatch,
  CompressionType,
  defaultFetchRequestFetchPartition,
  FetchApi,
  ProduceApi,
  Reader,
  type Writer,
} from '@sluice/protocol';
import { body, RawClient, requestFrame } from '../../apps/broker/bench/raw-client.js';
import { type Measurement, partitionsOf, type RawGenConfig } from './generators.js';
import { InPlaceFrames } from './in-place-frames.js';

const MiB = 1024 * 1024;
const BATCH_BYTES = 16 << 10;
const PARTITIONS_PER_REQUEST = 16;
const cfg = JSON.parse(process.argv[2] ?? '{}') as RawGenConfig;
if (!(cfg.partitions > 0 && cfg.size > 0 && cfg.port > 0 && cfg.bytes > 0 && cfg.topic))
  throw new Error(`bad config ${process.argv[2]}`);
const CONNECTIONS = Math.max(1, Math.min(64, cfg.connections ?? 4));
const IN_FLIGHT = Math.max(1, Math.min(256, cfg.inflight ?? 8));
const FETCH_MAX_BYTES = 32 << 20;

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
  // With `seconds`, at least that long too (a few MiB took 0.03–0.3 s on a fast broker), up to 1 GiB.
  const cap = cfg.seconds ? Math.max(target, Math.ceil(2 ** 30 / cfg.size)) : target;
  let issued = 0; // records in requests sent
  let acked = 0;
  const t0 = performance.now();
  const until = t0 + (cfg.seconds ?? 0) * 1000;
  const more = () => issued < cap && (issued < target || performance.now() < until);
  await Promise.all(
    clients.map(async (c, ci) => {
      let g = ci % groups.length;
      const inflight = new Set<Promise<void>>();
      while (more()) {
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

/**
 * One fetch connection: responses land in one buffer (InPlaceFrames) and are walked there, so the reader
 * costs about the kernel's copy of the bytes and not much more.
 */
class FetchConnection {
  private correlationId = 0;
  private constructor(
    private readonly socket: Socket,
    private readonly waiting: ((frame: Buffer | Error) => void)[],
  ) {}

  static open(port: number): Promise<FetchConnection> {
    return new Promise((resolve, reject) => {
      const waiting: ((frame: Buffer | Error) => void)[] = [];
      const frames = new InPlaceFrames((f) => waiting.shift()?.(f), FETCH_MAX_BYTES + (1 << 20));
      const s = connect({
        port,
        host: '127.0.0.1',
        onread: {
          buffer: () => frames.target(),
          callback: (n: number) => {
            frames.written(n);
            return true;
          },
        },
      });
      const conn = new FetchConnection(s, waiting);
      s.setNoDelay(true);
      s.once('connect', () => resolve(conn));
      s.once('error', reject);
      // A connection the broker closed fails what waits on it, rather than leaving the load to time out.
      s.once('close', () => {
        for (const w of waiting.splice(0)) w(new Error(`connection to port ${port} closed`));
      });
    });
  }

  /** Sends one request; `read` gets the response body's reader while the frame is valid (synchronously). */
  request<Req, T>(
    api: { apiKey: number; request: { encode(w: Writer, v: number, m: Req): void } },
    version: number,
    msg: Req,
    read: (r: Reader) => T,
  ): Promise<T> {
    const correlationId = ++this.correlationId;
    const frame = requestFrame(api, version, msg, correlationId);
    return new Promise((resolve, reject) => {
      this.waiting.push((frame) => {
        try {
          if (frame instanceof Error) throw frame;
          const r = new Reader(frame);
          if (r.int32() !== correlationId) throw new Error(`response to ${correlationId} out of order`);
          if (api.apiKey !== ApiVersionsApi.apiKey) r.taggedFields(); // flexible header (Fetch v12)
          resolve(read(r));
        } catch (e) {
          reject(e);
        }
      });
      this.socket.write(frame);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Reads every partition from offset 0 to the high watermark, partitions dealt over the connections, one
 * Fetch outstanding on each. With `seconds`, for that long: a partition read to its end is read again
 * from offset 0 (as another consumer group would), so the window is long enough that connecting and the
 * first round trips do not weigh in it. Bounded by rounds.
 */
async function fetchAll(): Promise<Measurement> {
  const sets = partitionsOf(cfg.partitions, CONNECTIONS);
  const clients = await Promise.all(sets.map(() => FetchConnection.open(cfg.port)));
  for (const c of clients) await c.request(ApiVersionsApi, 3, ApiVersionsApi.request.defaults(), () => undefined);
  const cpu0 = process.cpuUsage();
  let records = 0;
  let bytes = 0;
  let passes = 0;
  let fetches = 0;
  const t0 = performance.now();
  const deadline = cfg.seconds ? t0 + cfg.seconds * 1000 : Number.POSITIVE_INFINITY;
  await Promise.all(
    clients.map(async (c, ci) => {
      const offsets = new Map(sets[ci].map((p) => [p, 0n]));
      for (let round = 0; round < 10_000_000; round++) {
        const req = {
          ...FetchApi.request.defaults(),
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 1,
          maxBytes: FETCH_MAX_BYTES,
          topics: [
            {
              topic: cfg.topic,
              topicId: '00000000-0000-0000-0000-000000000000',
              partitions: [...offsets].map(([partition, fetchOffset]) => ({
                ...defaultFetchRequestFetchPartition(),
                partition,
                fetchOffset,
                partitionMaxBytes: 1 << 20,
              })),
            },
          ],
          forgottenTopicsData: [],
        };
        const progressed = await c.request(FetchApi, 12, req, (r) => {
          // Only what finding the next offset needs: each partition's error, high watermark and batch
          // headers (the records inside are never decoded); a trailing partial batch is skipped.
          const resp = FetchApi.response.decode(r, 12);
          fetches++;
          let moved = false;
          for (const p of resp.responses[0]?.partitions ?? []) {
            if (p.errorCode !== 0) throw new Error(`fetch error ${p.errorCode} on partition ${p.partitionIndex}`);
            const recs = p.records ?? EMPTY;
            let at = 0;
            let next = offsets.get(p.partitionIndex) ?? 0n;
            while (at + 61 <= recs.length) {
              const size = recs.readInt32BE(at + 8) + 12;
              if (size < 61 || at + size > recs.length) break;
              next = recs.readBigInt64BE(at) + BigInt(recs.readInt32BE(at + 23)) + 1n;
              records += recs.readInt32BE(at + 57);
              bytes += size;
              moved = true;
              at += size;
            }
            if (next < p.highWatermark) offsets.set(p.partitionIndex, next);
            else if (deadline !== Number.POSITIVE_INFINITY && p.highWatermark > 0n) {
              offsets.set(p.partitionIndex, 0n); // read to its end: again from the start
              passes++;
            } else offsets.delete(p.partitionIndex);
          }
          return moved;
        });
        if (offsets.size === 0 || performance.now() >= deadline) return;
        if (!progressed) throw new Error(`fetch made no progress at round ${round}`);
      }
      throw new Error('fetch: round limit reached');
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const c of clients) c.close();
  return {
    records,
    recordsPerSec: records / seconds,
    mibPerSec: (records * cfg.size) / seconds / MiB,
    seconds,
    extra: { connections: clients.length, wireBytes: bytes, passes, fetches },
    generator: cpuOf(cpu, seconds),
  };
}

const EMPTY = Buffer.alloc(0);
const cpuOf = (cpu: NodeJS.CpuUsage, seconds: number) => {
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  return { cpuSec, wallSec: seconds, processes: 1, maxCores: cpuSec / seconds };
};

const cpu0 = process.cpuUsage();
const result = cfg.mode === 'fetch' ? await fetchAll() : await produce();
// This process's own CPU over the load (its start-up, tsx's compile, left out), for the bound check;
// fetch measures its own, from the go on (connecting left out).
result.generator ??= cpuOf(process.cpuUsage(cpu0), result.seconds);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
