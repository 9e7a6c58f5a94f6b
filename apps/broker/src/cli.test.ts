import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerCommandOptions, buildProgram, configFromOptions } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function parse(args: string[]): Promise<BrokerCommandOptions> {
  let got: BrokerCommandOptions | undefined;
  const program = buildProgram(async (o) => {
    got = o;
  });
  const quiet = { writeOut: () => {}, writeErr: () => {} };
  for (const c of [program, ...program.commands]) c.exitOverride().configureOutput(quiet);
  await program.parseAsync(['node', 'sluice', ...args]);
  if (!got) throw new Error('broker action did not run');
  return got;
}

describe('sluice broker options', () => {
  it('maps flags onto the configuration with flags over env over file', async () => {
    const file = join(dir, 'server.properties');
    writeFileSync(file, 'num.partitions=2\nlog.retention.hours=5\nlisteners=PLAINTEXT://0.0.0.0:1234\n');
    const opts = await parse([
      'broker',
      '--config',
      file,
      '--port',
      '0',
      '--data-dir',
      join(dir, 'data'),
      '--override',
      'num.partitions=4',
      '-o',
      'auto.create.topics.enable=false',
    ]);
    expect(opts).toMatchObject({
      config: file,
      port: 0,
      override: ['num.partitions=4', 'auto.create.topics.enable=false'],
    });
    const { config } = configFromOptions(opts, { SLUICE_NUM_PARTITIONS: '3', SLUICE_LOG_RETENTION_HOURS: '6' });
    expect(config.get('num.partitions')).toBe(4);
    expect(config.get('log.retention.hours')).toBe(6);
    expect(config.get('auto.create.topics.enable')).toBe(false);
    expect(config.listeners[0]).toMatchObject({ host: '0.0.0.0', port: 0 });
    expect(config.logDirs).toEqual([join(dir, 'data')]);
  });

  it('defaults to 127.0.0.1:9092 and ./data', async () => {
    const { config } = configFromOptions(await parse(['broker']), {});
    expect(config.listeners[0]).toMatchObject({ host: '127.0.0.1', port: 9092 });
    expect(config.logDirs).toEqual([join(process.cwd(), 'data')]);
  });

  it("takes a cluster member's node id and etcd endpoints (flags, or Kafka-style properties)", async () => {
    const { config } = configFromOptions(
      await parse(['broker', '--node-id', '3', '--metadata', 'etcd://127.0.0.1:2379,10.0.0.2:2380']),
      {},
    );
    expect(config.nodeId).toBe(3);
    expect(config.get('metadata.etcd.endpoints')).toEqual(['http://127.0.0.1:2379', 'http://10.0.0.2:2380']);
    const file = join(dir, 'cluster.properties');
    writeFileSync(file, 'node.id=2\nbroker.rack=r1\nmetadata.etcd.endpoints=http://127.0.0.1:2379\n');
    const fromFile = configFromOptions(await parse(['broker', '--config', file]), {}).config;
    expect([fromFile.nodeId, fromFile.get('broker.rack'), fromFile.get('metadata.etcd.endpoints')]).toEqual([
      2,
      'r1',
      ['http://127.0.0.1:2379'],
    ]);
    await expect(parse(['broker', '--metadata', 'http://127.0.0.1:2379'])).rejects.toThrow(/etcd:\/\/host:port/);
    await expect(parse(['broker', '--node-id', '-1'])).rejects.toThrow(/node id/);
  });

  it('rejects a bad port and a malformed override', async () => {
    await expect(parse(['broker', '--port', 'http'])).rejects.toThrow(/port number/);
    await expect(parse(['broker', '--override', 'nokey'])).rejects.toThrow(/key=value/);
  });
});

describe('the sluice process', () => {
  const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], {
      encoding: 'utf8',
      env: { ...process.env, LOG_LEVEL: '' },
      timeout: 30_000,
    });

  it('prints help and exits 0', () => {
    const r = run(['broker', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--data-dir/);
    expect(r.stdout).toMatch(/SLUICE_<NAME>/);
  });

  it('exits 2 with the Kafka-worded message on a bad config, before starting anything', () => {
    const r = run(['broker', '--override', 'num.partitions=0']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Invalid value 0 for configuration num.partitions: Value must be at least 1');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`starts a broker on an ephemeral port and exits 0 on ${signal}`, async () => {
      const data = join(dir, `data-${signal}`);
      mkdirSync(data, { recursive: true });
      const child = spawn(
        process.execPath,
        ['--conditions=sluice-source', '--import', 'tsx', cli, 'broker', '--port', '0', '--data-dir', data],
        { cwd: process.cwd(), env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const port = await new Promise<number>((resolvePort, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no 'listening' line; stdout=${out} stderr=${stderr}`)),
          20_000,
        );
        child.stdout.on('data', (d) => {
          out += d;
          for (const line of out.split('\n')) {
            if (!line.startsWith('{')) continue;
            const o = JSON.parse(line) as { msg?: string; port?: number };
            if (o.msg === 'listening' && typeof o.port === 'number') {
              clearTimeout(timer);
              resolvePort(o.port);
            }
          }
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stderr}`)));
      });
      expect(port).toBeGreaterThan(0);
      // The port really accepts connections.
      const sock = createConnection({ host: '127.0.0.1', port });
      await once(sock, 'connect');
      sock.destroy();
      child.kill(signal);
      const [code, killedBy] = await once(child, 'exit');
      expect({ code, killedBy, stderr, tail: out.slice(-1000) }).toMatchObject({ code: 0, killedBy: null });
    });
  }
});
