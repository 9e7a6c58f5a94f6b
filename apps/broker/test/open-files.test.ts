// A broker under a low open-file limit (ulimit -n): each partition costs about one descriptor (its
// active segment's log), a topic that does not fit is refused whole with a retriable error and
// leaves nothing behind, running out of descriptors on accept does not stop the broker from
// accepting once descriptors are free again, and it restarts on its data.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ApiVersionsApi, CreateTopicsApi, MetadataApi, ZERO_UUID } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { type BrokerProcess, RawClient, sleep, spawnBroker, tempDir } from './helpers.js';

const LIMIT = 256;
const FITS = 150; // 3 descriptors a partition (log and both indexes) would need 450
const TOO_MANY = 400;

async function createTopic(client: RawClient, name: string, numPartitions: number) {
  const res = await client.send(CreateTopicsApi, 7, {
    topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 30_000,
  });
  return res.topics[0];
}

async function partitionCount(client: RawClient, name: string): Promise<number | null> {
  const res = await client.send(MetadataApi, 9, {
    topics: [{ topicId: ZERO_UUID, name }],
    allowAutoTopicCreation: false,
  });
  const t = res.topics[0];
  return t.errorCode === 0 ? t.partitions.length : null;
}

async function answers(port: number): Promise<boolean> {
  const c = await RawClient.connect(port);
  try {
    const r = await c.send(ApiVersionsApi, 3, { clientSoftwareName: 'probe', clientSoftwareVersion: '1' });
    return r.errorCode === 0;
  } finally {
    c.close();
  }
}

const partitionDirs = (broker: BrokerProcess, topic: string) =>
  fs.readdirSync(broker.dataDir).filter((d) => d.startsWith(`${topic}-`));

describe.runIf(process.platform === 'linux')(`a broker under ulimit -n ${LIMIT}`, () => {
  it('holds a partition per descriptor, refuses a topic that does not fit whole, keeps accepting, restarts', async () => {
    const dataDir = tempDir('sluice-nofile-');
    let broker = await spawnBroker({ dataDir, openFileLimit: LIMIT });
    try {
      const admin = await RawClient.connect(broker.port);
      expect((await createTopic(admin, 'fits', FITS)).errorCode).toBe(0);
      expect(await partitionCount(admin, 'fits')).toBe(FITS);

      const refused = await createTopic(admin, 'too-big', TOO_MANY);
      // KAFKA_STORAGE_ERROR: retriable, saying what to do.
      expect(refused.errorCode).toBe(56);
      expect(refused.errorMessage).toMatch(/ulimit -n/);
      // Nothing of it is kept: not in the metadata, no directory.
      expect(await partitionCount(admin, 'too-big')).toBeNull();
      expect(partitionDirs(broker, 'too-big')).toEqual([]);
      expect(fs.readFileSync(path.join(dataDir, 'sluice-cluster-metadata.json'), 'utf8')).not.toContain('too-big');

      // More connections than descriptors left: the accepts that fail must not stop the broker.
      const sockets: net.Socket[] = [];
      for (let i = 0; i < 300; i++) {
        const s = net.connect(broker.port, '127.0.0.1');
        s.on('error', () => {});
        sockets.push(s);
      }
      await sleep(1000);
      for (const s of sockets) s.destroy();
      await sleep(300);
      expect(broker.child.exitCode).toBeNull();
      expect(await answers(broker.port)).toBe(true);
      // The refused topic fits once there is room: the error was worth retrying.
      expect((await createTopic(admin, 'after', 20)).errorCode).toBe(0);
      admin.close();

      expect(await broker.kill()).toBe(0);
      broker = await spawnBroker({ dataDir, openFileLimit: LIMIT });
      const again = await RawClient.connect(broker.port);
      expect(await partitionCount(again, 'fits')).toBe(FITS);
      expect(await partitionCount(again, 'after')).toBe(20);
      expect(await partitionCount(again, 'too-big')).toBeNull();
      again.close();
    } finally {
      await broker.kill();
    }
  }, 120_000);
});
