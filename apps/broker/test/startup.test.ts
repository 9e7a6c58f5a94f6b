// The built `sluice` entry (dist/cli.js, what `npm start`, the benchmarks and users run): one bundled
// file (dist/cli-bundle.cjs, compiled by dist/cli.js with the code cache the build made) that starts
// a broker from any working directory, loads its native addons (CRC-32C, mmap) at run time, serves
// Prometheus when asked to, and restarts on its own data.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { buildRecordBatchSync, MetadataApi, ProduceApi, ZERO_UUID } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { builtCli, freePort, RawClient, readPartition, spawnBroker, tempDir } from './helpers.js';

async function produce(port: number, topic: string, values: string[]): Promise<void> {
  const raw = await RawClient.connect(port);
  try {
    await raw.send(MetadataApi, 9, { topics: [{ topicId: ZERO_UUID, name: topic }], allowAutoTopicCreation: true });
    const records = buildRecordBatchSync({ records: values.map((value) => ({ value })) });
    const res = await raw.send(ProduceApi, 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, topicId: ZERO_UUID, partitionData: [{ index: 0, records }] }],
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
    const bundle = readFileSync(new URL('cli-bundle.cjs', pathToFileURL(builtCli())), 'utf8');
    expect(bundle).not.toMatch(/(?:require|import)\(\s*['"]\.\.?\//);
  });

  // What loading the entry costs at start-up: V8 takes the build's code cache for the bundle, and
  // no etcd client (gRPC, .proto files parsed at load) is loaded while no etcd store is open.
  it('compiles its bundle from the code cache and loads no etcd client', () => {
    const probe = `
      import { createRequire } from 'node:module';
      const entry = await import(${JSON.stringify(pathToFileURL(builtCli()).href)});
      const cached = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({ codeCache: entry.codeCache, etcd3: cached.filter((f) => /[\\/]etcd3[\\/]/.test(f)) }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ codeCache: 'used', etcd3: [] });
  });

  // The bundle runs as a vm.Script, which has no import() of its own: @sluice/console, an ES module
  // loaded by name, comes through dist/cli.js's import(), also where require() cannot load an ES
  // module (Node 20 before 20.19, emulated here by turning require(esm) off).
  it('loads @sluice/console by name without require() of an ES module', () => {
    const r = spawnSync(process.execPath, ['--no-experimental-require-module', builtCli(), 'console', '--help'], {
      encoding: 'utf8',
    });
    expect(r.stderr).not.toMatch(/not installed or built/);
    expect(r.stdout).toMatch(/^Usage: sluice console/);
  });

  it('prints its version from any working directory', () => {
    const r = spawnSync(process.execPath, [builtCli(), '--version'], { cwd: tempDir('sluice-cwd-'), encoding: 'utf8' });
    expect(r.status).toBe(0);
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    // An unreleased build says so after the version (every package is 0.0.0 until a release).
    expect(r.stdout.trim().split(' ')[0]).toBe(pkg.version);
  });

  it('starts, stores and serves records, stops with 0 and restarts on the same data', async () => {
    const dataDir = tempDir('sluice-built-');
    // log.io=mmap (not the default): the mmap addon is loaded and used by the bundle too.
    const first = await spawnBroker({ built: true, dataDir, overrides: { 'log.io': 'mmap' } });
    await produce(first.port, 'built', ['one', 'two', 'three']);
    expect(await first.kill()).toBe(0);

    const second = await spawnBroker({ built: true, dataDir, overrides: { 'log.io': 'mmap' } });
    try {
      const raw = await RawClient.connect(second.port);
      const got = await readPartition(raw, 'built', 0);
      raw.close();
      expect(got.map((r) => r.value?.toString())).toEqual(['one', 'two', 'three']);
    } finally {
      expect(await second.kill()).toBe(0);
    }
  });

  it('loads the Prometheus endpoint when metrics.port is set', async () => {
    const metricsPort = await freePort();
    const broker = await spawnBroker({ built: true, overrides: { 'metrics.port': String(metricsPort) } });
    try {
      await produce(broker.port, 'metered', ['x']);
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(text).toMatch(/sluice_requests_total\{api="Produce",version="9"\} 1/);
    } finally {
      expect(await broker.kill()).toBe(0);
    }
  });
});
