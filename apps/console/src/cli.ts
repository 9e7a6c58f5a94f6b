// `sluice console` (and `sluice-console`): serves the console until Ctrl-C.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { SaslOptions } from '@sluice/client';
import { parseClientProperties, saslFromProperties } from './sasl-config.js';
import { startConsole } from './server.js';

const USAGE = `Usage: sluice console [--bootstrap-server host:port] [--port 8080] [--host 127.0.0.1]
                      [--metrics-url http://host:port/metrics …] [--allow-host name …]
                      [--command-config client.properties] [--security-protocol SASL_PLAINTEXT]
                      [--sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512]

Serves a web console for a Sluice or Apache Kafka cluster. It binds to 127.0.0.1 unless --host
says otherwise; a console reached through another name needs --allow-host NAME. On a SASL listener
it logs in as the user of --command-config's sasl.jaas.config (Kafka's client settings, as for
kafka-topics --command-config); --security-protocol and --sasl-mechanism override the file's.`;

/** Runs the console command on arguments after the command name; resolves once it is serving. */
export async function runConsoleCommand(args: readonly string[]): Promise<number | null> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(args).values;
  } catch (err) {
    process.stderr.write(`sluice console: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const port = Number(values.port ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`sluice console: --port must be 0..65535\n`);
    return 2;
  }
  const bootstrap = (values['bootstrap-server'] ?? '127.0.0.1:9092').split(',').filter((s) => s !== '');
  let sasl: SaslOptions | undefined;
  try {
    const file = values['command-config'];
    sasl = saslFromProperties(file === undefined ? {} : parseClientProperties(readFileSync(file, 'utf8')), {
      securityProtocol: values['security-protocol'],
      saslMechanism: values['sasl-mechanism'],
    });
  } catch (err) {
    process.stderr.write(`sluice console: ${(err as Error).message}\n`);
    return 2;
  }
  const running = await startConsole({
    sasl,
    bootstrap,
    port,
    host: values.host ?? '127.0.0.1',
    metricsUrls: values['metrics-url'],
    allowedHosts: values['allow-host'],
  });
  process.stdout.write(`Sluice console for ${bootstrap.join(',')} on ${running.url}\n`);
  const stop = () => {
    running.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return null;
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      'bootstrap-server': { type: 'string', short: 'b' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'metrics-url': { type: 'string', multiple: true },
      'allow-host': { type: 'string', multiple: true },
      'command-config': { type: 'string' },
      'security-protocol': { type: 'string' },
      'sasl-mechanism': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}
