import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, startKafka, startSluice } from './brokers.js';

// librdkafka's transactional producer and read_committed consumer (confluent-kafka-python, unmodified,
// from the client matrix's venv: clients/setup.sh) against Sluice: commit, abort, fencing by a second
// producer of the same transactional id, and consume-transform-produce with offsets in the transaction.
// franz-go's GroupTransactSession (clients/go-txn, built here from the matrix's pinned modules): an ETL
// in one group whose members join and leave while it copies, every record exactly once.
// The same program runs against Apache Kafka as the oracle: both answers must agree. Run with
// `npm run test:conformance`.

const python = join(homedir(), '.cache', 'sluice', 'py-clients', 'bin', 'python');
const script = join(repoRoot, 'test', 'conformance', 'clients', 'python', 'txn_confluent.py');

function run(
  args: string[],
  timeoutMs = 120_000,
  command = python,
  cwd = repoRoot,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args[0]} did not finish in ${timeoutMs} ms: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 4 << 20) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1 << 20) stderr += d.toString();
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let sluice: BrokerUnderTest | undefined;
let kafka: BrokerUnderTest | undefined;
beforeAll(async () => {
  [sluice, kafka] = await Promise.all([startSluice(), startKafka()]);
}, 240_000);
afterAll(async () => {
  await Promise.all([sluice?.stop(), kafka?.stop()]);
});

interface Outcome {
  readCommitted: string[];
  readUncommitted: string[];
  output: string[];
  fenced: { name: string; fatal: boolean } | null;
  groupOffset: number;
  lastInputOffset: number;
}

async function outcome(broker: BrokerUnderTest): Promise<Outcome> {
  const r = await run([script, broker.bootstrap, 'txn-rdkafka']);
  expect(r.code, r.stderr.slice(-4000)).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Outcome;
}

describe('confluent-kafka (librdkafka) transactions against Sluice', () => {
  it('commit, abort, fencing and consume-transform-produce behave as on Kafka', async () => {
    const [out, oracle] = await Promise.all([outcome(sluice!), outcome(kafka!)]);
    const committed = [
      ...Array.from({ length: 100 }, (_, i) => `c-${i}`),
      ...Array.from({ length: 10 }, (_, i) => `d-${i}`),
    ];
    expect(out.readCommitted).toEqual(committed);
    // read_uncommitted sees the aborted records and the fenced producer's too.
    expect(out.readUncommitted).toHaveLength(161);
    expect(out.readUncommitted).toContain('a-0');
    expect(out.readUncommitted).toContain('zombie');
    expect(out.fenced).toMatchObject({ fatal: true });
    expect(out.output).toEqual(committed.map((v) => v.toUpperCase()));
    expect(out.groupOffset).toBe(out.lastInputOffset + 1);
    // Kafka gives the same answers (offsets included: markers take one offset each on both).
    expect(out).toEqual(oracle);
  }, 180_000);

  it('franz-go GroupTransactSession ETL with members joining and leaving: every record once, as on Kafka', async () => {
    const bin = join(mkdtempSync(join(tmpdir(), 'sluice-go-txn-')), 'txn-etl');
    const built = await run(
      ['build', '-mod=readonly', '-o', bin, '.'],
      240_000,
      'go',
      join(repoRoot, 'test', 'conformance', 'clients', 'go-txn'),
    );
    expect(built.code, built.stderr).toBe(0);
    const etl = async (broker: BrokerUnderTest) => {
      const r = await run([broker.bootstrap, 'txn-franz'], 120_000, bin);
      expect(r.code, r.stderr.slice(-4000)).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as {
        output: number[];
        errors: string[] | null;
        commits: number;
      };
    };
    const [out, oracle] = await Promise.all([etl(sluice!), etl(kafka!)]);
    const expected = Array.from({ length: 600 }, (_, i) => i);
    expect(out.errors).toBeNull();
    expect(out.output).toEqual(expected);
    expect(out.commits).toBeGreaterThan(3);
    expect(oracle.errors).toBeNull();
    expect(oracle.output).toEqual(expected);
  }, 300_000);
});
