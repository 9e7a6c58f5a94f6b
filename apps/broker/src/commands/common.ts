import { type Command, InvalidArgumentError } from 'commander';

/** Exit codes scripts can rely on. */
export const EXIT_OK = 0;
/** The cluster answered with an error, or could not be reached. */
export const EXIT_FAILED = 1;
/** The command line itself was wrong (commander uses this code too). */
export const EXIT_USAGE = 2;

export const DEFAULT_BOOTSTRAP = '127.0.0.1:9092';

export interface ClientFlags {
  bootstrapServer: string;
}

/** Adds `--bootstrap-server` (Kafka's tools' name for it) to a client command. */
export function withBootstrap(cmd: Command): Command {
  return cmd.option('-b, --bootstrap-server <host:port,...>', 'brokers to bootstrap from', DEFAULT_BOOTSTRAP);
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
    process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_FAILED;
  }
}

/** A progress line on stderr, at most once a second, only when stderr is a terminal. */
export function progress(label: string): { tick(n: number): void; done(n: number): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    tick(n) {
      const now = Date.now();
      if (!tty || now - last < 1000) return;
      last = now;
      process.stderr.write(`\r${label}: ${n}`);
    },
    done(n) {
      if (tty) process.stderr.write(`\r${label}: ${n}\n`);
    },
  };
}
