// Producer and consumer throughput: @sluice/client vs kafkajs 2.2.4 against the same Sluice broker
// (a child process), in the same run. Run: npm run bench -w packages/client  (or: npx tsx --conditions=sluice-source bench/client.bench.ts)
// Env: BENCH_SCALE (default 1) multiplies the record counts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kafka as KafkaJs, logLevel } from 'kafkajs';
import { Admin, Consumer, Producer, serde, topic } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const scale = Number(process.env.BENCH_SCALE ?? '1');

interface Row {
  test: string;
  client: string;
  records: number;
  seconds: number;
  cpuSeconds: number;
}

async function startChildBroker(): Promise<{ bootstrap: string; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx/esm', '--conditions=sluice-source', join(here, 'broker-child.ts')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const rl = createInterface({ input: child.stdout });
  const [line] = (await once(rl, 'line')) as [string];
  const { bootstrap } = JSON.parse(line) as { bootstrap: string };
  return {
    bootstrap,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Times `fn`; it may call `start()` to restart the clock (consumers: at the first record, so group joins are not counted). */
async function measure(
  test: string,
  client: string,
  records: number,
  fn: (start: () => void) => Promise<void>,
): Promise<Row> {
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  await fn(() => {
    cpu0 = process.cpuUsage();
    t0 = performance.now();
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { test, client, records, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const WARM_UP = 5000;

async function main(): Promise<void> {
  const broker = await startChildBroker();
  const brokers = [broker.bootstrap];
  const admin = new Admin({ brokers });
  const kjs = new KafkaJs({ brokers, clientId: 'bench-kafkajs', logLevel: logLevel.NOTHING });
  const rows: Row[] = [];
  let seq = 0;
  const cases = [
    { size: 100, count: Math.round(200_000 * scale) },
    { size: 1024, count: Math.round(50_000 * scale) },
  ];
  const consumeTopics: Array<{ name: string; size: number; count: number }> = [];

  for (const { size, count } of cases) {
    const payload = Buffer.alloc(size, 'x');
    for (const acks of [1, -1] as const) {
      const label = `produce ${size} B acks=${acks === -1 ? 'all' : '1'}`;
      // @sluice/client
      {
        const name = `bench-sluice-${size}-${acks}-${seq++}`;
        await admin.createTopics([{ name, numPartitions: 3 }]);
        const t = topic(name, { value: serde.bytes() });
        const p = new Producer({ brokers }, { acks, lingerMs: 5, batchSize: 256 * 1024 });
        await Promise.all(Array.from({ length: WARM_UP }, () => p.send(t, { value: payload })));
        rows.push(
          await measure(label, '@sluice/client', count, async () => {
            const sends: Promise<unknown>[] = new Array(count);
            for (let i = 0; i < count; i++) sends[i] = p.send(t, { value: payload });
            await Promise.all(sends);
          }),
        );
        await p.close();
        if (acks === -1) consumeTopics.push({ name, size, count: count + WARM_UP });
      }
      // kafkajs: batches of 1,000 messages, 5 requests in flight.
      {
        const name = `bench-kafkajs-${size}-${acks}-${seq++}`;
        await admin.createTopics([{ name, numPartitions: 3 }]);
        const p = kjs.producer({ allowAutoTopicCreation: false });
        await p.connect();
        for (let i = 0; i < WARM_UP; i += 1000) {
          await p.send({ topic: name, acks, messages: Array.from({ length: 1000 }, () => ({ value: payload })) });
        }
        rows.push(
          await measure(label, 'kafkajs', count, async () => {
            const batch = 1000;
            let next = 0;
            const worker = async () => {
              while (next < count) {
                const n = Math.min(batch, count - next);
                next += n;
                await p.send({ topic: name, acks, messages: Array.from({ length: n }, () => ({ value: payload })) });
              }
            };
            await Promise.all(Array.from({ length: 5 }, worker));
          }),
        );
        await p.disconnect();
      }
    }
  }

  for (const { name, size, count } of consumeTopics) {
    const label = `consume ${size} B`;
    {
      const t = topic(name, { value: serde.bytes() });
      const c = new Consumer({ brokers }, { groupId: `bench-sluice-${seq++}`, autoOffsetReset: 'earliest' });
      let n = 0;
      rows.push(
        await measure(label, '@sluice/client', count, async (start) => {
          await c.run(t, (records) => {
            if (n === 0) start();
            n += records.length;
            if (n >= count) void c.close();
          });
        }),
      );
    }
    {
      const c = kjs.consumer({ groupId: `bench-kafkajs-${seq++}`, maxBytes: 50 * 1024 * 1024 });
      await c.connect();
      await c.subscribe({ topic: name, fromBeginning: true });
      let n = 0;
      rows.push(
        await measure(label, 'kafkajs', count, async (start) => {
          await new Promise<void>((resolve, reject) => {
            c.run({
              eachBatch: async ({ batch }) => {
                if (n === 0) start();
                n += batch.messages.length;
                if (n >= count) resolve();
              },
            }).catch(reject);
          });
        }),
      );
      await c.disconnect();
    }
  }

  await admin.close();
  await broker.stop();

  const sizeOf = (test: string) => Number(/(\d+) B/.exec(test)?.[1] ?? 0);
  console.log('| test | client | records | records/s | MB/s | client CPU s per 1M records | vs kafkajs |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const rate = r.records / r.seconds;
    const base = rows.find((x) => x.test === r.test && x.client === 'kafkajs');
    const ratio = base ? rate / (base.records / base.seconds) : 1;
    console.log(
      `| ${r.test} | ${r.client} | ${r.records} | ${Math.round(rate).toLocaleString('en')} | ${((rate * sizeOf(r.test)) / 1e6).toFixed(1)} | ${((r.cpuSeconds / r.records) * 1e6).toFixed(2)} | ${ratio.toFixed(2)}× |`,
    );
  }
}

await main();
