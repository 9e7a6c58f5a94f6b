// `MirrorMaker`: every enabled flow of a MirrorConfig run side by side in one process.
import type { Registry } from 'prom-client';
import type { MirrorConfig } from './config.js';
import { MirrorFlow, type MirrorLogger } from './flow.js';
import { MirrorMetrics } from './metrics.js';

export interface MirrorOptions {
  /** pino or any object with info/warn/error(fields, message); default: silent. */
  logger?: MirrorLogger;
  /** Where the metrics go (a new Registry by default: see `metrics.registry`). */
  registry?: Registry;
}

const SILENT: MirrorLogger = { info() {}, warn() {}, error() {} };

export class MirrorMaker {
  readonly flows: MirrorFlow[];
  readonly metrics: MirrorMetrics;
  private readonly logger: MirrorLogger;

  constructor(
    readonly config: MirrorConfig,
    options: MirrorOptions = {},
  ) {
    this.logger = options.logger ?? SILENT;
    this.metrics = new MirrorMetrics(options.registry);
    this.flows = config.flows.map((f) => new MirrorFlow(f, { logger: this.logger, metrics: this.metrics }));
  }

  /** Starts every flow; rejects (after stopping the ones started) when one cannot start. */
  async start(): Promise<void> {
    const started: MirrorFlow[] = [];
    try {
      for (const f of this.flows) {
        await f.start();
        started.push(f);
      }
    } catch (err) {
      await Promise.allSettled([...started, ...this.flows.filter((f) => !started.includes(f))].map((f) => f.stop()));
      throw err;
    }
  }

  /** Rejects with the first error that stops a flow (a record the target refused after its retries). */
  failed(): Promise<never> {
    return Promise.race(this.flows.map((f) => f.failure$));
  }

  /** Stops every flow: pending records are sent and positions stored, so a restart repeats nothing. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.flows.map((f) => f.stop()));
  }
}
