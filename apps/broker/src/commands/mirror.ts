import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { MirrorConfigError, MirrorMaker, parseMirrorConfig } from '@sluice/mirror';
import type { Command } from 'commander';
import { parseProperties } from '../config/properties.js';
import { createLogger } from '../logger.js';
import { collectKeyValue, runAction, UsageError } from './common.js';

interface MirrorFlags {
  config: string;
  override: Record<string, string>;
}

/** `sluice mirror --config mirror.properties`: MirrorMaker 2's flows, until SIGINT or SIGTERM. */
export function registerMirrorCommand(program: Command): void {
  program
    .command('mirror')
    .description("Mirror topics, offsets and groups between clusters (MirrorMaker 2's mm2.properties)")
    .requiredOption('-c, --config <file>', 'mm2.properties: clusters, A.bootstrap.servers, A->B.enabled, …')
    .option('--override <key=value>', 'a property over the file’s; repeatable', collectKeyValue, {})
    .action((flags: MirrorFlags) =>
      runAction(async () => {
        let text: string;
        try {
          text = readFileSync(flags.config, 'utf8');
        } catch (err) {
          throw new UsageError(`cannot read ${flags.config}: ${(err as Error).message}`);
        }
        const props = { ...parseProperties(text), ...flags.override };
        let config: ReturnType<typeof parseMirrorConfig>;
        try {
          config = parseMirrorConfig(props);
        } catch (err) {
          if (err instanceof MirrorConfigError) throw new UsageError(`${flags.config}: ${err.message}`);
          throw err;
        }
        const logger = createLogger(props['log.level']);
        const mirror = new MirrorMaker(config, { logger });
        const metricsPort = props['metrics.port'];
        const server =
          metricsPort === undefined
            ? null
            : createServer((req, res) => {
                if (req.url !== '/metrics') {
                  res.writeHead(404).end();
                  return;
                }
                mirror.metrics.registry.metrics().then(
                  (body) => res.writeHead(200, { 'content-type': mirror.metrics.registry.contentType }).end(body),
                  () => res.writeHead(500).end(),
                );
              });
        if (server !== null) {
          const port = Number(metricsPort);
          if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`metrics.port: ${metricsPort}`);
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(port, props['metrics.host'] ?? '127.0.0.1', resolve);
          });
        }
        let stopping: (() => void) | null = null;
        const stopped = new Promise<void>((resolve) => {
          stopping = resolve;
        });
        const onSignal = () => stopping?.();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          await mirror.start();
          logger.info(
            { flows: config.flows.map((f) => `${f.source.alias}->${f.target.alias}`) },
            'sluice mirror started',
          );
          await Promise.race([stopped, mirror.failed()]);
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await mirror.stop();
          server?.close();
          logger.info({}, 'sluice mirror stopped');
        }
      }),
    );
}
