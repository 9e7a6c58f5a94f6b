// The two brokers under test behind one interface: start on a data dir (timed until ApiVersions answers),
// the pid to sample, a clean stop and a SIGKILL. Ports are the caller's (picked free, see ports.ts); a
// start refuses a port that is taken and checks that the process answering is the one it spawned.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertListenerIs, assertPortFree } from './ports.js';
import { run, waitExit, waitForBroker } from './proc.js';

export type BrokerName = 'sluice' | 'kafka';

export interface Broker {
  readonly name: BrokerName;
  readonly port: number;
  /**
   * Starts on `dir` (created if missing); resolves with seconds from spawn to the first ApiVersions answer.
   * `config` holds broker configs by their Kafka names (both brokers take the same ones).
   */
  start(dir: string, config?: Readonly<Record<string, string>>): Promise<number>;
  pid(): number;
  /** How long start() waits for the first ApiVersions answer. */
  startTimeoutMs: number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash: no shutdown work, the data dir left as it is. */
  kill(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SLUICE_CLI = join(ROOT, 'apps/broker/dist/cli.js');
export const KAFKA_SCRIPT = join(ROOT, 'scripts/reference-kafka/reference-kafka.sh');

export class SluiceBroker implements Broker {
  readonly name = 'sluice' as const;
  /** How long start() waits for the first ApiVersions answer (a restart after a crash may recover for long). */
  startTimeoutMs = 60_000;
  /** How long stop() waits for a clean exit before SIGKILL (a clean stop fsyncs every dirty partition). */
  stopTimeoutMs = 30_000;
  /** Node options before the cli (e.g. --trace-gc), beside --cpu-prof from `profileDir`. */
  nodeArgs: string[] = [];
  /** Where the broker's output goes: `sluice-<port>.log` beside the dir given to start(). */
  logFile: string | undefined;
  private child: ChildProcess | undefined;
  /** `profileDir` runs the broker under `node --cpu-prof`; `extraArgs` go to `sluice broker` (cluster mode). */
  constructor(
    readonly port: number,
    private readonly profileDir?: string,
    private readonly extraArgs: readonly string[] = [],
    /** Another build's cli.js (a before/after pair), default this tree's. */
    private readonly cli: string = SLUICE_CLI,
  ) {}

  async start(dir: string, config: Readonly<Record<string, string>> = {}): Promise<number> {
    await assertPortFree(this.port, 'sluice');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, '..', `sluice-${this.port}.log`);
    const log = openSync(this.logFile, 'a');
    const overrides = Object.entries(config).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
    const prof = this.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`] : [];
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [
        ...this.nodeArgs,
        ...prof,
        this.cli,
        'broker',
        '--host',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--data-dir',
        join(dir, 'data'),
        ...this.extraArgs,
        ...overrides,
      ],
      { stdio: ['ignore', log, log], env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`sluice exited with ${code} during start (log in ${dir}/..)`))),
    );
    exited.catch(() => {});
    const t1 = await Promise.race([waitForBroker(this.port, this.startTimeoutMs), exited]);
    try {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`sluice exited during start`);
      assertListenerIs(child.pid!, this.port, 'sluice start');
    } catch (e) {
      await this.kill();
      throw e;
    }
    return (t1 - t0) / 1000;
  }

  pid(): number {
    if (!this.child?.pid) throw new Error('sluice is not running');
    return this.child.pid;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.stopTimeoutMs).unref());
    if ((await Promise.race([gone, timeout])) === 'timeout') {
      child.kill('SIGKILL');
      await gone;
    }
    this.child = undefined;
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  }
}

export class KafkaBroker implements Broker {
  readonly name = 'kafka' as const;
  /** How long start() waits for the first ApiVersions answer. */
  startTimeoutMs = 120_000;
  private dir: string | undefined;
  private pidValue: number | undefined;
  constructor(
    readonly port: number,
    private readonly controllerPort: number,
  ) {}

  async start(dir: string, config: Readonly<Record<string, string>> = {}): Promise<number> {
    await assertPortFree(this.port, 'kafka');
    await assertPortFree(this.controllerPort, 'kafka controller');
    mkdirSync(dir, { recursive: true });
    this.dir = dir;
    const sets = Object.entries(config).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
    const t0 = performance.now();
    // The script formats the dir the first time, then starts the JVM in the background; poll beside it.
    const script = run(
      'bash',
      [
        KAFKA_SCRIPT,
        'start',
        '--port',
        String(this.port),
        '--controller-port',
        String(this.controllerPort),
        '--dir',
        dir,
        ...sets,
      ],
      { timeoutMs: Math.max(120_000, this.startTimeoutMs) },
    );
    const t1 = await Promise.race([
      waitForBroker(this.port, this.startTimeoutMs),
      script.then((r) => {
        if (r.code !== 0) throw new Error(`kafka start failed: ${r.stderr.slice(-1500)}`);
        return new Promise<never>(() => {});
      }),
    ]);
    const r = await script;
    if (r.code !== 0) throw new Error(`kafka start failed: ${r.stderr.slice(-1500)}`);
    this.pidValue = Number(readFileSync(join(dir, 'kafka.pid'), 'utf8').trim());
    try {
      assertListenerIs(this.pidValue, this.port, 'kafka start');
    } catch (e) {
      await this.kill();
      throw e;
    }
    return (t1 - t0) / 1000;
  }

  pid(): number {
    if (this.pidValue === undefined) throw new Error('kafka is not running');
    return this.pidValue;
  }

  async stop(): Promise<void> {
    if (!this.dir) return;
    const r = await run('bash', [KAFKA_SCRIPT, 'stop', '--port', String(this.port), '--dir', this.dir], {
      timeoutMs: 60_000,
    });
    if (r.code !== 0) throw new Error(`kafka stop failed: ${r.stderr.slice(-1500)}`);
    if (this.pidValue !== undefined) await waitExit(this.pidValue, 10_000);
    this.pidValue = undefined;
  }

  async kill(): Promise<void> {
    const pid = this.pidValue;
    this.pidValue = undefined;
    if (pid === undefined || !this.dir) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    if (!(await waitExit(pid, 10_000))) throw new Error(`kafka pid ${pid} still alive 10 s after SIGKILL`);
    // The script's pid file now names a dead process; a later start must not mistake it for ours.
    rmSync(join(this.dir, 'kafka.pid'), { force: true });
  }
}

/** Kafka's tools (ProducerPerformance, ConsumerPerformance, …) on the reference broker's classpath. */
export function runKafkaClass(cls: string, args: readonly string[], timeoutMs: number) {
  return run('bash', [KAFKA_SCRIPT, 'run-class', cls, ...args], { timeoutMs, cpu: true });
}

export async function ensureKafkaInstalled(): Promise<void> {
  const r = await run('bash', [KAFKA_SCRIPT, 'install'], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`reference Kafka install failed: ${r.stderr.slice(-1500)}`);
}
