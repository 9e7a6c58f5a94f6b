import { Admin, type ClientOptions, ConnectionError } from '@sluice/client';
import { type Command, InvalidArgumentError } from 'commander';
import { clientSecurityFromProperties } from './client-security.js';
import { CommandError, UsageError } from './common-errors.js';

/** Exit codes scripts can rely on. */
export const EXIT_OK = 0;
/** The cluster answered with an error, or could not be reached. */
export const EXIT_FAILED = 1;
/** The command line itself was wrong (commander uses this code too). */
export const EXIT_USAGE = 2;

export const DEFAULT_BOOTSTRAP = '127.0.0.1:9092';

export interface ClientFlags {
  bootstrapServer: string;
  /** A Kafka client properties file with the security settings (security.protocol, sasl.*, ssl.*). */
  commandConfig?: string;
}

export { CommandError, UsageError } from './common-errors.js';

/** `host:port[,host:port…]` with ports 1..65535; anything else is a usage error. */
export function parseBootstrap(value: string): string {
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) throw new InvalidArgumentError('expected host:port[,host:port…], e.g. 127.0.0.1:9092');
  for (const e of entries) {
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(e);
    if (m === null) throw new InvalidArgumentError(`expected host:port, got '${e}' (e.g. 127.0.0.1:9092)`);
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new InvalidArgumentError(`port ${m[2]} of '${e}' is not in 1..65535`);
  }
  return value;
}

/** Adds `--bootstrap-server` (Kafka's tools' name for it) to a client command. */
export function withBootstrap(cmd: Command): Command {
  return cmd
    .option('-b, --bootstrap-server <host:port,...>', 'brokers to bootstrap from', parseBootstrap, DEFAULT_BOOTSTRAP)
    .option(
      '--command-config <file>',
      'Kafka client properties: security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location, …',
    );
}

/** Client options of every command: a short connect timeout, so an unreachable cluster fails in seconds. */
export function clientOptions(flags: ClientFlags): ClientOptions {
  const security = flags.commandConfig === undefined ? {} : clientSecurityFromProperties(flags.commandConfig);
  return { brokers: brokersOf(flags), clientId: 'sluice-cli', connectTimeoutMs: 5000, ...security };
}

/**
 * Opens an admin client after one request to a bootstrap broker, so that an unreachable cluster is
 * reported at once instead of after the retries of whatever the command does first.
 */
export async function connectAdmin(flags: ClientFlags): Promise<Admin> {
  const admin = new Admin(clientOptions(flags));
  try {
    await admin.describeCluster();
    return admin;
  } catch (err) {
    await admin.close();
    throw err;
  }
}

export async function withAdmin<T>(flags: ClientFlags, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = await connectAdmin(flags);
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

/** Fails with Kafka's wording when any of `names` is not a topic of the cluster (one Metadata request). */
export async function requireTopics(admin: Admin, names: readonly string[]): Promise<void> {
  const known = new Set(await admin.listTopics({ includeInternal: true }));
  const missing = names.filter((n) => !known.has(n));
  if (missing.length === 1) throw new CommandError(`topic '${missing[0]}' does not exist`);
  if (missing.length > 1) throw new CommandError(`topics ${missing.map((n) => `'${n}'`).join(', ')} do not exist`);
}

export function brokersOf(flags: ClientFlags): string[] {
  return flags.bootstrapServer
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

export function parseSigned(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

export function collectKeyValue(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/**
 * Runs a client action: prints an error in one line and sets the exit code, so that the
 * command can close its clients and the process ends on its own.
 */
export async function runAction(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    process.stderr.write(`sluice: ${describeError(err)}\n`);
    process.exitCode = err instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
  }
}

function describeError(err: unknown): string {
  if (err instanceof UsageError) return `${err.message} (see --help)`;
  if (err instanceof ConnectionError) return `cannot reach the cluster: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** A progress line on stderr, at most once a second, only when stderr is a terminal; then a summary line. */
export function progress(label: string): { tick(n: number): void; done(summary: string): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    tick(n) {
      const now = Date.now();
      if (!tty || now - last < 1000) return;
      last = now;
      process.stderr.write(`\r${label}: ${n}`);
    },
    done(summary) {
      // Over the progress line (erased to its end) on a terminal; one line of its own otherwise.
      process.stderr.write(`${tty && last > 0 ? '\r\x1b[K' : ''}${summary}\n`);
    },
  };
}
