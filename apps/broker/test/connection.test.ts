// Connection handling seen from a client: pipelined requests answered in order, backpressure
// towards a client that does not read, and the idle timeout.

import { once } from 'node:events';
import { createConnection } from 'node:net';
import {
  ApiVersionsApi,
  buildRecordBatchSync,
  CreateTopicsApi,
  FetchApi,
  FrameDecoder,
  MetadataApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { closedWithin, fetchRequest, RawClient, sleep, startInProcess } from './helpers.js';

let broker: RunningBroker;
let client: RawClient;
const BATCH_BYTES = 256 * 1024;

beforeAll(async () => {
  broker = await startInProcess({ 'connections.max.idle.ms': '1500' });
  client = await RawClient.connect(broker.port);
  await client.send(CreateTopicsApi, 5, {
    topics: [{ name: 'big', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  // Incompressible values so each batch is really BATCH_BYTES on the wire.
  const value = Buffer.alloc(BATCH_BYTES - 200);
  for (let i = 0; i < value.length; i++) value[i] = (i * 2654435761) >>> 24;
  const res = await client.send(ProduceApi, 9, {
    transactionalId: null,
    acks: 1,
    timeoutMs: 5000,
    topicData: [
      {
        name: 'big',
        topicId: ZERO_UUID,
        partitionData: [{ index: 0, records: buildRecordBatchSync({ records: [{ value }] }) }],
      },
    ],
  });
  expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
});

afterAll(async () => {
  client?.close();
  await broker?.stop();
});

describe('connections', () => {
  it('answers 200 pipelined requests of different APIs in request order', async () => {
    const pending: Promise<unknown>[] = [];
    const order: number[] = [];
    for (let i = 0; i < 200; i++) {
      const p =
        i % 3 === 0
          ? client.send(ApiVersionsApi, 3, { clientSoftwareName: 'x', clientSoftwareVersion: '1' })
          : i % 3 === 1
            ? client.send(MetadataApi, 9, { topics: null, allowAutoTopicCreation: false })
            : // A fetch at the end of the log waits a little (long polling) before answering.
              client.send(FetchApi, 12, fetchRequest('big', [{ partition: 0, fetchOffset: 1n }], { maxWaitMs: 5 }));
      pending.push(p.then(() => order.push(i)));
    }
    await Promise.all(pending);
    expect(order).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('stops reading from a client that does not read its responses (memory stays bounded)', async () => {
    const REQUESTS = 600;
    const socket = createConnection({ host: '127.0.0.1', port: broker.port });
    await once(socket, 'connect');
    socket.pause();
    // 600 fetches of a 256 KiB batch in one write (~60 KiB): 150 MiB of answers if all were made.
    const frames = Array.from({ length: REQUESTS }, (_, i) =>
      RawClient.encode(
        FetchApi,
        12,
        fetchRequest('big', [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: BATCH_BYTES }], {
          maxBytes: BATCH_BYTES,
        }),
        i + 1,
      ),
    );
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    socket.write(Buffer.concat(frames));
    await sleep(1000);
    const grown = process.memoryUsage().arrayBuffers - before;
    // The broker may hold its in-flight bound of answers (100) and what the socket buffers; not 600.
    expect(grown).toBeLessThan(60 * 1024 * 1024);

    // Once the client reads, every answer arrives, in order.
    const decoder = new FrameDecoder({ maxFrameSize: 4 * BATCH_BYTES });
    let next = 1;
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk, (frame) => {
            expect(frame.readInt32BE(0)).toBe(next);
            expect(frame.length).toBeGreaterThan(BATCH_BYTES - 1000);
            next++;
            if (next > REQUESTS) resolve();
          });
        } catch (e) {
          reject(e);
        }
      });
    });
    socket.resume();
    await done;
    socket.destroy();
  });

  it('closes a connection idle for connections.max.idle.ms, not one in use', async () => {
    const idle = await RawClient.connect(broker.port);
    const busy = await RawClient.connect(broker.port);
    const started = Date.now();
    // Bounded: about 2.5 s of requests every 300 ms.
    while (Date.now() - started < 2500) {
      await busy.send(ApiVersionsApi, 3, { clientSoftwareName: 'busy', clientSoftwareVersion: '1' });
      await sleep(300);
    }
    expect(idle.isClosed).toBe(true);
    expect(busy.isClosed).toBe(false);
    expect(await closedWithin(busy, 100)).toBe(false);
    busy.close();
  });
});
