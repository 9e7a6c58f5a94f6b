import { Consumer, type TopicPartition } from '@sluice/client';
import { type Command, InvalidArgumentError } from 'commander';
import {
  type ClientFlags,
  CommandError,
  clientOptions,
  parseSigned,
  requireTopics,
  runAction,
  UsageError,
  withAdmin,
  withBootstrap,
} from './common.js';

interface ResetFlags extends ClientFlags {
  topic: string;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: string;
  execute?: boolean;
}

/** An ISO-8601 date and time (`2026-01-01T00:00:00Z`); anything Date.parse rejects is a usage error. */
function parseDatetime(value: string): string {
  if (Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError(`not a date and time: '${value}' (e.g. 2026-01-01T00:00:00Z)`);
  }
  return value;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `sluice group list|describe|reset-offsets`. */
export function registerGroupCommands(program: Command): void {
  const group = program
    .command('group')
    .description('List and describe consumer and share groups, reset their offsets');

  withBootstrap(group.command('list').description('Groups with their state, one per line')).action(
    (flags: ClientFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          for (const g of (await admin.listGroups()).sort((a, b) => a.groupId.localeCompare(b.groupId))) {
            process.stdout.write(`${g.groupId}\t${g.state}\t${g.protocolType}\n`);
          }
        }),
      ),
  );

  withBootstrap(group.command('describe <group>').description('Members, committed offsets and lag')).action(
    (groupId: string, flags: ClientFlags) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          const desc = await admin.describeGroup(groupId);
          // A group the coordinator does not know is answered as Dead (Kafka's tool words it so).
          if (desc.state === 'Dead') throw new CommandError(`Consumer group '${groupId}' does not exist.`);
          if (desc.type === 'share') {
            // A KIP-932 share group: members share partitions; its progress is each share-partition's start offset.
            process.stdout.write(
              `Share group ${groupId} (assignor ${desc.protocol}) is ${desc.state} at epoch ${desc.groupEpoch} with ${desc.members.length} member(s).\n`,
            );
            const members = [['MEMBER-ID', 'CLIENT-ID', 'HOST', 'MEMBER-EPOCH', 'ASSIGNMENT']];
            for (const m of desc.members) {
              const parts = m.assignment.map((tp) => `${tp.topic}-${tp.partition}`).join(',');
              members.push([m.memberId, m.clientId, m.clientHost, String(m.memberEpoch), parts === '' ? '-' : parts]);
            }
            process.stdout.write(`${desc.members.length > 0 ? table(members) : ''}\n`);
            const offsets = (await admin.describeShareGroupOffsets(groupId)).sort((a, b) =>
              a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
            );
            const rows = [['TOPIC', 'PARTITION', 'START-OFFSET', 'LAG']];
            for (const o of offsets) {
              rows.push([
                o.topic,
                String(o.partition),
                o.startOffset < 0n ? '-' : o.startOffset.toString(),
                o.lag < 0n ? '-' : o.lag.toString(),
              ]);
            }
            process.stdout.write(`${table(rows)}\n`);
            return;
          }
          const committed = new Map(
            (await admin.fetchGroupOffsets(groupId)).map((c) => [`${c.topic}\u0000${c.partition}`, c.offset]),
          );
          // Every partition with a commit or an owner: an assigned partition nothing was committed
          // for yet shows '-', as in kafka-consumer-groups.sh.
          const owner = new Map<string, string>();
          const partitions = new Map<string, TopicPartition>();
          for (const m of desc.members) {
            for (const tp of m.assignment) {
              owner.set(`${tp.topic}\u0000${tp.partition}`, m.memberId);
              partitions.set(`${tp.topic}\u0000${tp.partition}`, tp);
            }
          }
          for (const key of committed.keys()) {
            const [topic, partition] = key.split('\u0000');
            partitions.set(key, { topic, partition: Number(partition) });
          }
          const tps = [...partitions.values()].sort((a, b) =>
            a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
          );
          const ends = tps.length > 0 ? await admin.listOffsets(tps, 'latest') : [];
          if (desc.type === 'consumer') {
            // A KIP-848 group: its epoch, assignor and each member's epoch.
            process.stdout.write(
              `Group ${groupId} (consumer protocol, assignor ${desc.protocol}) is ${desc.state} at epoch ${desc.groupEpoch} with ${desc.members.length} member(s).\n`,
            );
            const members = [['CONSUMER-ID', 'CLIENT-ID', 'HOST', 'MEMBER-EPOCH', 'ASSIGNMENT']];
            for (const m of desc.members) {
              const parts = m.assignment.map((tp) => `${tp.topic}-${tp.partition}`).join(',');
              members.push([m.memberId, m.clientId, m.clientHost, String(m.memberEpoch), parts === '' ? '-' : parts]);
            }
            process.stdout.write(`${desc.members.length > 0 ? table(members) : ''}\n`);
          } else {
            process.stdout.write(`Group ${groupId} is ${desc.state} with ${desc.members.length} member(s).\n\n`);
          }
          const rows = [['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID']];
          tps.forEach((tp, i) => {
            const key = `${tp.topic}\u0000${tp.partition}`;
            const offset = committed.get(key);
            const end = ends[i].offset;
            rows.push([
              tp.topic,
              String(tp.partition),
              offset === undefined ? '-' : offset.toString(),
              end >= 0n ? end.toString() : '-',
              offset !== undefined && end >= 0n ? (end - offset).toString() : '-',
              owner.get(key) ?? '-',
            ]);
          });
          process.stdout.write(`${table(rows)}\n`);
        }),
      ),
  );

  withBootstrap(
    group
      .command('reset-offsets <group>')
      .description('Move a group’s committed offsets (a dry run unless --execute); the group must have no members'),
  )
    .requiredOption('-t, --topic <topic>', 'the topic whose partitions are reset')
    .option('--to-earliest', 'to the earliest offset')
    .option('--to-latest', 'to the latest offset')
    .option('--to-offset <n>', 'to this offset', parseSigned)
    .option(
      '--to-datetime <iso>',
      'to the first offset at or after this time (e.g. 2026-01-01T00:00:00Z)',
      parseDatetime,
    )
    .option('--execute', 'commit the new offsets (without it, only print them)')
    .action((groupId: string, flags: ResetFlags) =>
      runAction(async () => {
        const targets = [flags.toEarliest, flags.toLatest, flags.toOffset !== undefined, flags.toDatetime].filter(
          Boolean,
        );
        if (targets.length !== 1) {
          throw new UsageError('give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime');
        }
        const offsets = await withAdmin(flags, async (admin) => {
          await requireTopics(admin, [flags.topic]);
          const desc = await admin.describeGroup(groupId);
          if (desc.members.length > 0) {
            throw new CommandError(`group ${groupId} has ${desc.members.length} active member(s); stop them first`);
          }
          const [info] = await admin.describeTopics([flags.topic]);
          const tps: TopicPartition[] = info.partitions.map((p) => ({ topic: flags.topic, partition: p.partition }));
          if (flags.toOffset !== undefined) return tps.map((tp) => ({ ...tp, offset: BigInt(flags.toOffset!) }));
          let spec: 'earliest' | 'latest' | number = flags.toEarliest ? 'earliest' : 'latest';
          if (flags.toDatetime !== undefined) spec = Date.parse(flags.toDatetime);
          const found = await admin.listOffsets(tps, spec);
          // No record at or after the time: the log end, as Kafka's tool does.
          if (typeof spec === 'number') {
            const ends = await admin.listOffsets(tps, 'latest');
            return found.map((f, i) => (f.offset < 0n ? ends[i] : f));
          }
          return found;
        });
        const rows = [['TOPIC', 'PARTITION', 'NEW-OFFSET']];
        for (const o of offsets) rows.push([o.topic, String(o.partition), o.offset.toString()]);
        process.stdout.write(`${table(rows)}\n`);
        if (!flags.execute) {
          process.stdout.write('Dry run: nothing was committed (add --execute).\n');
          return;
        }
        const consumer = new Consumer(clientOptions(flags), { groupId, autoCommit: false });
        try {
          await consumer.commitOffsets(offsets);
        } finally {
          await consumer.close();
        }
        process.stdout.write(`Committed new offsets for group ${groupId}.\n`);
      }),
    );
}
