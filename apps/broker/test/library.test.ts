// The broker as a library: startBroker() with no options runs on an ephemeral port with a
// temporary data directory of its own, which stop() removes; a given directory is left alone.

import { existsSync } from 'node:fs';
import { ApiVersionsApi } from '@sluice/protocol';
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
});
