// Protocol micro-benchmarks against kafkajs 2.2.4, measured in the same run (tinybench).
//   npm run bench -w @sluice/protocol            (about half a minute)
//   BENCH_TIME_MS=2000 npm run bench -w @sluice/protocol   (steadier figures)
// Every row runs the same work on both sides and prints ops/s, MB/s (or GB/s) and ours/kafkajs.
// Decoding counts only when it validates the batch CRC-32C and touches every record's key, value
// and headers; kafkajs never checks the CRC (so its decode rows do less work than ours).
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';
import { FetchApi, type FetchResponse, ProduceApi, type ProduceRequest } from '../src/generated/index.js';
import { Reader } from '../src/primitives/reader.js';
import { Writer } from '../src/primitives/writer.js';
import { buildRecordBatchSync, CompressionType, crc32c, RecordBatch, type RecordInput } from '../src/records/index.js';

const require = createRequire(import.meta.url);
const kjs = (path: string) => require(`kafkajs/src/${path}`);

interface KjsEncoder {
  readonly buffer: Buffer;
}
interface KjsCodec {
  compress(encoder: KjsEncoder): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

// kafkajs needs a plug-in codec for lz4: the same native package we use, frame format.
const lz4 = require('lz4-napi') as { compressFrameSync(b: Buffer): Buffer; decompressFrameSync(b: Buffer): Buffer };
const kjsCompression = kjs('protocol/message/compression/index.js') as { Codecs: Record<number, () => KjsCodec> };
kjsCompression.Codecs[CompressionType.Lz4] = () => ({
  compress: async (e) => lz4.compressFrameSync(e.buffer),
  decompress: async (b) => lz4.decompressFrameSync(b),
});

const produceV7 = kjs('protocol/requests/produce/v7/request.js') as (a: unknown) => { encode(): Promise<KjsEncoder> };
const fetchV11 = kjs('protocol/requests/fetch/v11/response.js') as { decode(b: Buffer): Promise<KjsFetch> };
const KjsRecord = kjs('protocol/recordBatch/record/v0/index.js') as (a: unknown) => KjsEncoder;
const KjsRecordBatch = (kjs('protocol/recordBatch/v0/index.js') as { RecordBatch: (a: unknown) => Promise<KjsEncoder> })
  .RecordBatch;
const kjsCrc32c = kjs('protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;

interface KjsMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
}
interface KjsFetch {
  responses: { partitions: { messages: KjsMessage[] }[] }[];
}

// --- The workload: 1,000 records of 1 KiB (text-like values, so lz4 has something to do) ----

const RECORDS = 1000;
const VALUE_BYTES = 1024;
const T0 = 1_700_000_000_000;
const WORDS =
  'the quick brown fox jumps over lazy dog user order paid shipped cart item price total session click view page'.split(
    ' ',
  );
/** A JSON event padded to 1 KiB with random words and a random token: lz4 compresses it about 2–3×. */
function value(i: number): Buffer {
  let note = '';
  while (note.length < VALUE_BYTES) note += `${WORDS[(Math.random() * WORDS.length) | 0]} `;
  const head = `{"seq":${i},"user":"user-${i % 97}","token":"${randomBytes(24).toString('hex')}","note":"`;
  const body = `${head}${note}`.slice(0, VALUE_BYTES - 2);
  return Buffer.from(`${body}"}`);
}
const values = Array.from({ length: RECORDS }, (_, i) => value(i));
const ours: RecordInput[] = values.map((value, i) => ({
  key: `key-${i}`,
  value,
  headers: [{ key: 'trace-id', value: `t-${i}` }],
  timestamp: T0 + i,
}));
const kjsMessages = values.map((value, i) => ({
  key: `key-${i}`,
  value,
  headers: { 'trace-id': `t-${i}` },
  timestamp: T0 + i,
}));
const PAYLOAD_BYTES = RECORDS * VALUE_BYTES;

const writer = new Writer(4 << 20);

function ourProduce(compression: CompressionType): Buffer {
  const records = buildRecordBatchSync({ records: ours, compression, now: T0 });
  const msg: ProduceRequest = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30000,
    topicData: [
      { name: 'bench', topicId: '00000000-0000-0000-0000-000000000000', partitionData: [{ index: 0, records }] },
    ],
  };
  // Rewind rather than reset(): reset() drops buffers above 1 MiB, and this request is just over.
  writer.offset = 0;
  ProduceApi.request.encode(writer, 7, msg);
  return writer.finish();
}

function kjsProduce(compression: CompressionType): Promise<KjsEncoder> {
  return produceV7({
    acks: -1,
    timeout: 30000,
    compression,
    topicData: [{ topic: 'bench', partitions: [{ partition: 0, messages: kjsMessages }] }],
  }).encode();
}

function fetchResponse(batch: Buffer): Buffer {
  const msg: FetchResponse = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    nodeEndpoints: [],
    responses: [
      {
        topic: 'bench',
        topicId: '00000000-0000-0000-0000-000000000000',
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: BigInt(RECORDS),
            lastStableOffset: BigInt(RECORDS),
            logStartOffset: 0n,
            divergingEpoch: { epoch: -1, endOffset: -1n },
            currentLeader: { leaderId: -1, leaderEpoch: -1 },
            snapshotId: { endOffset: -1n, epoch: -1 },
            abortedTransactions: [],
            preferredReadReplica: -1,
            records: batch,
          },
        ],
      },
    ],
  };
  const w = new Writer();
  FetchApi.response.encode(w, 11, msg);
  return w.toBuffer();
}

/** Our consumer path: decode the response, check each batch's CRC, read every record. */
function ourFetchDecode(buf: Buffer): number {
  const res = FetchApi.response.decode(new Reader(buf), 11);
  let touched = 0;
  for (const t of res.responses) {
    for (const p of t.partitions) {
      const records = p.records;
      if (records === null) continue;
      let pos = 0;
      while (pos < records.length) {
        const batch = new RecordBatch(records, pos);
        batch.validate();
        for (const r of batch.records()) {
          touched += (r.key?.length ?? 0) + (r.value?.length ?? 0);
          for (const h of r.headers) touched += h.key.length + (h.value?.length ?? 0);
        }
        pos += batch.sizeInBytes;
      }
    }
  }
  if (touched < PAYLOAD_BYTES) throw new Error('decode touched too little');
  return touched;
}

async function kjsFetchDecode(buf: Buffer): Promise<number> {
  const res = await fetchV11.decode(buf);
  let touched = 0;
  for (const t of res.responses) {
    for (const p of t.partitions) {
      for (const m of p.messages) {
        touched += (m.key?.length ?? 0) + (m.value?.length ?? 0);
        for (const [k, v] of Object.entries(m.headers)) {
          touched += k.length + (Array.isArray(v) ? v.reduce((n, b) => n + b.length, 0) : v.length);
        }
      }
    }
  }
  if (touched < PAYLOAD_BYTES) throw new Error('decode touched too little');
  return touched;
}

async function kjsBuildBatch(compression: CompressionType): Promise<KjsEncoder> {
  const records = kjsMessages.map((m, i) => KjsRecord({ ...m, offsetDelta: i, timestampDelta: m.timestamp - T0 }));
  return KjsRecordBatch({
    compression,
    records,
    firstTimestamp: T0,
    maxTimestamp: T0 + RECORDS - 1,
    lastOffsetDelta: RECORDS - 1,
  });
}

// --- Rows ----------------------------------------------------------------------------------------

interface Row {
  name: string;
  /** Bytes one operation handles, for the throughput column. */
  bytes: number;
  ours: () => unknown;
  kafkajs: () => unknown;
  /** Print GB/s instead of MB/s. */
  gb?: boolean;
}

const batchNone = buildRecordBatchSync({ records: ours, compression: CompressionType.None, now: T0 });
const batchLz4 = buildRecordBatchSync({ records: ours, compression: CompressionType.Lz4, now: T0 });
const fetchNone = fetchResponse(batchNone);
const fetchLz4 = fetchResponse(batchLz4);
// The CRC row checks the same bytes kafkajs hashes when it builds a batch (attributes to the end).
const crcRange = batchNone.subarray(21);

const ROWS: Row[] = [
  {
    name: 'encode Produce v7, 1000 × 1 KiB, none',
    bytes: ourProduce(CompressionType.None).length,
    ours: () => ourProduce(CompressionType.None),
    kafkajs: () => kjsProduce(CompressionType.None),
  },
  {
    name: 'encode Produce v7, 1000 × 1 KiB, lz4',
    bytes: PAYLOAD_BYTES,
    ours: () => ourProduce(CompressionType.Lz4),
    kafkajs: () => kjsProduce(CompressionType.Lz4),
  },
  {
    name: 'build record batch, none',
    bytes: batchNone.length,
    ours: () => buildRecordBatchSync({ records: ours, compression: CompressionType.None, now: T0 }),
    kafkajs: () => kjsBuildBatch(CompressionType.None),
  },
  {
    name: 'build record batch, lz4',
    bytes: PAYLOAD_BYTES,
    ours: () => buildRecordBatchSync({ records: ours, compression: CompressionType.Lz4, now: T0 }),
    kafkajs: () => kjsBuildBatch(CompressionType.Lz4),
  },
  {
    name: 'decode Fetch v11 + CRC + touch all, none',
    bytes: fetchNone.length,
    ours: () => ourFetchDecode(fetchNone),
    kafkajs: () => kjsFetchDecode(fetchNone),
  },
  {
    name: 'decode Fetch v11 + CRC + touch all, lz4',
    bytes: PAYLOAD_BYTES,
    ours: () => ourFetchDecode(fetchLz4),
    kafkajs: () => kjsFetchDecode(fetchLz4),
  },
  {
    name: 'CRC-32C of a 1 MiB batch (validate)',
    bytes: crcRange.length,
    ours: () => new RecordBatch(batchNone).validate(),
    kafkajs: () => kjsCrc32c(crcRange),
    gb: true,
  },
];

// Sanity: both sides agree on the work before timing it.
if (kjsCrc32c(crcRange) >>> 0 !== crc32c(crcRange) >>> 0) throw new Error('CRC-32C differs from kafkajs');
ourFetchDecode(fetchLz4);
await kjsFetchDecode(fetchLz4);

// BENCH_PROFILE=1 BENCH_FILTER=<row>: run only our side in a loop, for `node --cpu-prof`.
if (process.env.BENCH_PROFILE) {
  const rows = ROWS.filter((r) => !process.env.BENCH_FILTER || r.name.includes(process.env.BENCH_FILTER));
  const until = performance.now() + 5000;
  let n = 0;
  while (performance.now() < until) {
    for (const r of rows) {
      r.ours();
      n++;
    }
  }
  console.log(`profiled ${n} operations of: ${rows.map((r) => r.name).join(', ')}`);
  process.exit(0);
}

const timeMs = Number(process.env.BENCH_TIME_MS ?? 700);
const only = process.env.BENCH_FILTER;
const bench = new Bench({ time: timeMs, warmupTime: 150 });
const selected = ROWS.filter((r) => !only || r.name.includes(only));
for (const row of selected) {
  bench.add(`ours    ${row.name}`, row.ours);
  bench.add(`kafkajs ${row.name}`, row.kafkajs);
}
await bench.run();

function opsPerSecond(name: string): number {
  const task = bench.getTask(name);
  const result = task?.result as { period?: number } | undefined;
  if (!result?.period) throw new Error(`no result for ${name}`);
  return 1000 / result.period;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const table = selected.map((row) => {
  const o = opsPerSecond(`ours    ${row.name}`);
  const k = opsPerSecond(`kafkajs ${row.name}`);
  const unit = row.gb ? 1e9 : 1e6;
  const rate = (ops: number) => `${fmt((ops * row.bytes) / unit, row.gb ? 2 : 0)} ${row.gb ? 'GB/s' : 'MB/s'}`;
  return {
    benchmark: row.name,
    'ours ops/s': fmt(o, 1),
    'ours rate': rate(o),
    'kafkajs ops/s': fmt(k, 1),
    'kafkajs rate': rate(k),
    'ours/kafkajs': `${fmt(o / k, 1)}×`,
  };
});
console.log(
  `tinybench ${timeMs} ms per task, Node ${process.version}; rates over payload bytes (1000 × 1 KiB for lz4 rows)`,
);
console.table(table);
