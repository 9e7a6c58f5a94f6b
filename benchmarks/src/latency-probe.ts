// The latency phase's load (ProducerPerformance, 1 KiB, 6 partitions, acks=all, fixed rate) against Sluice
// brokers only, with the broker's event-loop delay and GC pauses over each load: for chasing p99 stalls
// without starting Kafka. With a second cli.js (another build), the two alternate on fresh brokers.
//   npm run build && npx tsx --conditions=sluice-source benchmarks/src/latency-probe.ts \
//     [--rates 78950,126321] [--seconds 6] [--trials 3] [--before /path/to/other/apps/broker/dist/cli.js]
//     [--config log.segment.bytes=8388608 …] [--generator kafka-perf|sluice-steady]
//     [--warmup 1] [--processes N] [--trace DIR]   (sluice-steady: warm-up seconds, generator processes, per-record traces)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka } from '@sluice/client';
import { SLUICE_CLI, SluiceBroker } from './brokers.js';
import { kafkaProducerPerf } from './generators.js';
import { latencyProcesses, sluiceLatency } from './latency-gen.js';
import { freePorts } from './ports.js';
import { type Stalls, scrapeStalls, stallsBetween, stallsText } from './stalls.js';

/** The broker's main thread's time on a CPU and time runnable but waiting for one (/proc schedstat, ns). */
function mainThreadSched(pid: number): { runNs: number; waitNs: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { runNs: run, waitNs: wait };
}

const { values: args } = parseArgs({
  options: {
    rates: { type: 'string', default: '78950,126321' },
    seconds: { type: 'string', default: '6' },
    trials: { type: 'string', default: '3' },
    before: { type: 'string' },
    // kafka-perf (ProducerPerformance, as the bench's rows) or sluice-steady (@sluice/client, each record timed send → ack).
    generator: { type: 'string', default: 'kafka-perf' },
    // Broker configs for both builds, e.g. --config log.segment.bytes=8388608 (rolls within the load).
    config: { type: 'string', multiple: true, default: [] },
    // sluice-steady: seconds of the schedule sent first and not counted; a directory for per-record traces.
    warmup: { type: 'string', default: '0' },
    trace: { type: 'string' },
    // sluice-steady: generator processes (default: one per RATE_PER_PROCESS records/s, see latency-gen.ts).
    processes: { type: 'string' },
  },
});
const rates = args.rates.split(',').map(Number);
const seconds = Number(args.seconds);
const trials = Number(args.trials);
const builds: [string, string][] = args.before
  ? [
      ['before', args.before],
      ['after', SLUICE_CLI],
    ]
  : [['this', SLUICE_CLI]];
const work = mkdtempSync(join(tmpdir(), 'sluice-latency-probe-'));
const p99 = new Map<string, number[]>();
const loopMax = new Map<string, number[]>();

for (let t = 1; t <= trials; t++) {
  for (const [name, cli] of builds) {
    const [port, metricsPort] = await freePorts(2);
    const b = new SluiceBroker(port, undefined, [], cli);
    const dir = join(work, `${name}-${t}`);
    try {
      const extra = Object.fromEntries(
        args.config.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      await b.start(dir, { ...extra, 'metrics.port': String(metricsPort), 'metrics.host': '127.0.0.1' });
      const admin = new Kafka({ brokers: [`127.0.0.1:${port}`] }).admin();
      await admin.createTopics([{ name: 'lat', numPartitions: 6, replicationFactor: 1 }]);
      await admin.close();
      const url = `http://127.0.0.1:${metricsPort}/metrics`;
      for (const rate of rates) {
        const before = await scrapeStalls(url);
        const sched0 = mainThreadSched(b.pid());
        const records = Math.min(rate * seconds, 1_000_000);
        const m =
          args.generator === 'sluice-steady'
            ? await sluiceLatency(
                {
                  mode: 'steady',
                  port,
                  topic: 'lat',
                  records,
                  size: 1024,
                  acks: 'all',
                  rate,
                  keys: 100_000,
                  warmupSeconds: Number(args.warmup),
                  trace: args.trace ? join(args.trace, `${name}-${t}-${rate}.csv`) : undefined,
                },
                args.processes ? Number(args.processes) : latencyProcesses(rate),
              )
            : await kafkaProducerPerf(port, {
                topic: 'lat',
                records,
                size: 1024,
                acks: 'all',
                codec: 'none',
                throughput: rate,
              });
        const s: Stalls = stallsBetween(before, await scrapeStalls(url));
        const sched1 = mainThreadSched(b.pid());
        const key = `${name} ${rate}`;
        p99.set(key, [...(p99.get(key) ?? []), m.latencyMs?.p99 ?? Number.NaN]);
        loopMax.set(key, [...(loopMax.get(key) ?? []), s.loopMaxMs]);
        process.stderr.write(
          `t${t} ${name} ${rate} rec/s: p50 ${m.latencyMs?.p50} ms, p99 ${m.latencyMs?.p99} ms, p99.9 ${m.latencyMs?.p999} ms, max ${m.latencyMs?.max} ms (achieved ${Math.round(m.recordsPerSec)} rec/s${m.extra?.generatorProcesses ? ` by ${m.extra.generatorProcesses} processes, ${m.generator?.cpuSec.toFixed(1)} CPU s, loop max ${m.extra.generatorLoopMaxMs?.toFixed(0)} ms, GC ${m.extra.generatorGcMs?.toFixed(0)} ms` : ''}); ${stallsText(s)}; main thread ran ${((sched1.runNs - sched0.runNs) / 1e6).toFixed(0)} ms, waited for a CPU ${((sched1.waitNs - sched0.waitNs) / 1e6).toFixed(0)} ms in ${m.seconds.toFixed(1)} s\n`,
        );
      }
    } finally {
      await b.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
rmSync(work, { recursive: true, force: true });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [key, xs] of p99)
  console.log(
    `${key} rec/s: p99 median ${median(xs)} ms (${xs.join(', ')}); event-loop max median ${median(loopMax.get(key) ?? []).toFixed(0)} ms`,
  );
process.exit(0);
