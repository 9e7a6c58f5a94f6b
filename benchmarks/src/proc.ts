// Child processes and /proc readings: CPU time, resident memory, and running commands with a timeout.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** VmRSS in MiB, or undefined once the process is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** VmHWM in MiB: the most resident memory the process has had since it started (undefined once it is gone). */
export function peakRssMiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resident memory split into file-backed (page cache mapped by the process) and anonymous (heap), MiB. */
export function rssSplitMiB(pid: number): { file: number; anon: number } | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const file = /RssFile:\s+(\d+) kB/.exec(st);
    const anon = /RssAnon:\s+(\d+) kB/.exec(st);
    return file && anon ? { file: Number(file[1]) / 1024, anon: Number(anon[1]) / 1024 } : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; keeps at most `max` samples (the oldest are thinned). */
export class RssSampler {
  readonly samples: number[] = [];
  /** The largest file-backed and anonymous parts seen (each its own peak). */
  readonly peakSplit = { file: 0, anon: 0 };
  private readonly timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    everyMs = 200,
    private readonly max = 10_000,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }
  private sample(): void {
    const v = rssMiB(this.pid);
    if (v === undefined) return;
    const split = rssSplitMiB(this.pid);
    if (split) {
      this.peakSplit.file = Math.max(this.peakSplit.file, split.file);
      this.peakSplit.anon = Math.max(this.peakSplit.anon, split.anon);
    }
    if (this.samples.length >= this.max)
      this.samples.splice(0, this.samples.length, ...this.samples.filter((_, i) => i % 2 === 0));
    this.samples.push(v);
  }
  stop(): number[] {
    clearInterval(this.timer);
    this.sample();
    return this.samples;
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  /** With `cpu: true`: utime+stime of the command and every descendant it waited for, in seconds. */
  cpuSec?: number;
}

/** bash's `times` prints the shell's and then its children's user and system time ("0m1.234s 0m0.056s"). */
export function parseTimes(stderr: string): { cpuSec: number; rest: string } | undefined {
  const m = /\n?(\d+)m([\d.]+)s (\d+)m([\d.]+)s\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\n?$/.exec(stderr);
  if (!m) return undefined;
  const sec = (min: string, s: string) => Number(min) * 60 + Number(s);
  return { cpuSec: sec(m[5], m[6]) + sec(m[7], m[8]), rest: stderr.slice(0, m.index) };
}

const MAX_CAPTURE = 4 << 20;

/** Runs a command to completion (SIGKILL of its process group after `timeoutMs`), capturing bounded output. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv; cpu?: boolean },
): Promise<RunResult> {
  // The CPU of a process tree (a JVM behind a script, tsx's node child) is only exact once it has been
  // reaped: a bash parent runs the command, then prints its children's rusage with `times`.
  if (opts.cpu) {
    const wrapped = ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bench-generator', cmd, ...args];
    return run('bash', wrapped, { ...opts, cpu: false }).then((r) => {
      const t = parseTimes(r.stderr);
      return t ? { ...r, stderr: t.rest, cpuSec: t.cpuSec } : r;
    });
  }
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    // Keep the tail: summaries are printed last.
    child.stdout.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-MAX_CAPTURE);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-MAX_CAPTURE);
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}

/** Sends an ApiVersions v0 request and resolves true when a response with error code 0 comes back. */
export function apiVersionsAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const clientId = Buffer.from('bench-probe');
    const frame = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length);
    let o = frame.writeInt32BE(frame.length - 4, 0);
    o = frame.writeInt16BE(18, o); // ApiVersions
    o = frame.writeInt16BE(0, o);
    o = frame.writeInt32BE(1, o);
    o = frame.writeInt16BE(clientId.length, o);
    clientId.copy(frame, o);
    let got = Buffer.alloc(0);
    const s = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('connect', () => s.write(frame));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      // size(4) correlationId(4) errorCode(2)
      if (got.length >= 10) done(got.readInt32BE(4) === 1 && got.readInt16BE(8) === 0);
    });
    s.on('error', () => done(false));
    s.on('close', () => done(false));
  });
}

/** Polls until ApiVersions answers; resolves with the time it first did (performance.now()), rejects after the deadline. */
export async function waitForBroker(port: number, deadlineMs: number, everyMs = 10): Promise<number> {
  const until = performance.now() + deadlineMs;
  while (performance.now() < until) {
    if (await apiVersionsAnswers(port, 500)) return performance.now();
    await sleep(everyMs);
  }
  throw new Error(`broker on port ${port} did not answer within ${deadlineMs} ms`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const until = Date.now() + timeoutMs;
    const tick = () => {
      try {
        process.kill(pid, 0);
      } catch {
        resolve(true);
        return;
      }
      if (Date.now() > until) resolve(false);
      else setTimeout(tick, 20);
    };
    tick();
  });
}

/** 1-minute load average. */
export function loadAverage(): number[] {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}
