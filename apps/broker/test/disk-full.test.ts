// A full disk, injected at the file-system calls the log and the metadata store write through
// (fs.writeSync, fs.writeFileSync): the data dir goes offline with one log line, writes are
// answered with KAFKA_STORAGE_ERROR, reads go on, it comes back once a probe write succeeds, and
// a broker started on a full disk starts read-only.

import fs from 'node:fs';
import {
  buildRecordBatchSync,
  CreateTopicsApi,
  ERROR_CODES,
  FindCoordinatorApi,
  InitProducerIdApi,
  OffsetCommitApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { closedWithin, RawClient, readPartition, sleep, tempDir } from './helpers.js';

let diskFull = false;
const enospc = () =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
const realWriteSync = fs.writeSync.bind(fs) as (...args: unknown[]) => number;
const realWriteFileSync = fs.writeFileSync.bind(fs) as (...args: unknown[]) => void;

beforeAll(() => {
  // Descriptors 1 and 2 (stdout, stderr) keep working, as they would on a full data disk.
  vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
    if (diskFull && fd > 2) throw enospc();
    return realWriteSync(fd, ...rest);
  }) as typeof fs.writeSync);
  vi.spyOn(fs, 'writeFileSync').mockImplementation(((file: unknown, ...rest: unknown[]) => {
    if (diskFull && file !== 1 && file !== 2) throw enospc();
    return realWriteFileSync(file, ...rest);
  }) as typeof fs.writeFileSync);
});
afterAll(() => {
  vi.restoreAllMocks();
});

const brokers: RunningBroker[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  diskFull = false;
  for (const c of clients.splice(0)) c.close();
  for (const b of brokers.splice(0)) await b.stop();
});

interface Line {
  level: string;
  msg: string;
}

async function start(dataDir: string, lines: Line[]): Promise<{ broker: RunningBroker; client: RawClient }> {
  const broker = await startBroker({
    props: { 'log.dirs': dataDir, 'num.partitions': '1' },
    logger: createLogger('info', { destination: { write: (l: string) => lines.push(JSON.parse(l) as Line) } }),
  });
  brokers.push(broker);
  const client = await RawClient.connect(broker.port);
  clients.push(client);
  return { broker, client };
}

async function produce(
  client: RawClient,
  topic: string,
  value: string,
): Promise<{ errorCode: number; baseOffset: bigint }> {
  const r = await client.send(ProduceApi, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [
      {
        name: topic,
        topicId: ZERO_UUID,
        partitionData: [{ index: 0, records: buildRecordBatchSync({ records: [{ value }] }) }],
      },
    ],
  });
  return r.responses[0].partitionResponses[0];
}

async function createTopic(client: RawClient, name: string): Promise<number> {
  const r = await client.send(CreateTopicsApi, 5, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  return r.topics[0].errorCode;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(20);
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

const offlineLines = (lines: Line[]) => lines.filter((l) => / is offline: ENOSPC/.test(l.msg));

describe('a full disk', () => {
  it('takes the log dir offline with one line: KAFKA_STORAGE_ERROR to writes, reads go on, back when space returns', async () => {
    const lines: Line[] = [];
    const { client } = await start(tempDir('sluice-full-'), lines);
    expect(await createTopic(client, 'd')).toBe(0);
    expect((await produce(client, 'd', 'before')).errorCode).toBe(0);

    diskFull = true;
    for (let i = 0; i < 50; i++) {
      expect((await produce(client, 'd', `during-${i}`)).errorCode).toBe(ERROR_CODES.KAFKA_STORAGE_ERROR);
    }
    expect(await createTopic(client, 'e')).toBe(ERROR_CODES.KAFKA_STORAGE_ERROR);
    // Creating __consumer_offsets fails: FindCoordinator is answered (retriable), not a closed connection.
    const fc = await client.send(FindCoordinatorApi, 3, { key: 'g', keyType: 0, coordinatorKeys: [] });
    expect(fc.errorCode).toBe(ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
    const pid = await client.send(InitProducerIdApi, 4, { transactionalId: null, transactionTimeoutMs: 60000 });
    expect(pid.errorCode === ERROR_CODES.NONE || pid.errorCode === ERROR_CODES.COORDINATOR_NOT_AVAILABLE).toBe(true);
    expect(await closedWithin(client, 50)).toBe(false);
    // Reads are served from what is on disk.
    const records = await readPartition(client, 'd', 0);
    expect(records.map((r) => r.value?.toString())).toEqual(['before']);
    // One line for the whole episode: no stack trace per write.
    expect(offlineLines(lines)).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'append failed')).toBe(false);

    diskFull = false;
    await until(() => lines.some((l) => / is back online/.test(l.msg)), 'the log dir back online');
    const after = await produce(client, 'd', 'after');
    expect(after.errorCode).toBe(0);
    expect(after.baseOffset).toBe(1n);
    expect(await createTopic(client, 'e')).toBe(0);
    expect(fc.errorCode).toBe(ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
    const fc2 = await client.send(FindCoordinatorApi, 3, { key: 'g', keyType: 0, coordinatorKeys: [] });
    expect(fc2.errorCode).toBe(0);
    expect((await readPartition(client, 'd', 0)).map((r) => r.value?.toString())).toEqual(['before', 'after']);
  });

  it('answers an offset commit COORDINATOR_NOT_AVAILABLE, adding no log line per commit', async () => {
    const lines: Line[] = [];
    const { client } = await start(tempDir('sluice-full-'), lines);
    expect(await createTopic(client, 'c')).toBe(0);
    // The offsets topic exists before the disk fills.
    expect((await client.send(FindCoordinatorApi, 3, { key: 'g', keyType: 0, coordinatorKeys: [] })).errorCode).toBe(0);
    const commit = (offset: bigint) =>
      client.send(OffsetCommitApi, 8, {
        groupId: 'g',
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1n,
        topics: [
          {
            name: 'c',
            topicId: ZERO_UUID,
            partitions: [
              {
                partitionIndex: 0,
                committedOffset: offset,
                committedLeaderEpoch: -1,
                committedMetadata: null,
              },
            ],
          },
        ],
      });
    expect((await commit(1n)).topics[0].partitions[0].errorCode).toBe(0);
    diskFull = true;
    for (let i = 0; i < 20; i++) {
      const r = await commit(2n);
      expect(r.topics[0].partitions[0].errorCode).toBe(ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
    }
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(offlineLines(lines)).toHaveLength(1);
  });

  it('lets a broker stop and start again read-only, and take writes once space returns', async () => {
    const dataDir = tempDir('sluice-full-');
    const lines: Line[] = [];
    const first = await start(dataDir, lines);
    expect(await createTopic(first.client, 'r')).toBe(0);
    for (let i = 0; i < 3; i++) expect((await produce(first.client, 'r', `v${i}`)).errorCode).toBe(0);
    diskFull = true;
    first.client.close();
    await first.broker.stop();
    brokers.splice(brokers.indexOf(first.broker), 1);

    const again: Line[] = [];
    const { client } = await start(dataDir, again);
    expect(offlineLines(again)).toHaveLength(1);
    expect((await readPartition(client, 'r', 0)).map((r) => r.value?.toString())).toEqual(['v0', 'v1', 'v2']);
    expect((await produce(client, 'r', 'v3')).errorCode).toBe(ERROR_CODES.KAFKA_STORAGE_ERROR);
    diskFull = false;
    await until(() => again.some((l) => / is back online/.test(l.msg)), 'the log dir back online');
    const r = await produce(client, 'r', 'v3');
    expect(r.errorCode).toBe(0);
    expect(r.baseOffset).toBe(3n);
  });
});
