// Hostile and broken input, each on its own connection: the broker closes that connection with one
// log line (or answers with the protocol's error where there is one) and keeps serving everyone else.
// Then produce requests Kafka rejects per partition: bad CRC, too large, out-of-order sequence, old epoch.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import {
  ApiVersionsApi,
  buildRecordBatchSync,
  CompressionType,
  CRC_OFFSET,
  CreateTopicsApi,
  ERROR_CODES,
  InitProducerIdApi,
  MetadataApi,
  ProduceApi,
  Reader,
  type RecordInput,
  Writer,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { closedWithin, RawClient, readPartition } from './helpers.js';

const MAX_REQUEST_BYTES = 1024 * 1024;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

let broker: RunningBroker;
/** A well-behaved client connected the whole time. */
let steady: RawClient;
const logLines: { msg: string; connection?: number }[] = [];

beforeAll(async () => {
  const destination = {
    write(line: string) {
      logLines.push(JSON.parse(line) as { msg: string; connection?: number });
    },
  };
  broker = await startBroker({
    props: { 'socket.request.max.bytes': String(MAX_REQUEST_BYTES), 'num.partitions': '1' },
    logger: createLogger('info', { destination }),
  });
  steady = await RawClient.connect(broker.port);
});

afterAll(async () => {
  steady?.close();
  await broker?.stop();
});

/** The broker still serves: ApiVersions, a produce and a fetch, on the steady connection and a new one. */
async function expectServing(topic = 'still-serving'): Promise<void> {
  for (const c of [steady, await RawClient.connect(broker.port)]) {
    // Metadata creates the topic the first time (auto.create.topics.enable).
    await c.send(MetadataApi, 9, { topics: [{ topicId: ZERO_UUID, name: topic }], allowAutoTopicCreation: true });
    const av = await c.send(ApiVersionsApi, 3, { clientSoftwareName: 'ok', clientSoftwareVersion: '1' });
    expect(av.errorCode).toBe(0);
    const before = broker.context.topics.partition(topic, 0)?.log.logEndOffset ?? 0n;
    const res = await c.send(
      ProduceApi,
      9,
      produceBody(topic, 0, buildRecordBatchSync({ records: [{ value: 'ok' }] })),
    );
    expect(res.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: before });
    const records = await readPartition(c, topic, 0, before);
    expect(records.map((r) => r.value?.toString())).toEqual(['ok']);
    if (c !== steady) c.close();
  }
}

function produceBody(topic: string, partition: number, records: Buffer, acks = -1) {
  return {
    transactionalId: null,
    acks,
    timeoutMs: 5000,
    topicData: [{ name: topic, topicId: ZERO_UUID, partitionData: [{ index: partition, records }] }],
  };
}

/** A size-prefixed frame around `body`. */
function frame(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/** A request header v1 (api key, version, correlation id, client id) followed by `body`. */
function header(apiKey: number, apiVersion: number, correlationId: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const w = new Writer(64);
  w.int16(apiKey).int16(apiVersion).int32(correlationId).string('bad-client');
  return Buffer.concat([w.toBuffer(), body]);
}

/** Sends `bytes` on a fresh connection and expects the broker to close it, logging one line. */
async function expectClosed(bytes: Buffer, why: RegExp): Promise<void> {
  const before = logLines.length;
  const c = await RawClient.connect(broker.port);
  c.writeRaw(bytes);
  expect(await closedWithin(c, 5000)).toBe(true);
  // The broker's side closes synchronously with the log line; give the event loop a turn.
  await new Promise((r) => setImmediate(r));
  const lines = logLines.slice(before).filter((l) => /closing connection/.test(l.msg));
  expect(lines.length).toBe(1);
  expect(lines[0].msg).toMatch(why);
  await expectServing();
}

describe('malformed input', () => {
  it('random bytes', async () => {
    // A random body behind a valid size: the header names no API the broker serves, or cannot be parsed.
    let seed = 0x5eed;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    };
    const body = Buffer.from(Array.from({ length: 2000 }, next));
    body.writeInt16BE(0x7abc, 0); // an API key that does not exist
    await expectClosed(frame(body), /unknown API key/);
    // Pure noise whose first four bytes make a size no request may have.
    const noise = randomBytes(4096);
    noise.writeInt32BE(-Math.max(1, noise.readInt32BE(0) & 0x7fffffff), 0);
    await expectClosed(noise, /invalid request framing/);
  });

  it('a size prefix above socket.request.max.bytes, before any of the body is sent', async () => {
    const size = Buffer.alloc(4);
    size.writeInt32BE(MAX_REQUEST_BYTES + 1);
    await expectClosed(size, /larger than 1048576/);
    size.writeInt32BE(0x7fffffff);
    await expectClosed(size, /invalid request framing/);
  });

  it('a negative size prefix', async () => {
    const size = Buffer.alloc(4);
    size.writeInt32BE(-1);
    await expectClosed(size, /size = -1/);
  });

  it('a truncated header', async () => {
    // Shorter than api key + version + correlation id.
    await expectClosed(frame(Buffer.from([0, 3, 0, 9, 0])), /request failed/);
    // A client id string that claims more bytes than the frame has.
    const w = new Writer(16);
    w.int16(MetadataApi.apiKey).int16(4).int32(7).int16(200).int8(0x41);
    await expectClosed(frame(w.toBuffer()), /request failed/);
  });

  it('an unknown API key', async () => {
    await expectClosed(frame(header(999, 0, 1)), /unknown API key 999/);
    await expectClosed(frame(header(-1, 0, 1)), /unknown API key -1/);
  });

  it('an unsupported version: Produce v0 and v99 close the connection', async () => {
    const records = buildRecordBatchSync({ records: [{ value: 'x' }] });
    // Produce v0 is a version the broker does not accept (KIP-896); the codec (Kafka 4.4's schemas) has no
    // v0 either, so a v3 body goes under a v0 header: the broker refuses the header's version unread.
    const v0 = RawClient.encode(ProduceApi, 3, produceBody('still-serving', 0, records), 1);
    v0.writeInt16BE(0, 6);
    await expectClosed(v0, /unsupported Produce version 0/);
    await expectClosed(frame(header(ProduceApi.apiKey, 99, 1)), /unsupported Produce version 99/);
  });

  it('an unsupported ApiVersions version is answered with UNSUPPORTED_VERSION and ApiVersions range', async () => {
    const socket = createConnection({ host: '127.0.0.1', port: broker.port });
    await once(socket, 'connect');
    // v99's body cannot be known; the broker answers from the header alone, with a v0 response.
    socket.write(frame(header(ApiVersionsApi.apiKey, 99, 42, Buffer.from([1, 2, 3]))));
    const [bytes] = (await once(socket, 'data')) as [Buffer];
    // size, correlation id (header v0), then the v0 body: error code, api keys [ApiVersions only].
    expect(bytes.readInt32BE(0)).toBe(bytes.length - 4);
    expect(bytes.readInt32BE(4)).toBe(42);
    const body = ApiVersionsApi.response.decode(new (await import('@sluice/protocol')).Reader(bytes.subarray(8)), 0);
    expect(body.errorCode).toBe(ERROR_CODES.UNSUPPORTED_VERSION);
    expect(body.apiKeys.map((k) => ({ apiKey: k.apiKey, minVersion: k.minVersion, maxVersion: k.maxVersion }))).toEqual(
      [{ apiKey: 18, minVersion: 0, maxVersion: 5 }],
    );
    // The connection stays open for the client to retry with a version it can use.
    socket.write(RawClient.encode(ApiVersionsApi, 3, { clientSoftwareName: 'retry', clientSoftwareVersion: '1' }, 43));
    let reply = Buffer.alloc(0);
    while (reply.length < 4 || reply.length < reply.readInt32BE(0) + 4) {
      const [d] = (await once(socket, 'data')) as [Buffer];
      reply = Buffer.concat([reply, d]);
    }
    expect(reply.readInt32BE(4)).toBe(43);
    const ok = ApiVersionsApi.response.decode(new Reader(reply.subarray(8)), 3);
    expect(ok.errorCode).toBe(0);
    // Produce is listed from v0 though v0-2 are refused, as Kafka 4.x lists it (api-versions.test.ts).
    expect(ok.apiKeys.find((k) => k.apiKey === ProduceApi.apiKey)).toMatchObject({ minVersion: 0, maxVersion: 13 });
    socket.destroy();
  });

  it('a valid frame with a corrupt body (an array length far beyond the frame)', async () => {
    // Metadata v1: topics array length 0x7ffffff0 with nothing behind it. Nothing that size may be allocated.
    const w = new Writer(8);
    w.int32(0x7ffffff0);
    const before = process.memoryUsage().rss;
    await expectClosed(frame(header(MetadataApi.apiKey, 1, 5, w.toBuffer())), /request failed/);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
    // A Produce whose records length points past the frame.
    const records = buildRecordBatchSync({ records: [{ value: 'x' }] });
    const good = RawClient.encode(ProduceApi, 3, produceBody('still-serving', 0, records), 9);
    const at = good.indexOf(records) - 4;
    good.writeInt32BE(records.length + 1000, at);
    await expectClosed(good, /request failed/);
  });

  it('many hostile connections at once leave a concurrent well-behaved producer untouched', async () => {
    const hostile = [frame(header(999, 0, 1)), Buffer.from([0xff, 0xff, 0xff, 0xfe]), frame(Buffer.from([0, 0]))];
    const clients = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const c = await RawClient.connect(broker.port);
        c.writeRaw(hostile[i % hostile.length]);
        return c;
      }),
    );
    await expectServing('concurrent');
    for (const c of clients) expect(await closedWithin(c, 5000)).toBe(true);
  });
});

describe('produce requests Kafka rejects per partition', () => {
  let client: RawClient;
  beforeAll(async () => {
    client = await RawClient.connect(broker.port);
    const res = await client.send(CreateTopicsApi, 5, {
      topics: [
        {
          name: 'small-messages',
          numPartitions: 1,
          replicationFactor: 1,
          assignments: [],
          configs: [{ name: 'max.message.bytes', value: '1000' }],
        },
        { name: 'checked', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] },
      ],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(res.topics.map((t) => t.errorCode)).toEqual([0, 0]);
  });
  afterAll(() => client?.close());

  const produce = async (topic: string, partition: number, batch: Buffer) => {
    const res = await client.send(ProduceApi, 9, produceBody(topic, partition, batch));
    return res.responses[0].partitionResponses[0];
  };
  const records = (n: number, prefix = 'r'): RecordInput[] =>
    Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `${prefix}-${i}` }));

  it('a corrupt CRC → CORRUPT_MESSAGE, nothing appended', async () => {
    for (const compression of [CompressionType.None, CompressionType.Gzip]) {
      const batch = buildRecordBatchSync({ records: records(10), compression });
      batch[batch.length - 3] ^= 0x55;
      const r = await produce('checked', 0, batch);
      expect(r.errorCode).toBe(ERROR_CODES.CORRUPT_MESSAGE);
      // A CRC field that does not match an intact body fails the same way.
      const batch2 = buildRecordBatchSync({ records: records(3), compression });
      batch2.writeUInt32BE((batch2.readUInt32BE(CRC_OFFSET) + 1) >>> 0, CRC_OFFSET);
      expect((await produce('checked', 0, batch2)).errorCode).toBe(ERROR_CODES.CORRUPT_MESSAGE);
    }
    expect(broker.context.topics.partition('checked', 0)!.log.logEndOffset).toBe(0n);
  });

  it('a batch larger than max.message.bytes → MESSAGE_TOO_LARGE', async () => {
    const big = buildRecordBatchSync({ records: [{ value: Buffer.alloc(1200, 7) }] });
    expect((await produce('small-messages', 0, big)).errorCode).toBe(ERROR_CODES.MESSAGE_TOO_LARGE);
    const small = buildRecordBatchSync({ records: [{ value: Buffer.alloc(100, 7) }] });
    expect((await produce('small-messages', 0, small)).errorCode).toBe(0);
  });

  it('idempotent producer: duplicates are answered with the original offsets, a gap → OUT_OF_ORDER_SEQUENCE_NUMBER', async () => {
    const init = await client.send(InitProducerIdApi, 4, {
      transactionalId: null,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect(init.errorCode).toBe(0);
    const pid = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    const first = await produce('checked', 1, buildRecordBatchSync({ records: records(5), ...pid, baseSequence: 0 }));
    expect(first).toMatchObject({ errorCode: 0, baseOffset: 0n });
    const second = await produce('checked', 1, buildRecordBatchSync({ records: records(5), ...pid, baseSequence: 5 }));
    expect(second).toMatchObject({ errorCode: 0, baseOffset: 5n });
    // A retry of the first batch: not appended again, answered with its offset.
    const retry = await produce('checked', 1, buildRecordBatchSync({ records: records(5), ...pid, baseSequence: 0 }));
    expect(retry).toMatchObject({ errorCode: 0, baseOffset: 0n });
    // Sequence 12 after 9: a gap.
    const gap = await produce('checked', 1, buildRecordBatchSync({ records: records(2), ...pid, baseSequence: 12 }));
    expect(gap.errorCode).toBe(ERROR_CODES.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(broker.context.topics.partition('checked', 1)!.log.logEndOffset).toBe(10n);
    const next = await produce('checked', 1, buildRecordBatchSync({ records: records(1), ...pid, baseSequence: 10 }));
    expect(next).toMatchObject({ errorCode: 0, baseOffset: 10n });
  });

  it('an old producer epoch → INVALID_PRODUCER_EPOCH', async () => {
    const init = await client.send(InitProducerIdApi, 4, {
      transactionalId: null,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    const producerId = init.producerId;
    const e0 = await produce(
      'checked',
      1,
      buildRecordBatchSync({ records: records(2), producerId, producerEpoch: 0, baseSequence: 0 }),
    );
    expect(e0.errorCode).toBe(0);
    // InitProducerId with the current id and epoch but no transactional id: Kafka hands out a new
    // id with epoch 0; an idempotent producer bumps its epoch itself (KIP-360), as the next batch does.
    const reinit = await client.send(InitProducerIdApi, 4, {
      transactionalId: null,
      transactionTimeoutMs: 60_000,
      producerId,
      producerEpoch: 0,
    });
    expect(reinit).toMatchObject({ errorCode: 0, producerEpoch: 0 });
    expect(reinit.producerId).not.toBe(producerId);
    const e1 = await produce(
      'checked',
      1,
      buildRecordBatchSync({ records: records(2), producerId, producerEpoch: 1, baseSequence: 0 }),
    );
    expect(e1.errorCode).toBe(0);
    const stale = await produce(
      'checked',
      1,
      buildRecordBatchSync({ records: records(2), producerId, producerEpoch: 0, baseSequence: 2 }),
    );
    expect(stale.errorCode).toBe(ERROR_CODES.INVALID_PRODUCER_EPOCH);
    // A zombie's exact retry of an old-epoch batch is fenced too, not taken for a duplicate.
    const zombie = await produce(
      'checked',
      1,
      buildRecordBatchSync({ records: records(2), producerId, producerEpoch: 0, baseSequence: 0 }),
    );
    expect(zombie.errorCode).toBe(ERROR_CODES.INVALID_PRODUCER_EPOCH);
  });

  it('acks outside -1, 0, 1 → INVALID_REQUIRED_ACKS; an unknown topic → UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const batch = buildRecordBatchSync({ records: records(1) });
    const bad = await client.send(ProduceApi, 9, produceBody('checked', 0, batch, 2));
    expect(bad.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.INVALID_REQUIRED_ACKS);
    expect((await produce('no-such-topic', 0, batch)).errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    const md = await client.send(MetadataApi, 9, {
      topics: [{ topicId: ZERO_UUID, name: 'checked' }],
      allowAutoTopicCreation: false,
    });
    expect(md.topics[0].partitions.length).toBe(2);
  });
});
