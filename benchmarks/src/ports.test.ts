import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaBroker, SluiceBroker } from './brokers.js';
import { assertListenerIs, assertPortFree, freePorts, listenersOf } from './ports.js';
import { apiVersionsAnswers } from './proc.js';

/** A stand-in for "another broker already on the port": it answers every ApiVersions v0 with error 0. */
function fakeBroker(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((sock) => {
      sock.on('data', (d) => {
        if (d.length < 12) return;
        const res = Buffer.alloc(10);
        res.writeInt32BE(6, 0);
        res.writeInt32BE(d.readInt32BE(8), 4); // correlation id
        res.writeInt16BE(0, 8);
        sock.write(res);
      });
      sock.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : 0 });
    });
  });
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function occupied(): Promise<number> {
  const { server, port } = await fakeBroker();
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  // The stand-in really answers the harness's start-up probe, as the other broker in the report did.
  expect(await apiVersionsAnswers(port)).toBe(true);
  return port;
}

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ports-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('benchmark ports', () => {
  it('picks distinct ports that are free', async () => {
    const ports = await freePorts(3);
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) await assertPortFree(p, 'test');
  });

  it('refuses a port another process listens on, and names that process', async () => {
    const port = await occupied();
    expect(listenersOf(port).map((l) => l.pid)).toContain(process.pid);
    await expect(assertPortFree(port, 'sluice')).rejects.toThrow(
      new RegExp(`sluice port ${port} is already in use \\(pid ${process.pid}: `),
    );
  });

  it('does not start Sluice on a taken port (it would time the other broker and measure it)', async () => {
    const port = await occupied();
    const dir = scratch();
    const b = new SluiceBroker(port);
    cleanups.push(() => b.kill());
    await expect(b.start(join(dir, 'sluice'))).rejects.toThrow(/already in use/);
    // Refused before spawning anything: no broker log was opened.
    expect(existsSync(join(dir, `sluice-${port}.log`))).toBe(false);
  });

  it('does not start Kafka when its port or its controller port is taken', async () => {
    const taken = await occupied();
    const [free] = await freePorts(1);
    const dir = scratch();
    await expect(new KafkaBroker(taken, free).start(join(dir, 'k1'))).rejects.toThrow(
      new RegExp(`kafka port ${taken} is already in use`),
    );
    await expect(new KafkaBroker(free, taken).start(join(dir, 'k2'))).rejects.toThrow(
      new RegExp(`kafka controller port ${taken} is already in use`),
    );
  });

  it('tells the spawned process from another one answering on the port', async () => {
    const port = await occupied();
    expect(() => assertListenerIs(process.pid, port, 'probe')).not.toThrow();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(() => other.kill('SIGKILL'));
    expect(() => assertListenerIs(other.pid!, port, 'sluice start')).toThrow(
      new RegExp(`not the spawned pid ${other.pid} \\(listening: pid ${process.pid}: `),
    );
    const [nobody] = await freePorts(1);
    expect(() => assertListenerIs(process.pid, nobody, 'probe')).toThrow(/listening: nothing/);
  });
});
