// `sluice transactions list|describe` as a real process (the built bin, as cli-client.test.ts runs it)
// against a broker holding an open and a committed transaction.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { builtCli, startInProcess } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));
const { Kafka, logLevel } = kafkajs;

let broker: RunningBroker;
beforeAll(async () => {
  builtCli();
  broker = await startInProcess({ 'transaction.state.log.num.partitions': '2' });
});
afterAll(async () => {
  await broker?.stop();
});

function sluice(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--bootstrap-server', broker.bootstrap], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('sluice transactions', () => {
  it('lists transactions by state and describes one', async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const open = kafka.producer({ transactionalId: 'cli-open', maxInFlightRequests: 1, idempotent: true });
    await open.connect();
    const tx = await open.transaction();
    await tx.send({ topic: 'cli-txn', messages: [{ value: 'x' }] });

    const all = await sluice(['transactions', 'list']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^cli-open\t\d+\tOngoing$/m);
    expect((await sluice(['transactions', 'list', '--state', 'CompleteCommit'])).stdout).toBe('');
    const described = await sluice(['transactions', 'describe', 'cli-open']);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^state: Ongoing$/m);
    expect(described.stdout).toMatch(/^partitions: cli-txn-0$/m);
    const missing = await sluice(['transactions', 'describe', 'nobody']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Transactional id 'nobody' does not exist/);
    await tx.abort();
    await open.disconnect();
  });
});
