// `sluice console` as a user runs it: the broker's command line hands the arguments to this
// package (built dist/, as `npm test` builds it first) and the console serves the cluster.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningBroker, startBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../broker/dist/cli.js', import.meta.url));
let broker: RunningBroker;
const children: ChildProcess[] = [];

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await broker?.stop();
});

function sluice(args: string[]): { child: ChildProcess; output: Promise<{ code: number | null; out: string }> } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const output = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, out })),
  );
  return { child, output };
}

describe('sluice console', () => {
  it('serves the console for the given bootstrap server on loopback until stopped', async () => {
    const { child, output } = sluice(['console', '--bootstrap-server', broker.bootstrap, '--port', '0']);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no URL printed within 20 s')), 20_000);
      let seen = '';
      child.stdout?.on('data', (d: Buffer) => {
        seen += d.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(broker.clusterId);
    child.kill('SIGINT');
    expect((await output).code).toBe(0);
  });

  it('prints its usage for --help and exits 2 on a bad option', async () => {
    const help = await sluice(['console', '--help']).output;
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: sluice console');
    const bad = await sluice(['console', '--port', 'eighty']).output;
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--port must be 0..65535');
    const unknown = await sluice(['console', '--colour']).output;
    expect(unknown.code).toBe(2);
  });

  it('--login serves the login page; bad session limits and unreadable TLS settings exit 2 naming them', async () => {
    const { child, output } = sluice(['console', '--bootstrap-server', broker.bootstrap, '--port', '0', '--login']);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no URL printed within 20 s')), 20_000);
      let seen = '';
      child.stdout?.on('data', (d: Buffer) => {
        seen += d.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+) \(log in with SASL credentials\)/.exec(seen);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const res = await fetch(`${url}/topics`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login?next=%2Ftopics');
    child.kill('SIGINT');
    expect((await output).code).toBe(0);

    const limits = await sluice(['console', '--login', '--max-sessions', '0']).output;
    expect(limits.code).toBe(2);
    expect(limits.out).toContain('--max-sessions must be 1..10000');
    const config = join(mkdtempSync(join(tmpdir(), 'sluice-console-cli-')), 'client.properties');
    writeFileSync(
      config,
      'security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=/nonexistent/ca.pem\n',
    );
    const tls = await sluice(['console', '--command-config', config]).output;
    expect(tls.code).toBe(2);
    expect(tls.out).toContain('/nonexistent/ca.pem');
  });
});
