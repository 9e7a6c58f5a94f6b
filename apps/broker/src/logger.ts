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
