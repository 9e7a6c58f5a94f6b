import { createInterface } from 'node:readline';
import { type Compression, Producer, topic } from '@sluice/client';
import { type Command, InvalidArgumentError } from 'commander';
import {
  type ClientFlags,
  clientOptions,
  collectKeyValue,
  parseCount,
  progress,
  runAction,
  withAdmin,
  withBootstrap,
} from './common.js';

interface ProduceFlags extends ClientFlags {
  keySeparator?: string;
  header: Record<string, string>;
  partition?: number;
  acks: string;
  compression: Compression;
}

/** Sends not yet acknowledged before the command waits for some: bounds memory on huge inputs. */
const MAX_PENDING_SENDS = 10_000;

function parseAcks(value: string): string {
  if (!['0', '1', '-1', 'all'].includes(value)) throw new InvalidArgumentError('expected 0, 1, -1 or all');
  return value;
}

function parseCompression(value: string): string {
  if (!['none', 'gzip', 'snappy', 'lz4', 'zstd'].includes(value)) {
    throw new InvalidArgumentError('expected none, gzip, snappy, lz4 or zstd');
  }
  return value;
}

/** `sluice produce <topic>`: one record per line of standard input. */
export function registerProduceCommand(program: Command): void {
  withBootstrap(program.command('produce <topic>').description('Send each line of standard input as a record'))
    .option('-k, --key-separator <sep>', 'split each line at the first <sep> into key and value')
    .option('-H, --header <key=value>', 'a header on every record; repeatable', collectKeyValue, {})
    .option('-p, --partition <n>', 'send to this partition instead of the partitioner’s choice', parseCount)
    .option('-a, --acks <acks>', 'acknowledgements: 0, 1 or all', parseAcks, 'all')
    .option('-z, --compression <codec>', 'none, gzip, snappy, lz4 or zstd', parseCompression, 'none')
    .action((name: string, flags: ProduceFlags) =>
      runAction(async () => {
        // An unreachable cluster is reported before reading any input (the topic may be auto-created).
        await withAdmin(flags, async () => {});
        const producer = new Producer(clientOptions(flags), {
          acks: flags.acks === 'all' ? 'all' : (Number(flags.acks) as 0 | 1 | -1),
          compression: flags.compression,
        });
        const target = topic(name);
        const headers = Object.keys(flags.header).length > 0 ? flags.header : undefined;
        const shown = progress(`produced to ${name}`);
        let pending: Promise<unknown>[] = [];
        let sent = 0;
        let failure: unknown;
        try {
          const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
          for await (const line of lines) {
            let key: Buffer | null = null;
            let value = line;
            const sep = flags.keySeparator;
            if (sep !== undefined && sep.length > 0) {
              const at = line.indexOf(sep);
              if (at >= 0) {
                key = Buffer.from(line.slice(0, at));
                value = line.slice(at + sep.length);
              }
            }
            pending.push(
              producer
                .send(target, {
                  key,
                  value: Buffer.from(value),
                  ...(headers ? { headers } : {}),
                  ...(flags.partition !== undefined ? { partition: flags.partition } : {}),
                })
                .catch((err) => {
                  failure ??= err;
                }),
            );
            sent++;
            shown.tick(sent);
            if (pending.length >= MAX_PENDING_SENDS) {
              await Promise.all(pending);
              pending = [];
            }
            if (failure !== undefined) break;
          }
          await Promise.all(pending);
          await producer.flush();
        } finally {
          await producer.close();
        }
        if (failure !== undefined) throw failure;
        shown.done(`sent ${sent} record${sent === 1 ? '' : 's'} to ${name}`);
      }),
    );
}
