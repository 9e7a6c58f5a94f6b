// A broker child process for the benches: started on a free port, stopped with SIGTERM, and its
// CPU time read from /proc so a bench can charge the broker alone.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface BrokerChildOptions {
  /** The broker's bundled cli.js. */
  cli: string;
  dataDir: string;
  /** Broker config overrides, each `key=value`. */
  overrides?: string[];
  /** Writes a V8 CPU profile of the child into this directory. */
  profileDir?: string;
}

/** Spawns `cli broker` on port 0 and resolves with the port it logs once listening. */
export function startBroker(opts: BrokerChildOptions): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const profile = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [];
    const overrides = (opts.overrides ?? []).flatMap((o) => ['--override', o]);
    const child = spawn(
      process.execPath,
      [...profile, opts.cli, 'broker', '--port', '0', '--data-dir', opts.dataDir, ...overrides],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'info' } },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+),"msg":"listening"/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}: ${out.slice(-2000)}`)));
  });
}

export async function stopBroker(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** User + system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
