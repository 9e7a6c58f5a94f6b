import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { type ClientFlags, runAction, withAdmin, withBootstrap } from './common.js';

const MAX_BROKERS = 64;
/** How long a broker may take to say it listens, and to stop on SIGTERM, before it is given up on. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

interface ClusterUpOptions {
  brokers: number;
  dir: string;
  port: number;
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_BROKERS) {
    throw new InvalidArgumentError(`expected a broker count 1..${MAX_BROKERS}`);
  }
  return Number(value);
}

function parseFirstPort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port 0..65535');
  return Number(value);
}

/**
 * `sluice cluster up`: a local etcd and N broker processes on loopback, one per core being the way
 * Sluice uses a many-core machine. Each broker's log goes to `<dir>/broker-<id>.log`.
 */
export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('Run a local multi-broker cluster');
  cluster
    .command('up')
    .description('Start etcd and N brokers on loopback, print the bootstrap servers, stop them all on Ctrl-C')
    .option('-n, --brokers <count>', 'number of brokers', parseCount, 3)
    .option('-d, --dir <dir>', 'directory for etcd data, broker data and logs', './cluster-data')
    .option('-p, --port <port>', 'port of broker 1; the others follow (0: free ports)', parseFirstPort, 9092)
    .action(async (opts: ClusterUpOptions) => clusterUp(opts));
  withBootstrap(
    cluster
      .command('status')
      .description('Brokers, the controller, and partitions without a leader or under-replicated'),
  ).action((flags: ClientFlags) => runAction(() => withAdmin(flags, clusterStatus)));
}

async function clusterStatus(admin: Parameters<Parameters<typeof withAdmin>[1]>[0]): Promise<void> {
  const cluster = await admin.describeCluster();
  const out: string[] = [`Cluster: ${cluster.clusterId ?? '(none)'}\tController: ${cluster.controllerId}`];
  for (const b of [...cluster.brokers].sort((x, y) => x.nodeId - y.nodeId)) {
    out.push(`Broker: ${b.nodeId}\t${b.host}:${b.port}${b.rack === null ? '' : `\tRack: ${b.rack}`}`);
  }
  const names = await admin.listTopics({ includeInternal: true });
  let leaderless = 0;
  let underReplicated = 0;
  for (const t of names.length === 0 ? [] : await admin.describeTopics(names)) {
    for (const p of t.partitions) {
      if (p.leader < 0) {
        leaderless++;
        out.push(`No leader: ${t.name}-${p.partition}\tReplicas: ${p.replicas.join(',')}`);
      } else if (p.isr.length < p.replicas.length) {
        underReplicated++;
        out.push(
          `Under-replicated: ${t.name}-${p.partition}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}`,
        );
      }
    }
  }
  out.push(`Topics: ${names.length}\tWithout leader: ${leaderless}\tUnder-replicated: ${underReplicated}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

async function clusterUp(opts: ClusterUpOptions): Promise<void> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  // Loaded only here: the etcd client and the process helper are not needed by other commands.
  const { LocalEtcd } = await import('@sluice/cluster');
  let etcd: Awaited<ReturnType<typeof LocalEtcd.start>>;
  try {
    etcd = await LocalEtcd.start({ members: 1, dir: join(dir, 'etcd') });
  } catch (err) {
    process.stderr.write(`sluice: cannot start etcd: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const metadata = `etcd://${etcd.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((done) => {
            if (c.exitCode !== null || c.signalCode !== null) return done();
            const timer = setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS);
            c.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    await etcd.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const ports: Promise<number>[] = [];
  for (let id = 1; id <= opts.brokers; id++) {
    const port = opts.port === 0 ? 0 : opts.port + id - 1;
    const args = [
      ...process.execArgv,
      process.argv[1]!,
      'broker',
      '--node-id',
      String(id),
      '--metadata',
      metadata,
      '--port',
      String(port),
      '--data-dir',
      join(dir, `broker-${id}`),
    ];
    // Fewer brokers than the internal topics' replication factors (3, Kafka's): as Kafka's own
    // single-node config does, lower them so that groups and transactions work.
    if (opts.brokers < 3) {
      const rf = String(opts.brokers);
      for (const name of ['offsets.topic.replication.factor', 'transaction.state.log.replication.factor']) {
        args.push('--override', `${name}=${rf}`);
      }
      args.push('--override', `transaction.state.log.min.isr=${Math.min(2, opts.brokers)}`);
    }
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const log = createWriteStream(join(dir, `broker-${id}.log`), { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    ports.push(listeningPort(child, id));
    child.once('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`sluice: broker ${id} exited (${signal ?? code}); see ${join(dir, `broker-${id}.log`)}\n`);
      void stopAll(1);
    });
  }
  let bound: number[];
  try {
    bound = await Promise.all(ports);
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n`);
    await stopAll(1);
    return;
  }
  process.stdout.write(
    `etcd: ${etcd.endpoints.join(',')}\nbrokers: ${opts.brokers} (logs in ${dir})\nbootstrap: ${bound
      .map((p) => `127.0.0.1:${p}`)
      .join(',')}\nCtrl-C stops them all.\n`,
  );
}

/** The port from the broker's `listening` log line (port 0 resolves there). */
function listeningPort(child: ChildProcess, id: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`broker ${id} did not start listening`)), START_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      buffered += d.toString('utf8');
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        if (!line.includes('"listening"')) continue;
        try {
          const o = JSON.parse(line) as { msg?: string; port?: number };
          if (o.msg === 'listening' && typeof o.port === 'number') {
            clearTimeout(timer);
            child.stdout!.off('data', onData);
            resolvePort(o.port);
            return;
          }
        } catch {
          // Not a log line of ours: ignore.
        }
      }
      // Bounded: a line without a newline is not kept past 1 MiB.
      if (buffered.length > 1 << 20) buffered = '';
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`broker ${id} exited with ${code} before listening`)));
  });
}
