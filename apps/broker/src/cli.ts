#!/usr/bin/env node
// The `sluice` command. `sluice broker` loads the configuration (flags > SLUICE_* environment >
// server.properties > defaults), starts one broker and stops it cleanly on SIGTERM/SIGINT.

import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { EXIT_USAGE } from './commands/common.js';
import { registerClientCommands } from './commands/index.js';
import { type LoadedConfig, loadConfig } from './config/load-config.js';
import { ConfigException } from './config/types.js';
import { createLogger, type Logger } from './logger.js';

export interface BrokerCommandOptions {
  config?: string;
  port?: number;
  host?: string;
  dataDir?: string;
  nodeId?: number;
  metadata?: string;
  override: string[];
}

/** `--metadata etcd://host:port[,host:port]` → the etcd client URLs (metadata.etcd.endpoints). */
export function etcdEndpointsOf(uri: string): string {
  const m = /^etcd:\/\/(.+)$/.exec(uri);
  const hosts = m ? m[1].replace(/\/+$/, '').split(',') : [];
  if (hosts.length === 0 || hosts.some((h) => !/^[A-Za-z0-9.[\]:_-]+:\d{1,5}$/.test(h))) {
    throw new InvalidArgumentError('expected etcd://host:port[,host:port...]');
  }
  return hosts.map((h) => `http://${h}`).join(',');
}

function parseNodeId(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('expected a node id 0..999999999');
  return Number(value);
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError('expected a port number 0..65535 (0 picks a free port)');
  }
  return Number(value);
}

function collect(value: string, previous: string[]): string[] {
  if (!value.includes('=')) throw new InvalidArgumentError('expected key=value');
  return [...previous, value];
}

/** `sluice --version`: @sluice/broker's version, read from its package.json (dist/ and src/ both sit beside it). */
export function versionText(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  // 0.0.0 is the version of a package that was never released (see "Packages" in the README).
  return pkg.version === '0.0.0' ? '0.0.0 (unreleased: built from a clone of the repository)' : pkg.version;
}

/** The command tree; `onBroker` receives the parsed `sluice broker` options. */
export function buildProgram(onBroker: (opts: BrokerCommandOptions) => Promise<void>): Command {
  const program = new Command('sluice')
    .description('Sluice: a Kafka-compatible streaming platform')
    .version(versionText())
    .showHelpAfterError()
    // Usage errors exit 2, as the client commands document; help and --version exit 0. Set before
    // any subcommand is added, so they inherit it.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE));
  program
    .command('broker')
    .description('Run a single-node Kafka-compatible broker (default 127.0.0.1:9092, data in ./data)')
    .option('-c, --config <file>', 'a Kafka-style server.properties file')
    .option('-p, --port <port>', 'port of the first listener (0: pick a free port)', parsePort)
    .option('--host <host>', 'host of the first listener (empty for every interface)')
    .option('-d, --data-dir <dir>', 'data directory (sets log.dirs)')
    .option('--node-id <id>', "this broker's node id in a cluster (sets node.id)", parseNodeId)
    .option(
      '--metadata <uri>',
      'cluster metadata in etcd, etcd://host:port[,host:port] (sets metadata.etcd.endpoints)',
      etcdEndpointsOf,
    )
    .option('-o, --override <key=value>', 'set any config by its Kafka name; repeatable', collect, [] as string[])
    .addHelpText(
      'after',
      '\nEnvironment: SLUICE_<NAME> sets config <name> (SLUICE_LOG_DIRS → log.dirs, SLUICE_NUM_PARTITIONS → num.partitions);\nLOG_LEVEL sets log.level. Precedence: flags > environment > --config file > defaults.',
    )
    .action(async (opts: BrokerCommandOptions) => onBroker(opts));
  registerClientCommands(program);
  return program;
}

/** Turns `sluice broker` options into the broker's configuration (no side effects besides reading the file). */
export function configFromOptions(
  opts: BrokerCommandOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): LoadedConfig {
  return loadConfig({
    ...(opts.config !== undefined ? { configFile: opts.config } : {}),
    env,
    flags: {
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
      overrides: [
        ...opts.override,
        ...(opts.nodeId !== undefined ? [`node.id=${opts.nodeId}`] : []),
        ...(opts.metadata !== undefined ? [`metadata.etcd.endpoints=${opts.metadata}`] : []),
      ],
    },
  });
}

async function runBroker(opts: BrokerCommandOptions): Promise<void> {
  let loaded: LoadedConfig;
  try {
    loaded = configFromOptions(opts);
  } catch (e) {
    if (e instanceof ConfigException) {
      process.stderr.write(`sluice: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const { config, warnings } = loaded;
  const logger: Logger = createLogger(config.logLevel, { bindings: { nodeId: config.nodeId } });
  for (const w of warnings) logger.warn(w);

  type Running = Awaited<ReturnType<typeof import('./server/broker.js').startBroker>>;
  let broker: Running | undefined;
  let stopping: NodeJS.Signals | undefined;
  const stop = (running: Running) =>
    running.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  // Installed before the broker starts, so a signal at any moment gets a clean stop (or a clean
  // exit before start-up finishes) rather than the default kill.
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal while stopping: the operator wants out now.
      logger.warn({ signal }, 'second signal during shutdown, exiting immediately');
      process.exit(1);
    }
    stopping = signal;
    logger.info({ signal }, 'shutting down');
    if (broker) void stop(broker);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    // Loaded here so that `sluice --help` and config errors do not pay for loading the broker.
    const [{ startBroker }, { tuneHeapGrowth }] = await Promise.all([
      import('./server/broker.js'),
      import('./server/heap-tuning.js'),
    ]);
    // Process-wide, so set by the broker command, not by startBroker() inside an embedder's process:
    // without it V8 runs a full GC every few MiB produced (see heap-tuning.ts).
    tuneHeapGrowth();
    broker = await startBroker({ config, logger });
  } catch (e) {
    logger.fatal({ err: e }, 'broker failed to start');
    process.exit(1);
  }
  // A signal that came during start-up: stop now that there is something to stop.
  if (stopping) {
    void stop(broker);
    return;
  }
  // The one line scripts can wait for: the bound address (port 0 resolved).
  logger.info({ host: broker.host, port: broker.port }, 'listening');
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Runs the `sluice` command line on `argv` (process.argv's shape); bin/sluice.js calls this. */
export function main(argv: readonly string[]): void {
  buildProgram(runBroker)
    .parseAsync([...argv])
    .catch((e: unknown) => {
      process.stderr.write(`sluice: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    });
}

if (isMain()) main(process.argv);
