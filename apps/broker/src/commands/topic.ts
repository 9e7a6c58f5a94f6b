import { ConfigOp, ConfigResource } from '@sluice/client';
import type { Command } from 'commander';
import {
  type ClientFlags,
  collectKeyValue,
  parseCount,
  requireTopics,
  runAction,
  withAdmin,
  withBootstrap,
} from './common.js';

interface CreateFlags extends ClientFlags {
  partitions?: number;
  replicationFactor?: number;
  config: Record<string, string>;
}

interface AlterFlags extends ClientFlags {
  set: Record<string, string>;
  delete: string[];
  partitions?: number;
}

/** `sluice topic create|list|describe|alter|delete`. */
export function registerTopicCommands(program: Command): void {
  const topic = program.command('topic').description('Create, list, describe, alter and delete topics');

  withBootstrap(topic.command('create <name>').description('Create a topic'))
    .option('-p, --partitions <n>', 'number of partitions (default: the broker’s num.partitions)', parseCount)
    .option('-r, --replication-factor <n>', 'replication factor (default: the broker’s)', parseCount)
    .option('-c, --config <key=value>', 'a topic config; repeatable', collectKeyValue, {})
    .action((name: string, flags: CreateFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          await admin.createTopics([
            {
              name,
              ...(flags.partitions !== undefined ? { numPartitions: flags.partitions } : {}),
              ...(flags.replicationFactor !== undefined ? { replicationFactor: flags.replicationFactor } : {}),
              configs: flags.config,
            },
          ]);
          process.stdout.write(`Created topic ${name}.\n`);
        }),
      ),
    );

  withBootstrap(topic.command('list').description('List topics, one per line'))
    .option('--include-internal', 'also list internal topics such as __consumer_offsets')
    .action((flags: ClientFlags & { includeInternal?: boolean }) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          const names = await admin.listTopics({ includeInternal: flags.includeInternal === true });
          for (const n of names.sort()) process.stdout.write(`${n}\n`);
        }),
      ),
    );

  withBootstrap(topic.command('describe <names...>').description('Partitions, leaders and non-default configs')).action(
    (names: string[], flags: ClientFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          await requireTopics(admin, names);
          for (const info of await admin.describeTopics(names)) {
            const configs = await admin.describeConfigs(ConfigResource.TOPIC, info.name);
            const overrides = configs.filter((c) => !c.isDefault && c.source === 1);
            process.stdout.write(
              `Topic: ${info.name}\tTopicId: ${info.topicId}\tPartitionCount: ${info.partitions.length}\tConfigs: ${overrides
                .map((c) => `${c.name}=${c.isSensitive ? '(sensitive)' : c.value}`)
                .join(',')}\n`,
            );
            for (const p of info.partitions) {
              process.stdout.write(
                `\tPartition: ${p.partition}\tLeader: ${p.leader}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}\n`,
              );
            }
          }
        }),
      ),
  );

  withBootstrap(topic.command('alter <name>').description('Change topic configs or grow the partition count'))
    .option('-s, --set <key=value>', 'set a topic config; repeatable', collectKeyValue, {})
    .option(
      '-d, --delete <key>',
      'remove a topic config override; repeatable',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('-p, --partitions <n>', 'grow the topic to this many partitions', parseCount)
    .action((name: string, flags: AlterFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          await requireTopics(admin, [name]);
          const ops = [
            ...Object.entries(flags.set).map(([n, value]) => ({ name: n, op: ConfigOp.SET, value })),
            ...flags.delete.map((n) => ({ name: n, op: ConfigOp.DELETE, value: null })),
          ];
          if (ops.length > 0) await admin.incrementalAlterConfigs(ConfigResource.TOPIC, name, ops);
          if (flags.partitions !== undefined) await admin.createPartitions([{ topic: name, count: flags.partitions }]);
          process.stdout.write(`Altered topic ${name}.\n`);
        }),
      ),
    );

  withBootstrap(topic.command('delete <names...>').description('Delete topics')).action(
    (names: string[], flags: ClientFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          await requireTopics(admin, names);
          await admin.deleteTopics(names);
          process.stdout.write(`Deleted ${names.join(', ')}.\n`);
        }),
      ),
  );
}
