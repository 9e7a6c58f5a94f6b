// The client comparison (`--only clients`): @sluice/client against kafkajs, @platformatic/kafka and librdkafka
// (node-rdkafka) against one Sluice broker, in the same run. Each client runs in its own process
// (client-gen.ts) through the same rows; the order of the clients rotates from trial to trial. Rates are
// medians over trials; ratios are @sluice/client's median over the other client's, with the issue's goals.
import { fileURLToPath } from 'node:url';
import {
  CLIENTS,
  type ClientGenConfig,
  type ClientName,
  type ClientRowResult,
  rdkafkaAvailable,
} from './client-gen.js';
import { run } from './proc.js';
import { summarize } from './stats.js';

export interface ClientCase {
  id: string;
  label: string;
  op: 'produce' | 'consume';
  size: number;
  records: number;
  acks?: '1' | 'all';
}

export interface ClientsResult {
  cases: ClientCase[];
  clients: ClientName[];
  /** results[caseId][client]: one entry per trial. */
  results: Record<string, Partial<Record<ClientName, ClientRowResult[]>>>;
  notes: string[];
}

/** @sluice/client's goal against each other client, as the issue states it (ratio of records/s). */
export const CLIENT_GOALS: Partial<Record<ClientName, number>> = {
  kafkajs: 5,
  '@platformatic/kafka': 2,
  librdkafka: 1.2,
};

export function clientCases(quick: boolean): ClientCase[] {
  const KiB = 1024;
  const count = (size: number) => (quick ? 10_000 : size >= KiB ? 80_000 : 200_000);
  // Consumers read 4–8× faster than producers write: at the produce counts @sluice/client read 200,000
  // records of 100 B in ~0.07 s, and the first fetch (counted from its arrival) was a third of them.
  const consumeCount = (size: number) => (quick ? 10_000 : size >= KiB ? 400_000 : 1_500_000);
  const sizes = quick ? [KiB] : [100, KiB];
  const label = (n: number) => (n >= KiB ? `${n / KiB} KiB` : `${n} B`);
  const out: ClientCase[] = [];
  for (const size of sizes) {
    for (const acks of quick ? (['1'] as const) : (['1', 'all'] as const))
      out.push({
        id: `produce-${size}-${acks}`,
        label: `produce ${label(size)}, acks=${acks}`,
        op: 'produce',
        size,
        records: count(size),
        acks,
      });
    out.push({
      id: `consume-${size}`,
      label: `consume ${label(size)}`,
      op: 'consume',
      size,
      records: consumeCount(size),
    });
  }
  return out;
}

const CLIENT_GEN = fileURLToPath(new URL('./client-gen.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

export interface ClientsPhaseEnv {
  quick: boolean;
  trials: number;
  port: number;
  brokerPid: () => number;
  createTopic: (name: string, partitions: number) => Promise<void>;
  /** Fills `topic` with `records` records of `size` bytes (the consume rows read it). */
  fill: (topic: string, records: number, size: number) => Promise<void>;
  log: (s: string) => void;
  attempt: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>;
}

const PARTITIONS = 6;

/** Runs the client rows against the broker the caller started; every client in its own process per trial. */
export async function runClients(env: ClientsPhaseEnv): Promise<ClientsResult> {
  const cases = clientCases(env.quick);
  const notes: string[] = [];
  const clients: ClientName[] = env.quick ? ['@sluice/client', 'kafkajs'] : [...CLIENTS];
  if (clients.includes('librdkafka') && !rdkafkaAvailable()) {
    clients.splice(clients.indexOf('librdkafka'), 1);
    notes.push(
      'node-rdkafka is not built in ~/.cache/sluice/rdkafka (the throughput phase builds it): no librdkafka rows',
    );
  }
  const results: ClientsResult['results'] = Object.fromEntries(cases.map((c) => [c.id, {}]));
  // Every client reads the same data: one source topic per record size, filled once.
  const sources = new Map<number, string>();
  for (const c of cases.filter((c) => c.op === 'consume')) {
    const name = `clients-source-${c.size}`;
    await env.createTopic(name, PARTITIONS);
    await env.fill(name, c.records, c.size);
    sources.set(c.size, name);
  }
  for (let t = 0; t < env.trials; t++) {
    const order = clients.map((_, i) => clients[(i + t) % clients.length]);
    for (const client of order) {
      const tag = client.replace(/\W+/g, '');
      const rows = [];
      for (const c of cases) {
        if (c.op === 'produce') {
          const name = `clients-${tag}-${c.id}-t${t}`;
          await env.createTopic(name, PARTITIONS);
          rows.push({ op: c.op, topic: name, size: c.size, records: c.records, acks: c.acks });
        } else rows.push({ op: c.op, topic: sources.get(c.size) as string, size: c.size, records: c.records });
      }
      const cfg: ClientGenConfig = { client, port: env.port, brokerPid: env.brokerPid(), rows };
      const out = await env.attempt(`clients: ${client} trial ${t + 1}`, async () => {
        const r = await run(TSX, ['--conditions=sluice-source', CLIENT_GEN, JSON.stringify(cfg)], {
          timeoutMs: 600_000,
        });
        if (r.code !== 0) throw new Error(`${client} exited with ${r.code}: ${r.stderr.slice(-400)}`);
        return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ClientRowResult[];
      });
      if (!out) continue;
      cases.forEach((c, i) => {
        const r = out[i];
        if (!r) return;
        const slot = results[c.id];
        slot[client] = [...(slot[client] ?? []), r];
        env.log(
          `clients t${t + 1} ${c.label} ${client}: ${Math.round(r.records / r.seconds).toLocaleString('en-US')} rec/s, client ${(r.clientCpuSec / r.seconds).toFixed(2)} cores, broker ${(r.brokerCpuSec / r.seconds).toFixed(2)} cores`,
        );
      });
    }
  }
  return { cases, clients, results, notes };
}

/** Rows of a case/client without numbers (the smoke check fails on them). */
export function clientsMissing(r: ClientsResult): string[] {
  const out: string[] = [];
  for (const c of r.cases)
    for (const client of r.clients) if (!r.results[c.id]?.[client]?.length) out.push(`${c.label} [${client}]`);
  return out;
}

const median = (xs: number[]) => summarize(xs)?.median ?? Number.NaN;
const rate = (rs: ClientRowResult[]) => median(rs.map((r) => r.records / r.seconds));
/** CPU µs per record, median over trials. */
const cpuPerRecord = (rs: ClientRowResult[], pick: (r: ClientRowResult) => number) =>
  median(rs.map((r) => (pick(r) / r.records) * 1e6));

/** The Markdown section: one table, records/s, MiB/s, client and broker CPU per record, and the ratios with their goals. */
export function clientsMarkdown(r: ClientsResult): string {
  const lines = [
    '## Clients: @sluice/client against kafkajs, @platformatic/kafka and librdkafka (one Sluice broker)',
    '',
    'Each client in its own process, the same rows in the same run against the same broker, the order rotated',
    'per trial; medians over trials. Client CPU is user+system of the client process (all threads) over the',
    "row; broker CPU the broker process's over the same interval. Settings alike: not idempotent, ≤ 5",
    'requests in flight, linger 5 ms and batches ≤ 1,000,000 B where the client has them (kafkajs and',
    '@platformatic/kafka send lists of 1,000 records, 5 at once), fetches ≤ 50 MiB and 1 MiB per partition,',
    `${PARTITIONS} partitions; consumers in a group, timed from the first record. Ratio: @sluice/client's`,
    "records/s over the other client's (goal in brackets).",
    '',
    '| row | client | records/s | MiB/s | client CPU µs/record | client cores | broker CPU µs/record | @sluice/client ÷ this |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of r.cases) {
    const ours = r.results[c.id]?.['@sluice/client'];
    for (const client of r.clients) {
      const rs = r.results[c.id]?.[client];
      if (!rs?.length) {
        lines.push(`| ${c.label} | ${client} | – | – | – | – | – | – |`);
        continue;
      }
      const rps = rate(rs);
      const cores = median(rs.map((x) => x.clientCpuSec / x.seconds));
      const goal = CLIENT_GOALS[client];
      const ratio =
        client === '@sluice/client' || !ours?.length
          ? ''
          : `${(rate(ours) / rps).toFixed(2)}×${goal ? ` (≥ ${goal}×: ${rate(ours) / rps >= goal ? 'met' : 'not met'})` : ''}`;
      lines.push(
        `| ${c.label} | ${client} | ${Math.round(rps).toLocaleString('en-US')} | ${((rps * c.size) / 2 ** 20).toFixed(1)} | ${cpuPerRecord(rs, (x) => x.clientCpuSec).toFixed(2)} | ${cores.toFixed(2)} | ${cpuPerRecord(rs, (x) => x.brokerCpuSec).toFixed(2)} | ${ratio} |`,
      );
    }
  }
  for (const n of r.notes) lines.push('', `- ${n}`);
  return `${lines.join('\n')}\n`;
}
