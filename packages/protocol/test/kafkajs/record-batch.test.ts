// Record batches exchanged with kafkajs 2.2.4, for every compression codec:
//   kafkajs → here: batches kafkajs builds (its RecordBatch encoder, and inside a Produce v7 request)
//     pass our CRC-32C validation and decode to the same header fields and records;
//   here → kafkajs: batches our builder makes, in a Fetch v11 response our codec encodes, decode in
//     kafkajs's Fetch response decoder to the same records.
// kafkajs quirks: it never checks the CRC when reading; it cannot write a header with a null value
// (its size computation calls Buffer.byteLength(null) and throws), so the records below use
// non-null header values; it returns headers as an object, so repeated keys become an array.
import { beforeAll, describe, expect, it } from 'vitest';
import { FetchApi, ProduceApi } from '../../src/generated/index.js';
import { Reader, Writer } from '../../src/index.js';
import {
  buildRecordBatch,
  CompressionType,
  decodeRecordSet,
  type KafkaRecord,
  RecordBatch,
  type RecordInput,
} from '../../src/records/index.js';
import { type KjsEncoder, kafkajsModule, kafkajsRequest, kafkajsResponse, shape } from './helpers.js';
import { installKafkajsCodecs } from './kafkajs-codecs.js';

const CODECS = [
  ['none', CompressionType.None],
  ['gzip', CompressionType.Gzip],
  ['snappy', CompressionType.Snappy],
  ['lz4', CompressionType.Lz4],
  ['zstd', CompressionType.Zstd],
] as const;

/** The records both sides build: binary and text, null keys and values, repeated header keys. */
interface Sample {
  key: Buffer | null;
  value: Buffer | null;
  headers: [string, Buffer][];
  timestamp: number;
}
const T0 = 1_700_000_000_000;
const SAMPLES: Sample[] = [
  { key: Buffer.from('k0'), value: Buffer.from('value 0'), headers: [], timestamp: T0 },
  {
    key: null,
    value: Buffer.from([0, 1, 2, 255]),
    headers: [
      ['trace', Buffer.from('abc')],
      ['trace', Buffer.from('def')],
      ['empty', Buffer.alloc(0)],
    ],
    timestamp: T0 + 7,
  },
  { key: Buffer.from('k2'), value: null, headers: [['h', Buffer.from('x')]], timestamp: T0 + 3 },
  { key: Buffer.alloc(0), value: Buffer.alloc(300, 0x61), headers: [], timestamp: T0 + 1000 },
  { key: Buffer.from('ключ'), value: Buffer.from('ü'.repeat(200)), headers: [['ü', Buffer.from('ü')]], timestamp: T0 },
];
const MAX_TIMESTAMP = T0 + 1000;

/** kafkajs's header object for a sample (repeated keys become arrays, in order). */
function kjsHeaders(headers: [string, Buffer][]): Record<string, Buffer | Buffer[]> {
  const out: Record<string, Buffer | Buffer[]> = {};
  for (const [k, v] of headers) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}

/** What our decoder must give for sample `i` at `offset`. */
function ourRecord(s: Sample, offset: bigint): Partial<KafkaRecord> {
  return {
    offset,
    timestamp: BigInt(s.timestamp),
    key: s.key,
    value: s.value,
    headers: s.headers.map(([key, value]) => ({ key, value })),
  };
}

const Record = kafkajsModule<(a: unknown) => KjsEncoder>('protocol/recordBatch/record/v0/index.js');
const { RecordBatch: KjsRecordBatch } = kafkajsModule<{ RecordBatch: (a: unknown) => Promise<KjsEncoder> }>(
  'protocol/recordBatch/v0/index.js',
);
const kafkajsFrame = kafkajsModule<(a: unknown) => Promise<KjsEncoder>>('protocol/request.js');

beforeAll(() => installKafkajsCodecs());

describe.each(CODECS)('record batches with %s', (_name, compression) => {
  it('a batch kafkajs builds passes our CRC check and decodes to the same header and records', async () => {
    const records = SAMPLES.map((s, i) =>
      Record({
        key: s.key,
        value: s.value,
        headers: kjsHeaders(s.headers),
        offsetDelta: i,
        timestampDelta: s.timestamp - T0,
      }),
    );
    const buf = (
      await KjsRecordBatch({
        compression,
        records,
        firstOffset: '1000',
        firstTimestamp: T0,
        maxTimestamp: MAX_TIMESTAMP,
        partitionLeaderEpoch: 3,
        lastOffsetDelta: SAMPLES.length - 1,
        transactional: true,
        producerId: '77',
        producerEpoch: 2,
        firstSequence: 5,
      })
    ).buffer;

    const batch = new RecordBatch(buf);
    batch.validate();
    expect(batch.sizeInBytes).toBe(buf.length);
    expect({
      baseOffset: batch.baseOffset,
      partitionLeaderEpoch: batch.partitionLeaderEpoch,
      magic: batch.magic,
      compression: batch.compression,
      timestampType: batch.timestampType,
      isTransactional: batch.isTransactional,
      isControl: batch.isControl,
      lastOffsetDelta: batch.lastOffsetDelta,
      baseTimestamp: batch.baseTimestamp,
      maxTimestamp: batch.maxTimestamp,
      producerId: batch.producerId,
      producerEpoch: batch.producerEpoch,
      baseSequence: batch.baseSequence,
      recordCount: batch.recordCount,
    }).toEqual({
      baseOffset: 1000n,
      partitionLeaderEpoch: 3,
      magic: 2,
      compression,
      timestampType: 0,
      isTransactional: true,
      isControl: false,
      lastOffsetDelta: SAMPLES.length - 1,
      baseTimestamp: BigInt(T0),
      maxTimestamp: BigInt(MAX_TIMESTAMP),
      producerId: 77n,
      producerEpoch: 2,
      baseSequence: 5,
      recordCount: SAMPLES.length,
    });
    const decoded = (await batch.decompressedRecords()).toArray();
    expect(decoded).toHaveLength(SAMPLES.length);
    for (const [i, s] of SAMPLES.entries()) expect(decoded[i]).toMatchObject(ourRecord(s, 1000n + BigInt(i)));

    // A flipped bit inside the CRC's range is caught (kafkajs would not notice).
    const bad = Buffer.from(buf);
    bad[bad.length - 1] ^= 1;
    expect(new RecordBatch(bad).isValid()).toBe(false);
  });

  it('a Produce v7 request kafkajs builds decodes here to the same records', async () => {
    const request = kafkajsRequest(
      'produce',
      7,
    )({
      acks: 1,
      timeout: 1000,
      compression,
      topicData: [
        {
          topic: 'topic-a',
          partitions: [
            {
              partition: 4,
              firstSequence: 0,
              messages: SAMPLES.map((s) => ({
                key: s.key,
                value: s.value,
                headers: kjsHeaders(s.headers),
                timestamp: s.timestamp,
              })),
            },
          ],
        },
      ],
    });
    const body = (await request.encode()).buffer;
    const produce = ProduceApi.request.decode(new Reader(body), 7);
    const part = produce.topicData[0].partitionData[0];
    expect(part.index).toBe(4);
    const set = await decodeRecordSet(part.records as Buffer);
    expect(set.truncated).toBe(false);
    expect(set.batches).toHaveLength(1);
    expect(set.batches[0].batch?.compression).toBe(compression);
    const decoded = set.batches[0].records;
    // kafkajs makes the smallest timestamp the base and the largest the max.
    expect(set.batches[0].batch?.baseTimestamp).toBe(BigInt(T0));
    expect(set.batches[0].batch?.maxTimestamp).toBe(BigInt(MAX_TIMESTAMP));
    for (const [i, s] of SAMPLES.entries()) expect(decoded[i]).toMatchObject(ourRecord(s, BigInt(i)));
  });

  it('batches we build, in a Fetch v11 response we encode, decode in kafkajs to the same records', async () => {
    const inputs: RecordInput[] = SAMPLES.map((s) => ({
      key: s.key,
      value: s.value,
      headers: s.headers.map(([key, value]) => ({ key, value })),
      timestamp: s.timestamp,
    }));
    const first = await buildRecordBatch({
      records: inputs,
      compression,
      baseOffset: 500n,
      producerId: 77n,
      producerEpoch: 2,
      baseSequence: 5,
      partitionLeaderEpoch: 3,
    });
    const second = await buildRecordBatch({ records: inputs.slice(0, 2), compression, baseOffset: 505n });
    const response = shape<Parameters<typeof FetchApi.response.encode>[2]>(
      'FetchResponse',
      {
        throttleTimeMs: 0,
        errorCode: 0,
        sessionId: 9,
        responses: [
          {
            topic: 'topic-a',
            partitions: [
              {
                partitionIndex: 4,
                errorCode: 0,
                highWatermark: 507n,
                lastStableOffset: 507n,
                logStartOffset: 0n,
                abortedTransactions: [],
                preferredReadReplica: -1,
                records: Buffer.concat([first, second]),
              },
            ],
          },
        ],
      },
      11,
    );
    const w = new Writer();
    FetchApi.response.encode(w, 11, response);
    const kjs = (await kafkajsResponse('fetch', 11).decode(w.toBuffer())) as {
      sessionId: number;
      responses: {
        topicName: string;
        partitions: { partition: number; highWatermark: string; messages: unknown[] }[];
      }[];
    };
    expect(kjs.sessionId).toBe(9);
    const p = kjs.responses[0].partitions[0];
    expect(kjs.responses[0].topicName).toBe('topic-a');
    expect(p.partition).toBe(4);
    expect(p.highWatermark).toBe('507');
    const all = [...SAMPLES, ...SAMPLES.slice(0, 2)];
    expect(p.messages).toHaveLength(all.length);
    for (const [i, s] of all.entries()) {
      expect(p.messages[i]).toMatchObject({
        magicByte: 2,
        offset: String(500 + i),
        timestamp: String(s.timestamp),
        // Zero-length keys stay empty Buffers and nulls stay null on both sides.
        key: s.key,
        value: s.value,
        headers: kjsHeaders(s.headers),
        isControlRecord: false,
      });
    }
    expect(p.messages[0]).toMatchObject({
      batchContext: {
        firstOffset: '500',
        partitionLeaderEpoch: 3,
        producerId: '77',
        producerEpoch: 2,
        firstSequence: 5,
        maxTimestamp: String(MAX_TIMESTAMP),
      },
    });
  });
});

describe('legacy message sets from kafkajs (Produce v2, magic 1)', () => {
  it.each([
    ['none', CompressionType.None],
    ['gzip', CompressionType.Gzip],
  ] as const)('%s: decodes here to the same keys, values and timestamps', async (_name, compression) => {
    const request = kafkajsRequest(
      'produce',
      2,
    )({
      acks: 1,
      timeout: 1000,
      compression,
      topicData: [
        {
          topic: 't',
          partitions: [
            { partition: 0, messages: SAMPLES.map((s) => ({ key: s.key, value: s.value, timestamp: s.timestamp })) },
          ],
        },
      ],
    });
    const frame = (await kafkajsFrame({ correlationId: 1, clientId: 'c', request })).buffer;
    const r = new Reader(frame, 4 + 2 + 2 + 4 + 2 + 1); // size, api key, version, correlation id, client id 'c'
    // Produce v2 left the codec with Kafka 4 (KIP-896); its body is read field by field here:
    // acks, timeout, [topic, [partition, message set]].
    r.int16();
    r.int32();
    expect(r.int32()).toBe(1);
    expect(r.string()).toBe('t');
    expect(r.int32()).toBe(1);
    expect(r.int32()).toBe(0);
    const set = await decodeRecordSet(r.bytes());
    expect(r.remaining).toBe(0);
    const records = set.batches.flatMap((b) => b.records);
    expect(set.batches.every((b) => b.magic === 1)).toBe(true);
    expect(records).toHaveLength(SAMPLES.length);
    for (const [i, s] of SAMPLES.entries()) {
      expect(records[i]).toMatchObject({ key: s.key, value: s.value, timestamp: BigInt(s.timestamp) });
    }
  });
});
