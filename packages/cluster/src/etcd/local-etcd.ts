import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * Runs etcd members on loopback (tests, and `sluice cluster up`): free ports picked by the OS, a data
 * directory per member, short raft timings so that elections settle in well under a second.
 */
export interface LocalEtcdOptions {
  /** 1 or an odd number of members. */
  members?: number;
  /** The parent directory of the members' data directories; a temporary one (removed on stop) if absent. */
  dir?: string;
  /** The etcd binary; `etcd` on PATH (or /usr/bin/etcd) if absent. */
  binary?: string;
  /** How long to wait for the cluster to answer (ms). */
  startTimeoutMs?: number;
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  process: ChildProcess | null;
  output: string[];
}

const INSTALL_HINT = 'install etcd (Debian/Ubuntu: `apt-get install -y etcd-server`) or pass its path';

/** Finds the etcd binary, or throws an error that says how to install it. */
export function findEtcdBinary(explicit?: string): string {
  const candidates = explicit
    ? [explicit]
    : [...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'etcd')), '/usr/bin/etcd'];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  throw new Error(`etcd not found (${explicit ?? 'looked on PATH and at /usr/bin/etcd'}): ${INSTALL_HINT}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class LocalEtcd {
  private constructor(
    private readonly binary: string,
    private readonly members: Member[],
    private readonly ownDir: string | null,
    private readonly startTimeoutMs: number,
  ) {}

  static async start(options: LocalEtcdOptions = {}): Promise<LocalEtcd> {
    const count = options.members ?? 1;
    if (count < 1 || count % 2 === 0 || count > 7)
      throw new RangeError(`etcd members: ${count} is not an odd number from 1 to 7`);
    const binary = findEtcdBinary(options.binary);
    const ownDir = options.dir ? null : mkdtempSync(join(tmpdir(), 'sluice-etcd-'));
    const parent = options.dir ?? ownDir!;
    const members: Member[] = [];
    for (let i = 0; i < count; i++) {
      members.push({
        name: `m${i}`,
        clientPort: await freePort(),
        peerPort: await freePort(),
        dataDir: join(parent, `m${i}`),
        process: null,
        output: [],
      });
    }
    const etcd = new LocalEtcd(binary, members, ownDir, options.startTimeoutMs ?? 15_000);
    try {
      for (let i = 0; i < count; i++) etcd.spawnMember(i, 'new');
      await etcd.waitHealthy();
    } catch (err) {
      await etcd.stop();
      throw err;
    }
    return etcd;
  }

  /** The client URLs, one per member. */
  get endpoints(): string[] {
    return this.members.map((m) => `http://127.0.0.1:${m.clientPort}`);
  }

  private spawnMember(i: number, state: 'new' | 'existing'): void {
    const m = this.members[i];
    const initialCluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    // biome-ignore format: one flag and its value per line
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', 'sluice-local',
      // Loopback: short raft timings make elections and restarts settle quickly.
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--logger', 'zap',
      '--log-level', 'error',
    ];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      m.output.push(chunk.toString('utf8'));
      if (m.output.length > 50) m.output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    m.process = child;
  }

  /** Waits until every running member answers its health endpoint. */
  async waitHealthy(timeoutMs = this.startTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const m of this.members) {
      if (!m.process) continue;
      for (;;) {
        if (m.process.exitCode !== null)
          throw new Error(`etcd member ${m.name} exited with ${m.process.exitCode}: ${m.output.join('').slice(-2000)}`);
        try {
          const res = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(1000) });
          const body = (await res.json()) as { health?: string };
          if (body.health === 'true') break;
        } catch {}
        if (Date.now() > deadline)
          throw new Error(`etcd member ${m.name} not healthy after ${timeoutMs} ms: ${m.output.join('').slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Stops one member (SIGTERM, or SIGKILL) and waits for it to exit. */
  async stopMember(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.members[i].process;
    this.members[i].process = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts a stopped member again on its data directory and ports. */
  async startMember(i: number): Promise<void> {
    if (this.members[i].process) return;
    this.spawnMember(i, 'existing');
    await this.waitHealthy();
  }

  async stopAll(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.stopMember(i, signal)));
  }

  async startAll(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) if (!this.members[i].process) this.spawnMember(i, 'existing');
    await this.waitHealthy();
  }

  /** Stops every member and removes the data directories this instance made. */
  async stop(): Promise<void> {
    // A temporary cluster is thrown away: no need for etcd's graceful leader handover.
    await this.stopAll(this.ownDir ? 'SIGKILL' : 'SIGTERM');
    if (this.ownDir) rmSync(this.ownDir, { recursive: true, force: true });
  }
}
