// Where a record's send → ack time goes inside the @sluice/client latency generator (sluice-gen.ts steady
// mode with "trace": a file path): per record, the time it was due, the time send() was called, and its
// batch's close (linger over), send (Produce request written) and answer times, then the time its promise
// callback ran. Hooks the producer's internals (accumulator and sender), so it is a diagnostic only:
// written to a CSV file, with a summary of the slowest 1% on stderr.
import { writeFileSync } from 'node:fs';
import type { Producer } from '@sluice/client';

interface BatchLike {
  partition: number;
  count: number;
}
interface PartitionLike {
  partition: number;
  open: BatchLike | null;
}
interface Internals {
  acc: { close(s: PartitionLike): void };
  sender: {
    send(leader: number, list: Array<{ s: PartitionLike; b: BatchLike }>): void;
    onResult(s: PartitionLike, b: BatchLike, code: number, baseOffset: bigint, err: unknown): void;
  };
}

interface BatchTimes {
  base: number;
  count: number;
  closed: number;
  sent: number;
  acked: number;
}

export interface Trace {
  /** Per record: send() call time minus due time, ms. */
  call: Float64Array;
  done(i: number, dueAt: number, now: number, partition: number, offset: number): void;
  write(path: string, warm: number): void;
}

export function startTrace(producer: Producer, total: number): Trace {
  const p = producer as unknown as Internals;
  const closed = new WeakMap<BatchLike, number>();
  const sent = new WeakMap<BatchLike, number>();
  const batches = new Map<number, BatchTimes[]>();
  const acc = p.acc;
  const close = acc.close.bind(acc);
  acc.close = (s) => {
    if (s.open) closed.set(s.open, performance.now());
    close(s);
  };
  const sender = p.sender;
  const send = sender.send.bind(sender);
  sender.send = (leader, list) => {
    const now = performance.now();
    for (const { b } of list) if (!sent.has(b)) sent.set(b, now);
    send(leader, list);
  };
  const onResult = sender.onResult.bind(sender);
  sender.onResult = (s, b, code, baseOffset, err) => {
    if (code === 0) {
      let list = batches.get(b.partition);
      if (!list) batches.set(b.partition, (list = []));
      list.push({
        base: Number(baseOffset),
        count: b.count,
        closed: closed.get(b) ?? Number.NaN,
        sent: sent.get(b) ?? Number.NaN,
        acked: performance.now(),
      });
    }
    onResult(s, b, code, baseOffset, err);
  };
  const call = new Float64Array(total);
  const due = new Float64Array(total);
  const resolved = new Float64Array(total);
  const partition = new Int32Array(total).fill(-1);
  const offset = new Float64Array(total);
  return {
    call,
    done(i, dueAt, now, part, off) {
      due[i] = dueAt;
      resolved[i] = now;
      partition[i] = part;
      offset[i] = off;
    },
    write(path, warm) {
      for (const list of batches.values()) list.sort((a, b) => a.base - b.base);
      const batchOf = (part: number, off: number): BatchTimes | undefined => {
        const list = batches.get(part) ?? [];
        let lo = 0;
        let hi = list.length - 1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          if (list[mid].base <= off) lo = mid + 1;
          else hi = mid - 1;
        }
        const b = list[hi];
        return b && off < b.base + b.count ? b : undefined;
      };
      const t0 = due[0];
      const rows = ['i,due_ms,call,closed,sent,acked,resolved,batch_records'];
      const parts: number[][] = [];
      for (let i = warm; i < total; i++) {
        if (partition[i] < 0) continue;
        const b = batchOf(partition[i], offset[i]);
        const d = due[i];
        const row = [
          i,
          d - t0,
          call[i],
          (b?.closed ?? Number.NaN) - d,
          (b?.sent ?? Number.NaN) - d,
          (b?.acked ?? Number.NaN) - d,
          resolved[i] - d,
          b?.count ?? 0,
        ];
        parts.push(row);
        rows.push(row.map((x) => (Number.isInteger(x) ? x : x.toFixed(3))).join(','));
      }
      writeFileSync(path, `${rows.join('\n')}\n`);
      // The slowest 1%: medians of each stage, and when in the run they were due.
      const slow = [...parts].sort((a, b) => b[6] - a[6]).slice(0, Math.max(1, Math.floor(parts.length / 100)));
      const med = (f: (r: number[]) => number) => {
        const xs = slow.map(f).sort((a, b) => a - b);
        return xs[xs.length >> 1]?.toFixed(2) ?? '–';
      };
      const buckets = new Map<number, number>();
      for (const r of slow)
        buckets.set(Math.floor(r[1] / 500) * 500, (buckets.get(Math.floor(r[1] / 500) * 500) ?? 0) + 1);
      const summary = `trace: slowest 1% (${slow.length} records, from ${slow[slow.length - 1]?.[6].toFixed(1)} ms): median due→call ${med((r) => r[2])} ms, call→closed ${med((r) => r[3] - r[2])}, closed→sent ${med((r) => r[4] - r[3])}, sent→acked ${med((r) => r[5] - r[4])}, acked→callback ${med((r) => r[6] - r[5])}; due at (ms after start: records) ${[
        ...buckets,
      ]
        .sort((a, b) => a[0] - b[0])
        .map(([k, v]) => `${k}:${v}`)
        .join(' ')}\n`;
      process.stderr.write(summary);
      writeFileSync(`${path}.txt`, summary);
    },
  };
}
