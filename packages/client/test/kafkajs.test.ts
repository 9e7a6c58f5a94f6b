import type { RunningBroker } from '@sluice/broker';
import { lz4Codec, snappyCodec, zstdCodec } from '@sluice/protocol';
import { CompressionCodecs, CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumer, Producer, serde, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

// kafkajs ships gzip only; plug in the other codecs as a kafkajs user would.
const plug =
  (codec: {
    compress(b: Buffer): Promise<Buffer> | Buffer;
    decompress(b: Buffer, max: number): Promise<Buffer> | Buffer;
  }) =>
  () => ({
    compress: async (encoder: { buffer: Buffer }) => codec.compress(encoder.buffer),
    decompress: async (buffer: Buffer) => codec.decompress(buffer, 64 * 1024 * 1024),
  });
CompressionCodecs[CompressionTypes.Snappy] = plug(snappyCodec);
CompressionCodecs[CompressionTypes.LZ4] = plug(lz4Codec);
CompressionCodecs[CompressionTypes.ZSTD] = plug(zstdCodec);

let broker: RunningBroker;
let kjs: Kafka;
beforeAll(async () => {
  broker = await sluice(2);
  kjs = new Kafka({ brokers: [broker.bootstrap], clientId: 'kjs', logLevel: logLevel.NOTHING });
});
afterAll(async () => {
  await broker.stop();
});

interface Msg {
  n: number;
  s: string;
}

describe('cross-client with kafkajs 2.2.4', () => {
  it.each([
    'none',
    'gzip',
    'snappy',
    'lz4',
    'zstd',
  ] as const)('kafkajs reads what this producer writes (%s)', async (compression) => {
    const name = uniqueTopic(`to-kjs-${compression}`);
    const t = topic(name, { key: serde.string(), value: serde.json<Msg>() });
    const p = new Producer({ brokers: [broker.bootstrap] }, { compression });
    await Promise.all(
      Array.from({ length: 200 }, (_, n) =>
        p.send(t, { key: `k${n}`, value: { n, s: 'é'.repeat(n % 9) }, headers: { h: `${n}` } }),
      ),
    );
    await p.close();
    const c = kjs.consumer({ groupId: uniqueTopic('kjs-g') });
    await c.connect();
    await c.subscribe({ topic: name, fromBeginning: true });
    const got: Array<{ key: string; value: Msg; h: string }> = [];
    await new Promise<void>((resolve, reject) => {
      c.run({
        eachMessage: async ({ message }) => {
          got.push({
            key: message.key?.toString() ?? '',
            value: JSON.parse(message.value?.toString() ?? 'null'),
            h: message.headers?.h?.toString() ?? '',
          });
          if (got.length === 200) resolve();
        },
      }).catch(reject);
    });
    await c.disconnect();
    got.sort((a, b) => a.value.n - b.value.n);
    for (let n = 0; n < 200; n++) {
      expect(got[n]).toEqual({ key: `k${n}`, value: { n, s: 'é'.repeat(n % 9) }, h: `${n}` });
    }
  });

  it.each([
    ['none', CompressionTypes.None],
    ['gzip', CompressionTypes.GZIP],
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
    ['zstd', CompressionTypes.ZSTD],
  ] as const)('this consumer reads what kafkajs writes (%s)', async (_name, compression) => {
    const name = uniqueTopic('from-kjs');
    const kp = kjs.producer();
    await kp.connect();
    await kp.send({
      topic: name,
      compression,
      messages: Array.from({ length: 200 }, (_, n) => ({
        key: `k${n}`,
        value: JSON.stringify({ n, s: 'ü'.repeat(n % 5) }),
        headers: { h: `${n}` },
      })),
    });
    await kp.disconnect();
    const t = topic(name, { key: serde.string(), value: serde.json<Msg>() });
    const c = new Consumer(
      { brokers: [broker.bootstrap] },
      { groupId: uniqueTopic('g'), autoOffsetReset: 'earliest', heartbeatIntervalMs: 200 },
    );
    const got: Array<{ key: string; value: Msg; h: string }> = [];
    for await (const r of c.records(t)) {
      got.push({ key: r.key, value: r.value, h: r.headers.h?.toString() ?? '' });
      if (got.length === 200) break;
    }
    await c.close();
    got.sort((a, b) => a.value.n - b.value.n);
    for (let n = 0; n < 200; n++)
      expect(got[n]).toEqual({ key: `k${n}`, value: { n, s: 'ü'.repeat(n % 5) }, h: `${n}` });
  });
});
