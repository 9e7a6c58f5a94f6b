// Counters for the live chart. From a Sluice broker's Prometheus endpoint (bytes in/out and
// requests, summed over labels) when there is one; otherwise from the sum of every partition's
// end offset, which any Kafka cluster answers (records in, no bytes). The browser turns two
// readings into rates, so the server keeps no history.
import type { ClusterView } from './cluster.js';

export interface CounterReading {
  /** Milliseconds since the epoch. */
  at: number;
  source: 'prometheus' | 'offsets';
  bytesIn: number | null;
  bytesOut: number | null;
  requests: number | null;
  records: number | null;
}

/** A scrape body larger than this is refused (a Sluice broker's is a few KB per topic). */
export const MAX_SCRAPE_BYTES = 8 * 1024 * 1024;
const SCRAPE_TIMEOUT_MS = 3000;

/** Sums every sample of the named metrics in Prometheus' text format (labels ignored). */
export function sumMetrics(text: string, names: readonly string[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    if (!names.includes(name)) continue;
    // The value follows the labels' closing brace (or the name), then an optional timestamp.
    const rest = line[nameEnd] === '{' ? line.slice(line.lastIndexOf('}') + 1) : line.slice(nameEnd);
    const value = Number(rest.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) sums.set(name, (sums.get(name) ?? 0) + value);
  }
  return sums;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_SCRAPE_BYTES) throw new Error(`${url}: ${declared} bytes is over ${MAX_SCRAPE_BYTES}`);
  const body = await res.arrayBuffer();
  if (body.byteLength > MAX_SCRAPE_BYTES) throw new Error(`${url}: over ${MAX_SCRAPE_BYTES} bytes`);
  return Buffer.from(body).toString('utf8');
}

export async function readCounters(cluster: ClusterView, metricsUrls: readonly string[]): Promise<CounterReading> {
  if (metricsUrls.length > 0) {
    const names = [
      'sluice_bytes_in_total',
      'sluice_bytes_out_total',
      'sluice_requests_total',
      'sluice_records_in_total',
    ];
    const totals = new Map<string, number>();
    for (const url of metricsUrls) {
      for (const [k, v] of sumMetrics(await scrape(url), names)) totals.set(k, (totals.get(k) ?? 0) + v);
    }
    return {
      at: Date.now(),
      source: 'prometheus',
      bytesIn: totals.get('sluice_bytes_in_total') ?? 0,
      bytesOut: totals.get('sluice_bytes_out_total') ?? 0,
      requests: totals.get('sluice_requests_total') ?? 0,
      records: totals.get('sluice_records_in_total') ?? 0,
    };
  }
  const snap = await cluster.snapshot();
  let records = 0n;
  for (const t of snap.topics) {
    if (t.isInternal) continue;
    const ends = await cluster.admin.listOffsets(
      t.partitions.map((p) => ({ topic: t.name, partition: p.partition })),
      'latest',
    );
    for (const e of ends) if (e.offset > 0n) records += e.offset;
  }
  return { at: Date.now(), source: 'offsets', bytesIn: null, bytesOut: null, requests: null, records: Number(records) };
}
