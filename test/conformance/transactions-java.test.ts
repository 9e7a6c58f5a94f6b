import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, referenceKafka, requireJava, startKafka, startSluice } from './brokers.js';

// Kafka's own exactly-once test tool, TransactionalMessageCopier (the Java KafkaProducer's transactions
// and KafkaConsumer's read_committed, unmodified), against Sluice and against Apache Kafka as the oracle:
// numbered records are copied from one topic to another in transactions of 50 with random aborts, offsets
// committed inside the transactions; a read_committed console consumer must then see every input record
// exactly once. Run with `npm run test:conformance`.

const RECORDS = 600;

async function runClass(args: string[], timeoutMs = 120_000) {
  return referenceKafka(['run-class', ...args], { timeoutMs });
}

/** Copies `RECORDS` numbered records through the copier and returns what a read_committed consumer reads. */
async function copyAndRead(
  broker: BrokerUnderTest,
): Promise<{ values: string[]; copierEvents: Record<string, unknown>[] }> {
  const produced = await runClass([
    'org.apache.kafka.tools.VerifiableProducer',
    '--bootstrap-server',
    broker.bootstrap,
    '--topic',
    'copier-in',
    '--max-messages',
    String(RECORDS),
    '--acks',
    '-1',
  ]);
  expect(produced.stdout).toContain('"acked":600');
  const copied = await runClass([
    'org.apache.kafka.tools.TransactionalMessageCopier',
    '--broker-list',
    broker.bootstrap,
    '--input-topic',
    'copier-in',
    '--input-partition',
    '0',
    '--output-topic',
    'copier-out',
    '--transactional-id',
    'copier-1',
    '--consumer-group',
    'copier-group',
    '--transaction-size',
    '50',
    '--max-messages',
    String(RECORDS),
    '--enable-random-aborts',
    '--use-group-metadata',
  ]);
  const copierEvents = copied.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const consumed = await runClass([
    'org.apache.kafka.tools.consumer.ConsoleConsumer',
    '--bootstrap-server',
    broker.bootstrap,
    '--topic',
    'copier-out',
    '--from-beginning',
    '--isolation-level',
    'read_committed',
    '--max-messages',
    String(RECORDS),
    '--timeout-ms',
    '20000',
  ]);
  return { values: consumed.stdout.split('\n').filter((l) => l.length > 0), copierEvents };
}

let sluice: BrokerUnderTest | undefined;
let kafka: BrokerUnderTest | undefined;

beforeAll(() => {
  requireJava();
});

afterAll(async () => {
  await sluice?.stop();
  await kafka?.stop();
});

describe('TransactionalMessageCopier (Java transactions)', () => {
  const expected = Array.from({ length: RECORDS }, (_, i) => String(i));

  it('Sluice: every input record is in the output exactly once for read_committed', async () => {
    sluice = await startSluice({ 'transaction.state.log.num.partitions': '1' });
    const { values, copierEvents } = await copyAndRead(sluice);
    expect(copierEvents.at(-1)).toMatchObject({ stage: 'ShutdownComplete', totalProcessed: RECORDS, remaining: 0 });
    expect([...values].sort((a, b) => Number(a) - Number(b))).toEqual(expected);
    await sluice.stop();
    sluice = undefined;
  }, 240_000);

  it('Kafka (oracle): the same run gives the same output', async () => {
    kafka = await startKafka({ 'transaction.state.log.num.partitions': '1' });
    const { values, copierEvents } = await copyAndRead(kafka);
    expect(copierEvents.at(-1)).toMatchObject({ stage: 'ShutdownComplete', totalProcessed: RECORDS, remaining: 0 });
    expect([...values].sort((a, b) => Number(a) - Number(b))).toEqual(expected);
  }, 240_000);
});
