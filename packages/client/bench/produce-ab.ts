// A/B of the @sluice/client producer against another copy of its source (e.g. main's), with
// @platformatic/kafka as the reference, in one run against one Sluice broker child: the variants
// alternate per round, and the medians over the rounds are printed (records/s, client and broker CPU
// µs per record). Settings are client.bench.ts' "produce" rows (batch 1,000,000 B, linger 5 ms, 5 in
// flight, not idempotent; 5 workers awaiting windows of 1,000 records).
// Run: (cd packages/client && AB_BASE=/path/to/base/src node --import tsx/esm --conditions=sluice-source bench/produce-ab.ts)
// Env: AB_BASE (a directory holding another copy of packages/client/src; unset: only this one and
// @platformatic/kafka), AB_ROUNDS (default 3), AB_SIZE (bytes per value, default 1024), AB_COUNT
// (records per row, default 250,000), AB_ACKS (comma-separated, default "1,all").
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Producer as PlatProducer } from '@platformatic/kafka';
import * as ours from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.env.AB_ROUNDS ?? '3');
const size = Number(process.env.AB_SIZE ?? '1024');
const count = Number(process.env.AB_COUNT ?? '250000');
const acksList = (process.env.AB_ACKS ?? '1,all').split(',').map((a) => (a === 'all' ? -1 : Number(a)) as 1 | -1);
const WARM_UP = 5000;

type Lib = typeof ours;
const variants: Array<{ name: string; lib: Lib | null }> = [];
if (process.env.AB_BASE) {
  const base = (await import(pathToFileURL(join(resolve(process.env.AB_BASE), 'index.ts')).href)) as Lib;
  variants.push({ name: 'base', lib: base });
}
variants.push({ name: 'this', lib: ours });
variants.push({ name: 'platformatic', lib: null });

function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx/esm', '--conditions=sluice-source', join(here, 'broker-child.ts')],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
const brokers = [(JSON.parse(line) as { bootstrap: string }).bootstrap];
const admin = new ours.Admin({ brokers });
let seq = 0;
const payload = Buffer.alloc(size, 'x');

async function runOne(v: (typeof variants)[number], acks: 1 | -1) {
  const name = `ab-${v.name}-${seq++}`;
  await admin.createTopics([{ name, numPartitions: 3 }]);
  let sendWindow: (n: number) => Promise<unknown>;
  let close: () => Promise<void>;
  if (v.lib !== null) {
    const t = v.lib.topic(name, { value: v.lib.serde.bytes() });
    const p = new v.lib.Producer(
      { brokers },
      { acks, idempotent: false, maxInFlight: 5, lingerMs: 5, batchSize: 1_000_000 },
    );
    sendWindow = (n) => {
      const sends: Promise<unknown>[] = new Array(n);
      for (let i = 0; i < n; i++) sends[i] = p.send(t, { value: payload });
      return Promise.all(sends);
    };
    close = () => p.close();
  } else {
    const p = new PlatProducer({
      clientId: 'bench-platformatic',
      bootstrapBrokers: brokers,
      autocreateTopics: false,
      acks,
      idempotent: false,
      maxInflights: 5,
    });
    sendWindow = (n) => p.send({ messages: Array.from({ length: n }, () => ({ topic: name, value: payload })) });
    close = () => p.close();
  }
  for (let i = 0; i < WARM_UP; i += 1000) await sendWindow(1000);
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  const b0 = cpuOf(child.pid as number);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = Math.min(1000, count - next);
      next += n;
      await sendWindow(n);
    }
  };
  await Promise.all(Array.from({ length: 5 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  const broker = cpuOf(child.pid as number) - b0;
  await close();
  return {
    rate: count / seconds,
    client: (cpu.user + cpu.system) / count,
    system: cpu.system / count,
    faults: (faults * 1000) / count,
    broker: (broker * 1e6) / count,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = new Map<
  string,
  Array<{ rate: number; client: number; system: number; faults: number; broker: number }>
>();
for (let r = 0; r < rounds; r++) {
  for (const acks of acksList) {
    // Alternate the order per round, so no variant always runs first.
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const res = await runOne(v, acks);
      const key = `acks=${acks === -1 ? 'all' : acks}\t${v.name}`;
      results.set(key, [...(results.get(key) ?? []), res]);
      process.stderr.write(
        `round ${r + 1} ${key}: ${Math.round(res.rate)} rec/s, client ${res.client.toFixed(2)} µs (system ${res.system.toFixed(2)}, ${res.faults.toFixed(0)} page faults per 1,000), broker ${res.broker.toFixed(2)} µs\n`,
      );
    }
  }
}
await admin.close();
child.kill('SIGTERM');
await once(child, 'exit');
console.log(`\n${rounds} rounds, ${count} × ${size} B; medians\n`);
console.log(
  '| acks | variant | records/s | client µs/record | of which system | page faults per 1,000 records | broker µs/record | vs platformatic |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const acks of acksList) {
  const a = `acks=${acks === -1 ? 'all' : acks}`;
  const plat = median((results.get(`${a}\tplatformatic`) ?? []).map((x) => x.rate));
  for (const v of variants) {
    const xs = results.get(`${a}\t${v.name}`) ?? [];
    const rate = median(xs.map((x) => x.rate));
    console.log(
      `| ${a} | ${v.name} | ${Math.round(rate).toLocaleString('en')} | ${median(xs.map((x) => x.client)).toFixed(2)} | ${median(xs.map((x) => x.system)).toFixed(2)} | ${median(xs.map((x) => x.faults)).toFixed(0)} | ${median(xs.map((x) => x.broker)).toFixed(2)} | ${(rate / plat).toFixed(2)}× |`,
    );
  }
}
