// `sluice acl create|list|delete`, `sluice user create|list|delete` (SCRAM credentials) and `sluice
// quota set|describe` (client quotas), with the names Kafka's kafka-acls and kafka-configs use for
// the same things.

import {
  type AclBinding,
  type AclBindingFilter,
  AclOperation,
  AclPermissionType,
  CLUSTER_NAME,
  PatternType,
  ResourceType,
  type ScramMechanismName,
} from '@sluice/security';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type ClientFlags,
  collectKeyValue,
  parseCount,
  runAction,
  UsageError,
  withAdmin,
  withBootstrap,
} from './common.js';
import { registerTokenCommands } from './tokens.js';

interface AclFlags extends ClientFlags {
  principal?: string;
  host?: string;
  operation: string[];
  topic?: string;
  group?: string;
  transactionalId?: string;
  cluster?: boolean;
  prefixed?: boolean;
  deny?: boolean;
}

const OPERATIONS = Object.keys(AclOperation).filter((o) => o !== 'UNKNOWN' && o !== 'ANY');
const nameOf = (table: Record<string, number>, code: number) =>
  Object.entries(table).find(([, v]) => v === code)?.[0] ?? String(code);

function collectOperation(value: string, previous: string[]): string[] {
  const op = value.toUpperCase().replace(/-/g, '_');
  if (!OPERATIONS.includes(op)) throw new InvalidArgumentError(`expected one of ${OPERATIONS.join(', ')}`);
  return [...previous, op];
}

/** The resource the flags name: exactly one of --topic, --group, --transactional-id, --cluster. */
function resourceOf(flags: AclFlags, required: boolean): { type: number; name: string | null } {
  const given: { type: number; name: string }[] = [];
  if (flags.topic !== undefined) given.push({ type: ResourceType.TOPIC, name: flags.topic });
  if (flags.group !== undefined) given.push({ type: ResourceType.GROUP, name: flags.group });
  if (flags.transactionalId !== undefined)
    given.push({ type: ResourceType.TRANSACTIONAL_ID, name: flags.transactionalId });
  if (flags.cluster === true) given.push({ type: ResourceType.CLUSTER, name: CLUSTER_NAME });
  if (given.length > 1) throw new UsageError('name one resource: --topic, --group, --transactional-id or --cluster');
  if (given.length === 0) {
    if (required) throw new UsageError('name a resource: --topic, --group, --transactional-id or --cluster');
    return { type: ResourceType.ANY, name: null };
  }
  return given[0]!;
}

function filterOf(flags: AclFlags): AclBindingFilter[] {
  const resource = resourceOf(flags, false);
  const ops =
    flags.operation.length === 0
      ? [AclOperation.ANY]
      : flags.operation.map((o) => AclOperation[o as keyof typeof AclOperation]);
  return ops.map((operation) => ({
    resourceType: resource.type,
    resourceName: resource.name,
    patternType: flags.prefixed ? PatternType.PREFIXED : resource.name === null ? PatternType.ANY : PatternType.LITERAL,
    principal: flags.principal ?? null,
    host: flags.host ?? null,
    operation,
    permissionType:
      flags.deny === undefined ? AclPermissionType.ANY : flags.deny ? AclPermissionType.DENY : AclPermissionType.ALLOW,
  }));
}

function printAcls(acls: readonly AclBinding[]): void {
  for (const a of acls) {
    const pattern = nameOf(PatternType, a.patternType);
    process.stdout.write(
      `${nameOf(ResourceType, a.resourceType)}:${pattern}:${a.resourceName} ${a.principal} ${a.host} ${nameOf(AclOperation, a.operation)} ${nameOf(AclPermissionType, a.permissionType)}\n`,
    );
  }
}

function aclOptions(cmd: Command): Command {
  return withBootstrap(cmd)
    .option('--principal <User:name>', 'the principal (User:alice, User:*)')
    .option('--host <ip>', 'the client address the ACL applies to (* for any)')
    .option('--operation <op>', `an operation; repeatable (${OPERATIONS.join(', ')})`, collectOperation, [])
    .option('--topic <name>', 'a topic (or a prefix with --prefixed, * for all)')
    .option('--group <name>', 'a consumer group')
    .option('--transactional-id <id>', 'a transactional id')
    .option('--cluster', 'the cluster')
    .option('--prefixed', 'the name is a prefix (PREFIXED pattern)');
}

export function registerSecurityCommands(program: Command): void {
  const acl = program
    .command('acl')
    .description('Create, list and delete ACLs (needs authorizer.class.name on the broker)');
  aclOptions(acl.command('create').description('Create ACLs: one per --operation'))
    .option('--deny', 'a DENY ACL (default: ALLOW)')
    .action((flags: AclFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          if (flags.principal === undefined) throw new UsageError('--principal is required');
          if (flags.operation.length === 0) throw new UsageError('--operation is required');
          const resource = resourceOf(flags, true);
          const acls: AclBinding[] = flags.operation.map((op) => ({
            resourceType: resource.type,
            resourceName: resource.name!,
            patternType: flags.prefixed ? PatternType.PREFIXED : PatternType.LITERAL,
            principal: flags.principal!,
            host: flags.host ?? '*',
            operation: AclOperation[op as keyof typeof AclOperation],
            permissionType: flags.deny ? AclPermissionType.DENY : AclPermissionType.ALLOW,
          }));
          await admin.createAcls(acls);
          printAcls(acls);
        }),
      ),
    );
  aclOptions(acl.command('list').description('List the ACLs the options match (all without options)'))
    .addOption(new Option('--deny', 'DENY ACLs only'))
    .action((flags: AclFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          const seen = new Set<string>();
          for (const f of filterOf(flags)) {
            for (const a of await admin.describeAcls(f)) {
              const key = JSON.stringify(a);
              if (!seen.has(key)) {
                seen.add(key);
                printAcls([a]);
              }
            }
          }
        }),
      ),
    );
  aclOptions(acl.command('delete').description('Delete the ACLs the options match'))
    .option('--deny', 'DENY ACLs only')
    .action((flags: AclFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          if (flags.principal === undefined && resourceOf(flags, false).name === null) {
            throw new UsageError('name a --principal or a resource (deleting every ACL is not done by accident)');
          }
          printAcls(await admin.deleteAcls(filterOf(flags)));
        }),
      ),
    );

  const user = program.command('user').description('Create, list and delete SCRAM users');
  const mechanismOption = () =>
    new Option('--mechanism <name>', 'the SCRAM mechanism')
      .choices(['SCRAM-SHA-256', 'SCRAM-SHA-512'])
      .default('SCRAM-SHA-512');
  withBootstrap(user.command('create <name>').description('Create a user or set its password'))
    .requiredOption('--password <password>', 'the password (the broker stores only a salted form)')
    .addOption(mechanismOption())
    .option('--iterations <n>', 'PBKDF2 iterations, 4096..16384', parseCount, 8192)
    .action(
      (name: string, flags: ClientFlags & { password: string; mechanism: ScramMechanismName; iterations: number }) =>
        runAction(() =>
          withAdmin(flags, async (admin) => {
            await admin.upsertScramCredential(name, flags.mechanism, flags.password, flags.iterations);
            process.stdout.write(`${name} ${flags.mechanism} iterations=${flags.iterations}\n`);
          }),
        ),
    );
  withBootstrap(user.command('list').description('List users with SCRAM credentials')).action((flags: ClientFlags) =>
    runAction(() =>
      withAdmin(flags, async (admin) => {
        for (const u of await admin.describeScramCredentials()) {
          const creds = u.credentials.map((c) => `${c.mechanism} iterations=${c.iterations}`).join(', ');
          process.stdout.write(`${u.user} ${creds}\n`);
        }
      }),
    ),
  );
  withBootstrap(user.command('delete <name>').description("Delete a user's SCRAM credential"))
    .addOption(mechanismOption())
    .action((name: string, flags: ClientFlags & { mechanism: ScramMechanismName }) =>
      runAction(() => withAdmin(flags, (admin) => admin.deleteScramCredential(name, flags.mechanism))),
    );

  registerQuotaCommands(program);
  registerTokenCommands(program);
}

interface QuotaFlags extends ClientFlags {
  user?: string;
  userDefault?: boolean;
  clientId?: string;
  clientIdDefault?: boolean;
}

/** The entity the flags name: a user and/or a client id, each a name or the default. */
function quotaEntity(flags: QuotaFlags, required: boolean): Record<string, string | null | undefined> {
  if (flags.user !== undefined && flags.userDefault) throw new UsageError('give --user or --user-default, not both');
  if (flags.clientId !== undefined && flags.clientIdDefault) {
    throw new UsageError('give --client-id or --client-id-default, not both');
  }
  const entity: Record<string, string | null | undefined> = {};
  if (flags.user !== undefined || flags.userDefault) entity.user = flags.userDefault ? null : flags.user;
  if (flags.clientId !== undefined || flags.clientIdDefault) {
    entity['client-id'] = flags.clientIdDefault ? null : flags.clientId;
  }
  if (required && Object.keys(entity).length === 0) {
    throw new UsageError('name an entity: --user, --user-default, --client-id and/or --client-id-default');
  }
  return entity;
}

function quotaOptions(cmd: Command): Command {
  return withBootstrap(cmd)
    .option('--user <name>', 'a user (the principal name, e.g. alice for User:alice)')
    .option('--user-default', 'the default of every user that has no quota of its own')
    .option('--client-id <id>', 'a client id')
    .option('--client-id-default', 'the default of every client id that has no quota of its own');
}

function registerQuotaCommands(program: Command): void {
  const quota = program
    .command('quota')
    .description(
      'Set and describe client quotas: producer_byte_rate, consumer_byte_rate, request_percentage, controller_mutation_rate',
    );
  quotaOptions(quota.command('set').description('Set (--add) or remove (--delete) quota values of one entity'))
    .option('--add <key=value>', 'a quota value to set; repeatable', collectKeyValue, {})
    .option('--delete <key>', 'a quota key to remove; repeatable', (v: string, prev: string[]) => [...prev, v], [])
    .action((flags: QuotaFlags & { add: Record<string, string>; delete: string[] }) =>
      runAction(async () => {
        const entity = quotaEntity(flags, true) as Record<string, string | null>;
        const set: Record<string, number> = {};
        for (const [key, raw] of Object.entries(flags.add)) {
          const value = Number(raw);
          if (raw.trim() === '' || !Number.isFinite(value))
            throw new UsageError(`--add ${key}: ${raw} is not a number`);
          set[key] = value;
        }
        if (Object.keys(set).length === 0 && flags.delete.length === 0) {
          throw new UsageError('give at least one --add key=value or --delete key');
        }
        await withAdmin(flags, (admin) => admin.alterClientQuotas([{ entity, set, remove: flags.delete }]));
      }),
    );
  quotaOptions(
    quota
      .command('describe')
      .description('Describe the quotas of the entities the options match (all without options)'),
  ).action((flags: QuotaFlags) =>
    runAction(() =>
      withAdmin(flags, async (admin) => {
        for (const e of await admin.describeClientQuotas(quotaEntity(flags, false))) {
          const entity = Object.entries(e.entity)
            .map(([t, n]) => `${t}=${n ?? '<default>'}`)
            .join(',');
          const values = Object.entries(e.values)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => `${k}=${v}`)
            .join(' ');
          process.stdout.write(`${entity} ${values}\n`);
        }
      }),
    ),
  );
}
