// The client commands of `sluice` (topic, produce, consume, group) run as real processes
// against a broker, checking their output and exit codes. They run what npm links as `sluice`
// (bin/sluice.js, which starts the built dist/cli.js: build first, as `npm test` does), which
// also starts in a fifth of the time the sources take under tsx.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Consumer, topic } from '@sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { builtCli, startInProcess, tempDir } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

let broker: RunningBroker;

beforeAll(async () => {
  builtCli(); // fails clearly when nothing is built
  broker = await startInProcess({ 'log.dirs': tempDir('sluice-cli-'), 'group.initial.rebalance.delay.ms': '0' });
});

afterAll(async () => {
  await broker?.stop();
});

function sluice(
  args: string[],
  stdin = '',
  bootstrap: string | null = broker.bootstrap,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [BIN, ...args, ...(bootstrap === null ? [] : ['--bootstrap-server', bootstrap])],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
    child.stdin.end(stdin);
  });
}

describe('sluice client commands', () => {
  it('creates, lists, describes, alters and deletes topics', async () => {
    const created = await sluice(['topic', 'create', 'cli-t', '--partitions', '3', '--config', 'retention.ms=3600000']);
    expect(created).toMatchObject({ code: 0 });
    expect((await sluice(['topic', 'create', 'cli-t'])).code).toBe(1);
    expect((await sluice(['topic', 'list'])).stdout.split('\n')).toContain('cli-t');
    const altered = await sluice(['topic', 'alter', 'cli-t', '--set', 'cleanup.policy=compact', '--partitions', '4']);
    expect(altered.code).toBe(0);
    const described = await sluice(['topic', 'describe', 'cli-t']);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/PartitionCount: 4/);
    expect(described.stdout).toMatch(/retention\.ms=3600000/);
    expect(described.stdout).toMatch(/cleanup\.policy=compact/);
    expect((await sluice(['topic', 'delete', 'cli-t'])).code).toBe(0);
    expect((await sluice(['topic', 'list'])).stdout.split('\n')).not.toContain('cli-t');
    expect((await sluice(['topic', 'delete', 'cli-t'])).code).toBe(1);
  });

  it('produces lines with keys and headers, consumes them back, and a group resets its offsets', async () => {
    expect((await sluice(['topic', 'create', 'cli-p', '--partitions', '2'])).code).toBe(0);
    const lines = Array.from({ length: 50 }, (_, i) => `k${i % 5}:value-${i}`);
    const produced = await sluice(
      ['produce', 'cli-p', '--key-separator', ':', '--header', 'src=cli'],
      `${lines.join('\n')}\n`,
    );
    expect(produced.code).toBe(0);
    expect(produced.stderr).toBe('sent 50 records to cli-p\n');

    const consumed = await sluice(['consume', 'cli-p', '--from-beginning', '--max-messages', '50', '--format', 'json']);
    expect(consumed.code).toBe(0);
    const records = consumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; value: string; partition: number; headers: Record<string, string> });
    expect(records.map((r) => `${r.key}:${r.value}`).sort()).toEqual([...lines].sort());
    expect(records.every((r) => r.headers.src === 'cli')).toBe(true);
    // One key, one partition, and per key the order of the input.
    for (let k = 0; k < 5; k++) {
      const mine = records.filter((r) => r.key === `k${k}`);
      expect(new Set(mine.map((r) => r.partition)).size).toBe(1);
      expect(mine.map((r) => r.value)).toEqual(lines.filter((l) => l.startsWith(`k${k}:`)).map((l) => l.slice(3)));
    }

    const inGroup = await sluice(['consume', 'cli-p', '--group', 'cli-g', '--from-beginning', '--timeout-ms', '1500']);
    expect(inGroup.code).toBe(0);
    expect(inGroup.stdout.trim().split('\n')).toHaveLength(50);
    expect(inGroup.stderr).toMatch(/Processed a total of 50 messages/);

    const listed = await sluice(['group', 'list']);
    expect(listed.stdout).toMatch(/^cli-g\tEmpty\tconsumer$/m);
    const described = await sluice(['group', 'describe', 'cli-g']);
    expect(described.stdout).toMatch(/cli-p\s+0\s+\d+\s+\d+\s+0\s/);

    const dryRun = await sluice(['group', 'reset-offsets', 'cli-g', '--topic', 'cli-p', '--to-earliest']);
    expect(dryRun.stdout).toMatch(/Dry run/);
    expect((await sluice(['group', 'describe', 'cli-g'])).stdout).not.toMatch(/cli-p\s+\d\s+0\s+[1-9]/);
    const reset = await sluice(['group', 'reset-offsets', 'cli-g', '--topic', 'cli-p', '--to-earliest', '--execute']);
    expect(reset.code).toBe(0);
    const again = await sluice(['consume', 'cli-p', '--group', 'cli-g', '--timeout-ms', '1500']);
    expect(again.stdout.trim().split('\n')).toHaveLength(50);
  });

  it('exits 2 on a usage error and 1 when the cluster cannot be reached', async () => {
    expect((await sluice(['produce'])).code).toBe(2);
    const unreachable = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'topic', 'list', '--bootstrap-server', '127.0.0.1:1'], {
        stdio: 'ignore',
      });
      child.once('exit', resolve);
    });
    expect(unreachable).toBe(1);
  });

  it('describes a Stable group that has committed nothing with every assigned partition, lag "-"', async () => {
    expect((await sluice(['topic', 'create', 'cli-d', '--partitions', '2'])).code).toBe(0);
    expect((await sluice(['produce', 'cli-d', '--partition', '1'], 'a\nb\nc\n')).code).toBe(0);
    let assigned!: () => void;
    const isAssigned = new Promise<void>((resolve) => {
      assigned = resolve;
    });
    const member = new Consumer(
      { brokers: [broker.bootstrap] },
      { groupId: 'cli-dg', autoCommit: false, onRebalance: { assigned: () => assigned() } },
    );
    const reading = (async () => {
      for await (const _ of member.records(topic('cli-d'))) {
        // Reads without committing.
      }
    })();
    try {
      await isAssigned;
      const memberId = member.groupMetadata()?.memberId as string;
      const described = await sluice(['group', 'describe', 'cli-dg']);
      expect(described.code).toBe(0);
      expect(described.stdout).toMatch(/is Stable with 1 member/);
      const rows = described.stdout.split('\n').filter((l) => l.startsWith('cli-d '));
      expect(rows.map((r) => r.split(/\s+/))).toEqual([
        ['cli-d', '0', '-', '0', '-', memberId],
        ['cli-d', '1', '-', '3', '-', memberId],
      ]);
    } finally {
      await member.close();
      await reading;
    }
  });

  it('exits 2 on every usage error, before connecting', async () => {
    const cases = [
      ['topic', 'list', '-b', 'nonsense'],
      ['topic', 'list', '-b', '127.0.0.1:99999'],
      ['topic', 'list', '-b', '127.0.0.1:9092,:'],
      ['group', 'reset-offsets', 'g', '--topic', 't', '-b', '127.0.0.1:1'],
      ['group', 'reset-offsets', 'g', '--topic', 't', '--to-earliest', '--to-latest', '-b', '127.0.0.1:1'],
      ['group', 'reset-offsets', 'g', '--topic', 't', '--to-datetime', 'yesterday', '-b', '127.0.0.1:1'],
    ];
    const results = await Promise.all(cases.map((args) => sluice(args, '', null)));
    results.forEach((r, i) => {
      expect({ args: cases[i], code: r.code }).toEqual({ args: cases[i], code: 2 });
      expect(r.stderr).not.toMatch(/ECONNREFUSED|cannot reach/);
    });
    expect((await sluice(['topic', 'list', '-b', 'nonsense'], '', null)).stderr).toMatch(
      /expected host:port, got 'nonsense'/,
    );
    expect((await sluice(['group', 'reset-offsets', 'g', '--topic', 't'], '', null)).stderr).toMatch(
      /give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime/,
    );
  });

  it('names a missing topic or group and exits 1', async () => {
    const cases = [
      ['topic', 'describe', 'nosuch'],
      ['topic', 'delete', 'nosuch'],
      ['topic', 'alter', 'nosuch', '--partitions', '3'],
      ['consume', 'nosuch', '--timeout-ms', '1000'],
      ['consume', 'nosuch', '--group', 'g-nosuch', '--timeout-ms', '1000'],
      ['group', 'reset-offsets', 'g-nosuch', '--topic', 'nosuch', '--to-earliest'],
    ];
    const results = await Promise.all(cases.map((args) => sluice(args)));
    results.forEach((r, i) => {
      expect({ args: cases[i], code: r.code, stderr: r.stderr }).toEqual({
        args: cases[i],
        code: 1,
        stderr: "sluice: topic 'nosuch' does not exist\n",
      });
    });
    const group = await sluice(['group', 'describe', 'nosuch']);
    expect(group).toMatchObject({ code: 1, stdout: '', stderr: "sluice: Consumer group 'nosuch' does not exist.\n" });
  });

  it('reports an unreachable cluster at once instead of retrying silently', async () => {
    for (const args of [
      ['group', 'describe', 'g'],
      ['topic', 'list'],
      ['produce', 't'],
      ['consume', 't'],
    ]) {
      const r = await sluice(args, 'a\n', '127.0.0.1:1');
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(/^sluice: cannot reach the cluster: 127\.0\.0\.1:1: connect ECONNREFUSED/);
      // Without the up-front check `group describe` took 18 s here (nested retries); a generous bound.
      expect(r.ms).toBeLessThan(10_000);
    }
  });

  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const r = await sluice(['--version'], '', null);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      version === '0.0.0' ? '0.0.0 (unreleased: built from a clone of the repository)\n' : `${version}\n`,
    );
  });
});
