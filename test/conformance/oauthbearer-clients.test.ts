import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, repoRoot, requireJava, startSluice } from './brokers.js';

// Unmodified clients logging in to Sluice with SASL OAUTHBEARER and unsecured JWS tokens, each with
// its own built-in token maker: Kafka's Java console producer and consumer
// (OAuthBearerLoginModule's unsecuredLoginStringClaim_sub) and librdkafka through confluent-kafka
// (enable.sasl.oauthbearer.unsecure.jwt with sasl.oauthbearer.config). The listener requires scope
// `kafka`, so a token without it is refused: the Java client reports the JSON status Sluice sent.
// Run with `npm run test:conformance`.

const kafkaScript = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');
const python = join(homedir(), '.cache', 'sluice', 'py-clients', 'bin', 'python');

function run(command: string, args: string[], input = '', timeoutMs = 120_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} did not finish within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 1 << 20) stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1 << 20) stderr += d.toString('utf8');
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const runClass = (args: string[], input?: string, timeoutMs?: number) =>
  run('bash', [kafkaScript, 'run-class', ...args], input, timeoutMs);

let sluice: BrokerUnderTest & { broker: RunningBroker };

beforeAll(async () => {
  requireJava();
  sluice = await startSluice({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0',
    'sasl.enabled.mechanisms': 'OAUTHBEARER',
    'listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config':
      'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredValidatorRequiredScope="kafka";',
  });
});

afterAll(async () => {
  await sluice?.stop();
});

const bootstrap = () => `127.0.0.1:${sluice.broker.listeners.SASL_PLAINTEXT!.port}`;

function javaProps(name: string, scope: string): string {
  const file = join(sluice.dir, name);
  writeFileSync(
    file,
    [
      'security.protocol=SASL_PLAINTEXT',
      'sasl.mechanism=OAUTHBEARER',
      `sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice" unsecuredLoginListClaim_scope=",${scope}";`,
      '',
    ].join('\n'),
  );
  return file;
}

describe('OAUTHBEARER (unsecured JWS) with unmodified clients', () => {
  it('Java console producer and consumer', async () => {
    const props = javaProps('oauth.properties', 'kafka');
    const lines = ['one', 'two', 'three'];
    const produced = await runClass(
      [
        'org.apache.kafka.tools.ConsoleProducer',
        '--bootstrap-server',
        bootstrap(),
        '--topic',
        'oauth-java',
        '--command-config',
        props,
      ],
      `${lines.join('\n')}\n`,
    );
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await runClass([
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      '--bootstrap-server',
      bootstrap(),
      '--topic',
      'oauth-java',
      '--group',
      'oauth-java-g',
      '--from-beginning',
      '--max-messages',
      String(lines.length),
      '--timeout-ms',
      '30000',
      '--command-config',
      props,
    ]);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trimEnd().split('\n')).toEqual(lines);
  });

  it('Java: a token without the required scope is refused with the JSON status', async () => {
    const r = await runClass(
      [
        'org.apache.kafka.tools.ConsoleProducer',
        '--bootstrap-server',
        bootstrap(),
        '--topic',
        'oauth-denied',
        '--command-config',
        javaProps('oauth-noscope.properties', 'other'),
      ],
      'x\n',
      90_000,
    );
    expect(`${r.stdout}${r.stderr}`).toMatch(/SaslAuthenticationException/);
    expect(`${r.stdout}${r.stderr}`).toContain('insufficient_scope');
  });

  it('librdkafka (confluent-kafka) produces and consumes with its unsecured JWT', async () => {
    const program = `
import sys, json
from confluent_kafka import Producer, Consumer
conf = {'bootstrap.servers': sys.argv[1], 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'OAUTHBEARER',
        'enable.sasl.oauthbearer.unsecure.jwt': True, 'sasl.oauthbearer.config': 'principal=alice scope=kafka'}
p = Producer(conf)
for v in ['a', 'b', 'c']:
    p.produce('oauth-rdkafka', v.encode())
left = p.flush(30)
c = Consumer({**conf, 'group.id': 'oauth-rdkafka-g', 'auto.offset.reset': 'earliest'})
c.subscribe(['oauth-rdkafka'])
got = []
for _ in range(60):
    m = c.poll(1.0)
    if m is None: continue
    if m.error(): print(json.dumps({'error': str(m.error())})); break
    got.append(m.value().decode())
    if len(got) == 3: break
c.close()
print(json.dumps({'unsent': left, 'got': got}))
`;
    const r = await run(python, ['-c', program, bootstrap()]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ unsent: 0, got: ['a', 'b', 'c'] });
  });
});
