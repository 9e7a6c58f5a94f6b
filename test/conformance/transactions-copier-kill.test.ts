import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COMMON_PROPS, freePort, referenceKafka, repoRoot, requireJava } from './brokers.js';

// Kafka's exactly-once system test (transactions_test.py) in small: its TransactionalMessageCopier
// copies numbered records from one topic to another in transactions, offsets committed inside them,
// while the test SIGKILLs the copier twice (a new one with the same transactional id fences it and goes
// on from the committed offsets) and the broker twice (restarted on its data; the copier rides it out or
// is restarted). A read_committed consumer of the output must then read every input record exactly
// once. The same run against Apache Kafka is the oracle. Bounded: each step has a deadline, restarts
// are counted. Run with `npm run test:conformance`.

const RECORDS = 3000;
const TXN_SIZE = '30';
const TOPIC_IN = 'kill-in';
const TOPIC_OUT = 'kill-out';
const cli = join(repoRoot, 'apps', 'broker', 'src', 'cli.ts');
const tool = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One broker on a fixed port that can be SIGKILLed and started again on the same data. */
interface KillableBroker {
  readonly bootstrap: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

const PROPS = { ...COMMON_PROPS, 'transaction.state.log.num.partitions': '1' };

async function sluiceBroker(): Promise<KillableBroker> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-copier-kill-'));
  let child: ChildProcess | null = null;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const args = ['--conditions=sluice-source', '--import', 'tsx', cli, 'broker', '--port', String(port)];
      args.push('--data-dir', dataDir);
      for (const [k, v] of Object.entries({ ...PROPS, 'log.level': 'info' })) args.push('--override', `${k}=${v}`);
      const c = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`Sluice did not listen within 60 s: ${out.slice(-4000)}`)),
        60_000,
      );
      c.stderr?.on('data', (d) => {
        out = (out + d).slice(-16_000);
      });
      c.stdout?.on('data', (d) => {
        out = (out + d).slice(-16_000);
        if (out.includes('"msg":"listening"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Sluice exited with ${code} during start-up: ${out.slice(-4000)}`));
      });
    });
  const kill = async () => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  return {
    bootstrap: `127.0.0.1:${port}`,
    start,
    kill,
    stop: async () => {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function kafkaBroker(): Promise<KillableBroker> {
  const port = await freePort();
  const controllerPort = await freePort([port]);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-copier-kill-kafka-'));
  const where = ['--port', String(port), '--dir', dir];
  const sets = Object.entries(PROPS).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  let first = true;
  return {
    bootstrap: `127.0.0.1:${port}`,
    start: async () => {
      // Fresh the first time; after a kill, on the data the killed broker left.
      await referenceKafka([
        'start',
        ...where,
        '--controller-port',
        String(controllerPort),
        ...(first ? ['--fresh'] : []),
        ...sets,
      ]);
      first = false;
    },
    kill: async () => {
      const pid = Number(readFileSync(join(dir, 'kafka.pid'), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no Kafka pid in ${dir}`);
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await sleep(100);
      }
      throw new Error(`Kafka pid ${pid} still there 10 s after SIGKILL`);
    },
    stop: async () => {
      await referenceKafka(['stop', ...where]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Java tool run to its end (bounded). */
function runTool(args: string[], timeoutMs = 120_000) {
  return referenceKafka(['run-class', ...args], { timeoutMs });
}

/** A running copier: its JSON events as they come, and how it ended. */
interface Copier {
  events: Record<string, unknown>[];
  exited: Promise<number | null>;
  kill(): Promise<void>;
}

function startCopier(bootstrap: string): Copier {
  const args = [
    tool,
    'run-class',
    'org.apache.kafka.tools.TransactionalMessageCopier',
    '--broker-list',
    bootstrap,
    '--input-topic',
    TOPIC_IN,
    '--input-partition',
    '0',
    '--output-topic',
    TOPIC_OUT,
    '--transactional-id',
    'copier-kill',
    '--consumer-group',
    'copier-kill-group',
    '--transaction-size',
    TXN_SIZE,
    '--transaction-timeout',
    '10000',
    '--enable-random-aborts',
    '--use-group-metadata',
  ];
  // run-class execs java: the pid is the JVM's.
  const child = spawn('bash', args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let pending = '';
  child.stdout?.on('data', (d) => {
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut by a kill.
      }
    }
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // A copier that hangs is killed: the caller restarts it, counted.
  const guard = setTimeout(() => child.kill('SIGKILL'), 300_000);
  void exited.then(() => clearTimeout(guard));
  return {
    events,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The copier's latest `remaining` (records left to copy as it last reported), or undefined. */
function remaining(c: Copier): number | undefined {
  for (let i = c.events.length - 1; i >= 0; i--) {
    const r = c.events[i].remaining;
    if (typeof r === 'number') return r;
  }
  return undefined;
}

const finished = (c: Copier) => c.events.some((e) => e.stage === 'ShutdownComplete' && e.remaining === 0);

/** Waits until the copier reports at most `below` records left, or ends; true when it is still running then. */
async function progressed(c: Copier, below: number, ms = 240_000): Promise<boolean> {
  let ended = false;
  void c.exited.then(() => {
    ended = true;
  });
  const deadline = Date.now() + ms;
  while (!ended && Date.now() < deadline) {
    const r = remaining(c);
    if (r !== undefined && r <= below && r > 0) return true;
    await sleep(20);
  }
  return false;
}

interface RunReport {
  values: string[];
  /** Records the copier had left when each planned kill came (undefined: it never came). */
  killedAt: Array<number | undefined>;
  copierRuns: number;
  /** read_committed reads of the output until it was whole (or 3). */
  reads: number;
}

/** The kills, in order, each when the copier reports at most `below` records left: copier, broker, copier, broker. */
const KILLS = [
  { what: 'copier', below: RECORDS * 0.8 },
  { what: 'broker', below: RECORDS * 0.6 },
  { what: 'copier', below: RECORDS * 0.4 },
  { what: 'broker', below: RECORDS * 0.2 },
] as const;

/**
 * The whole run on one broker: numbered input; the copier SIGKILLed twice (a new one with the same
 * transactional id fences it and goes on) and the broker SIGKILLed twice and started again on its data,
 * at the points of KILLS; copiers are (re)started until one reports it is done (at most 10 runs); then
 * a read_committed consumer reads the output.
 */
async function copyWithKills(broker: KillableBroker): Promise<RunReport> {
  await broker.start();
  const produced = await runTool([
    'org.apache.kafka.tools.VerifiableProducer',
    '--bootstrap-server',
    broker.bootstrap,
    '--topic',
    TOPIC_IN,
    '--max-messages',
    String(RECORDS),
    '--acks',
    '-1',
  ]);
  expect(produced.stdout).toContain(`"acked":${RECORDS}`);

  const killedAt: Array<number | undefined> = KILLS.map(() => undefined);
  let next = 0;
  let copierRuns = 0;
  let done = false;
  while (!done && copierRuns < 10) {
    const copier = startCopier(broker.bootstrap);
    copierRuns++;
    try {
      let copierKilled = false;
      while (next < KILLS.length) {
        const kill = KILLS[next];
        // The copier ended (or stalled) before this point: a new one takes it from there.
        if (!(await progressed(copier, kill.below))) break;
        killedAt[next++] = remaining(copier);
        if (kill.what === 'copier') {
          await copier.kill();
          copierKilled = true;
          break;
        }
        // The broker dies under the running copier, which rides it out or exits and is started again.
        await broker.kill();
        await broker.start();
      }
      if (copierKilled) continue;
      const exited = await copier.exited;
      done = exited === 0 && finished(copier);
    } finally {
      await copier.kill();
    }
  }
  expect(done, `a copier finished within ${copierRuns} runs`).toBe(true);

  // Commit markers are written after EndTxn is answered (on Kafka too), and a broker just restarted
  // on its data may take a while to write the last ones: a read that comes up short is repeated (at
  // most 3 reads); the last read is the one checked, so a duplicate or a lost record still fails.
  let values: string[] = [];
  let reads = 0;
  for (; reads < 3 && values.length < RECORDS; reads++) {
    const consumed = await runTool([
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      '--bootstrap-server',
      broker.bootstrap,
      '--topic',
      TOPIC_OUT,
      '--from-beginning',
      '--isolation-level',
      'read_committed',
      // One more than expected: a duplicate would be read; the timeout ends the read.
      '--max-messages',
      String(RECORDS + 1),
      '--timeout-ms',
      '15000',
    ]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    values = consumed.stdout.split('\n').filter((l) => /^\d+$/.test(l));
  }
  return { values, killedAt, copierRuns, reads };
}

const expected = Array.from({ length: RECORDS }, (_, i) => String(i));
let broker: KillableBroker | undefined;

beforeAll(() => {
  requireJava();
});

afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

describe('TransactionalMessageCopier through SIGKILLs of the copier and of the broker', () => {
  for (const [name, make] of [
    ['Sluice', sluiceBroker],
    ['Kafka (oracle)', kafkaBroker],
  ] as const) {
    it(`${name}: every input record is in the output exactly once for read_committed`, async () => {
      broker = await make();
      const report = await copyWithKills(broker);
      console.log(
        `${name}: ${KILLS.map((k, i) => `${k.what} SIGKILLed with ${report.killedAt[i]} of ${RECORDS} left`).join(', ')}; ${report.copierRuns} copier runs; ${report.values.length} records read (read ${report.reads} time(s))`,
      );
      // Every kill came mid-copy (records still to copy when it came).
      for (const [i, left] of report.killedAt.entries())
        expect(left, `${KILLS[i].what} kill ${i + 1}`).toBeGreaterThan(0);
      expect(report.values.length).toBe(RECORDS);
      expect([...report.values].sort((a, b) => Number(a) - Number(b))).toEqual(expected);
    }, 900_000);
  }
});
