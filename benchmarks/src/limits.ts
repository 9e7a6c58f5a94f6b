// The machine's ceilings, measured in the same run: loopback TCP (iperf3) and sequential writes with fdatasync (dd).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, sleep } from './proc.js';

export interface Limit {
  value?: number;
  unit: string;
  note?: string;
}

async function have(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`], { timeoutMs: 5000 })).code === 0;
}

/** Installs iperf3 with apt-get when missing and running as root; otherwise says why the row is empty. */
export async function loopbackTcp(seconds: number, log: (s: string) => void): Promise<Limit> {
  const unit = 'MiB/s';
  if (!(await have('iperf3'))) {
    if (process.getuid?.() !== 0) return { unit, note: 'iperf3 missing and not root: apt-get install -y iperf3' };
    log('installing iperf3 with apt-get');
    const r = await run('apt-get', ['install', '-y', 'iperf3'], {
      timeoutMs: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.code !== 0 || !(await have('iperf3')))
      return { unit, note: `apt-get install iperf3 failed: ${r.stderr.slice(-200)}` };
  }
  const port = String(25201);
  const server = run('iperf3', ['-s', '-1', '-p', port, '-B', '127.0.0.1'], { timeoutMs: (seconds + 30) * 1000 });
  await sleep(500);
  const c = await run('iperf3', ['-c', '127.0.0.1', '-p', port, '-t', String(seconds), '-J'], {
    timeoutMs: (seconds + 30) * 1000,
  });
  await server;
  if (c.code !== 0) return { unit, note: `iperf3 failed: ${c.stderr.slice(-200)}` };
  const j = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return { unit, value: j.end.sum_received.bits_per_second / 8 / 1024 / 1024 };
}

/** dd of `mib` MiB of zeros with conv=fdatasync, in MiB/s. */
export async function diskWrite(mib: number): Promise<Limit> {
  const unit = 'MiB/s';
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-dd-'));
  try {
    const t0 = performance.now();
    const r = await run('dd', ['if=/dev/zero', `of=${join(dir, 'f')}`, 'bs=1M', `count=${mib}`, 'conv=fdatasync'], {
      timeoutMs: 300_000,
    });
    const s = (performance.now() - t0) / 1000;
    if (r.code !== 0) return { unit, note: `dd failed: ${r.stderr.slice(-200)}` };
    return { unit, value: mib / s };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
