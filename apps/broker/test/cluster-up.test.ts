// `sluice cluster up` (a local etcd and N broker processes that form one cluster, stopped together)
// and `sluice cluster status`.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MetadataApi } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { CLI, RawClient, tempDir } from './helpers.js';

describe('sluice cluster up', () => {
  it(
    'starts 2 brokers on one etcd, prints the bootstrap, reports status, and stops everything on SIGINT',
    // Three tsx start-ups (the cluster's two brokers and `cluster status`): slow on a loaded 2-core machine.
    { timeout: 180_000 },
    async () => {
      const dir = tempDir('sluice-cluster-up-');
      const child = spawn(
        process.execPath,
        [
          '--conditions=sluice-source',
          '--import',
          'tsx',
          CLI,
          'cluster',
          'up',
          '--brokers',
          '2',
          '--port',
          '0',
          '--dir',
          dir,
        ],
        { env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
      });
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const bootstrap = await new Promise<string>((resolveLine, reject) => {
        const timer = setTimeout(() => reject(new Error(`no bootstrap line; stdout=${out} stderr=${err}`)), 60_000);
        child.stdout.on('data', (d) => {
          out += d;
          const m = /^bootstrap: (\S+)$/m.exec(out);
          if (m) {
            clearTimeout(timer);
            resolveLine(m[1]);
          }
        });
        void exited.then((code) => reject(new Error(`exited with ${code}: ${err}`)));
      });
      const addresses = bootstrap.split(',');
      expect(addresses).toHaveLength(2);
      try {
        // Both brokers list each other (registration reaches the other broker through etcd's watch).
        for (const address of addresses) {
          const raw = await RawClient.connect(Number(address.split(':')[1]));
          let brokers: number[] = [];
          for (const deadline = Date.now() + 30_000; brokers.length < 2 && Date.now() < deadline; ) {
            const md = await raw.send(MetadataApi, 12, {
              topics: [],
              allowAutoTopicCreation: false,
              includeTopicAuthorizedOperations: false,
            });
            brokers = md.brokers.map((b) => b.nodeId);
            if (brokers.length < 2) await new Promise((r) => setTimeout(r, 100));
          }
          raw.close();
          expect(brokers).toEqual([1, 2]);
        }
        const status = spawnSync(
          process.execPath,
          ['--conditions=sluice-source', '--import', 'tsx', CLI, 'cluster', 'status', '-b', bootstrap],
          { encoding: 'utf8', timeout: 60_000 },
        );
        expect(status.status).toBe(0);
        expect(status.stdout).toMatch(/^Cluster: \S+\tController: [12]$/m);
        expect(status.stdout).toContain(`Broker: 1\t${addresses[0]}`);
        expect(status.stdout).toContain(`Broker: 2\t${addresses[1]}`);
        expect(status.stdout).toMatch(/Without leader: 0\tUnder-replicated: 0/);
      } finally {
        child.kill('SIGINT');
      }
      expect(await exited).toBe(0);
      expect(existsSync(join(dir, 'broker-1', 'sluice-cluster-metadata.json'))).toBe(false);
      expect(existsSync(join(dir, 'broker-2.log'))).toBe(true);
    },
  );
});
