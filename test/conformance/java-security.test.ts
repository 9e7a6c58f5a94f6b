import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningBroker } from '@sluice/broker';
import { createScramCredential } from '@sluice/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scramKey, scramRecord } from '../../apps/broker/src/server/broker-security.js';
import { makeTestCerts, type TestCerts } from '../../apps/broker/test/certs.js';
import { type BrokerUnderTest, repoRoot, requireJava, startSluice } from './brokers.js';

// Apache Kafka's own tools (Java clients), unmodified, against Sluice's secured listeners: a SCRAM
// user created with kafka-configs (AlterUserScramCredentials), then the console producer and
// consumer over SASL_SSL with SCRAM-SHA-512, and over mutual TLS; a wrong password is refused;
// kafka-acls adds and lists ACLs, which then hold for the certificate's principal;
// kafka-delegation-tokens creates, describes, renews and expires a token that the console
// producer and consumer log in with (SCRAM with tokenauth=true).
// Run with `npm run test:conformance`.

const script = join(repoRoot, 'scripts', 'reference-kafka', 'reference-kafka.sh');

function runClass(args: string[], input?: string, timeoutMs = 120_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('bash', [script, 'run-class', ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} did not finish within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 1024 * 1024) stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1024 * 1024) stderr += d.toString('utf8');
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

let certs: TestCerts;
let sluice: BrokerUnderTest & { broker: RunningBroker };

beforeAll(async () => {
  requireJava();
  certs = makeTestCerts();
  sluice = await startSluice({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0',
    'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': certs.brokerKeystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': certs.caFile,
    'listener.name.ssl.ssl.client.auth': 'required',
    // ACLs on, open where none are set: the PLAINTEXT admin (ANONYMOUS) is a super user.
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': 'User:ANONYMOUS',
    'allow.everyone.if.no.acl.found': 'true',
    'delegation.token.secret.key': 'conformance-token-secret',
  });
});

afterAll(async () => {
  await sluice?.stop();
});

const bootstrap = (listener: string) => `127.0.0.1:${sluice.broker.listeners[listener]!.port}`;

function clientProperties(name: string, lines: string[]): string {
  const file = join(certs.dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const scramProps = (password: string) =>
  clientProperties(`scram-${password}.properties`, [
    'security.protocol=SASL_SSL',
    'sasl.mechanism=SCRAM-SHA-512',
    `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="${password}";`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${certs.caFile}`,
  ]);

async function roundTrip(listener: string, props: string, topic: string) {
  const lines = ['one', 'two', 'three'];
  const produced = await runClass(
    [
      'org.apache.kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      bootstrap(listener),
      '--topic',
      topic,
      '--command-config',
      props,
    ],
    `${lines.join('\n')}\n`,
  );
  expect(produced.code, produced.stderr).toBe(0);
  const consumed = await runClass([
    'org.apache.kafka.tools.consumer.ConsoleConsumer',
    '--bootstrap-server',
    bootstrap(listener),
    '--topic',
    topic,
    '--group',
    `g-${topic}`,
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
}

describe('Kafka tools against Sluice over SASL_SSL and mTLS', () => {
  it('kafka-configs creates a SCRAM-SHA-512 user and a quota, describes both; console producer and consumer use it over SASL_SSL', async () => {
    const created = await runClass([
      'org.apache.kafka.tools.ConfigCommand',
      '--bootstrap-server',
      bootstrap('PLAINTEXT'),
      '--alter',
      '--add-config',
      'SCRAM-SHA-512=[iterations=8192,password=alice-secret]',
      '--entity-type',
      'users',
      '--entity-name',
      'alice',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const quota = await runClass([
      'org.apache.kafka.tools.ConfigCommand',
      '--bootstrap-server',
      bootstrap('PLAINTEXT'),
      '--alter',
      '--add-config',
      'producer_byte_rate=1048576',
      '--entity-type',
      'users',
      '--entity-name',
      'alice',
    ]);
    expect(quota.code, quota.stderr).toBe(0);
    const described = await runClass([
      'org.apache.kafka.tools.ConfigCommand',
      '--bootstrap-server',
      bootstrap('PLAINTEXT'),
      '--describe',
      '--entity-type',
      'users',
      '--entity-name',
      'alice',
    ]);
    expect(described.stdout, described.stderr).toMatch(/producer_byte_rate=1048576/);
    expect(described.stdout, described.stderr).toMatch(/SCRAM-SHA-512=iterations=8192/);
    await roundTrip('SASL_SSL', scramProps('alice-secret'), 'scram-rt');
  });

  it('a wrong SCRAM password is refused with an authentication error', async () => {
    const r = await runClass(
      [
        'org.apache.kafka.tools.ConsoleProducer',
        '--bootstrap-server',
        bootstrap('SASL_SSL'),
        '--topic',
        'scram-denied',
        '--command-config',
        scramProps('wrong'),
      ],
      'x\n',
      90_000,
    );
    expect(`${r.stdout}${r.stderr}`).toMatch(/SaslAuthenticationException|Authentication failed/);
  });

  it('console producer and consumer with a client certificate (ssl.client.auth=required)', async () => {
    const client = certs.client('java');
    const keystore = join(certs.dir, 'java-client.keystore.pem');
    writeFileSync(keystore, client.key + client.cert);
    const props = clientProperties('mtls.properties', [
      'security.protocol=SSL',
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${certs.caFile}`,
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${keystore}`,
    ]);
    await roundTrip('SSL', props, 'mtls-rt');
  });

  it('kafka-acls adds and lists ACLs; the client certificate principal is refused where only alice may write', async () => {
    const added = await runClass([
      'org.apache.kafka.tools.AclCommand',
      '--bootstrap-server',
      bootstrap('PLAINTEXT'),
      '--add',
      '--allow-principal',
      'User:alice',
      '--operation',
      'Write',
      '--operation',
      'Describe',
      '--topic',
      'acl-t',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const listed = await runClass([
      'org.apache.kafka.tools.AclCommand',
      '--bootstrap-server',
      bootstrap('PLAINTEXT'),
      '--list',
      '--topic',
      'acl-t',
    ]);
    expect(listed.stdout, listed.stderr).toMatch(
      /principal=User:alice, host=\*, operation=WRITE, permissionType=ALLOW/,
    );
    const client = certs.client('java-denied');
    const keystore = join(certs.dir, 'java-denied.keystore.pem');
    writeFileSync(keystore, client.key + client.cert);
    const props = clientProperties('mtls-denied.properties', [
      'security.protocol=SSL',
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${certs.caFile}`,
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${keystore}`,
    ]);
    const denied = await runClass(
      [
        'org.apache.kafka.tools.ConsoleProducer',
        '--bootstrap-server',
        bootstrap('SSL'),
        '--topic',
        'acl-t',
        '--command-config',
        props,
      ],
      'x\n',
      90_000,
    );
    expect(`${denied.stdout}${denied.stderr}`).toMatch(/TopicAuthorizationException|Not authorized to access topics/);
    const allowed = await runClass(
      [
        'org.apache.kafka.tools.ConsoleProducer',
        '--bootstrap-server',
        bootstrap('SASL_SSL'),
        '--topic',
        'acl-t',
        '--command-config',
        scramProps('alice-secret'),
      ],
      'y\n',
    );
    expect(allowed.code, allowed.stderr).toBe(0);
  });
});

describe('kafka-delegation-tokens against Sluice', () => {
  const tokenCommand = (props: string, args: string[]) =>
    runClass([
      'org.apache.kafka.tools.DelegationTokenCommand',
      '--bootstrap-server',
      bootstrap('SASL_SSL'),
      '--command-config',
      props,
      ...args,
    ]);
  const userProps = (user: string) =>
    clientProperties(`${user}-token-admin.properties`, [
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${user}-secret";`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${certs.caFile}`,
    ]);
  const tokenProps = (tokenId: string, hmac: string) =>
    clientProperties(`token-${tokenId}.properties`, [
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${tokenId}" password="${hmac}" tokenauth="true";`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${certs.caFile}`,
    ]);

  it('creates, describes and renews a token; the console producer and consumer log in with it; once expired it is refused', async () => {
    await sluice.broker.context.store.setSecurityRecords(
      ['dora', 'ed'].map((u) => ({
        kind: 'scram' as const,
        key: scramKey(u, 'SCRAM-SHA-512'),
        value: scramRecord(createScramCredential('SCRAM-SHA-512', `${u}-secret`, 4096)),
      })),
    );
    const dora = userProps('dora');
    const created = await tokenCommand(dora, [
      '--create',
      '--max-life-time-period',
      '-1',
      '--renewer-principal',
      'User:ed',
    ]);
    expect(created.code, created.stderr).toBe(0);
    // The row after the TOKENID/HMAC header: id, hmac, owner, requester, renewers, dates.
    const row = created.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((cols) => cols.length >= 8 && cols[2] === 'User:dora');
    expect(row, created.stdout).toBeDefined();
    const [tokenId, hmac, , requester, renewers] = row!;
    expect([requester, renewers]).toEqual(['User:dora', '[User:ed]']);

    // Without --owner-principal the tool sends an empty owner list, which Kafka answers with no tokens.
    const bare = await tokenCommand(userProps('ed'), ['--describe']);
    expect(bare.stdout, bare.stderr).toMatch(/Total number of tokens : 0/);
    const described = await tokenCommand(userProps('ed'), ['--describe', '--owner-principal', 'User:dora']);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toContain(tokenId!);
    expect(described.stdout).toMatch(/Total number of tokens : 1/);
    const renewed = await tokenCommand(userProps('ed'), ['--renew', '--renew-time-period', '-1', '--hmac', hmac!]);
    expect(renewed.stdout, renewed.stderr).toMatch(/Completed renew operation/);

    await roundTrip('SASL_SSL', tokenProps(tokenId!, hmac!), 'token-rt');

    const expired = await tokenCommand(dora, ['--expire', '--expiry-time-period', '-1', '--hmac', hmac!]);
    expect(expired.stdout, expired.stderr).toMatch(/Completed expire operation/);
    const refused = await runClass(
      [
        'org.apache.kafka.tools.ConsoleProducer',
        '--bootstrap-server',
        bootstrap('SASL_SSL'),
        '--topic',
        'token-rt',
        '--command-config',
        tokenProps(tokenId!, hmac!),
      ],
      'x\n',
      90_000,
    );
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/SaslAuthenticationException|Authentication failed/);
    // A renewal of the removed token: DelegationTokenNotFoundException.
    const gone = await tokenCommand(dora, ['--renew', '--renew-time-period', '-1', '--hmac', hmac!]);
    expect(`${gone.stdout}${gone.stderr}`).toMatch(/DelegationTokenNotFoundException|Delegation Token is not found/);
  }, 240_000);
});
