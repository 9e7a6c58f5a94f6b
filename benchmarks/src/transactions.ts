// Transactions, Sluice against Kafka side by side: a transactional producer committing every N
// records (1 KiB each; N = 100 and 1,000), and a read_committed consumer reading what it committed.
// Both brokers are driven by the same client (@sluice/client, in this process), so the rows compare
// the brokers' transaction paths (AddPartitionsToTxn, EndTxn, markers, the LSO), not two clients.
import { Kafka, serde, topic } from '@sluice/client';
import type { Broker } from './brokers.js';
import type { Row } from './report.js';

const KiB = 1024;
const PARTITIONS = 6;

/** What the phase needs of the bench's bookkeeping (bench.ts owns rows, errors and the trial loop). */
export interface TransactionsPhaseContext {
  quick: boolean;
  trials: number;
  row(id: string, init: Omit<Row, 'id' | 'sluice' | 'kafka' | 'details'>): Row;
  attempt<T>(what: string, fn: () => Promise<T>): Promise<T | undefined>;
  brokers(): Promise<Broker[]>;
  freshDir(b: Broker): string;
  createTopics(port: number, topics: Array<{ name: string; numPartitions: number }>): Promise<void>;
  log(s: string): void;
  cleanup(dir: string): void;
}

interface TxnRun {
  records: number;
  transactions: number;
  seconds: number;
  recPerSec: number;
}

/** `transactions` transactions of `perTxn` 1 KiB records each, committed one after the other. */
async function produceTransactions(port: number, name: string, perTxn: number, transactions: number): Promise<TxnRun> {
  const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-txn', requestTimeoutMs: 30_000 });
  // The client's default of 5 batches in flight, on both brokers.
  const producer = kafka.producer({ transactionalId: `bench-${name}`, lingerMs: 5 });
  const t = topic(name, { key: serde.string(), value: serde.bytes() });
  const value = Buffer.alloc(KiB, 'x');
  try {
    await producer.initTransactions();
    const start = performance.now();
    for (let i = 0; i < transactions; i++) {
      await producer.transaction(async (tx) => {
        const sends: Promise<unknown>[] = [];
        for (let j = 0; j < perTxn; j++) sends.push(tx.send(t, { key: String(j), value }));
        await Promise.all(sends);
      });
    }
    const seconds = (performance.now() - start) / 1000;
    const records = perTxn * transactions;
    return { records, transactions, seconds, recPerSec: records / seconds };
  } finally {
    await producer.close();
  }
}

/** Reads `expected` committed records of the topic from the start in read_committed mode (bounded by 120 s). */
async function consumeCommitted(port: number, name: string, expected: number): Promise<TxnRun> {
  const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'bench-txn-consumer' });
  const consumer = kafka.consumer({ isolationLevel: 'read_committed' });
  const t = topic(name, { key: serde.string(), value: serde.bytes() });
  let seen = 0;
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.assign(
      Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: t, partition, offset: 'earliest' as const })),
    );
    const start = performance.now();
    const read = (async () => {
      for await (const _ of consumer.records(t)) if (++seen >= expected) return;
    })();
    await Promise.race([
      read,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`read_committed read ${seen} of ${expected} in 120 s`)), 120_000);
      }),
    ]);
    const seconds = (performance.now() - start) / 1000;
    return { records: seen, transactions: 0, seconds, recPerSec: seen / seconds };
  } finally {
    clearTimeout(timer);
    await consumer.close();
  }
}

export async function transactionsPhase(ctx: TransactionsPhaseContext): Promise<void> {
  const records = ctx.quick ? 2_000 : 20_000;
  const sizes = [100, 1000];
  const produceRow = (perTxn: number) =>
    ctx.row(`transactions/produce-${perTxn}`, {
      kind: 'produce',
      label: `transactional produce 1 KiB, ${PARTITIONS} p, ${perTxn.toLocaleString('en-US')} records per transaction, commit each`,
      generator: 'sluice-client',
      unit: 'rec/s',
      higherIsBetter: true,
      size: KiB,
    });
  const consumeRow = ctx.row('transactions/consume-read-committed', {
    kind: 'consume',
    label: `read_committed consume 1 KiB, ${PARTITIONS} p, of committed transactions of ${sizes[0]}`,
    generator: 'sluice-client',
    unit: 'rec/s',
    higherIsBetter: true,
    size: KiB,
  });
  for (let trial = 1; trial <= ctx.trials; trial++)
    for (const b of await ctx.brokers()) {
      const dir = ctx.freshDir(b);
      await ctx.attempt(`transactions on ${b.name}`, async () => {
        try {
          // One transaction-state partition and the replication Kafka's single-node setup uses.
          await b.start(dir, {
            'transaction.state.log.num.partitions': '1',
            'transaction.state.log.replication.factor': '1',
            'transaction.state.log.min.isr': '1',
          });
          for (const perTxn of sizes) {
            const name = `txn-${perTxn}`;
            await ctx.createTopics(b.port, [{ name, numPartitions: PARTITIONS }]);
            const r = await produceTransactions(b.port, name, perTxn, Math.max(1, Math.round(records / perTxn)));
            const row = produceRow(perTxn);
            row[b.name].push(r.recPerSec);
            row.details[b.name].push(r);
            ctx.log(
              `transactions ${b.name} t${trial}: ${r.transactions} × ${perTxn} committed, ${r.recPerSec.toFixed(0)} rec/s`,
            );
            if (perTxn === sizes[0]) {
              const c = await consumeCommitted(b.port, name, r.records);
              consumeRow[b.name].push(c.recPerSec);
              consumeRow.details[b.name].push(c);
              ctx.log(
                `transactions ${b.name} t${trial}: read_committed ${c.records} records, ${c.recPerSec.toFixed(0)} rec/s`,
              );
            }
          }
        } finally {
          await b.kill();
          ctx.cleanup(dir);
        }
      });
    }
}
