// queued.max.request.bytes end to end: a broker whose budget is far below one request still answers
// every pipelined request from several connections, in order, and stores every record once.

import { buildRecordBatchSync, CreateTopicsApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigException } from '../src/config/types.js';
import type { RunningBroker } from '../src/index.js';
import { RawClient, readPartition, startInProcess, tempDir } from './helpers.js';

const brokers: RunningBroker[] = [];
afterAll(async () => {
  for (const b of brokers) await b.stop();
});

describe('queued.max.request.bytes', () => {
  it('admits one request at a time past a tiny budget without losing or reordering any', async () => {
    const broker = await startInProcess({ 'log.dirs': tempDir('sluice-queued-'), 'queued.max.request.bytes': '1' });
    brokers.push(broker);
    const admin = await RawClient.connect(broker.port);
    await admin.send(CreateTopicsApi, 5, {
      topics: [{ name: 'q', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    admin.close();
    const value = Buffer.alloc(32 * 1024, 7);
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(broker.port)));
    const sends = clients.flatMap((c, ci) =>
      Array.from({ length: 10 }, (_, i) =>
        c.send(ProduceApi, 9, {
          transactionalId: null,
          acks: 1,
          timeoutMs: 5000,
          topicData: [
            {
              name: 'q',
              topicId: ZERO_UUID,
              partitionData: [{ index: 0, records: buildRecordBatchSync({ records: [{ key: `${ci}-${i}`, value }] }) }],
            },
          ],
        }),
      ),
    );
    const answers = await Promise.all(sends);
    for (const a of answers) expect(a.responses[0].partitionResponses[0].errorCode).toBe(0);
    // Each connection's requests were appended in the order it sent them.
    for (let ci = 0; ci < 3; ci++) {
      const offsets = answers.slice(ci * 10, ci * 10 + 10).map((a) => a.responses[0].partitionResponses[0].baseOffset);
      expect([...offsets].sort((x, y) => (x < y ? -1 : 1))).toEqual(offsets);
    }
    const records = await readPartition(clients[0], 'q', 0);
    expect(records).toHaveLength(30);
    for (const c of clients) c.close();
  });

  it('rejects a value below -1', async () => {
    await expect(
      startInProcess({ 'log.dirs': tempDir('sluice-queued-'), 'queued.max.request.bytes': '-2' }),
    ).rejects.toThrow(ConfigException);
  });
});
