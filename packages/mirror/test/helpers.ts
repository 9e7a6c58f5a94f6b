import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type RunningBroker, startBroker } from '@sluice/broker';
import { Admin, Consumer, type ConsumerRecord, Producer, topic } from '@sluice/client';
import type { MirrorLogger } from '../src/flow.js';

/** An in-process Sluice broker with quiet logs. */
export function sluice(): Promise<RunningBroker> {
  return startBroker({ props: { 'log.level': 'warn', 'group.initial.rebalance.delay.ms': '0' } });
}

/** Collects log lines (and prints warnings and errors, which tests should not produce silently). */
export function collectingLogger(): MirrorLogger & { lines: Array<{ level: string; msg: string; fields: object }> } {
  const lines: Array<{ level: string; msg: string; fields: object }> = [];
  return {
    lines,
    info: (fields, msg) => {
      lines.push({ level: 'info', msg, fields });
      if (process.env.MIRROR_DEBUG) console.log(new Date().toISOString(), msg, JSON.stringify(fields));
    },
    warn: (fields, msg) => {
      lines.push({ level: 'warn', msg, fields });
      console.warn(msg, fields);
    },
    error: (fields, msg) => {
      lines.push({ level: 'error', msg, fields });
      console.error(msg, fields);
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes (then fails naming `what`). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sum of the end offsets of a topic's partitions (0 when it does not exist yet). */
export async function endOffsets(brokers: string[], name: string): Promise<Map<number, bigint>> {
  const admin = new Admin({ brokers });
  try {
    if (!(await admin.listTopics({ includeInternal: true })).includes(name)) return new Map();
    const [info] = await admin.describeTopics([name]);
    const ends = await admin.listOffsets(
      info.partitions.map((p) => ({ topic: name, partition: p.partition })),
      'latest',
    );
    return new Map(ends.map((e) => [e.partition, e.offset]));
  } finally {
    await admin.close();
  }
}

export async function totalRecords(brokers: string[], name: string): Promise<bigint> {
  let n = 0n;
  for (const e of (await endOffsets(brokers, name)).values()) n += e;
  return n;
}

/** Every record of a topic up to its end offsets now, by partition in offset order. */
export async function readAll(
  brokers: string[],
  name: string,
): Promise<Map<number, ConsumerRecord<Buffer | null, Buffer | null>[]>> {
  const ends = await endOffsets(brokers, name);
  const out = new Map<number, ConsumerRecord<Buffer | null, Buffer | null>[]>();
  for (const p of ends.keys()) out.set(p, []);
  const left = new Map([...ends].filter(([, e]) => e > 0n));
  if (left.size === 0) return out;
  const t = topic(name);
  const consumer = new Consumer({ brokers });
  await consumer.assign([...left.keys()].map((partition) => ({ topic: t, partition, offset: 'earliest' as const })));
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const timer = setTimeout(done, 60_000);
  const run = consumer.run(t, (records) => {
    for (const r of records) {
      const end = left.get(r.partition);
      if (end === undefined || r.offset >= end) continue;
      out.get(r.partition)?.push({
        ...r,
        key: r.key && Buffer.from(r.key),
        value: r.value && Buffer.from(r.value),
      });
      if (r.offset + 1n >= end) left.delete(r.partition);
    }
    if (left.size === 0) done();
  });
  await Promise.race([finished, run]);
  clearTimeout(timer);
  await consumer.close();
  if (left.size > 0) throw new Error(`${name}: partitions ${[...left.keys()]} not read to the end`);
  return out;
}

const BIN = fileURLToPath(new URL('../../../apps/broker/bin/sluice.js', import.meta.url));

/** `sluice mirror --config <file>` as a process (the built CLI); `children` collects it for cleanup. */
export function startMirror(
  configFile: string,
  children: ChildProcess[],
): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'mirror', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (d) => {
    err += String(d);
  });
  if (process.env.MIRROR_DEBUG) {
    child.stdout?.pipe(process.stdout);
    child.stderr?.pipe(process.stderr);
  } else child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) console.error(`sluice mirror exited ${code}: ${err}`);
      resolve(code);
    });
  });
  return { child, exited };
}

/** Records `<p>-<n>` (key) with 100-byte values, n in [from, to), on each of `partitions` partitions. */
export async function produceNumbered(
  brokers: string[],
  name: string,
  partitions: number,
  from: number,
  to: number,
): Promise<void> {
  const producer = new Producer({ brokers }, { compression: 'lz4', lingerMs: 5 });
  const t = topic(name);
  const sends: Promise<unknown>[] = [];
  for (let n = from; n < to; n++) {
    for (let p = 0; p < partitions; p++) {
      sends.push(producer.send(t, { key: Buffer.from(`${p}-${n}`), value: Buffer.alloc(100, n % 256), partition: p }));
    }
    if (sends.length >= 5000) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await producer.close();
}
