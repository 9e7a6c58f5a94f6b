// Producer and consumer throughput: @sluice/client vs kafkajs 2.2.4 vs @platformatic/kafka 1.x vs librdkafka
// (node-rdkafka 3.6) against the same Sluice broker (a child process), in the same run; then the memory
// each producer holds while 1 million records are buffered (broker stopped with SIGSTOP).
// Run: npm run bench -w packages/client   (node --expose-gc --import tsx/esm --conditions=sluice-source bench/client.bench.ts)
// Env: BENCH_SCALE (default 1) multiplies the record counts; BENCH_ONLY (a regex) keeps the rows whose
// "<test> <client>" matches, e.g. BENCH_ONLY='produce 1 KiB.*sluice' (a consume row reads the topic of the
// sluice produce acks=all row of its size, so keep that row); BENCH_MEMORY=0 skips the memory rows;
// BENCH_CONSUME_API=records reads the @sluice/client consume rows with records() (one record per await) instead of run();
// BENCH_CLIENT_PROF=<dir> writes a V8 CPU profile of this (client) process per measured row into <dir>
// (summarise with `npx tsx benchmarks/src/profile-top.ts <dir>/<file>`).
// Settings alike on every client: not idempotent (kafkajs and @platformatic/kafka allow 1 request in flight
// when idempotent), at most 5 requests in flight, acks as the row says; fetches of at most 50 MiB and 1 MiB per
// partition, read_uncommitted. Each client's own defaults, for reference:
//   @sluice/client  acks=all, idempotent with acks=all, 5 in flight per broker, batch 16 KiB, linger 5 ms;
//                   fetch 50 MiB / 1 MiB per partition, wait 500 ms, 64 MiB prefetched.
//   kafkajs 2.2.4   acks=all, not idempotent, no in-flight limit, one request per send() list;
//                   fetch 10 MiB / 1 MiB per partition, wait 5 s.
//   @platformatic/kafka 1.x  acks=1 (all when idempotent), not idempotent, 5 in flight (1 when idempotent),
//                   one request per send() list; fetch 10 MiB, wait 5 s, read_committed.
//   librdkafka 2.12 acks=all, not idempotent, 1,000,000 in flight, batch 1,000,000 B, linger 5 ms;
//                   fetch 50 MiB / 1 MiB per partition, wait 500 ms.
// node-rdkafka is not a dependency (it compiles librdkafka, minutes): it is loaded from the cache the
// benchmark harness builds (~/.cache/sluice/rdkafka, see benchmarks/src/generators.ts), when present.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Consumer as PlatConsumer, Producer as PlatProducer } from '@platformatic/kafka';
import { Kafka as KafkaJs, logLevel } from 'kafkajs';
import { Admin, Consumer, Producer, serde, topic } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const scale = Number(process.env.BENCH_SCALE ?? '1');
/** Records per awaited chunk of the @sluice/client producer (0: all records, then one await). */
const window = Number(process.env.BENCH_WINDOW ?? '1000');
const workers = Number(process.env.BENCH_WORKERS ?? '5');
const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null;
/** How the @sluice/client consume rows read: 'run' (default: a handler per fetched batch) or 'records' (the async iterator). */
const consumeApi = process.env.BENCH_CONSUME_API === 'records' ? 'records' : 'run';
/** Where a CPU profile of the client process is written per measured row (unset: none). */
const profDir = process.env.BENCH_CLIENT_PROF ?? '';
/** Extra node flags for the broker child, e.g. BENCH_BROKER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'. */
const brokerNodeArgs = (process.env.BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const SLUICE = '@sluice/client';
const KAFKAJS = 'kafkajs';
const PLAT = '@platformatic/kafka';
const RDKAFKA = 'librdkafka (node-rdkafka)';

// biome-ignore lint/suspicious/noExplicitAny: node-rdkafka is loaded untyped from outside the workspace
type Any = any;
const RDKAFKA_DIR = join(homedir(), '.cache/sluice/rdkafka');
function loadRdkafka(): Any | null {
  if (!existsSync(join(RDKAFKA_DIR, 'node_modules/node-rdkafka/build/Release/node-librdkafka.node'))) return null;
  try {
    return createRequire(join(RDKAFKA_DIR, 'package.json'))('node-rdkafka');
  } catch {
    return null;
  }
}
const rdkafka = loadRdkafka();

interface Row {
  test: string;
  client: string;
  records: number;
  seconds: number;
  cpuSeconds: number;
  /** CPU of the broker process over the same interval (NaN where /proc is not there). */
  brokerCpuSeconds: number;
}

/** user+system CPU seconds of another process, from /proc (Linux); NaN elsewhere. */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
/** USER_HZ: 100 on Linux's usual builds (getconf CLK_TCK). */
const CLOCK_TICKS = 100;
/** The broker child whose CPU the rows report. */
let brokerPid: number | undefined;

async function startChildBroker(): Promise<{ bootstrap: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [...brokerNodeArgs, '--import', 'tsx/esm', '--conditions=sluice-source', join(here, 'broker-child.ts')],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const rl = createInterface({ input: child.stdout });
  const [line] = (await once(rl, 'line')) as [string];
  const { bootstrap } = JSON.parse(line) as { bootstrap: string };
  return {
    bootstrap,
    child,
    stop: async () => {
      child.kill('SIGCONT');
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
  process.stderr.write(`${test} ${client}: ${records} records… `);
  const profiler = profDir === '' ? null : new Session();
  if (profiler !== null) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  let cpu0 = process.cpuUsage();
  let faults0 = process.resourceUsage().minorPageFault;
  let broker0 = processCpuSeconds(brokerPid);
  let t0 = performance.now();
  await fn(() => {
    cpu0 = process.cpuUsage();
    faults0 = process.resourceUsage().minorPageFault;
    broker0 = processCpuSeconds(brokerPid);
    t0 = performance.now();
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  const brokerCpuSeconds = processCpuSeconds(brokerPid) - broker0;
  if (profiler !== null) {
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    mkdirSync(profDir, { recursive: true });
    writeFileSync(join(profDir, `${`${test} ${client}`.replace(/\W+/g, '-')}.cpuprofile`), JSON.stringify(profile));
  }
  process.stderr.write(
    `${seconds.toFixed(2)} s (client user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s, ${faults} page faults)\n`,
  );
  return { test, client, records, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, brokerCpuSeconds };
}

const WARM_UP = 5000;
const sizeLabel = (size: number) => (size >= 1024 ? `${size / 1024} KiB` : `${size} B`);
const wanted = (test: string, client: string) => only === null || only.test(`${test} ${client}`);

/** Waits until `n()` reaches `count` (delivery reports arrive on librdkafka's poll). */
async function until(what: string, ok: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function rdProducer(brokers: string[], acks: number, extra: Record<string, unknown> = {}): Promise<Any> {
  const p = new rdkafka.Producer({
    'metadata.broker.list': brokers.join(','),
    'client.id': 'bench-rdkafka',
    dr_cb: true,
    'linger.ms': 5,
    'enable.idempotence': acks === -1,
    acks,
    'queue.buffering.max.messages': 2_000_000,
    'queue.buffering.max.kbytes': 2_000_000,
    ...extra,
  });
  return new Promise((resolve, reject) => {
    p.connect({}, (err: unknown) => (err ? reject(err) : resolve(p)));
    p.setPollInterval(5);
  });
}

/**
 * Puts the broker's produce and fetch paths through JIT compilation before any row is timed: the first
 * row (always @sluice/client's) otherwise ran against a cold broker and was charged its compilation.
 */
async function warmBroker(brokers: string[]): Promise<void> {
  const admin = new Admin({ brokers });
  const name = 'bench-warm-up';
  await admin.createTopics([{ name, numPartitions: 3 }]);
  await admin.close();
  const t = topic(name, { value: serde.bytes() });
  const count = 100_000;
  const p = new Producer({ brokers }, { acks: -1, idempotent: false, lingerMs: 5, batchSize: 1_000_000 });
  const payload = Buffer.alloc(1024, 'x');
  for (let i = 0; i < count; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, () => p.send(t, { value: payload })));
  }
  await p.close();
  const c = new Consumer({ brokers }, { autoOffsetReset: 'earliest' });
  let n = 0;
  await c.run(t, (records) => {
    n += records.length;
    if (n >= count) void c.close();
  });
}

async function main(): Promise<void> {
  const broker = await startChildBroker();
  brokerPid = broker.child.pid;
  const brokers = [broker.bootstrap];
  const admin = new Admin({ brokers });
  const kjs = new KafkaJs({ brokers, clientId: 'bench-kafkajs', logLevel: logLevel.NOTHING });
  const rows: Row[] = [];
  const notes: string[] = [];
  if (rdkafka === null)
    notes.push(`node-rdkafka not found in ${RDKAFKA_DIR}: no librdkafka rows (the harness builds it)`);
  let seq = 0;
  const cases = [
    { size: 100, count: Math.round(500_000 * scale) },
    { size: 1024, count: Math.round(250_000 * scale) },
  ];
  const consumeTopics: Array<{ name: string; size: number; count: number }> = [];
  await warmBroker(brokers);
  const newTopic = async (client: string, size: number) => {
    const name = `bench-${client.replace(/\W+/g, '')}-${size}-${seq++}`;
    await admin.createTopics([{ name, numPartitions: 3 }]);
    return name;
  };

  for (const { size, count } of cases) {
    const payload = Buffer.alloc(size, 'x');
    for (const acks of [1, -1] as const) {
      const label = `produce ${sizeLabel(size)} acks=${acks === -1 ? 'all' : '1'}`;
      if (wanted(label, SLUICE)) {
        const name = await newTopic(SLUICE, size);
        const t = topic(name, { value: serde.bytes() });
        const p = new Producer(
          { brokers },
          // Batches of up to 1,000,000 B, as librdkafka's default batch.size and the main bench's clients phase.
          { acks, idempotent: false, maxInFlight: 5, lingerMs: 5, batchSize: 1_000_000 },
        );
        await Promise.all(Array.from({ length: WARM_UP }, () => p.send(t, { value: payload })));
        rows.push(
          await measure(label, SLUICE, count, async () => {
            if (window === 0) {
              // Everything at once: the client encodes all records before the first request leaves.
              const sends: Promise<unknown>[] = new Array(count);
              for (let i = 0; i < count; i++) sends[i] = p.send(t, { value: payload });
              await Promise.all(sends);
              return;
            }
            // As the other clients: `workers` loops, each sending `window` records and awaiting them.
            let next = 0;
            const worker = async () => {
              while (next < count) {
                const n = Math.min(window, count - next);
                next += n;
                const sends: Promise<unknown>[] = new Array(n);
                for (let i = 0; i < n; i++) sends[i] = p.send(t, { value: payload });
                await Promise.all(sends);
              }
            };
            await Promise.all(Array.from({ length: workers }, worker));
          }),
        );
        await p.close();
        if (acks === -1) consumeTopics.push({ name, size, count: count + WARM_UP });
      }
      // kafkajs: batches of 1,000 messages, 5 sends in flight (not idempotent: its idempotence allows 1 in flight).
      if (wanted(label, KAFKAJS)) {
        const name = await newTopic(KAFKAJS, size);
        const p = kjs.producer({ allowAutoTopicCreation: false, idempotent: false, maxInFlightRequests: 5 });
        await p.connect();
        for (let i = 0; i < WARM_UP; i += 1000) {
          await p.send({ topic: name, acks, messages: Array.from({ length: 1000 }, () => ({ value: payload })) });
        }
        rows.push(
          await measure(label, KAFKAJS, count, async () => {
            let next = 0;
            const worker = async () => {
              while (next < count) {
                const n = Math.min(1000, count - next);
                next += n;
                await p.send({ topic: name, acks, messages: Array.from({ length: n }, () => ({ value: payload })) });
              }
            };
            await Promise.all(Array.from({ length: 5 }, worker));
          }),
        );
        await p.disconnect();
      }
      // @platformatic/kafka: the same shape (send() takes a list and produces it at once); not idempotent, as its
      // idempotent sends in parallel get OUT_OF_ORDER_SEQUENCE_NUMBER.
      if (wanted(label, PLAT)) {
        const name = await newTopic(PLAT, size);
        const p = new PlatProducer({
          clientId: 'bench-platformatic',
          bootstrapBrokers: brokers,
          autocreateTopics: false,
          acks,
          idempotent: false,
          maxInflights: 5,
        });
        const batchOf = (n: number) => Array.from({ length: n }, () => ({ topic: name, value: payload }));
        for (let i = 0; i < WARM_UP; i += 1000) await p.send({ messages: batchOf(1000) });
        rows.push(
          await measure(label, PLAT, count, async () => {
            let next = 0;
            const worker = async () => {
              while (next < count) {
                const n = Math.min(1000, count - next);
                next += n;
                await p.send({ messages: batchOf(n) });
              }
            };
            await Promise.all(Array.from({ length: 5 }, worker));
          }),
        );
        await p.close();
      }
      // librdkafka: produce() queues; delivery reports come back through the poll loop.
      if (rdkafka !== null && wanted(label, RDKAFKA)) {
        const name = await newTopic(RDKAFKA, size);
        const p = await rdProducer(brokers, acks, {
          'enable.idempotence': false,
          'max.in.flight.requests.per.connection': 5,
        });
        let delivered = 0;
        let failed = 0;
        p.on('delivery-report', (err: unknown) => {
          if (err) failed++;
          delivered++;
        });
        for (let i = 0; i < WARM_UP; i++) p.produce(name, null, payload);
        await until('rdkafka warm-up', () => delivered >= WARM_UP);
        rows.push(
          await measure(label, RDKAFKA, count, async () => {
            const target = delivered + count;
            for (let i = 0; i < count; i++) p.produce(name, null, payload);
            await until('rdkafka deliveries', () => delivered >= target);
          }),
        );
        if (failed > 0) throw new Error(`librdkafka: ${failed} deliveries failed`);
        await new Promise((r) => p.disconnect(r));
      }
    }
  }

  for (const { name, size, count } of consumeTopics) {
    const label = `consume ${sizeLabel(size)}`;
    if (wanted(label, SLUICE)) {
      const t = topic(name, { value: serde.bytes() });
      const c = new Consumer({ brokers }, { groupId: `bench-sluice-${seq++}`, autoOffsetReset: 'earliest' });
      let n = 0;
      rows.push(
        await measure(label, SLUICE, count, async (start) => {
          if (consumeApi === 'records') {
            // One record at a time through the async iterator.
            for await (const _ of c.records(t)) {
              if (n === 0) start();
              if (++n >= count) break;
            }
            await c.close();
            return;
          }
          await c.run(t, (records) => {
            if (n === 0) start();
            n += records.length;
            if (n >= count) void c.close();
          });
        }),
      );
    }
    if (wanted(label, KAFKAJS)) {
      const c = kjs.consumer({
        groupId: `bench-kafkajs-${seq++}`,
        maxBytes: 50 * 1024 * 1024,
        maxBytesPerPartition: 1024 * 1024,
      });
      await c.connect();
      await c.subscribe({ topic: name, fromBeginning: true });
      let n = 0;
      rows.push(
        await measure(label, KAFKAJS, count, async (start) => {
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
    if (wanted(label, PLAT)) {
      const c = new PlatConsumer({
        groupId: `bench-platformatic-${seq++}`,
        clientId: 'bench-platformatic',
        bootstrapBrokers: brokers,
        maxWaitTime: 500,
        maxBytes: 50 * 1024 * 1024,
        maxBytesPerPartition: 1024 * 1024,
        isolationLevel: 0, // read_uncommitted, as the others (its default is read_committed)
      });
      let n = 0;
      rows.push(
        await measure(label, PLAT, count, async (start) => {
          const stream = await c.consume({ topics: [name], mode: 'earliest', autocommit: true });
          await new Promise<void>((resolve, reject) => {
            stream.on('data', () => {
              if (n === 0) start();
              if (++n === count) resolve();
            });
            stream.on('error', reject);
          });
          await stream.close();
        }),
      );
      await c.close(true);
    }
    if (rdkafka !== null && wanted(label, RDKAFKA)) {
      const c = new rdkafka.KafkaConsumer(
        {
          'metadata.broker.list': brokers.join(','),
          'group.id': `bench-rdkafka-${seq++}`,
          'enable.auto.commit': true,
          'fetch.max.bytes': 50 * 1024 * 1024,
          'max.partition.fetch.bytes': 1024 * 1024,
        },
        { 'auto.offset.reset': 'earliest' },
      );
      await new Promise<void>((resolve, reject) => c.connect({}, (err: unknown) => (err ? reject(err) : resolve())));
      c.subscribe([name]);
      let n = 0;
      rows.push(
        await measure(label, RDKAFKA, count, async (start) => {
          // consume(n) hands over up to n messages per call, read on librdkafka's thread pool.
          c.setDefaultConsumeTimeout(100);
          while (n < count) {
            const got = await new Promise<unknown[]>((resolve, reject) =>
              c.consume(Math.min(10_000, count - n), (err: unknown, m: unknown[]) => (err ? reject(err) : resolve(m))),
            );
            if (n === 0 && got.length > 0) start();
            n += got.length;
          }
        }),
      );
      await new Promise((r) => c.disconnect(r));
    }
  }

  await admin.close();
  await broker.stop();
  const memory: MemoryRow[] = [];
  if (process.env.BENCH_MEMORY !== '0') {
    for (const client of [SLUICE, ...(rdkafka !== null ? [RDKAFKA] : [])]) {
      if (wanted('memory', client)) memory.push(await memoryInChild(client));
    }
  }

  const sizeOf = (test: string) => {
    const m = /(\d+) (B|KiB)/.exec(test);
    return m ? Number(m[1]) * (m[2] === 'KiB' ? 1024 : 1) : 0;
  };
  const rate = (r: Row) => r.records / r.seconds;
  const vs = (r: Row, client: string) => {
    const base = rows.find((x) => x.test === r.test && x.client === client);
    return base === undefined || base === r ? '' : `${(rate(r) / rate(base)).toFixed(2)}×`;
  };
  console.log(
    `\nBENCH_SCALE=${scale}; client CPU = user+system of the client process (all its threads); broker CPU = the same of the broker process over the row (10 ms ticks)\n`,
  );
  console.log(
    '| test | client | records | records/s | MB/s | client CPU s per 1M records | broker CPU s per 1M records | vs kafkajs | vs platformatic | vs librdkafka |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.test} | ${r.client} | ${r.records.toLocaleString('en')} | ${Math.round(rate(r)).toLocaleString('en')} | ${((rate(r) * sizeOf(r.test)) / 1e6).toFixed(1)} | ${((r.cpuSeconds / r.records) * 1e6).toFixed(2)} | ${((r.brokerCpuSeconds / r.records) * 1e6).toFixed(2)} | ${vs(r, KAFKAJS)} | ${vs(r, PLAT)} | ${vs(r, RDKAFKA)} |`,
    );
  }
  if (memory.length > 0) {
    console.log(
      '\n| 1M × 100 B records buffered in the producer (broker stopped) | RSS MiB | heap MiB | external+arrayBuffers MiB |',
    );
    console.log('| --- | ---: | ---: | ---: |');
    for (const m of memory) console.log(`| ${m.client} | ${m.rss} | ${m.heap} | ${m.external} |`);
  }
  for (const n of notes) console.log(`\nnote: ${n}`);
}

interface MemoryRow {
  client: string;
  rss: string;
  heap: string;
  external: string;
}

/** Runs bufferedMemory(client) in a fresh process (with --expose-gc), so earlier rows do not blur the figures. */
async function memoryInChild(client: string): Promise<MemoryRow> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx/esm',
      '--conditions=sluice-source',
      fileURLToPath(import.meta.url),
      '--memory',
      client,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`memory measurement of ${client} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop() as string) as MemoryRow;
}

/**
 * Memory while 1M × 100 B records sit in the producer: a fresh broker is stopped (SIGSTOP) once the
 * producer is connected, 1M sends are issued without awaiting, and memory is read (after a GC)
 * as growth over the baseline; then the broker resumes and everything is delivered. kafkajs and
 * @platformatic/kafka have no producer-side buffer (send() encodes the list it is given), so only
 * the buffering clients are measured.
 */
async function bufferedMemory(client: string): Promise<MemoryRow> {
  const N = 1_000_000;
  const payload = Buffer.alloc(100, 'x');
  const gc = (globalThis as { gc?: () => void }).gc;
  const snap = () => {
    gc?.();
    return process.memoryUsage();
  };
  const mib = (n: number) => (n / 1048576).toFixed(0);
  const row = (a: NodeJS.MemoryUsage, b: NodeJS.MemoryUsage): MemoryRow => ({
    client,
    rss: mib(b.rss - a.rss),
    heap: mib(b.heapUsed - a.heapUsed),
    external: mib(b.external - a.external),
  });
  const broker = await startChildBroker();
  try {
    if (client === SLUICE) {
      const name = 'bench-memory';
      const admin = new Admin({ brokers: [broker.bootstrap] });
      await admin.createTopics([{ name, numPartitions: 3 }]);
      await admin.close();
      const t = topic(name, { value: serde.bytes() });
      const p = new Producer(
        { brokers: [broker.bootstrap] },
        { lingerMs: 5, batchSize: 256 * 1024, bufferMemory: 512 * 1024 * 1024 },
      );
      await p.send(t, { value: payload });
      const before = snap();
      broker.child.kill('SIGSTOP');
      const sends: Promise<unknown>[] = new Array(N);
      for (let i = 0; i < N; i++) sends[i] = p.send(t, { value: payload });
      await new Promise((r) => setTimeout(r, 500));
      const r = row(before, snap());
      broker.child.kill('SIGCONT');
      await Promise.all(sends);
      await p.close();
      return r;
    }
    const p = await rdProducer([broker.bootstrap], -1);
    let delivered = 0;
    p.on('delivery-report', () => {
      delivered++;
    });
    p.produce('bench-memory', null, payload);
    await until('rdkafka first delivery', () => delivered === 1);
    const before = snap();
    broker.child.kill('SIGSTOP');
    for (let i = 0; i < N; i++) p.produce('bench-memory', null, payload);
    await new Promise((r) => setTimeout(r, 500));
    const r = row(before, snap());
    broker.child.kill('SIGCONT');
    await until('rdkafka deliveries after SIGCONT', () => delivered >= N + 1);
    await new Promise((r) => p.disconnect(r));
    return r;
  } finally {
    await broker.stop();
  }
}

const memoryArg = process.argv.indexOf('--memory');
if (memoryArg >= 0) process.stdout.write(`${JSON.stringify(await bufferedMemory(process.argv[memoryArg + 1]))}\n`);
else await main();
