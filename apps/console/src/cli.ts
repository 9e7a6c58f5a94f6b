// `sluice console` (and `sluice-console`): serves the console until Ctrl-C.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ConsoleSecurity, parseClientProperties, securityFromProperties } from './client-config.js';
import { startConsole } from './server.js';

const USAGE = `Usage: sluice console [--bootstrap-server host:port] [--port 8080] [--host 127.0.0.1]
                      [--metrics-url http://host:port/metrics …] [--allow-host name …]
                      [--command-config client.properties] [--security-protocol SASL_PLAINTEXT]
                      [--sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512]
                      [--login] [--max-sessions 100] [--session-idle-minutes 30]

Serves a web console for a Sluice or Apache Kafka cluster. It binds to 127.0.0.1 unless --host
says otherwise; a console reached through another name needs --allow-host NAME.
--command-config takes Kafka's client settings (as kafka-topics --command-config does):
security.protocol PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; for TLS ssl.truststore.location
(PEM), ssl.keystore.location (PEM or PKCS12, for mutual TLS) and
ssl.endpoint.identification.algorithm. With a sasl.jaas.config every page uses that one user.
Without one on a SASL protocol, or with --login, each browser logs in on a login page with its
own SASL credentials; sessions end after --session-idle-minutes unused, at most --max-sessions
at once. --security-protocol and --sasl-mechanism override the file's.`;

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
  let security: ConsoleSecurity;
  const maxSessions = Number(values['max-sessions'] ?? '100');
  const idleMinutes = Number(values['session-idle-minutes'] ?? '30');
  try {
    if (!Number.isInteger(maxSessions) || maxSessions < 1 || maxSessions > 10_000) {
      throw new Error('--max-sessions must be 1..10000');
    }
    if (!(idleMinutes >= 1 && idleMinutes <= 7 * 24 * 60)) throw new Error('--session-idle-minutes must be 1..10080');
    const file = values['command-config'];
    security = securityFromProperties(file === undefined ? {} : parseClientProperties(readFileSync(file, 'utf8')), {
      securityProtocol: values['security-protocol'],
      saslMechanism: values['sasl-mechanism'],
      login: values.login,
    });
  } catch (err) {
    process.stderr.write(`sluice console: ${(err as Error).message}\n`);
    return 2;
  }
  const running = await startConsole({
    sasl: security.sasl,
    ssl: security.ssl,
    login: security.login && { maxSessions, idleTimeoutMs: idleMinutes * 60_000, mechanism: security.mechanism },
    bootstrap,
    port,
    host: values.host ?? '127.0.0.1',
    metricsUrls: values['metrics-url'],
    allowedHosts: values['allow-host'],
  });
  const how = security.login ? ' (log in with SASL credentials)' : '';
  process.stdout.write(`Sluice console for ${bootstrap.join(',')} on ${running.url}${how}\n`);
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
      login: { type: 'boolean' },
      'max-sessions': { type: 'string' },
      'session-idle-minutes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}
