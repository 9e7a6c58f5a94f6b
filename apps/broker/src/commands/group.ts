import { Admin, Consumer, type TopicPartition } from '@sluice/client';
import { type Command, InvalidArgumentError } from 'commander';
import { brokersOf, type ClientFlags, parseSigned, runAction, withBootstrap } from './common.js';

interface ResetFlags extends ClientFlags {
  topic: string;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: string;
  execute?: boolean;
}

async function withAdmin<T>(flags: ClientFlags, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ brokers: brokersOf(flags), clientId: 'sluice-cli' });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
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
  const group = program.command('group').description('List and describe consumer groups, reset their offsets');

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
          const committed = await admin.fetchGroupOffsets(groupId);
          const ends = await admin.listOffsets(committed, 'latest');
          const owner = new Map<string, string>();
          for (const m of desc.members)
            for (const tp of m.assignment) owner.set(`${tp.topic}/${tp.partition}`, m.memberId);
          process.stdout.write(`Group ${groupId} is ${desc.state} with ${desc.members.length} member(s).\n\n`);
          const rows = [['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID']];
          committed.forEach((c, i) => {
            const end = ends[i].offset;
            rows.push([
              c.topic,
              String(c.partition),
              c.offset.toString(),
              end.toString(),
              c.offset >= 0n && end >= 0n ? (end - c.offset).toString() : '-',
              owner.get(`${c.topic}/${c.partition}`) ?? '-',
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
    .option('--to-datetime <iso>', 'to the first offset at or after this time (e.g. 2026-01-01T00:00:00Z)')
    .option('--execute', 'commit the new offsets (without it, only print them)')
    .action((groupId: string, flags: ResetFlags) =>
      runAction(async () => {
        const targets = [flags.toEarliest, flags.toLatest, flags.toOffset !== undefined, flags.toDatetime].filter(
          Boolean,
        );
        if (targets.length !== 1) {
          throw new InvalidArgumentError('give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime');
        }
        const offsets = await withAdmin(flags, async (admin) => {
          const desc = await admin.describeGroup(groupId);
          if (desc.members.length > 0) {
            throw new Error(`group ${groupId} has ${desc.members.length} active member(s); stop them first`);
          }
          const [info] = await admin.describeTopics([flags.topic]);
          const tps: TopicPartition[] = info.partitions.map((p) => ({ topic: flags.topic, partition: p.partition }));
          if (flags.toOffset !== undefined) return tps.map((tp) => ({ ...tp, offset: BigInt(flags.toOffset!) }));
          let spec: 'earliest' | 'latest' | number = flags.toEarliest ? 'earliest' : 'latest';
          if (flags.toDatetime !== undefined) {
            const ms = Date.parse(flags.toDatetime);
            if (Number.isNaN(ms)) throw new InvalidArgumentError(`not a date and time: ${flags.toDatetime}`);
            spec = ms;
          }
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
        const consumer = new Consumer(
          { brokers: brokersOf(flags), clientId: 'sluice-cli' },
          { groupId, autoCommit: false },
        );
        try {
          await consumer.commitOffsets(offsets);
        } finally {
          await consumer.close();
        }
        process.stdout.write(`Committed new offsets for group ${groupId}.\n`);
      }),
    );
}
