import type { Command } from 'commander';
import { type ClientFlags, CommandError, runAction, withAdmin, withBootstrap } from './common.js';

interface ListFlags extends ClientFlags {
  state?: string[];
}

/** `sluice transactions list|describe`, as kafka-transactions.sh lists and describes them. */
export function registerTransactionCommands(program: Command): void {
  const txn = program.command('transactions').description('List and describe transactions');

  withBootstrap(
    txn
      .command('list')
      .description('Transactional ids with their producer id and state, one per line')
      .option('--state <state...>', 'only these states (Empty, Ongoing, PrepareCommit, CompleteCommit, …)'),
  ).action((flags: ListFlags) =>
    runAction(() =>
      withAdmin(flags, async (admin) => {
        for (const t of await admin.listTransactions(flags.state ?? [])) {
          process.stdout.write(`${t.transactionalId}\t${t.producerId}\t${t.state}\n`);
        }
      }),
    ),
  );

  withBootstrap(
    txn.command('describe <transactional-id>').description('State, producer and partitions of one transaction'),
  ).action((transactionalId: string, flags: ClientFlags) =>
    runAction(() =>
      withAdmin(flags, async (admin) => {
        const d = await admin.describeTransaction(transactionalId).catch((err: { errorName?: string }) => {
          if (err.errorName === 'TRANSACTIONAL_ID_NOT_FOUND') {
            throw new CommandError(`Transactional id '${transactionalId}' does not exist.`);
          }
          throw err;
        });
        const start = d.startTimeMs < 0n ? '-' : new Date(Number(d.startTimeMs)).toISOString();
        process.stdout.write(
          `transactional id: ${d.transactionalId}\nstate: ${d.state}\nproducer: ${d.producerId} epoch ${d.producerEpoch}\n` +
            `timeout ms: ${d.timeoutMs}\nstarted: ${start}\n` +
            `partitions: ${d.partitions.map((p) => `${p.topic}-${p.partition}`).join(', ') || '-'}\n`,
        );
      }),
    ),
  );
}
