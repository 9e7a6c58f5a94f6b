// The built `sluice` entry (dist/cli.js, what `npm start`, the benchmarks and users run): one bundled
// file that starts a broker from any working directory, loads its native addons (CRC-32C, mmap) at
// run time, serves Prometheus when asked to, and restarts on its own data.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildRecordBatchSync, MetadataApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { freePort, RawClient, readPartition, tempDir } from './helpers.js';

const DIST_CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function builtCli(): string {
  if (!existsSync(DIST_CLI)) throw new Error(`${DIST_CLI} is missing: build first (npm run build)`);
  return DIST_CLI;
}

/** Spawns the built CLI from an unrelated working directory; resolves with the port from its 'listening' line. */
async function startBuilt(dataDir: string, extra: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [builtCli(), 'broker', '--port', '0', '--data-dir', dataDir, ...extra], {
    cwd: tempDir('sluice-cwd-'),
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening' line: ${out}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /"port":(\d+),"msg":"listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited early with ${code}: ${out}`));
    });
  });
  return { child, port };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  return code as number | null;
}

async function produce(port: number, topic: string, values: string[]): Promise<void> {
  const raw = await RawClient.connect(port);
  try {
    await raw.send(MetadataApi, 9, { topics: [{ topicId: ZERO_UUID, name: topic }], allowAutoTopicCreation: true });
    const records = buildRecordBatchSync({ records: values.map((value) => ({ value })) });
    const res = await raw.send(ProduceApi, 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
    });
    expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
  } finally {
    raw.close();
  }
}

describe('the built sluice entry (dist/cli.js)', () => {
  it('is one bundled file: it imports no module of its own by relative path', () => {
    const src = readFileSync(builtCli(), 'utf8');
    expect(src.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(src).not.toMatch(/(?:from|import\()\s*['"]\.\.?\//);
  });

  it('prints its version from any working directory', () => {
    const r = spawnSync(process.execPath, [builtCli(), '--version'], { cwd: tempDir('sluice-cwd-'), encoding: 'utf8' });
    expect(r.status).toBe(0);
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('starts, stores and serves records, stops with 0 and restarts on the same data', async () => {
    const data = tempDir('sluice-built-');
    const first = await startBuilt(data);
    await produce(first.port, 'built', ['one', 'two', 'three']);
    expect(await stop(first.child)).toBe(0);

    const second = await startBuilt(data);
    try {
      const raw = await RawClient.connect(second.port);
      const got = await readPartition(raw, 'built', 0);
      raw.close();
      expect(got.map((r) => r.value?.toString())).toEqual(['one', 'two', 'three']);
    } finally {
      expect(await stop(second.child)).toBe(0);
    }
  });

  it('loads the Prometheus endpoint when metrics.port is set', async () => {
    const metricsPort = await freePort();
    const { child, port } = await startBuilt(tempDir('sluice-built-'), ['--override', `metrics.port=${metricsPort}`]);
    try {
      await produce(port, 'metered', ['x']);
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(text).toMatch(/sluice_requests_total\{api="Produce",version="9"\} 1/);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });
});
