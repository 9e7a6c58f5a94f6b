// An idempotent producer whose connection drops after the broker appended its batch but before the
// answer arrived retries the same sequence numbers; the broker must recognise the retry and write
// nothing twice. A proxy between client and broker drops chosen Produce responses.

import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { buildRecordBatchSync, FrameDecoder, InitProducerIdApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { RawClient, readPartition, startInProcess } from './helpers.js';

const { Kafka, logLevel } = kafkajs;
const PRODUCE_KEY = 0;

/**
 * A TCP proxy that forwards every byte both ways, except that when `dropNextProduceResponse` is
 * set it lets the next Produce request through to the broker, waits for the broker's answer to
 * it, and then cuts both connections instead of delivering it.
 */
class DroppingProxy {
  readonly server: Server;
  port = 0;
  target = 0;
  dropNextProduceResponse = false;
  dropped = 0;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((client) => this.onClient(client));
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
  }

  private onClient(client: Socket): void {
    const upstream = createConnection({ host: '127.0.0.1', port: this.target });
    this.sockets.add(client).add(upstream);
    const requests = new FrameDecoder();
    const responses = new FrameDecoder();
    /** Correlation ids of Produce requests whose responses must not reach the client. */
    const doomed = new Set<number>();
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      requests.push(chunk, (frame) => {
        if (this.dropNextProduceResponse && frame.readInt16BE(0) === PRODUCE_KEY) {
          this.dropNextProduceResponse = false;
          doomed.add(frame.readInt32BE(4));
        }
      });
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      // Deliver whole frames only, so a cut never leaves half a response behind.
      responses.push(chunk, (frame) => {
        if (client.destroyed) return;
        if (doomed.has(frame.readInt32BE(0))) {
          this.dropped++;
          cut();
          return;
        }
        const size = Buffer.alloc(4);
        size.writeInt32BE(frame.length);
        client.write(Buffer.concat([size, frame]));
      });
    });
    for (const s of [client, upstream]) {
      s.on('error', cut);
      s.on('close', () => {
        this.sockets.delete(s);
        cut();
      });
    }
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

let broker: RunningBroker;
const proxy = new DroppingProxy();

beforeAll(async () => {
  await proxy.listen();
  // Clients learn the proxy's address from Metadata, so every connection goes through it.
  broker = await startInProcess({
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxy.port}`,
    'num.partitions': '1',
  });
  proxy.target = broker.port;
});

afterAll(async () => {
  proxy.close();
  await broker?.stop();
});

describe('idempotent producer retries after a dropped connection', () => {
  it('raw: the same batch re-sent on a new connection is answered with the original offset', async () => {
    let client = await RawClient.connect(proxy.port);
    const init = await client.send(InitProducerIdApi, 4, {
      transactionalId: null,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    const batch = buildRecordBatchSync({
      records: [{ value: 'once-0' }, { value: 'once-1' }],
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      baseSequence: 0,
    });
    const body = {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'raw-retry', topicId: ZERO_UUID, partitionData: [{ index: 0, records: batch }] }],
    };
    broker.context.autoCreateTopic('raw-retry');
    proxy.dropNextProduceResponse = true;
    await expect(client.send(ProduceApi, 9, body)).rejects.toThrow(/closed/);
    expect(proxy.dropped).toBe(1);
    client = await RawClient.connect(proxy.port);
    const retry = await client.send(ProduceApi, 9, body);
    expect(retry.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 0n });
    const records = await readPartition(client, 'raw-retry', 0);
    expect(records.map((r) => r.value?.toString())).toEqual(['once-0', 'once-1']);
    client.close();
  });

  it('kafkajs (idempotent, acks=-1): drops on every 7th send, every message exactly once and in order', async () => {
    const kafka = new Kafka({
      clientId: 'idem',
      brokers: [`127.0.0.1:${proxy.port}`],
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 50, retries: 10 },
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'idem', numPartitions: 2 }] });
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    const droppedBefore = proxy.dropped;
    const SENDS = 60;
    const PER_SEND = 20;
    for (let s = 0; s < SENDS; s++) {
      if (s % 7 === 3) proxy.dropNextProduceResponse = true;
      const result = await producer.send({
        topic: 'idem',
        acks: -1,
        messages: Array.from({ length: PER_SEND }, (_, i) => ({
          key: `k${(s * PER_SEND + i) % 13}`,
          value: String(s * PER_SEND + i),
          partition: (s * PER_SEND + i) % 2,
        })),
      });
      expect(result.every((r) => r.errorCode === 0)).toBe(true);
    }
    await producer.disconnect();
    const drops = proxy.dropped - droppedBefore;
    expect(drops).toBeGreaterThanOrEqual(Math.floor(SENDS / 7));

    const reader = await RawClient.connect(broker.port);
    const values: number[] = [];
    for (const p of [0, 1]) {
      const records = await readPartition(reader, 'idem', p);
      const nums = records.map((r) => Number(r.value?.toString()));
      // In send order, each exactly once.
      expect(nums).toEqual([...nums].sort((a, b) => a - b));
      expect(nums.every((n) => n % 2 === p)).toBe(true);
      // One producer id, sequences 0, 1, 2, ... without gaps or repeats.
      expect(new Set(records.map((r) => r.producerId)).size).toBe(1);
      expect(records.map((r) => r.sequence)).toEqual(records.map((_, i) => i));
      values.push(...nums);
    }
    reader.close();
    expect(values.length).toBe(SENDS * PER_SEND);
    expect(new Set(values).size).toBe(SENDS * PER_SEND);
  });
});
