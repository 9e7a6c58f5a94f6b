// The chaos suite's load: idempotent acks=all producers writing numbered records (values
// `<producer>:<n>`, each number sent once), and a consumer group that consumes along and commits.
// Every acknowledgement is logged with the partition and offset the broker gave it.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Compression, serde, topic } from '@sluice/client';
import type { ChaosCluster } from './cluster.js';

export interface Ack {
  producer: string;
  value: string;
  partition: number;
  offset: bigint;
}

/** Every acknowledgement in the order it arrived, and the longest gap between two per partition. */
export class AckLog {
  readonly acks: Ack[] = [];
  readonly sent = new Map<string, number>();
  readonly failed = new Map<string, number>();
  /** Errors a producer could not recover from (a fatal idempotence error is a finding). */
  readonly fatal: string[] = [];
  private readonly lastAckAt = new Map<number, number>();
  readonly longestGapMs = new Map<number, number>();

  noteSent(producer: string): void {
    this.sent.set(producer, (this.sent.get(producer) ?? 0) + 1);
  }

  noteFailed(producer: string): void {
    this.failed.set(producer, (this.failed.get(producer) ?? 0) + 1);
  }

  ack(a: Ack): void {
    this.acks.push(a);
    const now = Date.now();
    const last = this.lastAckAt.get(a.partition);
    if (last !== undefined)
      this.longestGapMs.set(a.partition, Math.max(this.longestGapMs.get(a.partition) ?? 0, now - last));
    this.lastAckAt.set(a.partition, now);
  }
}

export interface RunningProducer {
  readonly name: string;
  /** Stops sending and resolves once every outstanding send has an outcome. */
  stop(): Promise<void>;
}

/** An @sluice/client producer: idempotent, acks=all, explicit partitions n % partitions, a bounded window. */
export function sluiceProducer(
  cluster: ChaosCluster,
  log: AckLog,
  opts: { name: string; topic: string; partitions: number; ratePerS: number; compression?: Compression },
): RunningProducer {
  const t = topic(opts.topic, { key: serde.none(), value: serde.string() });
  const producer = cluster.kafka(opts.name).producer({
    idempotent: true,
    acks: 'all',
    compression: opts.compression ?? 'none',
    lingerMs: 5,
    requestTimeoutMs: 10_000,
    deliveryTimeoutMs: 60_000,
  });
  const WINDOW = 64;
  let outstanding = 0;
  let stopped = false;
  const inflight = new Set<Promise<void>>();
  const loop = (async () => {
    const started = Date.now();
    for (let n = 0; !stopped; n++) {
      // Paced: record n goes out no earlier than n / rate seconds after the start.
      const due = started + (n * 1000) / opts.ratePerS;
      while (!stopped && (Date.now() < due || outstanding >= WINDOW)) await new Promise((r) => setTimeout(r, 5));
      if (stopped) break;
      const value = `${opts.name}:${n}`;
      const partition = n % opts.partitions;
      outstanding++;
      log.noteSent(opts.name);
      const p = producer
        .send(t, { value, partition })
        .then(
          (r) => log.ack({ producer: opts.name, value, partition: r.partition, offset: r.offset }),
          () => log.noteFailed(opts.name),
        )
        .finally(() => {
          outstanding--;
          inflight.delete(p);
        });
      inflight.add(p);
    }
  })();
  return {
    name: opts.name,
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...inflight]);
      await producer.close().catch(() => {});
    },
  };
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CACHE = process.env.SLUICE_CACHE ?? join(process.env.HOME ?? tmpdir(), '.cache', 'sluice');

/** The confluent-kafka (librdkafka) venv that test/conformance/clients/setup.sh makes. */
export const RDKAFKA_PYTHON = join(CACHE, 'py-clients', 'bin', 'python');
const REFERENCE_KAFKA = fileURLToPath(new URL('../../scripts/reference-kafka/reference-kafka.sh', import.meta.url));

/**
 * A child process that prints one JSON line per acknowledgement; `parse` turns a line into an ack
 * (or notes a failure). SIGTERM asks it to flush and stop.
 */
function processProducer(
  log: AckLog,
  name: string,
  command: string,
  args: string[],
  parse: (o: Record<string, unknown>) => void,
): RunningProducer {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let pending = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        parse(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial or foreign line
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-64 * 1024);
  });
  // 'close', not 'exit': the last acknowledgement lines may still be in the pipe when the process exits.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  exited.then((code) => {
    if (code !== 0 && code !== 143) log.fatal.push(`${name} exited with ${code}: ${stderr.slice(-2000)}`);
  });
  return {
    name,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** librdkafka through confluent-kafka (Python): test/chaos/rdkafka_producer.py. */
export function rdkafkaProducer(
  cluster: ChaosCluster,
  log: AckLog,
  opts: { name: string; topic: string; partitions: number; ratePerS: number; compression?: string },
): RunningProducer {
  const args = [
    join(HERE, 'rdkafka_producer.py'),
    cluster.bootstrap.join(','),
    opts.topic,
    String(opts.partitions),
    String(opts.ratePerS),
    opts.name,
    opts.compression ?? 'none',
  ];
  return processProducer(log, opts.name, RDKAFKA_PYTHON, args, (o) => {
    if (o.sent !== undefined) return log.noteSent(opts.name);
    if (typeof o.fatal === 'string') return void log.fatal.push(`${opts.name}: ${o.fatal}`);
    if (o.err !== undefined) return log.noteFailed(opts.name);
    if (o.p === undefined) return;
    log.ack({ producer: opts.name, value: String(o.v), partition: Number(o.p), offset: BigInt(o.o as number) });
  });
}

/** Java's VerifiableProducer from the reference Kafka's tools, idempotent, acks=all. */
export function javaProducer(
  cluster: ChaosCluster,
  log: AckLog,
  opts: { name: string; topic: string; ratePerS: number; valuePrefix: number; compression?: string },
): RunningProducer {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-chaos-java-'));
  const config = join(dir, 'producer.properties');
  writeFileSync(
    config,
    [
      'enable.idempotence=true',
      // VerifiableProducer sets retries=0 unless told otherwise; idempotence needs retries.
      'retries=2147483647',
      'delivery.timeout.ms=60000',
      'request.timeout.ms=10000',
      'linger.ms=5',
      'metadata.max.age.ms=5000',
      `compression.type=${opts.compression ?? 'none'}`,
      '',
    ].join('\n'),
  );
  const args = [
    REFERENCE_KAFKA,
    'run-class',
    'org.apache.kafka.tools.VerifiableProducer',
    '--bootstrap-server',
    cluster.bootstrap.join(','),
    '--topic',
    opts.topic,
    '--acks',
    '-1',
    '--throughput',
    String(opts.ratePerS),
    '--max-messages',
    '-1',
    '--value-prefix',
    String(opts.valuePrefix),
    '--producer.config',
    config,
  ];
  return processProducer(log, opts.name, 'bash', args, (o) => {
    if (o.name === 'producer_send_success') {
      log.noteSent(opts.name);
      log.ack({
        producer: opts.name,
        value: String(o.value),
        partition: Number(o.partition),
        offset: BigInt(o.offset as number),
      });
    } else if (o.name === 'producer_send_error') {
      log.noteSent(opts.name);
      log.noteFailed(opts.name);
    }
  });
}

/**
 * A consumer group member consuming along and committing after each batch; a monitor reads the
 * group's committed offsets every `pollMs` and notes any that went backwards.
 */
export function groupConsumer(cluster: ChaosCluster, opts: { topic: string; groupId: string }) {
  const t = topic(opts.topic, { key: serde.none(), value: serde.string() });
  const kafka = cluster.kafka(`${opts.groupId}-member`);
  const consumed = new Set<string>();
  const committed = new Map<number, bigint>();
  const regressions: string[] = [];
  const memberErrors: string[] = [];
  let commits = 0;
  let stopped = false;
  let consumer: ReturnType<typeof kafka.consumer> | null = null;
  // A member that fails (its coordinator gone for longer than its retries) is replaced: the
  // group's committed offsets are what carries over.
  const run = (async () => {
    while (!stopped) {
      consumer = kafka.consumer({ groupId: opts.groupId, autoOffsetReset: 'earliest', autoCommit: false });
      try {
        await consumer.run(t, async (records, ctx) => {
          for (const r of records) consumed.add(r.value);
          await ctx.commit().catch(() => {});
        });
      } catch (err) {
        if (memberErrors.length < 100) memberErrors.push((err as Error).message);
        await consumer.close().catch(() => {});
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  const admin = kafka.admin();
  const monitor = (async () => {
    while (!stopped) {
      try {
        for (const o of await admin.fetchGroupOffsets(opts.groupId)) {
          if (o.topic !== opts.topic || o.offset < 0n) continue;
          const before = committed.get(o.partition);
          if (before !== undefined && o.offset < before) {
            regressions.push(`partition ${o.partition}: committed offset ${o.offset} after ${before}`);
          }
          if (before === undefined || o.offset > before) commits++;
          committed.set(o.partition, o.offset > (before ?? -1n) ? o.offset : (before as bigint));
        }
      } catch {
        // the group's coordinator may be down right now
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    consumed,
    committed,
    regressions,
    memberErrors,
    get commitsSeen() {
      return commits;
    },
    async stop() {
      stopped = true;
      await monitor;
      await (consumer as { close(): Promise<void> } | null)?.close().catch(() => {});
      await run;
      await admin.close().catch(() => {});
    },
  };
}
