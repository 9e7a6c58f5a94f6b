// Structured JSON logs (pino), one object per line on stdout unless a destination is given.

import pino, { type DestinationStream, type Logger } from 'pino';
import { LOG_LEVELS } from './config/broker-config.js';

export type { Logger };
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** Where log lines go; default stdout, written synchronously so nothing is lost on exit. */
  destination?: DestinationStream;
  /** Extra fields on every line, e.g. { nodeId: 1 }. */
  bindings?: Record<string, unknown>;
}

/** The level to use: the one given (from config `log.level`), else env LOG_LEVEL, else info. */
export function resolveLogLevel(
  level?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): LogLevel {
  const chosen = level ?? env.LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(chosen)) {
    throw new Error(`Invalid log level '${chosen}': expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return chosen as LogLevel;
}

/**
 * What an application embedding the broker may hand startBroker() to receive its log lines: a
 * pino logger as it is, or any object with these methods (console, winston, bunyan, a test's
 * collector). Each call gets the line's fields and its message.
 */
export interface BrokerLogger {
  error(fields: Record<string, unknown>, msg?: string): void;
  warn(fields: Record<string, unknown>, msg?: string): void;
  info(fields: Record<string, unknown>, msg?: string): void;
  debug?(fields: Record<string, unknown>, msg?: string): void;
  /** A level name ('info', 'debug', …) below which lines are not produced; default the config's log.level. */
  level?: string;
}

const PINO_LEVEL_NAMES: Record<number, keyof BrokerLogger> = {
  10: 'debug',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'error',
};

function isPino(logger: unknown): logger is Logger {
  const l = logger as Partial<Logger>;
  return typeof l.child === 'function' && typeof l.levels === 'object' && l.levels !== null;
}

/**
 * The logger the broker writes to: a pino logger is used as it is; another one receives each
 * line as (fields, message); none means no log at all — a library is quiet unless asked.
 */
export function brokerLogger(given: Logger | BrokerLogger | undefined, defaultLevel: LogLevel = 'info'): Logger {
  if (given === undefined) return pino({ level: 'silent' });
  if (isPino(given)) return given;
  const level = given.level && (LOG_LEVELS as readonly string[]).includes(given.level) ? given.level : defaultLevel;
  // pino renders each line; the destination hands it to the given logger as fields and message.
  return pino(
    { level, base: undefined, timestamp: false },
    {
      write(line: string) {
        const { level: n, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string };
        const method = given[PINO_LEVEL_NAMES[n] ?? 'info'] as BrokerLogger['info'] | undefined;
        (method ?? given.info).call(given, fields, msg);
      },
    },
  );
}

export function createLogger(level?: string, opts: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      name: 'sluice',
      level: resolveLogLevel(level),
      base: { pid: process.pid, ...opts.bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  return logger;
}
