import { Consumer, type ConsumerRecord, topic } from '@sluice/client';
import { type Command, InvalidArgumentError } from 'commander';
import {
  type ClientFlags,
  clientOptions,
  parseCount,
  requireTopics,
  runAction,
  withAdmin,
  withBootstrap,
} from './common.js';

interface ConsumeFlags extends ClientFlags {
  group?: string;
  fromBeginning?: boolean;
  maxMessages?: number;
  timeoutMs?: number;
  format: string;
}

type Rec = ConsumerRecord<Buffer | null, Buffer | null>;

const text = (b: Buffer | null): string => (b === null ? 'null' : b.toString('utf8'));

/**
 * Formats a record: `value` (the default), `json` (one object per line), or a template where
 * %t, %p, %o, %T, %k, %v and %h stand for topic, partition, offset, timestamp, key, value and
 * headers (as kcat's -f), and \n, \t are escapes.
 */
export function formatRecord(format: string, r: Rec): string {
  if (format === 'value') return text(r.value);
  if (format === 'json') {
    return JSON.stringify({
      topic: r.topic,
      partition: r.partition,
      offset: r.offset.toString(),
      timestamp: r.timestamp.toString(),
      key: r.key === null ? null : text(r.key),
      value: r.value === null ? null : text(r.value),
      headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v === null ? null : text(v)])),
    });
  }
  return format.replace(/%[tpoTkvh%]|\\[nt]/g, (m) => {
    switch (m) {
      case '%t':
        return r.topic;
      case '%p':
        return String(r.partition);
      case '%o':
        return r.offset.toString();
      case '%T':
        return r.timestamp.toString();
      case '%k':
        return text(r.key);
      case '%v':
        return text(r.value);
      case '%h':
        return Object.entries(r.headers)
          .map(([k, v]) => `${k}=${text(v)}`)
          .join(',');
      case '\\n':
        return '\n';
      case '\\t':
        return '\t';
      default:
        return '%';
    }
  });
}

function parseFormat(value: string): string {
  if (value.length === 0) throw new InvalidArgumentError('expected value, json or a template such as "%k %v"');
  return value;
}

/** `sluice consume <topic>`: prints records until interrupted, or until a count or an idle timeout. */
export function registerConsumeCommand(program: Command): void {
  withBootstrap(program.command('consume <topic>').description('Print the records of a topic'))
    .option('-g, --group <id>', 'consume as a member of this group (committing offsets)')
    .option('--from-beginning', 'start at the earliest offset when there is no committed one')
    .option('-n, --max-messages <n>', 'stop after this many records', parseCount)
    .option('-t, --timeout-ms <ms>', 'stop when no record arrives for this long', parseCount)
    .option('-f, --format <format>', 'value, json, or a template such as "%p:%o %k=%v"', parseFormat, 'value')
    .action((name: string, flags: ConsumeFlags) =>
      runAction(async () => {
        // A topic that does not exist is an error at once (as kcat), not an empty wait.
        await withAdmin(flags, (admin) => requireTopics(admin, [name]));
        // --timeout-ms counts idle time once there is something to read: in a group, from the first
        // assignment (joining takes group.initial.rebalance.delay.ms and more).
        let assigned!: () => void;
        const ready = new Promise<void>((resolve) => {
          assigned = resolve;
        });
        if (flags.group === undefined) assigned();
        const consumer = new Consumer(clientOptions(flags), {
          ...(flags.group !== undefined ? { groupId: flags.group } : {}),
          autoOffsetReset: flags.fromBeginning ? 'earliest' : 'latest',
          onRebalance: { assigned: () => assigned() },
        });
        const stop = () => void consumer.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        let count = 0;
        try {
          const it = consumer.records(topic(name))[Symbol.asyncIterator]();
          // Bounded by --max-messages, --timeout-ms or a signal closing the consumer.
          for (;;) {
            if (flags.maxMessages !== undefined && count >= flags.maxMessages) break;
            let timer: NodeJS.Timeout | undefined;
            const idle =
              flags.timeoutMs === undefined
                ? null
                : ready.then(
                    () =>
                      new Promise<'idle'>((resolve) => {
                        timer = setTimeout(() => resolve('idle'), flags.timeoutMs);
                      }),
                  );
            const next = await (idle ? Promise.race([it.next(), idle]) : it.next());
            clearTimeout(timer);
            if (next === 'idle' || next.done) break;
            process.stdout.write(`${formatRecord(flags.format, next.value as Rec)}\n`);
            count++;
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          await consumer.close();
        }
        process.stderr.write(`Processed a total of ${count} messages\n`);
      }),
    );
}
