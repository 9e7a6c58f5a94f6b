// `sluice user`, `sluice acl`, `sluice quota` and `sluice token` as real processes against a broker with SASL and ACLs, and
// `--command-config` taking a Kafka client properties file (security.protocol, sasl.*) for every
// client command.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import { builtCli, startInProcess, tempDir } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));
let broker: RunningBroker;
let dir: string;

const properties = (name: string, lines: string[]) => {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
};
let admin: string;
let carol: string;

beforeAll(async () => {
  builtCli();
  dir = tempDir('sluice-cli-security-');
  broker = await startInProcess({
    'log.dirs': join(dir, 'data'),
    listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
    'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-512',
    'listener.name.sasl_plaintext.plain.sasl.jaas.config':
      'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-pw";',
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': 'User:admin',
    'delegation.token.secret.key': 'cli-token-secret',
  });
  admin = properties('admin.properties', [
    'security.protocol=SASL_PLAINTEXT',
    'sasl.mechanism=PLAIN',
    'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw";',
  ]);
  carol = properties('carol.properties', [
    'security.protocol=SASL_PLAINTEXT',
    'sasl.mechanism=SCRAM-SHA-512',
    'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="carol" password="carol-pw";',
  ]);
});
afterAll(async () => {
  await broker?.stop();
});

function sluice(args: string[], config: string, stdin = '') {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [BIN, ...args, '--bootstrap-server', broker.bootstrap, '--command-config', config],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('sluice user and acl', () => {
  it('creates a SCRAM user and ACLs for it; the user is then held to them', async () => {
    expect(await sluice(['user', 'create', 'carol', '--password', 'carol-pw'], admin)).toMatchObject({ code: 0 });
    expect((await sluice(['user', 'list'], admin)).stdout).toBe('carol SCRAM-SHA-512 iterations=8192\n');
    const created = await sluice(
      [
        'acl',
        'create',
        '--principal',
        'User:carol',
        '--operation',
        'write',
        '--operation',
        'describe',
        '--topic',
        'cli-',
        '--prefixed',
      ],
      admin,
    );
    expect(created.code, created.stderr).toBe(0);
    const listed = await sluice(['acl', 'list', '--principal', 'User:carol'], admin);
    expect(listed.stdout.trim().split('\n').sort()).toEqual([
      'TOPIC:PREFIXED:cli- User:carol * DESCRIBE ALLOW',
      'TOPIC:PREFIXED:cli- User:carol * WRITE ALLOW',
    ]);
    expect((await sluice(['topic', 'create', 'cli-x'], admin)).code).toBe(0);
    expect((await sluice(['topic', 'create', 'other'], admin)).code).toBe(0);
    const ok = await sluice(['produce', 'cli-x'], carol, 'hello\n');
    expect(ok.code, ok.stderr).toBe(0);
    const refused = await sluice(['produce', 'other'], carol, 'hello\n');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/TOPIC_AUTHORIZATION_FAILED|authorization/i);
    // carol may not manage ACLs.
    expect((await sluice(['acl', 'list'], carol)).code).toBe(1);
    const deleted = await sluice(['acl', 'delete', '--principal', 'User:carol'], admin);
    expect(deleted.stdout.trim().split('\n').length).toBe(2);
    expect((await sluice(['acl', 'list'], admin)).stdout).toBe('');
    expect((await sluice(['user', 'delete', 'carol'], admin)).code).toBe(0);
    expect((await sluice(['topic', 'list'], carol)).code).toBe(1);
  }, 60_000);
});

describe('sluice quota', () => {
  it('sets, describes and removes request_percentage and controller_mutation_rate (and the byte rates) per user, client id and default', async () => {
    const set = await sluice(
      ['quota', 'set', '--user', 'carol', '--add', 'request_percentage=25.5', '--add', 'controller_mutation_rate=2'],
      admin,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(
      (
        await sluice(
          ['quota', 'set', '--user-default', '--client-id', 'app', '--add', 'producer_byte_rate=1048576'],
          admin,
        )
      ).code,
    ).toBe(0);
    expect((await sluice(['quota', 'describe', '--user', 'carol'], admin)).stdout).toBe(
      'user=carol controller_mutation_rate=2 request_percentage=25.5\n',
    );
    const all = await sluice(['quota', 'describe'], admin);
    expect(all.stdout.trim().split('\n').sort()).toEqual([
      'client-id=app,user=<default> producer_byte_rate=1048576',
      'user=carol controller_mutation_rate=2 request_percentage=25.5',
    ]);
    expect(broker.context.store.image.securityRecords('quotas').size).toBe(2);
    const removed = await sluice(['quota', 'set', '--user', 'carol', '--delete', 'request_percentage'], admin);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await sluice(['quota', 'describe', '--user', 'carol'], admin)).stdout).toBe(
      'user=carol controller_mutation_rate=2\n',
    );
    // Kafka's validation: an unknown key, a byte rate that is not whole.
    const bad = await sluice(['quota', 'set', '--client-id', 'x', '--add', 'producer_byte_rate=1.5'], admin);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_REQUEST|producer_byte_rate/);
    expect((await sluice(['quota', 'set', '--add', 'request_percentage=1'], admin)).code).toBe(2);
  }, 60_000);
});

describe('sluice token', () => {
  it('creates, describes, renews and expires a delegation token; --command-config with tokenauth="true" logs in with it', async () => {
    expect((await sluice(['user', 'create', 'dave', '--password', 'dave-pw'], admin)).code).toBe(0);
    const dave = properties('dave.properties', [
      'security.protocol=SASL_PLAINTEXT',
      'sasl.mechanism=SCRAM-SHA-512',
      'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="dave" password="dave-pw";',
    ]);
    const created = await sluice(['token', 'create', '--renewer-principal', 'User:carol'], dave);
    expect(created.code, created.stderr).toBe(0);
    const m = /^(\S+) hmac=(\S+) owner=User:dave requester=User:dave renewers=\[User:carol\] /.exec(created.stdout);
    expect(m, created.stdout).not.toBeNull();
    const [, tokenId, hmac] = m!;
    const described = await sluice(['token', 'describe', '--owner-principal', 'User:dave'], dave);
    expect(described.stdout.startsWith(`${tokenId} hmac=${hmac} `), described.stdout).toBe(true);
    const withToken = properties('token.properties', [
      'security.protocol=SASL_PLAINTEXT',
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${tokenId}" password="${hmac}" tokenauth="true";`,
    ]);
    const listed = await sluice(['topic', 'list'], withToken);
    expect(listed.code, listed.stderr).toBe(0);
    // A token-authenticated client may not manage tokens.
    const refused = await sluice(['token', 'describe'], withToken);
    expect(refused.stderr).toMatch(/DELEGATION_TOKEN_REQUEST_NOT_ALLOWED/);
    const renewed = await sluice(['token', 'renew', '--hmac', hmac!, '--renew-time-period', '60000'], dave);
    expect(renewed.stdout, renewed.stderr).toMatch(/^expires=\d{4}-/);
    expect((await sluice(['token', 'expire', '--hmac', hmac!], dave)).code).toBe(0);
    expect((await sluice(['topic', 'list'], withToken)).code).toBe(1);
    expect((await sluice(['token', 'describe'], dave)).stdout).toBe('');
  }, 60_000);
});
