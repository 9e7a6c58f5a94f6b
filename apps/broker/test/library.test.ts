// The broker as a library: startBroker() with no options runs on an ephemeral port with a
// temporary data directory of its own, which stop() removes; a given directory is left alone.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiVersionsApi, DescribeConfigsApi, InitProducerIdApi, MetadataApi } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { RawClient, tempDir } from './helpers.js';

const logger = createLogger('silent');

describe('startBroker as a library', () => {
  it('starts on an ephemeral port in a temporary directory, and removes that directory at stop', async () => {
    const started = performance.now();
    const broker = await startBroker({ logger });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(broker.port).toBeGreaterThan(0);
    expect(existsSync(broker.dataDir)).toBe(true);
    const raw = await RawClient.connect(broker.port);
    expect(
      (await raw.send(ApiVersionsApi, 3, { clientSoftwareName: 'lib', clientSoftwareVersion: '1' })).errorCode,
    ).toBe(0);
    raw.close();
    await broker.stop();
    expect(existsSync(broker.dataDir)).toBe(false);
  });

  it('keeps a data directory it was given', async () => {
    const dir = tempDir('sluice-library-');
    const broker = await startBroker({ props: { 'log.dirs': dir }, logger });
    await broker.stop();
    expect(existsSync(dir)).toBe(true);
    expect(existsSync(`${dir}/sluice-cluster-metadata.json`)).toBe(true);
  });

  it('opens a metadata file written before @sluice/cluster: topics, configs and producer ids carry over', async () => {
    const dir = tempDir('sluice-library-');
    const topicId = '3f2b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    writeFileSync(
      `${dir}/sluice-cluster-metadata.json`,
      JSON.stringify({
        version: 1,
        clusterId: 'AAAAAAAAAAAAAAAAAAAAAA',
        topics: [{ name: 'old', topicId, partitions: 3 }],
        configs: { dynamicBroker: {}, dynamicDefault: {}, topics: { old: { 'retention.ms': '12345' } } },
        nextProducerId: '7000',
      }),
    );
    const broker = await startBroker({ props: { 'log.dirs': dir }, logger });
    try {
      expect(broker.clusterId).toBe('AAAAAAAAAAAAAAAAAAAAAA');
      const raw = await RawClient.connect(broker.port);
      const md = await raw.send(MetadataApi, 12, {
        topics: [{ name: 'old', topicId: '00000000-0000-0000-0000-000000000000' }],
        allowAutoTopicCreation: false,
        includeTopicAuthorizedOperations: false,
      });
      expect(md.topics[0].errorCode).toBe(0);
      expect(md.topics[0].topicId).toBe(topicId);
      expect(md.topics[0].partitions.map((p) => p.leaderId)).toEqual([1, 1, 1]);
      const described = await raw.send(DescribeConfigsApi, 4, {
        resources: [{ resourceType: 2, resourceName: 'old', configurationKeys: ['retention.ms'] }],
        includeSynonyms: false,
        includeDocumentation: false,
      });
      expect(described.results[0].configs[0].value).toBe('12345');
      const pid = await raw.send(InitProducerIdApi, 4, {
        transactionalId: null,
        transactionTimeoutMs: 60000,
        producerId: -1n,
        producerEpoch: -1,
      });
      expect(pid.errorCode).toBe(0);
      expect(pid.producerId).toBeGreaterThanOrEqual(7000n);
      raw.close();
    } finally {
      await broker.stop();
    }
    const saved = JSON.parse(readFileSync(`${dir}/sluice-cluster-metadata.json`, 'utf8'));
    expect(saved.version).toBe(1);
    expect(saved.topics[0]).toMatchObject({ name: 'old', topicId, partitions: 3 });
    expect(saved.configs.topics.old).toEqual({ 'retention.ms': '12345' });
    expect(BigInt(saved.nextProducerId)).toBeGreaterThan(7000n);
  });
});

describe('startBroker logging', () => {
  it('writes nothing to stdout or stderr without a logger', async () => {
    // A child process, so that every write to fd 1 and 2 is seen (pino writes there synchronously).
    const script = [
      "import { startBroker } from './apps/broker/src/index.ts';",
      "import { createConnection } from 'node:net';",
      'const b = await startBroker();',
      // A malformed frame makes the broker close the connection, which it logs when it logs at all.
      "const s = createConnection({ host: '127.0.0.1', port: b.port });",
      "await new Promise((r) => s.on('connect', () => s.write(Buffer.from([0, 0, 0, 4, 0x7a, 0xbc, 0, 0]))).on('close', r));",
      'await b.stop();',
    ].join('\n');
    const out = spawnSync(
      process.execPath,
      ['--conditions=sluice-source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('../../../', import.meta.url)), encoding: 'utf8', timeout: 30_000 },
    );
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe('');
  });

  it('hands each line to a logger that is not pino as (fields, message)', async () => {
    const lines: { level: string; fields: Record<string, unknown>; msg?: string }[] = [];
    const collect = (level: string) => (fields: Record<string, unknown>, msg?: string) =>
      lines.push({ level, fields, msg });
    const broker = await startBroker({
      logger: { error: collect('error'), warn: collect('warn'), info: collect('info') },
    });
    const raw = await RawClient.connect(broker.port);
    raw.writeRaw(Buffer.from([0, 0, 0, 4, 0x7a, 0xbc, 0, 0]));
    await raw.closed;
    await broker.stop();
    const started = lines.find((l) => l.msg === 'Sluice broker started');
    expect(started?.level).toBe('info');
    expect(started?.fields.port).toBe(broker.port);
    expect(lines.some((l) => l.level === 'info' && /closing connection/.test(l.msg ?? ''))).toBe(true);
    expect(lines.at(-1)?.msg).toBe('Sluice broker stopped');
  });
});
